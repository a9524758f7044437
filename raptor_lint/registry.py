"""Finds every rule family under ``raptor_lint.rules`` and indexes rules by code."""

from __future__ import annotations

import functools
import importlib
import pkgutil

from raptor_lint.findings import ALWAYS_REPORTED as ALWAYS_REPORTED  # re-exported
from raptor_lint.rules.base import Checker, Rule


@functools.lru_cache(maxsize=None)
def checker_classes() -> tuple[type[Checker], ...]:
    import raptor_lint.rules as package

    classes: list[type[Checker]] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, Checker)
                and value is not Checker
                and value.__module__ == module.__name__
                and value.rules
            ):
                classes.append(value)
    return tuple(classes)


@functools.lru_cache(maxsize=None)
def all_rules() -> dict[str, Rule]:
    rules: dict[str, Rule] = {}
    for cls in checker_classes():
        for rule in cls.rules:
            if rule.code in rules:
                raise RuntimeError(f"rule code {rule.code} declared twice")
            rules[rule.code] = rule
    return dict(sorted(rules.items()))


def family_of(code: str) -> str:
    for cls in checker_classes():
        if code in cls.codes():
            return cls.family
    return ""


def known_code_prefix(prefix: str) -> bool:
    """True when ``prefix`` selects at least one code (flake8 prefix semantics).

    The ``known_code`` check that ``raptor_lint.config`` takes as a parameter."""
    prefix = prefix.strip().upper()
    return bool(prefix) and any(
        code.startswith(prefix) for code in (*all_rules(), *ALWAYS_REPORTED)
    )
