"""Output formats, one module each, found by name (``--format NAME``).

A format module defines ``render(result, config) -> str``.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Callable

FORMATS = ("text", "json", "github", "sarif")


def available() -> list[str]:
    import raptor_lint.formats as package

    names = {info.name for info in pkgutil.iter_modules(package.__path__) if not info.name.startswith("_")}
    return [name for name in FORMATS if name in names] + sorted(names - set(FORMATS))


def renderer(name: str) -> Callable:
    return importlib.import_module(f"raptor_lint.formats.{name}").render
