"""Output formats, one module each, found by name (``--format NAME``).

A format module defines ``render(result, config, options=None) -> str``; ``options``
(``RenderOptions``) carries what the command line asked of the human-readable formats
(colour, no summary, the available fixes).  Modules whose name starts with ``_`` are
helpers, not formats.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Callable

FORMATS = ("text", "full", "json", "github", "sarif")


@dataclass(frozen=True)
class RenderOptions:
    # ANSI colour (a terminal, or FORCE_COLOR): raptor_lint.output.use_colour decides.
    colour: bool = False
    # --quiet: the findings only, no summary line.
    quiet: bool = False
    # --show-fixes: each finding's available fix under it (text, full).
    show_fixes: bool = False


def available() -> list[str]:
    import raptor_lint.formats as package

    names = {info.name for info in pkgutil.iter_modules(package.__path__) if not info.name.startswith("_")}
    return [name for name in FORMATS if name in names] + sorted(names - set(FORMATS))


def renderer(name: str) -> Callable:
    return importlib.import_module(f"raptor_lint.formats.{name}").render
