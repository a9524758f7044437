"""Cross-module callers, for the fork-safety rules (RPT101–RPT104).

A helper defined in ``services/cache.py`` and called only from ``create_app()`` in
``raptor_app/__init__.py`` runs before gunicorn forks; so does a registration decorator
defined in one module and applied (``@register_handler("fill")``) at import time in
another.  Within one file the fork-safety checker sees its own callers; this fact adds
the uses of a file's functions *imported* elsewhere in the project, each with where it runs:

    uses_of(path, ["name", "Class.method"]) -> {"name": [Use(kind, before_fork, source)]}

``kind`` is ``call``, ``decorator``, ``decorator-call`` or ``escape`` (passed around as a
value: it may run at any time).  ``before_fork`` is True when the use sits at module top
level, in the app factory's own body, in a class-creation hook (``__init_subclass__``, a
metaclass ``__init__``…), or in a module-level helper that only such code calls (same
file, by name).

One ``ForkCalls`` serves the whole run (``ctx.project.get(build_fork_calls)``); it is an
index from a name to its use sites across the project, built lazily and never per
checked file:

1. On the first question, every Python file of the project is read once and the words
   that could name another module's function are indexed (word -> files): the names in
   its import statements and the names after a dot.  That is the cheap text
   pre-filter: a use of ``f`` from another module is either ``from m import f`` or
   ``….f``.  Test code is left out: tests never run under gunicorn, so a call from a
   test says nothing about the fork.
2. A question about ``f`` (or ``Klass.m``) parses with ``ast`` only the files the
   pre-filter names for ``f`` (for ``Klass`` and ``m``), each file once per run: one
   pass records its *sites*, the uses of imported names, keyed by the name they import,
   with where each runs.
3. A site's import is resolved (following ``__init__`` re-exports) only when its name is
   asked about, once per file and name.

Not seen: a function re-exported under another name (``from .x import f as g``) and used
as ``g``, and calls through a variable or an instance (``handler = f``; ``obj.method()``).
"""

from __future__ import annotations

import ast
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from raptor_lint.project.layout import is_test_code

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.project import ProjectIndex
    from raptor_lint.project.modules import ModuleIndex

TRANSPARENT_DECORATORS = frozenset({
    "lru_cache", "cache", "wraps", "contextmanager", "asynccontextmanager", "overload",
    "staticmethod", "classmethod",
})
HARMLESS_ATTRS = frozenset({"__name__", "__qualname__", "__doc__", "__module__"})
CLASS_CREATION_HOOKS = frozenset({"__init_subclass__", "__set_name__"})
METACLASS_HOOKS = frozenset({"__new__", "__init__", "__prepare__"})
METACLASS_BASES = frozenset({"type", "ABCMeta", "EnumMeta", "EnumType"})
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_MAX_REEXPORT_DEPTH = 10
_WORD = re.compile(r"\w+")
# Where a name of another module can be mentioned at all: in an import statement
# (`from m import (a,\n b)`, `import a.b as c`, backslash continuations) or after a dot.
_IMPORT_STATEMENT = re.compile(
    r"^[ \t]*(?:from[ \t]+[\w.]+[ \t]+)?import[ \t]+(\([^)]*\)|(?:[^\n\\]|\\\r?\n)*)",
    re.MULTILINE)
_ATTRIBUTE = re.compile(r"\.[ \t]*([^\W\d]\w*)")


# Fields that never hold a child worth visiting: names, operators and contexts (``ctx``
# singletons), flags.  Skipping them and calling no generator per node walks a tree ~4x
# faster than ``ast.iter_child_nodes``.
_LEAF_FIELDS = frozenset({
    "ctx", "op", "ops", "id", "attr", "name", "arg", "names", "module", "level", "kind",
    "type_comment", "conversion", "is_async", "kwd_attrs", "rest", "asname", "tag", "lineno",
})
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}


def child_fields(cls: type) -> tuple[str, ...]:
    """The fields of an ``ast`` node class that may hold child nodes (or lists of them);
    () for leaves and for anything that is not a node (``None``, ``str``)."""
    fields = _CHILD_FIELDS.get(cls)
    if fields is None:
        if not (isinstance(cls, type) and issubclass(cls, ast.AST)) \
                or cls is ast.Constant or cls is ast.MatchSingleton:
            fields = ()
        else:
            fields = tuple(field for field in cls._fields if field not in _LEAF_FIELDS)
        _CHILD_FIELDS[cls] = fields
    return fields


def children(node: ast.AST) -> list[ast.AST]:
    """The child nodes of ``node`` that matter to name and call analysis, in field order."""
    found: list[ast.AST] = []
    for field in child_fields(type(node)):
        value = getattr(node, field, None)
        if type(value) is list:
            found.extend(item for item in value if item is not None)
        elif value is not None:
            found.append(value)
    return found


@dataclass(frozen=True)
class Use:
    kind: str
    before_fork: bool
    source: Path


@dataclass(frozen=True)
class _Import:
    """``name`` as looked up in the module ``module`` (a function, a class, a submodule)."""

    module: str        # absolute dotted module
    name: str          # a name looked up in that module


class ForkCalls:
    def __init__(self, project: "ProjectIndex") -> None:
        self._project = project
        self._modules: "ModuleIndex | None" = None
        self._factories = frozenset(project.config.app_factory)
        self._words: dict[str, set[Path]] | None = None
        self._files: dict[Path, "_FileSites | None"] = {}
        self._targets: dict[tuple[Path, _Import, str | None], tuple[Path, str] | None] = {}
        self._bindings: dict[Path, dict[str, ast.AST]] = {}
        self._lock = threading.RLock()
        # How much work the questions caused (tests and profiling read these).
        self.files_indexed = 0
        self.files_parsed = 0

    def uses_of(self, path: Path, names: Iterable[str]) -> dict[str, list[Use]]:
        """Uses, from *other* files of the project, of the functions ``names`` (``f`` or
        ``Class.method``) defined in ``path``."""
        try:
            resolved = path.resolve()
        except OSError:
            return {}
        found: dict[str, list[Use]] = {}
        with self._lock:
            words = self._word_index()
            for name in sorted(set(names)):
                parts = name.split(".")
                candidates = set(words.get(parts[0], ()))
                for part in parts[1:]:
                    candidates &= words.get(part, set())
                for source in sorted(candidates):
                    if source == resolved:
                        continue
                    sites = self._sites(source)
                    if sites is None:
                        continue
                    for binding, attr, kind, unit in sites.uses.get(name, ()):
                        if self._target(source, binding, attr) == (resolved, name):
                            found.setdefault(name, []).append(sites.use(kind, unit))
        return found

    # ------------------------------------------------------------------ indexes
    @property
    def modules(self) -> "ModuleIndex":
        if self._modules is None:
            self._modules = self._project.modules
        return self._modules

    def _word_index(self) -> dict[str, set[Path]]:
        """word -> files of the project that import it or use it as an attribute name
        (built once per run)."""
        if self._words is None:
            from raptor_lint.discovery import PYTHON, iter_files

            root = self._project.root
            words: dict[str, set[Path]] = {}
            for path, kind in iter_files([root], self._project.config):
                if kind != PYTHON:
                    continue
                try:
                    resolved = path.resolve()
                    relative = resolved.relative_to(root.resolve()).as_posix()
                except (OSError, ValueError):
                    continue
                if is_test_code(relative):
                    continue
                try:
                    text = resolved.read_bytes().decode("utf-8", errors="replace")
                except OSError:
                    continue
                self.files_indexed += 1
                found = set(_ATTRIBUTE.findall(text))
                for statement in _IMPORT_STATEMENT.findall(text):
                    found.update(_WORD.findall(statement))
                for word in found:
                    words.setdefault(word, set()).add(resolved)
            self._words = words
        return self._words

    def _sites(self, path: Path) -> "_FileSites | None":
        if path not in self._files:
            from raptor_lint.source import SourceError, decode_python, parse_python

            sites = None
            try:
                tree = parse_python(decode_python(path.read_bytes()), str(path))
            except (OSError, SourceError, RecursionError, ValueError, MemoryError):
                tree = None
            self.files_parsed += 1
            if tree is not None:
                sites = _FileSites(path, tree, self._factories)
            self._files[path] = sites
        return self._files[path]

    # --------------------------------------------------------------- resolution
    def _target(self, source: Path, binding: _Import, attr: str | None) -> tuple[Path, str] | None:
        """(defining file, name) a site refers to: ``name`` defined in (or re-exported by)
        the module ``binding.module``, or ``name.attr`` for a method; None when the name
        is a module or the module is not part of the project."""
        key = (source, binding, attr)
        if key in self._targets:
            return self._targets[key]
        modules = self.modules
        found: tuple[Path, str] | None = None
        if binding.module and binding.name \
                and modules.find_module(f"{binding.module}.{binding.name}", source) is None:
            module = modules.find_module(binding.module, source)
            if module is not None:
                path, name = self._reexport(module.resolve(), binding.name)
                found = (path, f"{name}.{attr}" if attr else name)
        self._targets[key] = found
        return found

    def _reexport(self, path: Path, name: str) -> tuple[Path, str]:
        """Follow ``from .x import name`` re-exports to the module that defines ``name``."""
        modules = self.modules
        for _ in range(_MAX_REEXPORT_DEPTH):
            bindings = self._bindings.get(path)
            if bindings is None:
                bindings = self._bindings[path] = modules.module_bindings(path)
            bound = bindings.get(name)
            if not isinstance(bound, ast.ImportFrom):
                break
            original = next((a.name for a in bound.names if (a.asname or a.name) == name), name)
            target = modules.find_module(modules.absolute_module(path, bound.module, bound.level), path)
            if target is None:
                break
            path, name = target.resolve(), original
        return path, name


def build_fork_calls(project: "ProjectIndex") -> ForkCalls:
    return ForkCalls(project)


# ------------------------------------------------------------------------ one file

class _FileSites:
    """One pass over a file: its imports, and every use of an imported name, keyed by
    the name asked about (``f``, ``Klass.method``), with where the use runs."""

    def __init__(self, path: Path, tree: ast.Module, factories: frozenset[str]) -> None:
        self.path = path
        self.tree = tree
        self.parents: dict[ast.AST, ast.AST] = {}
        self.units: dict[ast.AST, ast.AST] = {}
        loads: list[ast.Name] = []
        imports: list[ast.Import | ast.ImportFrom] = []
        functions: list[ast.AST] = []
        stack: list[tuple[ast.AST, ast.AST, ast.AST]] = [(child, tree, tree) for child in tree.body]
        while stack:
            node, parent, unit = stack.pop()
            self.parents[node] = parent
            self.units[node] = unit
            kind = type(node)
            if kind is ast.Name:
                if type(node.ctx) is ast.Load:
                    loads.append(node)
                continue
            if kind is ast.Import or kind is ast.ImportFrom:
                imports.append(node)
                continue
            elif kind is ast.FunctionDef or kind is ast.AsyncFunctionDef or kind is ast.Lambda:
                # Decorators, defaults and annotations run where the `def` runs.
                if kind is ast.Lambda:
                    stack.append((node.body, node, node))
                    stack.append((node.args, node, unit))
                    continue
                functions.append(node)
                stack.extend((child, node, node) for child in node.body)
                stack.extend((child, node, unit) for child in node.decorator_list)
                stack.append((node.args, node, unit))
                if node.returns is not None:
                    stack.append((node.returns, node, unit))
                continue
            for child in children(node):
                stack.append((child, node, unit))

        self.loads_by_name: dict[str, list[ast.Name]] = {}
        for node in loads:
            self.loads_by_name.setdefault(node.id, []).append(node)
        self.functions = functions
        self.factories = factories
        self._before: set[ast.AST] | None = None
        # name asked about -> (import, attribute, kind, unit) of each use.
        self.uses: dict[str, list[tuple[_Import, str | None, str, ast.AST | None]]] = {}
        self._collect(path, imports, loads)

    def _collect(self, path: Path, imports: list, loads: list[ast.Name]) -> None:
        """Sites of every load rooted at an imported name.

        A local name is a root: ``from M import N [as L]`` makes ``L`` stand for ``M.N``;
        ``import D as L`` for the module ``D``; ``import D`` binds ``D``'s top package.
        Along ``L.a.b.f(...)`` each name may be a function of the module spelled by the
        names before it (key ``f``), or a method of the class just before it (key
        ``b.f``); resolution decides which ones are real."""
        roots: dict[str, tuple[str, list[str]]] = {}  # local name -> (base module, names)
        package = _package_of(path)
        for node in imports:
            if isinstance(node, ast.ImportFrom):
                module = _absolute(package, node.module, node.level)
                if module:
                    for alias in node.names:
                        if alias.name != "*":
                            roots[alias.asname or alias.name] = (module, [alias.name])
            else:
                for alias in node.names:
                    if alias.asname:
                        roots[alias.asname] = (alias.name, [])
                    else:
                        top = alias.name.split(".")[0]
                        roots[top] = (top, [])
        if not roots:
            return
        for node in loads:
            root = roots.get(node.id)
            if root is None:
                continue
            base, first = root
            names = list(first)
            refs: list[ast.AST] = [node] if first else []
            current: ast.AST = node
            parent = self.parents.get(current)
            while isinstance(parent, ast.Attribute) and parent.value is current:
                names.append(parent.attr)
                refs.append(parent)
                current, parent = parent, self.parents.get(parent)
            prefix = [base]
            for index, name in enumerate(names):
                ref = refs[index]
                self._add(name, _Import(".".join(prefix), name), None, ref)
                if index >= 1:
                    owner = _Import(".".join(prefix[:-1]), names[index - 1])
                    self._add(f"{names[index - 1]}.{name}", owner, name, ref)
                prefix.append(name)

    def _add(self, key: str, binding: _Import, attr: str | None, ref: ast.AST) -> None:
        kind, unit = self.classify(ref)
        self.uses.setdefault(key, []).append((binding, attr, kind, unit))

    def use(self, kind: str, unit: ast.AST | None) -> Use:
        if kind == "harmless":
            return Use(kind, True, self.path)
        return Use(kind, unit is not None and (unit is self.tree or unit in self.before), self.path)

    def classify(self, ref: ast.AST) -> tuple[str, ast.AST | None]:
        parent = self.parents.get(ref)
        if isinstance(parent, ast.Call) and parent.func is ref:
            # `@factory(...)`, or `factory(...)(target)`: what the factory returns is applied
            # on the spot.
            grand = self.parents.get(parent)
            applied = (isinstance(grand, _DEFS) and any(d is parent for d in grand.decorator_list)) \
                or (isinstance(grand, ast.Call) and grand.func is parent)
            return ("decorator-call" if applied else "call"), self.units.get(parent, self.tree)
        if isinstance(parent, _DEFS) and any(d is ref for d in parent.decorator_list):
            return "decorator", self.units.get(ref, self.tree)
        if isinstance(parent, ast.Attribute) and parent.value is ref and parent.attr in HARMLESS_ATTRS:
            return "harmless", None
        return "escape", None

    def _enclosing_class(self, node: ast.AST) -> ast.ClassDef | None:
        parent = self.parents.get(node)
        while parent is not None and not isinstance(parent, (*_FUNCTIONS, ast.Lambda, ast.Module)):
            if isinstance(parent, ast.ClassDef):
                return parent
            parent = self.parents.get(parent)
        return None

    @property
    def before(self) -> set[ast.AST]:
        """Units that run before the fork: the app factory, class-creation hooks of
        classes defined at import time, and module-level helpers only such code (or the
        top level) calls, by name in this file."""
        if self._before is None:
            fixed: set[ast.AST] = set()
            helpers: dict[ast.AST, list[tuple[str, ast.AST | None]]] = {}
            for func in self.functions:
                if self.units.get(func) is not self.tree:
                    continue
                name = func.name  # type: ignore[attr-defined]
                klass = self._enclosing_class(func)
                if name in self.factories:
                    fixed.add(func)
                    continue
                if klass is not None:
                    if name in CLASS_CREATION_HOOKS or (
                            name in METACLASS_HOOKS
                            and any(_last_name(b) in METACLASS_BASES for b in klass.bases)):
                        fixed.add(func)
                    continue
                if _has_opaque_decorator(func):
                    continue
                kinds = [self.classify(ref) for ref in self.loads_by_name.get(name, ())]
                kinds = [k for k in kinds if k[0] != "harmless"]
                if kinds and all(kind != "escape" for kind, _ in kinds):
                    helpers[func] = kinds
            before = set(helpers) | fixed
            changed = True
            while changed:
                changed = False
                for func, kinds in helpers.items():
                    if func in before and not all(u is self.tree or u in before for _, u in kinds):
                        before.discard(func)
                        changed = True
            self._before = before
        return self._before


def _has_opaque_decorator(func: ast.AST) -> bool:
    for decorator in func.decorator_list:  # type: ignore[attr-defined]
        expr = decorator.func if isinstance(decorator, ast.Call) else decorator
        if _last_name(expr) not in TRANSPARENT_DECORATORS:
            return True
    return False


def _last_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _package_of(path: Path) -> list[str]:
    """Dotted package of ``path`` (directories with ``__init__.py``), as a list."""
    parts: list[str] = []
    directory = path.parent
    while (directory / "__init__.py").exists() and directory != directory.parent:
        parts.insert(0, directory.name)
        directory = directory.parent
    return parts


def _absolute(package: list[str], module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    if level - 1 > len(package):
        return ""  # beyond the top-level package
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])
