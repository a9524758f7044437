"""Cross-module callers, for the fork-safety rules (RPT101–RPT104).

A helper defined in ``services/cache.py`` and called only from ``create_app()`` in
``raptor_app/__init__.py`` runs before gunicorn forks; so does a registration decorator
defined in one module and applied (``@register_handler("fill")``) at import time in
another.  Within one file the fork-safety checker sees its own callers; this fact adds
the uses of a file's functions *imported* elsewhere in the project, each with where it runs:

    uses_of(path, ["name", "Class.method"]) -> {"name": [Use(kind, before_fork, source)]}

``kind`` is ``call``, ``decorator``, ``decorator-call`` or ``escape`` (passed around as a
value: it may run at any time).  ``before_fork`` is True when the use sits at module top
level, in the app factory's own body, or in a module-level helper that only such code
calls (same file, by name).  Built with ``ast`` from the files on disk; asked only for
files that have findings an outside caller could clear, and only files whose text
mentions one of the names asked about are parsed.
"""

from __future__ import annotations

import ast
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.project import ProjectIndex
    from raptor_lint.project.modules import ModuleIndex

TRANSPARENT_DECORATORS = frozenset({
    "lru_cache", "cache", "wraps", "contextmanager", "asynccontextmanager", "overload",
    "staticmethod", "classmethod",
})
HARMLESS_ATTRS = frozenset({"__name__", "__qualname__", "__doc__", "__module__"})
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_MAX_REEXPORT_DEPTH = 10


@dataclass(frozen=True)
class Use:
    kind: str
    before_fork: bool
    source: Path


class ForkCalls:
    """Lazily indexed: a file is parsed only when its text mentions a function asked about,
    and its uses are kept for the rest of the run."""

    def __init__(self, project: "ProjectIndex") -> None:
        from raptor_lint.discovery import PYTHON, iter_files

        self._modules = project.modules
        self._factories = frozenset(project.config.app_factory)
        self._files: list[Path] = []
        for path, kind in iter_files([project.root], project.config):
            if kind == PYTHON:
                try:
                    self._files.append(path.resolve())
                except OSError:
                    continue
        self._texts: dict[Path, str] = {}
        self._uses: dict[Path, list[tuple[tuple[Path, str], Use]]] = {}
        self._lock = threading.Lock()

    def uses_of(self, path: Path, names: Iterable[str]) -> dict[str, list[Use]]:
        """Uses, from *other* files of the project, of the functions ``names`` (``f`` or
        ``Class.method``) defined in ``path``."""
        try:
            resolved = path.resolve()
        except OSError:
            return {}
        wanted = set(names)
        words = {part for name in wanted for part in name.split(".")}
        found: dict[str, list[Use]] = {}
        if not words:
            return found
        with self._lock:
            for source in self._files:
                if source == resolved or not any(word in self._text(source) for word in words):
                    continue
                for (target, name), use in self._file_uses(source):
                    if target == resolved and name in wanted:
                        found.setdefault(name, []).append(use)
        return found

    def _text(self, path: Path) -> str:
        text = self._texts.get(path)
        if text is None:
            try:
                text = path.read_bytes().decode("utf-8", errors="replace")
            except OSError:
                text = ""
            self._texts[path] = text
        return text

    def _file_uses(self, path: Path) -> list[tuple[tuple[Path, str], Use]]:
        uses = self._uses.get(path)
        if uses is None:
            tree = self._modules.tree(path)
            uses = [] if tree is None else list(_file_uses(path, tree, self._modules, self._factories))
            self._uses[path] = uses
        return uses


def build_fork_calls(project: "ProjectIndex") -> ForkCalls:
    return ForkCalls(project)


# ------------------------------------------------------------------------ one file

class _File:
    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.parents: dict[ast.AST, ast.AST] = {}
        for node in ast.walk(tree):
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node

    def unit_of(self, node: ast.AST) -> ast.AST:
        """The function/lambda whose body executes ``node`` (decorators and defaults run
        where the ``def`` runs), or the module."""
        child = node
        parent = self.parents.get(child)
        while parent is not None:
            if isinstance(parent, _FUNCTIONS) and child in parent.body:
                return parent
            if isinstance(parent, ast.Lambda) and child is parent.body:
                return parent
            child, parent = parent, self.parents.get(parent)
        return self.tree

    def in_class(self, node: ast.AST) -> bool:
        parent = self.parents.get(node)
        while parent is not None and not isinstance(parent, (*_FUNCTIONS, ast.Lambda, ast.Module)):
            if isinstance(parent, ast.ClassDef):
                return True
            parent = self.parents.get(parent)
        return False

    def classify(self, ref: ast.AST) -> tuple[str, ast.AST | None]:
        parent = self.parents.get(ref)
        if isinstance(parent, ast.Call) and parent.func is ref:
            grand = self.parents.get(parent)
            decorated = isinstance(grand, (*_FUNCTIONS, ast.ClassDef)) and parent in grand.decorator_list
            return ("decorator-call" if decorated else "call"), self.unit_of(parent)
        if isinstance(parent, (*_FUNCTIONS, ast.ClassDef)) and ref in parent.decorator_list:
            return "decorator", self.unit_of(parent)
        if isinstance(parent, ast.Attribute) and parent.value is ref and parent.attr in HARMLESS_ATTRS:
            return "harmless", None
        return "escape", None

    def before_fork_units(self, factories: frozenset[str]) -> set[ast.AST]:
        """The app factory plus module-level helpers only before-fork code calls (by name)."""
        before: set[ast.AST] = set()
        helpers: dict[ast.AST, list[tuple[str, ast.AST | None]]] = {}
        names: dict[str, list[ast.AST]] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                names.setdefault(node.id, []).append(node)
        for node in ast.walk(self.tree):
            if not isinstance(node, _FUNCTIONS) or self.unit_of(node) is not self.tree:
                continue
            if node.name in factories:
                before.add(node)
                continue
            if self.in_class(node) or _has_opaque_decorator(node):
                continue
            kinds = [self.classify(ref) for ref in names.get(node.name, [])]
            kinds = [k for k in kinds if k[0] != "harmless"]
            if kinds and all(kind != "escape" for kind, _ in kinds):
                helpers[node] = kinds
        before |= set(helpers)
        changed = True
        while changed:
            changed = False
            for func, kinds in helpers.items():
                if func in before and not all(u is self.tree or u in before for _, u in kinds):
                    before.discard(func)
                    changed = True
        return before


def _has_opaque_decorator(func: ast.AST) -> bool:
    for decorator in func.decorator_list:
        expr = decorator.func if isinstance(decorator, ast.Call) else decorator
        name = expr.id if isinstance(expr, ast.Name) else expr.attr if isinstance(expr, ast.Attribute) else None
        if name not in TRANSPARENT_DECORATORS:
            return True
    return False


def _resolve_reexport(modules: "ModuleIndex", path: Path, name: str) -> tuple[Path, str]:
    """Follow ``from .x import name`` re-exports to the module that defines ``name``."""
    for _ in range(_MAX_REEXPORT_DEPTH):
        bound = modules.module_bindings(path).get(name)
        if not isinstance(bound, ast.ImportFrom):
            break
        original = next((a.name for a in bound.names if (a.asname or a.name) == name), name)
        target = modules.find_module(modules.absolute_module(path, bound.module, bound.level), path)
        if target is None:
            break
        path, name = target.resolve(), original
    return path, name


def _dotted(node: ast.AST) -> str | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _file_uses(path: Path, tree: ast.Module, modules: "ModuleIndex",
               factories: frozenset[str]) -> Iterator[tuple[tuple[Path, str], Use]]:
    imported: dict[str, tuple[Path, str]] = {}   # local name -> (defining path, name)
    module_names: dict[str, Path] = {}           # local dotted module name -> path
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            dotted = modules.absolute_module(path, node.module, node.level)
            source = modules.find_module(dotted, path) if dotted else None
            for alias in node.names:
                local = alias.asname or alias.name
                submodule = modules.find_module(f"{dotted}.{alias.name}" if dotted else alias.name, path)
                if submodule is not None:
                    module_names[local] = submodule.resolve()
                elif source is not None:
                    imported[local] = _resolve_reexport(modules, source.resolve(), alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                target = modules.find_module(alias.name, path)
                if target is not None:
                    module_names[alias.asname or alias.name] = target.resolve()
    if not imported and not module_names:
        return

    info = _File(tree)
    before = info.before_fork_units(factories)

    def use(ref: ast.AST) -> Use:
        kind, unit = info.classify(ref)
        if kind == "harmless":
            return Use(kind, True, path)
        return Use(kind, unit is not None and (unit is tree or unit in before), path)

    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and node.id in imported:
            target, name = imported[node.id]
            parent = info.parents.get(node)
            if isinstance(parent, ast.Attribute) and parent.value is node:
                # `Registry.register(...)` on an imported class.
                yield (target, f"{name}.{parent.attr}"), use(parent)
            yield (target, name), use(node)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            dotted = _dotted(node.value)
            if dotted is not None and dotted in module_names:
                yield (module_names[dotted], node.attr), use(node)
