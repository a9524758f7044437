"""Static, import-free resolution of names and string constants across the project.

Raptor code builds URL prefixes and SQL from constants defined elsewhere
(``from raptor_app.settings import API_INTERNAL``).  This resolver reads the
defining module with ``ast`` (never importing or executing it), follows import
chains and evaluates literals, f-strings, ``+``, ``%`` and ``.format``.

Public API (``ctx.project.modules`` is the run's shared ``ModuleIndex``):

``StringValue(text, complete, origin)``
    ``complete`` is False when only a head of the value is known; ``origin`` is
    ``(path, line)`` of the value's first literal.
``string_constant(path, name, placeholder=None)``
    Value of the module-level ``name`` of the module at ``path``.
``imported_string(from_path, module, level, name, placeholder=None)``
    Value of ``name`` as imported by ``from <level dots><module> import name``
    written in ``from_path``.
``evaluate(expr, path, placeholder=None, *, tree=None, text=None, semantic=None)``
    Value of the ``ast`` expression ``expr`` found in the module at ``path``.
    Pass ``tree`` (and ``text``) when ``expr`` belongs to an in-memory tree
    that may differ from the file on disk (the file being linted: use
    ``ctx.ast_tree`` / ``ctx.text``, and ``semantic=ctx.semantic`` when the file's
    model is built anyway, so that no second one is).  Names are looked up like Python does:
    enclosing function scopes first (a local bound by straight-line
    assignments / ``+=``; parameters are unknown), then the module.
``value_of_ast(ctx, node, placeholder=None)``
    The value of an expression (Name, Attribute, string, f-string, ``+`` …) of
    ``ctx.ast_tree``, the file being linted.
``resolve(expr, path, *, tree=None, text=None, semantic=None) -> Definition | None``
    Where a Name / Attribute (``m.CONST``, ``pkg.mod.CONST``,
    ``Settings.PREFIX``) is finally bound, following imports, ``__init__``
    re-exports, ``import pkg.mod as m`` and star imports.  ``Definition.kind``
    is ``"value"`` (``node`` is the assigned expression), ``"class"``,
    ``"function"`` or ``"module"``; ``line`` is the binding's line and
    ``identity`` a hashable key (a function's local is distinct from a module
    name of the same spelling).

Placeholder semantics: an unknown part either ends the value (``placeholder=None``:
the known head is kept and ``complete`` is False; an unknown *head* gives None)
or is replaced by ``placeholder`` (SQL rules use a bind parameter) and the
value stays complete.

Scopes and bindings are those of each module's semantic model
(``raptor_lint.semantic``, built the first time a name of the module is looked up;
the file being linted can hand over its own, ``ctx.semantic``).

What is "unknown": parameters, calls, names bound in loops / ``with`` /
``except`` / walrus / ``del``, names rebound from a nested function (``global``,
``nonlocal``), names bound more than once under ``if``/``try`` (ambiguous),
modules that are not in the project, import cycles.  For a *name* the cheap
resolver cannot settle (ambiguous bindings, attributes of instances such as
``self.PREFIX``), astroid is tried lazily as a fallback: modules are built with
their dotted name (relative imports need it), only the project's own modules may
be loaded (everything else is Uninferable — never flask's 2.7 s build), and
each index has a budget of inferences and modules.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional, Union

from raptor_lint.safe_read import read_regular_file
from raptor_lint.semantic import DEFS, FUNCTIONS, Scope, SemanticModel, absolute_module, first_param
from raptor_lint.source import MTIME_TICK_NS, SourceError, decode_python, parse_python
from raptor_lint.strings import replace_braces, replace_percent

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.context import FileContext

MAX_DEPTH = 40
ASTROID_INFERENCE_BUDGET = 200
ASTROID_MODULE_BUDGET = 64
ASTROID_MAX_VALUES = 8
# Parsed modules kept for reuse (least recently used first out).  A module's ``ast`` tree
# takes ~50-100x its source in memory; on a 3,678-file tree an unbounded cache held
# several hundred MB.  Resolution chains are short (an import, a re-export, a settings
# module), so a small working set serves them; an evicted module is re-parsed.
MODULE_CACHE_SIZE = 128
# How long a directory listing is used before its mtime is checked again (see
# ``ModuleIndex._listing``).
LISTING_TRUST_SECONDS = 1.0


@dataclass(frozen=True)
class StringValue:
    text: str
    complete: bool = True
    # Where the value's first literal lives: (path, line) for reporting/debugging.
    origin: tuple[Path, int] | None = None


@dataclass(frozen=True)
class Definition:
    """Where a name is finally bound."""

    path: Path
    name: str
    kind: str  # "value" | "class" | "function" | "module"
    node: ast.AST | None = field(default=None, compare=False)
    line: int = 0
    # True when the value was composed from several bindings (``X = a`` then
    # ``X += b``): ``node`` is then synthetic and has no source position.
    composed: bool = False
    # Enclosing function of a local (``"make_app"``); "" at module level.
    scope: str = ""

    @property
    def identity(self) -> tuple[Path, str]:
        """Distinguishes a module-level name from a local of the same name."""
        return (self.path, f"{self.scope}.<locals>.{self.name}" if self.scope else self.name)


# --------------------------------------------------------------------- bindings

# A model of a tree the caller holds (``ctx.semantic``), or a getter of it.
_Semantic = Union[SemanticModel, Callable[[], Optional[SemanticModel]], None]


@dataclass(frozen=True)
class _Binding:
    """One binding of a name in one scope of the file's semantic model, as the evaluator
    reads it (``_binding``)."""

    kind: str  # assign aug import importfrom class function param other
    node: ast.AST | None  # value expr (assign), AugAssign, Import/ImportFrom stmt, ClassDef/FunctionDef
    conditional: bool  # under an if / try / loop / with / match of its scope
    position: tuple[int, int]  # where it binds: its statement (a walrus, an except clause…)
    imported: str = ""  # importfrom: the original name; import: the dotted module bound


class _Unknown:
    """Result of a failed resolution; ``ambiguous`` ones may be retried with astroid."""

    def __init__(self, ambiguous: bool = False) -> None:
        self.ambiguous = ambiguous


_UNKNOWN = _Unknown()
_AMBIGUOUS = _Unknown(ambiguous=True)

_OTHER_PATTERNS = (ast.MatchAs, ast.MatchStar, ast.MatchMapping)


def _pos(node: ast.AST) -> tuple[int, int]:
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def _end(node: ast.AST) -> tuple[int, int]:
    return (getattr(node, "end_lineno", 0) or 0, getattr(node, "end_col_offset", 0) or 0)


def _complete_texts(values: list[StringValue | None]) -> list[str] | None:
    """The texts of ``values`` when every one is known and complete, else None."""
    texts = []
    for value in values:
        if value is None or not value.complete:
            return None
        texts.append(value.text)
    return texts


def _binding(model: SemanticModel, owner: Scope, node: ast.AST) -> _Binding | None:
    """What the evaluator knows of ``node``, one of ``model.bound(owner, name)``: an
    assignment's value (a tuple target takes the matching element of a tuple value), an
    ``+=``, an import, a def or class, a parameter; anything else (loop, ``with``,
    ``except`` and walrus targets, ``del``, match captures) is "other", as is a binding
    made from a nested scope through ``global`` / ``nonlocal``.  None for what gives no
    value (an annotation alone, a ``del`` in a nested scope)."""
    if isinstance(node, ast.arg):
        return _Binding("param", None, False, _pos(node))
    if isinstance(node, ast.Name):
        if model.name_scope.get(node) is not owner:  # rebound at run time by a nested scope
            return None if isinstance(node.ctx, ast.Del) else _Binding("other", None, True, _pos(node))
        site = model.parent(node)
        path: list[ast.AST] = [node]
        while isinstance(site, (ast.Tuple, ast.List, ast.Starred)):
            path.append(site)
            site = model.parent(site)
        if isinstance(site, ast.NamedExpr):
            return _Binding("other", None, True, _pos(site))
        statement = site if isinstance(site, ast.stmt) else model.statement_of(node)
        assert statement is not None
        conditional = model.parent(statement) is not owner.node
        if isinstance(site, ast.Assign):
            value = _unpacked(site.value, path)
            return _Binding("assign" if value is not None else "other", value, conditional, _pos(site))
        if isinstance(site, ast.AnnAssign):
            return _Binding("assign", site.value, conditional, _pos(site)) if site.value is not None else None
        if isinstance(site, ast.AugAssign):
            return _Binding("aug", site, conditional, _pos(site))
        return _Binding("other", None, conditional, _pos(statement))
    if isinstance(node, ast.alias):
        importer = model.parent(node)
        if model.name_scope.get(node) is not owner or importer is None:
            return _Binding("other", None, True, _pos(node))
        conditional = model.parent(importer) is not owner.node
        if isinstance(importer, ast.ImportFrom):
            return _Binding("importfrom", importer, conditional, _pos(importer), node.name)
        imported = node.name if node.asname else node.name.split(".")[0]
        return _Binding("import", importer, conditional, _pos(importer), imported)
    if isinstance(node, DEFS):
        if model.def_scope.get(node) is not owner:
            return _Binding("other", None, True, _pos(node))
        kind = "class" if isinstance(node, ast.ClassDef) else "function"
        return _Binding(kind, node, model.parent(node) is not owner.node, _pos(node))
    if isinstance(node, _OTHER_PATTERNS):  # a match capture: where its case's pattern starts
        for ancestor in model.ancestors(node):
            if isinstance(ancestor, ast.match_case):
                return _Binding("other", None, True, _pos(ancestor.pattern))
    return _Binding("other", None, True, _pos(node))  # an except clause's name


def _unpacked(value: ast.AST | None, path: list[ast.AST]) -> ast.AST | None:
    """The part of ``value`` that the target ``path[0]`` takes, ``path`` leading from it up
    through tuple / list targets: ``A, B = "a", "b"`` gives B ``"b"``; None when unknown (a
    starred target or element, a length that differs, a value that is not a display)."""
    for inner, outer in zip(reversed(path[:-1]), reversed(path[1:])):
        if not (isinstance(outer, (ast.Tuple, ast.List)) and isinstance(value, (ast.Tuple, ast.List))
                and len(value.elts) == len(outer.elts)
                and not any(isinstance(e, ast.Starred) for e in (*value.elts, *outer.elts))):
            return None
        value = value.elts[next(i for i, e in enumerate(outer.elts) if e is inner)]
    return value


class _Module:
    """One parsed module: its tree and its semantic model (``raptor_lint.semantic``), built
    the first time a binding is asked about, read as the evaluator needs it: the bindings
    of a name in a scope (``bindings``), the scopes enclosing a position (``scopes_at``),
    the star imports."""

    def __init__(self, path: Path, tree: ast.Module, text: str | None,
                 semantic: _Semantic = None) -> None:
        self.path = path
        self.tree = tree
        self.text = text
        # A model of ``tree`` already built (the linted file's ``ctx.semantic``), or a
        # callable that gives one; None: build one when first needed.
        self._semantic = semantic
        self._model: SemanticModel | None = None
        self._bindings: dict[tuple[Scope, str], list[_Binding]] = {}
        self._scopes: list[tuple[tuple[int, int], tuple[int, int], ast.AST]] | None = None
        self._stars: list[ast.ImportFrom] | None = None
        self._all: set[str] | None | bool = False

    @property
    def model(self) -> SemanticModel:
        model = self._model
        if model is None:
            source, self._semantic = self._semantic, None
            model = source() if callable(source) else source
            if model is None or model.tree is not self.tree:
                model = SemanticModel(self.tree, self.text)
            self._model = model
        return model

    def offer(self, semantic: _Semantic) -> None:
        """Use ``semantic`` (a model of this tree, or its getter) if no model is built yet."""
        if semantic is not None and self._model is None:
            self._semantic = semantic

    def bindings(self, name: str, scope: Scope | None = None) -> list[_Binding]:
        """The bindings of ``name`` in ``scope`` (the module's by default), in source order;
        in the module scope, names rebound from functions through ``global`` too."""
        model = self.model
        if scope is None:
            scope = model.module_scope
        key = (scope, name)
        found = self._bindings.get(key)
        if found is None:
            found = self._bindings[key] = [
                binding for node in model.bound(scope, name)
                if (binding := _binding(model, scope, node)) is not None]
        return found

    def binds(self, name: str) -> bool:
        """Might ``name`` be a module-level name here (bound, or from a star import)?"""
        return bool(self.bindings(name) or self.stars)

    @property
    def stars(self) -> list[ast.ImportFrom]:
        """``from … import *`` statements (module level: anywhere else is a SyntaxError)."""
        if self._stars is None:
            self._stars = [node for node in self.model.imports if isinstance(node, ast.ImportFrom)
                           and any(alias.name == "*" for alias in node.names)]
        return self._stars

    @property
    def is_package(self) -> bool:
        return self.path.name == "__init__.py"

    def exported(self, name: str) -> bool:
        """Would ``from this import *`` bind ``name``?"""
        if self._all is False:
            self._all = None
            for value in (b.node for b in self.bindings("__all__") if b.kind == "assign"):
                if isinstance(value, (ast.List, ast.Tuple)):
                    self._all = {e.value for e in value.elts
                                 if isinstance(e, ast.Constant) and isinstance(e.value, str)}
        if isinstance(self._all, set):
            return name in self._all
        return not name.startswith("_")

    def scopes_at(self, position: tuple[int, int]) -> list[ast.AST]:
        """The defs, lambdas and classes whose source spans ``position``, innermost first
        (by position: an expression of another parse of the file is looked up too)."""
        if self._scopes is None:
            model = self.model
            self._scopes = [(_pos(node), _end(node), node)
                            for node in (*model.functions, *model.lambdas, *model.classes)]
        found = [item for item in self._scopes if item[0] <= position < item[1]]
        found.sort(key=lambda item: item[0], reverse=True)
        return [item[2] for item in found]

    def scope(self, node: ast.AST) -> Scope | None:
        """The scope the def, lambda or class ``node`` of this tree opens."""
        return self.model.inner_scope.get(node)


# ------------------------------------------------------------------------ index

@dataclass
class _Walk:
    placeholder: str | None
    overrides: dict[Path, _Module]
    depth: int = 0
    seen: frozenset = frozenset()

    def deeper(self, key: Any = None) -> "_Walk | None":
        if self.depth >= MAX_DEPTH or (key is not None and key in self.seen):
            return None
        seen = self.seen | {key} if key is not None else self.seen
        return _Walk(self.placeholder, self.overrides, self.depth + 1, seen)


class _Importer:
    """Where a module imports from: what ``find_module`` and ``absolute_module`` need of it."""

    __slots__ = ("first_root", "package", "is_init")

    def __init__(self, first_root: str, package: list[str], is_init: bool) -> None:
        self.first_root = first_root  # the directory its package chain starts from
        self.package = package  # ``module_name(path).split(".")``
        self.is_init = is_init  # the path as given names an ``__init__.py``


# name -> (is a file, is a directory, is a symlink); both tests follow symlinks.
_Listing = dict[str, tuple[bool, bool, bool]]


class ModuleIndex:
    def __init__(self, root: Path, *, use_astroid: bool = True) -> None:
        self.root = root.resolve()
        self.use_astroid = use_astroid
        self._modules: OrderedDict[Path, tuple[tuple[int, int], _Module | None]] = OrderedDict()
        self._lock = threading.RLock()
        self._astroid_inferences = 0
        self._astroid_modules: dict[str, Any] = {}
        # The astroid build of the last module inferred in, and the module of the last
        # in-memory tree (the file being linted): one each, see _override.
        self._astroid_own: tuple[_Module, Any] | None = None
        self._override_module: _Module | None = None
        self._resolved: dict[str, Path] = {}
        # Module look-ups (see ``_listing``): answers by (dotted name, first search root).
        self._root_text = str(self.root)
        self._src_text = os.path.join(self._root_text, "src")
        self._find_cache: dict[tuple[str, str], Path | None] = {}
        self._package_dirs: dict[tuple[str, str], bool] = {}
        self._importers: dict[str, _Importer] = {}
        self._packages: dict[str, tuple[str, tuple[str, ...]]] = {}
        # directory -> (mtime_ns, or None to re-scan when due; entries; checked at)
        self._listings: dict[str, tuple[int | None, _Listing, float]] = {}
        self._swept_at = time.monotonic()  # when every listing was last due a check
        self._real_dirs: dict[str, str] = {}

    def real_path(self, path: Path | str) -> Path:
        """``Path(path).resolve()``, memoised: paths are compared and keyed resolved."""
        key = str(path)
        found = self._resolved.get(key)
        if found is None:
            found = self._resolved[key] = Path(self._real_text(key))
        return found

    def real_path_once(self, path: Path | str) -> Path:
        """``real_path`` for a path asked about once (the file being linted): resolved
        through the directory memo, the answer itself not kept."""
        return Path(self._real_text(str(path)))

    # ---------------------------------------------------------------- modules
    def module_name(self, path: Path | str) -> str:
        """Dotted name of ``path``: its packages (dirs with __init__.py) up to the first non-package."""
        return ".".join(self._importer(path).package)

    def find_module(self, dotted: str, from_path: Path | str | None = None) -> Path | None:
        """The file of module ``dotted`` (``pkg/mod.py`` or ``pkg/mod/__init__.py``), resolved, or
        None.  Searched where Python would find it run from ``from_path``: the directory its
        package chain starts from, then the project root and ``src``."""
        self._sweep()
        if from_path is None:
            first = ""
        else:  # the memo's hit inline: thousands of calls
            first = (self._importers.get(str(from_path)) or self._importer(from_path)).first_root
        key = (dotted, first)
        try:
            return self._find_cache[key]
        except KeyError:
            pass
        parts = dotted.split(".")
        found = None
        if dotted and all(part.isidentifier() for part in parts):
            found = self._lookup(parts, first)
        self._find_cache[key] = found
        return found

    def is_package_dir(self, dotted: str, from_path: Path | str) -> bool:
        """Is ``dotted`` a directory on ``from_path``'s search path (a package, or a namespace
        one), so that ``from dotted import name`` may import a submodule?"""
        self._sweep()
        first = (self._importers.get(str(from_path)) or self._importer(from_path)).first_root
        key = (dotted, first)
        found = self._package_dirs.get(key)
        if found is None:
            parts = dotted.split(".")
            found = all(part.isidentifier() for part in parts) and any(
                self._walk(base, parts) is not None for base in self._search_roots(first))
            self._package_dirs[key] = found
        return found

    def absolute_module(self, from_path: Path | str, module: str | None, level: int) -> str:
        """``from <level dots><module> import`` written in ``from_path``, as an absolute dotted
        name ("" when the dots climb above the top-level package)."""
        if level == 0:
            return module or ""
        return absolute_module(self.package(from_path), module, level) or ""

    def package(self, path: Path | str) -> list[str]:
        """The dotted package a module at ``path`` imports relative to, as a list (its own
        name for an ``__init__.py``)."""
        importer = self._importers.get(str(path)) or self._importer(path)
        return importer.package if importer.is_init else importer.package[:-1]

    # ---------------------------------------------------- module look-up plumbing
    def _importer(self, path: Path | str) -> _Importer:
        key = str(path)
        found = self._importers.get(key)
        if found is None:
            real = self.real_path(key)
            first, package = self._package(str(real.parent))
            dotted = package if real.name == "__init__.py" else (*package, real.stem)
            found = self._importers[key] = _Importer(first, ".".join(dotted).split("."),
                                                     Path(key).name == "__init__.py")
        return found

    def _package(self, directory: str) -> tuple[str, tuple[str, ...]]:
        """(first search root, package names) of a directory: up while it holds an
        ``__init__.py``.  Kept until a listing is found changed (``_forget_answers``)."""
        found = self._packages.get(directory)
        if found is None:
            parent = os.path.dirname(directory)
            if parent != directory and self._exists(directory, "__init__.py"):
                first, package = self._package(parent)
                found = (first, (*package, os.path.basename(directory)))
            else:
                found = (directory, ())
            self._packages[directory] = found
        return found

    def _search_roots(self, first: str) -> list[str]:
        roots = [self._root_text, self._src_text]
        if first and first not in roots:
            roots.insert(0, first)
        return roots

    def _lookup(self, parts: list[str], first: str) -> Path | None:
        for base in self._search_roots(first):
            walked = self._walk(base, parts[:-1])
            if walked is None:
                continue
            directory, linked = walked
            if base == self._src_text and base != first:
                linked = True  # ``src`` itself may be a symlink
            entries = self._listing(directory)
            module = entries.get(parts[-1] + ".py")
            if module is not None and module[0]:
                return self._found(os.path.join(directory, parts[-1] + ".py"), linked or module[2])
            package = entries.get(parts[-1])
            if package is not None and package[1]:
                init = self._listing(os.path.join(directory, parts[-1])).get("__init__.py")
                if init is not None and init[0]:
                    return self._found(os.path.join(directory, parts[-1], "__init__.py"),
                                       linked or package[2] or init[2])
        return None

    def _walk(self, base: str, parts: list[str]) -> tuple[str, bool] | None:
        """(the directory base/parts..., whether a symlink was crossed), or None when a part
        is not a directory."""
        directory, linked = base, False
        for part in parts:
            entry = self._listing(directory).get(part)
            if entry is None or not entry[1]:
                return None
            directory, linked = os.path.join(directory, part), linked or entry[2]
        return directory, linked

    def _found(self, path: str, linked: bool) -> Path:
        """A module file found under resolved directories: only a symlink on the way needs
        ``resolve()``."""
        if linked:
            return self.real_path(path)
        found = self._resolved.get(path)
        if found is None:
            found = self._resolved[path] = Path(path)
        return found

    def _real_text(self, path: str) -> str:
        """``str(Path(path).resolve())``, resolving each directory once."""
        if ".." in path:
            return str(Path(path).resolve())  # symlinks first, then "..": the exact way
        directory, name = os.path.split(os.path.abspath(path))
        real = self._real_dirs.get(directory)
        if real is None:
            real = self._real_dirs[directory] = os.path.realpath(directory)
        entry = self._listing(real).get(name)
        if entry is None or entry[2]:
            return str(Path(path).resolve())  # a symlink (or missing): the exact way
        return os.path.join(real, name)

    def _exists(self, directory: str, name: str) -> bool:
        entry = self._listing(directory).get(name)
        if entry is None:
            return False
        return entry[0] or entry[1] or os.path.exists(os.path.join(directory, name))

    def _listing(self, directory: str) -> _Listing:
        """The entries of ``directory``, listed once (``os.scandir``) and shared by every
        look-up: a look-up is dictionary probes, not a ``stat`` per candidate file.

        The language server keeps this index until it hears of a save or a watched-file
        event, and a client that does not watch files never sends the latter.  So a listing
        older than ``LISTING_TRUST_SECONDS`` is checked against the directory's mtime (which
        adding, removing or renaming an entry changes) before it is used again: a module
        another program creates, removes or renames is seen a second later at most, instead
        of at the next save.  A listing found changed also drops the answers derived from
        listings (``_forget_answers``), and ``_sweep`` checks the due listings before a
        memoised answer is given.  Checking on every use cost at least a quarter more
        look-up time on the benchmark corpus."""
        now = time.monotonic()
        cached = self._listings.get(directory)
        if cached is not None and now - cached[2] < LISTING_TRUST_SECONDS:
            return cached[1]
        try:
            mtime = os.stat(directory).st_mtime_ns
        except OSError:
            mtime = -1  # missing: empty until it appears
        stamp: int | None = mtime
        if cached is not None and cached[0] == stamp:
            self._listings[directory] = (stamp, cached[1], now)
            return cached[1]
        entries: _Listing = {}
        if mtime != -1:
            try:
                with os.scandir(directory) as scan:
                    for entry in scan:
                        try:
                            entries[entry.name] = (entry.is_file(), entry.is_dir(), entry.is_symlink())
                        except OSError:
                            continue
            except OSError:
                pass
            if time.time_ns() - mtime < MTIME_TICK_NS:
                # Changed within a timestamp tick of this scan: a later change in the same
                # tick keeps the mtime, so never match it; scan again when it is due.
                stamp = None
        self._listings[directory] = (stamp, entries, now)
        if cached is not None and cached[1] != entries:
            self._forget_answers()
        return entries

    def _sweep(self) -> None:
        """Check every listing that is due (see ``_listing``) before a memoised answer is
        used: at most once per ``LISTING_TRUST_SECONDS``, a ``stat`` per listed directory."""
        now = time.monotonic()
        if now - self._swept_at >= LISTING_TRUST_SECONDS:
            self._swept_at = now
            for directory in list(self._listings):
                self._listing(directory)

    def _forget_answers(self) -> None:
        """Drop the memoised answers built from listings (module look-ups, package dirs and
        chains, importers' search roots): a directory changed under them.  Resolved paths
        stay (a symlink replaced in place is not noticed before the index is dropped)."""
        self._find_cache.clear()
        self._package_dirs.clear()
        self._packages.clear()
        self._importers.clear()

    def tree(self, path: Path) -> ast.Module | None:
        module = self._module(Path(path))
        return module.tree if module else None

    def _module(self, path: Path, walk: _Walk | None = None) -> _Module | None:
        path = self.real_path(path)
        if walk is not None and path in walk.overrides:
            return walk.overrides[path]
        try:
            stat = path.stat()
        except OSError:
            return None
        stamp = (stat.st_mtime_ns, stat.st_size)
        cached = self._modules.get(path)
        if cached is not None and cached[0] == stamp:
            try:
                self._modules.move_to_end(path)
            except KeyError:  # evicted by another thread meanwhile
                pass
            return cached[1]
        module = None
        try:
            text = decode_python(read_regular_file(path))  # a FIFO, /dev/zero: UnreadableFile (OSError)
            module = _Module(path, parse_python(text, str(path)), text)
        except (OSError, SourceError, RecursionError, ValueError):
            module = None
        with self._lock:
            self._modules[path] = (stamp, module)
            self._modules.move_to_end(path)
            while len(self._modules) > MODULE_CACHE_SIZE:
                self._modules.popitem(last=False)
        return module

    def _override(self, path: Path, tree: ast.Module | None, text: str | None,
                  semantic: _Semantic = None) -> dict[Path, _Module]:
        """Bindings for an in-memory tree of ``path`` (the file being linted), read from
        ``semantic`` (its model or a getter of it) when given, else from a model built the
        first time a name is looked up."""
        if tree is None:
            return {}
        path = self.real_path(path)
        cached = self._modules.get(path)
        if cached is not None and cached[1] is not None and cached[1].tree is tree:
            cached[1].offer(semantic)
            return {path: cached[1]}
        entry = self._override_module
        if entry is None or entry.tree is not tree or entry.path != path:
            # Only the file being linted: its families ask in turn, with the same tree.
            # Keeping more kept that many whole trees alive for the run (16 did: ~130 k
            # objects that every full collection in a flake8 worker walked again).
            entry = self._override_module = _Module(path, tree, text, semantic)
        else:
            entry.offer(semantic)
        return {path: entry}

    # ---------------------------------------------------------------- values
    def module_bindings(self, path: Path) -> dict[str, ast.AST]:
        """Top-level names of a module bound unambiguously: the assigned expression,
        the ``ImportFrom``/``Import`` statement, or the ``ClassDef``/``FunctionDef``."""
        module = self._module(Path(path))
        if module is None:
            return {}
        result: dict[str, ast.AST] = {}
        for name in sorted(module.model.module_scope.local):
            entries = module.bindings(name)
            if len(entries) == 1 and not entries[0].conditional and entries[0].kind in (
                    "assign", "import", "importfrom", "class", "function"):
                assert entries[0].node is not None
                result[name] = entries[0].node
        return result

    def string_constant(self, path: Path, name: str, placeholder: str | None = None) -> StringValue | None:
        """Value of the module-level ``name`` of the module at ``path``."""
        walk = _Walk(placeholder, {})
        module = self._module(Path(path), walk)
        if module is None:
            return None
        found = self._lookup_module(module, name, walk)
        if isinstance(found, _Unknown) and found.ambiguous:
            return self._astroid_value(None, module, name)
        return self._value_of_definition(found, walk)

    def imported_string(self, from_path: Path, module: str | None, level: int, name: str,
                        placeholder: str | None = None) -> StringValue | None:
        """Value of ``name`` imported by ``from <level dots><module> import name``."""
        walk = _Walk(placeholder, {})
        found = self._import_from(Path(from_path), module, level, name, walk)
        if isinstance(found, _Unknown) and found.ambiguous:
            dotted = self.absolute_module(Path(from_path), module, level)
            target = self.find_module(dotted, Path(from_path)) if dotted else None
            target_module = self._module(target, walk) if target else None
            return self._astroid_value(None, target_module, name) if target_module else None
        return self._value_of_definition(found, walk)

    def evaluate(self, expr: ast.AST, path: Path, placeholder: str | None = None, *,
                 tree: ast.Module | None = None, text: str | None = None,
                 semantic: _Semantic = None) -> StringValue | None:
        """Value of ``expr`` (a node of the module at ``path``, or of ``tree``; ``semantic``:
        the model of ``tree`` if the caller has one, e.g. ``ctx.semantic``)."""
        if tree is not None and isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            # Most route rules and prefixes are plain literals: no module bindings needed.
            return StringValue(expr.value, True, (self.real_path(path), getattr(expr, "lineno", 0)))
        walk = _Walk(placeholder, self._override(Path(path), tree, text, semantic))
        module = self._module(Path(path), walk)
        if module is None:
            return None
        try:
            return self._eval(expr, module, walk)
        except RecursionError:
            return None

    def resolve(self, expr: ast.AST, path: Path, *, tree: ast.Module | None = None,
                text: str | None = None, semantic: _Semantic = None) -> Definition | None:
        """Where the Name / Attribute ``expr`` of the module at ``path`` is bound."""
        walk = _Walk(None, self._override(Path(path), tree, text, semantic))
        module = self._module(Path(path), walk)
        if module is None:
            return None
        try:
            found = self._resolve_expr(expr, module, walk)
        except RecursionError:
            return None
        return found if isinstance(found, Definition) else None

    def value_of_ast(self, ctx: "FileContext", node: ast.AST,
                     placeholder: str | None = None) -> StringValue | None:
        """Value of ``node`` (a node of ``ctx.ast_tree``) in the file being linted."""
        if ctx.ast_tree is None:
            return None
        # The file's model, built now if a name needs it and then shared with every family.
        semantic = ctx.__dict__.get("semantic") or functools.partial(getattr, ctx, "semantic")
        return self.evaluate(node, ctx.path, placeholder, tree=ctx.ast_tree, text=ctx.text, semantic=semantic)

    # ------------------------------------------------------------ resolution
    def _lookup_module(self, module: _Module, name: str, walk: _Walk,
                       before: tuple[int, int] | None = None) -> Definition | _Unknown:
        """Module-level ``name`` of ``module`` (bindings before ``before`` only, if given)."""
        step = walk.deeper((module.path, name, before))
        if step is None:
            return _UNKNOWN
        entries = module.bindings(name)
        if before is not None:
            # A module-level use sees the bindings above it.  None above (a synthetic
            # expression, or a tree that is not this file's): all of them.
            entries = [e for e in entries if e.position < before] or entries
        if not entries:
            for star in reversed(module.stars):
                dotted = self.absolute_module(module.path, star.module, star.level)
                target = self.find_module(dotted, module.path) if dotted else None
                target_module = self._module(target, step) if target else None
                if target_module is not None and target_module.exported(name):
                    found = self._lookup_module(target_module, name, step)
                    if isinstance(found, Definition) or found.ambiguous:
                        return found
            return _UNKNOWN
        return self._compose(module, name, entries, step)

    def _compose(self, module: _Module, name: str, entries: list[_Binding],
                 walk: _Walk) -> Definition | _Unknown:
        """The binding(s) of one name in one scope, in source order, as one definition."""
        if any(e.kind in ("other", "param") for e in entries):
            return _UNKNOWN  # loop / with / except / walrus targets, parameters
        if len(entries) > 1 and any(e.conditional or e.kind in ("global", "nonlocal") for e in entries):
            return _AMBIGUOUS  # bound differently under if/try: astroid may still settle it
        base_index = max((i for i, e in enumerate(entries) if e.kind != "aug"), default=None)
        if base_index is None:
            return _AMBIGUOUS
        base = entries[base_index]
        if base_index < len(entries) - 1:
            # ``X = "a"`` then ``X += "b"``: compose a synthetic ``"a" + "b"``.
            if base.kind != "assign" or not isinstance(base.node, ast.expr):
                return _AMBIGUOUS
            node: ast.expr = base.node
            for extra in entries[base_index + 1:]:
                aug = extra.node
                if not isinstance(aug, ast.AugAssign) or not isinstance(aug.op, ast.Add):
                    return _AMBIGUOUS
                node = ast.BinOp(left=node, op=ast.Add(), right=aug.value)
            return Definition(module.path, name, "value", node, base.position[0], composed=True)
        kind = base.kind
        if kind == "assign":
            return Definition(module.path, name, "value", base.node, base.position[0])
        if kind in ("class", "function"):
            return Definition(module.path, name, kind, base.node, base.position[0])
        if kind == "importfrom":
            stmt = base.node
            assert isinstance(stmt, ast.ImportFrom)
            return self._import_from(module.path, stmt.module, stmt.level, base.imported, walk)
        if kind == "import":
            target = self.find_module(base.imported, module.path)
            if target is None:
                return _UNKNOWN
            return Definition(target, "", "module", None, 0)
        return _UNKNOWN

    def _import_from(self, from_path: Path, module_name: str | None, level: int, name: str,
                     walk: _Walk) -> Definition | _Unknown:
        dotted = self.absolute_module(from_path, module_name, level)
        if not dotted:
            return _UNKNOWN
        target = self.find_module(dotted, from_path)
        target_module = self._module(target, walk) if target else None
        if target_module is not None and target_module.binds(name):
            found = self._lookup_module(target_module, name, walk)
            if isinstance(found, Definition) or found.ambiguous:
                return found
        submodule = self.find_module(f"{dotted}.{name}", from_path)
        if submodule is not None:
            return Definition(submodule, "", "module", None, 0)
        return _UNKNOWN

    def _lookup_name(self, name: str, at: tuple[int, int], module: _Module,
                     walk: _Walk) -> Definition | _Unknown:
        """Python's lookup of ``name`` used at position ``at`` of ``module``."""
        scopes = module.scopes_at(at)
        for index, node in enumerate(scopes):
            if isinstance(node, ast.ClassDef) and index > 0:
                continue  # class bodies are not visible from the methods they contain
            scope = module.scope(node)
            assert scope is not None
            if name in scope.globals:
                return self._lookup_module(module, name, walk)
            if name in scope.nonlocals:
                continue
            entries = module.bindings(name, scope)
            if not entries:
                continue
            if any(e.kind == "param" for e in entries):
                return _UNKNOWN
            visible = [e for e in entries if e.position < at]
            if not visible:
                if isinstance(node, ast.ClassDef):
                    continue  # not yet bound in the class body: the global is used
                return _UNKNOWN
            step = walk.deeper((module.path, name, _pos(node)))
            if step is None:
                return _UNKNOWN
            found = self._compose(module, name, visible, step)
            if isinstance(found, Definition) and found.path == module.path and found.name == name:
                found = dataclasses.replace(found, scope=getattr(node, "name", "<lambda>"))
            return found
        before = at if not scopes else None
        return self._lookup_module(module, name, walk, before=before)

    def _resolve_expr(self, expr: ast.AST, module: _Module, walk: _Walk) -> Definition | _Unknown:
        if isinstance(expr, ast.Name):
            return self._lookup_name(expr.id, _pos(expr), module, walk)
        if isinstance(expr, ast.Attribute):
            base = self._resolve_expr(expr.value, module, walk)
            if not isinstance(base, Definition):
                if base.ambiguous or _is_self(expr.value, module):
                    return _AMBIGUOUS  # ``self.PREFIX``: astroid may know the class
                return _UNKNOWN
            return self._attribute(base, expr.attr, walk)
        return _UNKNOWN

    def _attribute(self, base: Definition, attr: str, walk: _Walk) -> Definition | _Unknown:
        if base.kind == "module":
            target = self._module(base.path, walk)
            if target is None:
                return _UNKNOWN
            if target.binds(attr):
                found = self._lookup_module(target, attr, walk)
                if isinstance(found, Definition) or found.ambiguous:
                    return found
            if target.is_package:
                submodule = base.path.parent / f"{attr}.py"
                if not submodule.is_file():
                    submodule = base.path.parent / attr / "__init__.py"
                if submodule.is_file():
                    return Definition(submodule.resolve(), "", "module", None, 0)
            return _UNKNOWN
        if base.kind == "class" and isinstance(base.node, ast.ClassDef):
            module = self._module(base.path, walk)
            scope = module.scope(base.node) if module is not None else None
            if module is None or scope is None:
                return _UNKNOWN  # (a tree parsed again since: the class is not in it)
            entries = module.bindings(attr, scope)
            if not entries:
                return _AMBIGUOUS  # inherited or set later: astroid may know
            step = walk.deeper((base.path, base.name, attr))
            if step is None:
                return _UNKNOWN
            found = self._compose(module, attr, entries, step)
            if isinstance(found, Definition) and found.kind == "value":
                return Definition(found.path, f"{base.name}.{attr}", found.kind, found.node,
                                  found.line, found.composed)
            return found
        if base.kind == "value" and isinstance(base.node, ast.Call):
            return _AMBIGUOUS  # an instance (``conf = Settings()``): astroid may know
        return _UNKNOWN

    # ----------------------------------------------------------- evaluation
    def _value_of_definition(self, found: Definition | _Unknown, walk: _Walk) -> StringValue | None:
        if not isinstance(found, Definition) or found.kind != "value" or found.node is None:
            return None
        module = self._module(found.path, walk)
        if module is None:
            return None
        step = walk.deeper()
        if step is None:
            return None
        try:
            return self._eval(found.node, module, step)
        except RecursionError:
            return None

    def _eval(self, node: ast.AST, module: _Module, walk: _Walk) -> StringValue | None:
        step = walk.deeper()
        if step is None:
            return None
        path = module.path
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return StringValue(node.value, True, (path, getattr(node, "lineno", 0)))
        if isinstance(node, (ast.Name, ast.Attribute)):
            found = self._resolve_expr(node, module, step)
            if isinstance(found, Definition):
                return self._value_of_definition(found, step)
            if found.ambiguous:
                return self._astroid_value(node, module)
            return None
        if isinstance(node, ast.JoinedStr):
            parts: list[ast.AST | None] = []
            for value in node.values:
                if isinstance(value, ast.FormattedValue):
                    plain = value.conversion in (-1, ord("s")) and value.format_spec is None
                    parts.append(value.value if plain else None)
                else:
                    parts.append(value)
            return self._concat(parts, module, step, getattr(node, "lineno", 0))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._concat([node.left, node.right], module, step, getattr(node, "lineno", 0))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            left = self._eval(node.left, module, step)
            if left is None:
                return None
            if left.complete:
                args = node.right.elts if isinstance(node.right, ast.Tuple) else [node.right]
                texts = _complete_texts([self._eval(a, module, step) for a in args])
                if texts is not None:
                    try:
                        text = left.text % tuple(texts)
                        return StringValue(text, True, left.origin)
                    except (TypeError, ValueError, KeyError):
                        pass
            if step.placeholder is None:
                return StringValue(left.text.split("%", 1)[0], False, left.origin)
            return StringValue(replace_percent(left.text, step.placeholder), left.complete, left.origin)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "format"):
            base = self._eval(node.func.value, module, step)
            if base is None:
                return None
            if base.complete:
                arg_texts = _complete_texts([self._eval(a, module, step) for a in node.args])
                kwargs = {k.arg: self._eval(k.value, module, step) for k in node.keywords if k.arg}
                kwarg_texts = _complete_texts(list(kwargs.values()))
                if len(kwargs) == len(node.keywords) and arg_texts is not None and kwarg_texts is not None:
                    try:
                        text = base.text.format(*arg_texts, **dict(zip(kwargs, kwarg_texts)))
                        return StringValue(text, True, base.origin)
                    except (IndexError, KeyError, ValueError, AttributeError):
                        pass
            if step.placeholder is None:
                return StringValue(base.text.split("{", 1)[0], False, base.origin)
            return StringValue(replace_braces(base.text, step.placeholder), base.complete, base.origin)
        return None

    def _concat(self, parts: list[ast.AST | None], module: _Module, walk: _Walk,
                origin_line: int) -> StringValue | None:
        text = ""
        origin = None
        for part in parts:
            value = self._eval(part, module, walk) if part is not None else None
            if value is None:
                if walk.placeholder is None:
                    return StringValue(text, False, origin or (module.path, origin_line)) if text or origin else None
                value = StringValue(walk.placeholder, True)
            text += value.text
            origin = origin or value.origin
            if not value.complete:
                return StringValue(text, False, origin)
        return StringValue(text, True, origin or (module.path, origin_line))

    # -------------------------------------------------------------- astroid
    def _astroid_value(self, node: ast.AST | None, module: _Module, name: str = "") -> StringValue | None:
        """Last resort for a name the cheap resolver could not settle (bounded).

        Infers ``node`` (found in the astroid build of ``module`` by position) or,
        without a node, the module attribute ``name``."""
        if not self.use_astroid or module.text is None:
            return None
        with _ASTROID_LOCK:
            if self._astroid_inferences >= ASTROID_INFERENCE_BUDGET:
                return None
            self._astroid_inferences += 1
            try:
                return _astroid_infer_string(self, module, node, name)
            except Exception:  # noqa: BLE001 - astroid failures must never break a rule
                return None

    def _astroid_module_for(self, modname: str) -> Any:
        """Build (once per index) the astroid module of a project module, or None."""
        if modname in self._astroid_modules:
            return self._astroid_modules[modname]
        if len(self._astroid_modules) >= ASTROID_MODULE_BUDGET:
            return None
        path = self.find_module(modname)
        module = self._module(path) if path is not None else None
        built = None
        if module is not None and module.text is not None:
            built = _astroid_build(module.text, modname, str(module.path))
        self._astroid_modules[modname] = built
        return built


# ------------------------------------------------------------ astroid bridge

_ASTROID_LOCK = threading.RLock()
_ACTIVE_INDEX: list[ModuleIndex] = []
_PATCHED = False


def _astroid_build(text: str, modname: str, path: str) -> Any:
    from astroid.builder import AstroidBuilder
    from astroid.manager import AstroidManager

    manager = AstroidManager()
    module = AstroidBuilder(manager).string_build(text, modname, path)
    # Never leave project modules in astroid's global cache: another project
    # (tests lint many) may have a module of the same name.
    if manager.astroid_cache.get(module.name) is module:
        del manager.astroid_cache[module.name]
    return module


def _install_astroid_bridge() -> None:
    """Route astroid's imports through the active index while we infer."""
    global _PATCHED
    if _PATCHED:
        return
    from astroid.exceptions import AstroidImportError
    from astroid.manager import AstroidManager

    original = AstroidManager.ast_from_module_name

    def ast_from_module_name(self: Any, modname: str | None, context_file: str | None = None,
                             use_cache: bool = True) -> Any:
        index = _ACTIVE_INDEX[-1] if _ACTIVE_INDEX else None
        if index is None or modname in (None, "builtins"):
            return original(self, modname, context_file, use_cache)
        built = index._astroid_module_for(modname)
        if built is None:
            raise AstroidImportError(f"raptor-lint: {modname!r} is not a module of the project")
        return built

    AstroidManager.ast_from_module_name = ast_from_module_name
    _PATCHED = True  # noqa: RPT102 - patched once per process, under the lock


def _astroid_infer_string(index: ModuleIndex, module: _Module, node: ast.AST | None,
                          name: str) -> StringValue | None:
    import astroid
    from astroid import nodes
    from astroid.util import UninferableBase

    _install_astroid_bridge()
    modname = index.module_name(module.path) or module.path.stem
    assert module.text is not None
    _ACTIVE_INDEX.append(index)  # noqa: RPT101 - per-call context, popped below
    try:
        built = index._astroid_own
        if built is None or built[0] is not module:
            # The last module only (several inferences in one file reuse it): each build is
            # thousands of objects every full collection of a long-lived process walks.
            built = index._astroid_own = (module, _astroid_build(module.text, modname, str(module.path)))
        built = built[1]
        if node is None:
            inferred_values = built.igetattr(name)
        else:
            position, type_name = _pos(node), type(node).__name__
            target = next((candidate for candidate in built.nodes_of_class((nodes.Name, nodes.Attribute))
                           if (candidate.lineno, candidate.col_offset) == position
                           and type(candidate).__name__ == type_name), None)
            if target is None:
                return None
            inferred_values = target.infer()
        values: set[str] = set()
        line = 0
        for count, inferred in enumerate(inferred_values):
            if count >= ASTROID_MAX_VALUES or isinstance(inferred, UninferableBase):
                return None
            if not (isinstance(inferred, nodes.Const) and isinstance(inferred.value, str)):
                return None
            values.add(inferred.value)
            line = line or (inferred.lineno or 0)
        if len(values) != 1:
            return None
        return StringValue(values.pop(), True, (module.path, line) if line else None)
    except (astroid.AstroidError, RecursionError, StopIteration):
        return None
    finally:
        _ACTIVE_INDEX.pop()  # noqa: RPT101 - per-call context


def _is_self(expr: ast.AST, module: _Module) -> bool:
    """``self`` / ``cls`` as the first parameter of a method."""
    if not isinstance(expr, ast.Name) or expr.id not in ("self", "cls"):
        return False
    scopes = module.scopes_at(_pos(expr))
    for inner, outer in zip(scopes, scopes[1:]):
        if isinstance(inner, FUNCTIONS) and isinstance(outer, ast.ClassDef):
            return first_param(inner) == expr.id
    return False


__all__ = ["Definition", "ModuleIndex", "StringValue"]
