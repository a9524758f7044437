"""The blueprint registry: which blueprints the core loop mounts under ``/api``.

Raptor's app factory registers every blueprint of a module-level list (config
``core-blueprints``, default ``_core_blueprints``) with
``app.register_blueprint(bp, url_prefix=f"/api{bp.url_prefix}")``; a blueprint
whose own prefix already starts with ``/api`` ends up under ``/api/api/…``
(RPT301).  A blueprint registered *outside* that loop
(``app.register_blueprint(admin_bp)``) keeps its own prefix and is fine.

Built once per run (``ctx.project.get(blueprint_registry)``) by scanning the
project's Python files cheaply — a text pre-filter, then ``ast``; nothing is
imported.  Blueprints are identified by ``(defining file, variable name)``
after following imports, so ``from .routes.beta import beta_bp`` in the factory
and ``beta_bp = Blueprint(...)`` in ``routes/beta.py`` are the same blueprint.

- ``core``: listed in a core list (assignment, ``+=``, ``.append``/``.extend``/
  ``.insert``, ``[*other, bp]``), or registered by any loop/call whose
  ``url_prefix`` re-adds the API prefix in front of ``bp.url_prefix``.
- ``direct``: passed to ``X.register_blueprint(...)`` outside such a loop
  (directly, or by a loop over another list), where ``X`` is not a blueprint
  (nested registration on a core parent still doubles the prefix).

``status(identity)`` is ``"core"``, ``"outside"`` (registered, never by the
core loop: RPT301/RPT302 stay silent) or ``"unknown"`` (rules report).
"""

from __future__ import annotations

import ast
import fnmatch
import os
from raptor_lint.astwalk import walk
from raptor_lint.safe_read import read_regular_file
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.project import ProjectIndex
    from raptor_lint.project.modules import Definition, ModuleIndex

Identity = tuple[Path, str]
MAX_LIST_DEPTH = 8


@dataclass(frozen=True)
class BlueprintRegistry:
    core: frozenset[Identity] = frozenset()
    direct: frozenset[Identity] = frozenset()
    # Where core lists were found: (file, line), for --verbose / debugging.
    core_lists: tuple[tuple[Path, int], ...] = ()

    def status(self, identity: Identity | None) -> str:
        if identity is None:
            return "unknown"
        if identity in self.core:
            return "core"
        if identity in self.direct:
            return "outside"
        return "unknown"


# ----------------------------------------------------------- blueprint calls

_NAMES_ATTRIBUTE = "_raptor_lint_blueprint_names"


def blueprint_class_names(tree: ast.Module) -> frozenset[str]:
    """Names that refer to a Blueprint class in this module (``Blueprint``, aliases).
    Kept on the tree itself, not in a module-level memo: a memo keyed by tree kept the
    last 64 trees alive, ~1.6 M objects in the language server, and every full garbage
    collection walked them (the p95 latency of an edit)."""
    names = tree.__dict__.get(_NAMES_ATTRIBUTE)
    if names is None:
        names = _class_names(tree)
        setattr(tree, _NAMES_ATTRIBUTE, names)
    return names


def _class_names(tree: ast.Module) -> frozenset[str]:
    names = {"Blueprint"}
    for node in _module_statements(tree.body):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name.endswith("Blueprint"):
                    names.add(alias.asname or alias.name)
        elif (isinstance(node, ast.Assign) and len(node.targets) == 1
              and isinstance(node.targets[0], ast.Name) and _is_blueprint_class(node.value, names)):
            names.add(node.targets[0].id)
    return frozenset(names)


def _module_statements(body: list[ast.stmt]) -> Iterable[ast.stmt]:
    """Module-level statements, including those under if/try/with (not in functions)."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, (ast.If, ast.Try, ast.With, ast.For, ast.While)):
            for name in ("body", "orelse", "finalbody"):
                yield from _module_statements(getattr(stmt, name, []) or [])
            for handler in getattr(stmt, "handlers", []):
                yield from _module_statements(handler.body)


def _is_blueprint_class(func: ast.AST, names: set[str] | frozenset[str]) -> bool:
    if isinstance(func, ast.Name):
        return func.id in names or func.id.endswith("Blueprint")
    if isinstance(func, ast.Attribute):
        return func.attr.endswith("Blueprint")
    return False


def is_blueprint_call(node: ast.AST, names: set[str] | frozenset[str]) -> bool:
    return isinstance(node, ast.Call) and _is_blueprint_class(node.func, names)


def url_prefix_argument(call: ast.Call) -> ast.expr | None:
    """The ``url_prefix`` of a ``Blueprint(...)`` call (keyword, or 6th positional of Flask's)."""
    for keyword in call.keywords:
        if keyword.arg == "url_prefix":
            return keyword.value
    func = call.func
    # Flask's own signature: (name, import_name, static_folder, static_url_path,
    # template_folder, url_prefix, …); subclasses may differ, so only for ``Blueprint``.
    plain = (isinstance(func, ast.Name) and func.id == "Blueprint") or (
        isinstance(func, ast.Attribute) and func.attr == "Blueprint")
    if plain and len(call.args) > 5 and not any(isinstance(a, ast.Starred) for a in call.args[:6]):
        return call.args[5]
    return None


def module_level_blueprints(tree: ast.Module, names: frozenset[str] | None = None) -> dict[int, str]:
    """``id(call)`` → variable for module-level ``name = Blueprint(...)`` assignments."""
    names = names if names is not None else blueprint_class_names(tree)
    found: dict[int, str] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], ast.Name):
            target, value = stmt.targets[0].id, stmt.value
        elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) and stmt.value is not None:
            target, value = stmt.target.id, stmt.value
        else:
            continue
        if is_blueprint_call(value, names):
            found[id(value)] = target
    return found


def blueprint_definition(modules: "ModuleIndex", expr: ast.AST, path: Path, *,
                         tree: ast.Module | None = None, text: str | None = None,
                         ) -> "Definition | None":
    """The definition of the blueprint ``expr`` (a Name/Attribute) refers to, or None."""
    if not isinstance(expr, (ast.Name, ast.Attribute)):
        return None
    found = modules.resolve(expr, path, tree=tree, text=text)
    if found is None or found.kind != "value" or found.composed or not isinstance(found.node, ast.Call):
        return None
    defining_tree = tree if tree is not None and found.path == Path(path).resolve() else modules.tree(found.path)
    if defining_tree is None or not is_blueprint_call(found.node, blueprint_class_names(defining_tree)):
        return None
    return found


# ------------------------------------------------------------------ registry

def blueprint_registry(project: "ProjectIndex") -> BlueprintRegistry:
    """Build the registry for ``project`` (use through ``project.get``)."""
    config = project.config
    modules = project.modules
    core_names = set(config.core_blueprints)
    markers = ("register_blueprint", *core_names)
    core: set[Identity] = set()
    direct: set[Identity] = set()
    core_lists: list[tuple[Path, int]] = []
    for path in _python_files(project):
        try:
            raw = read_regular_file(path)  # never a FIFO or a device (UnreadableFile is an OSError)
        except OSError:
            continue
        if not any(marker.encode() in raw for marker in markers):
            continue
        tree = modules.tree(path)
        if tree is None:
            continue
        scanner = _FileScanner(modules, path.resolve(), tree, core_names, config.api_prefix)
        scanner.scan()
        core |= scanner.core
        direct |= scanner.direct
        core_lists.extend(scanner.core_lists)
    return BlueprintRegistry(frozenset(core), frozenset(direct), tuple(core_lists))


def _python_files(project: "ProjectIndex") -> Iterable[Path]:
    """The project's ``.py`` files: excluded directories pruned (checked once per
    directory), excluded file names skipped — cheaper than ``iter_files``, which
    resolves every file."""
    config = project.config
    patterns = (*config.exclude, *config.extend_exclude)
    for directory, dirnames, filenames in os.walk(project.root, followlinks=False):
        base = Path(directory)
        dirnames[:] = sorted(d for d in dirnames if not config.is_excluded(base / d))
        for filename in sorted(filenames):
            if filename.endswith(".py") and not any(fnmatch.fnmatch(filename, p) for p in patterns):
                yield base / filename


class _FileScanner:
    def __init__(self, modules: "ModuleIndex", path: Path, tree: ast.Module,
                 core_names: set[str], api_prefix: str) -> None:
        self.modules = modules
        self.path = path
        self.tree = tree
        self.core_names = core_names
        self.api_prefix = api_prefix
        self.core: set[Identity] = set()
        self.direct: set[Identity] = set()
        self.core_lists: list[tuple[Path, int]] = []

    def scan(self) -> None:
        self._scan_core_lists()
        self._scan_registrations()

    # -- core lists
    def _scan_core_lists(self) -> None:
        for node in walk(self.tree):
            values: list[ast.AST] = []
            if isinstance(node, ast.Assign) and any(self._is_core_name(t) for t in node.targets):
                values = [node.value]
            elif isinstance(node, ast.AnnAssign) and self._is_core_name(node.target) and node.value:
                values = [node.value]
            elif isinstance(node, ast.AugAssign) and self._is_core_name(node.target):
                values = [node.value]
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and self._is_core_name(node.func.value)):
                if node.func.attr == "append" and node.args:
                    values = [ast.List(elts=[node.args[0]], ctx=ast.Load())]
                elif node.func.attr == "insert" and len(node.args) > 1:
                    values = [ast.List(elts=[node.args[1]], ctx=ast.Load())]
                elif node.func.attr == "extend" and node.args:
                    values = [node.args[0]]
            if not values:
                continue
            self.core_lists.append((self.path, getattr(node, "lineno", 0)))
            for value in values:
                for element, scanner in self._elements(value, 0):
                    identity = self._identity(element, scanner)
                    if identity is not None:
                        self.core.add(identity)

    def _is_core_name(self, node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id in self.core_names

    def _elements(self, expr: ast.AST, depth: int) -> Iterable[tuple[ast.AST, "_FileScanner"]]:
        """Blueprint expressions of a list/tuple expression, each with the scanner
        of the file it is written in (lists may be built from other modules' lists)."""
        if depth > MAX_LIST_DEPTH:
            return
        if isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
            for element in expr.elts:
                if isinstance(element, ast.Starred):
                    yield from self._elements(element.value, depth + 1)
                else:
                    yield element, self
        elif isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Add):
            yield from self._elements(expr.left, depth + 1)
            yield from self._elements(expr.right, depth + 1)
        elif (isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name)
              and expr.func.id in ("list", "tuple") and len(expr.args) == 1):
            yield from self._elements(expr.args[0], depth + 1)
        elif isinstance(expr, (ast.Name, ast.Attribute)) and not self._is_core_name(expr):
            found = self.modules.resolve(expr, self.path)
            if found is not None and found.kind == "value" and found.node is not None and not found.composed:
                other = self.modules.tree(found.path)
                if other is not None:
                    scanner = _FileScanner(self.modules, found.path, other, self.core_names, self.api_prefix)
                    yield from scanner._elements(found.node, depth + 1)

    @staticmethod
    def _identity(element: ast.AST, scanner: "_FileScanner") -> Identity | None:
        found = blueprint_definition(scanner.modules, element, scanner.path)
        return found.identity if found is not None else None

    # -- registrations
    def _scan_registrations(self) -> None:
        loops: list[ast.For | ast.AsyncFor] = [
            n for n in walk(self.tree) if isinstance(n, (ast.For, ast.AsyncFor))]
        for node in walk(self.tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr == "register_blueprint"):
                continue
            if blueprint_definition(self.modules, node.func.value, self.path) is not None:
                continue  # nested registration on a parent blueprint
            argument = node.args[0] if node.args else next(
                (k.value for k in node.keywords if k.arg == "blueprint"), None)
            if argument is None:
                continue
            readds = self._readds_prefix(node)
            loop = self._loop_binding(argument, node, loops)
            if loop is not None:
                if self._is_core_name(loop.iter):
                    continue  # the core loop itself: its list is scanned as a core list
                targets = [self._identity(e, s) for e, s in self._elements(loop.iter, 0)]
            else:
                targets = [self._identity(argument, self)]
            for identity in targets:
                if identity is not None:
                    (self.core if readds else self.direct).add(identity)

    def _loop_binding(self, argument: ast.AST, call: ast.Call,
                      loops: list[ast.For | ast.AsyncFor]) -> ast.For | ast.AsyncFor | None:
        """The innermost ``for <argument> in …`` enclosing ``call``."""
        if not isinstance(argument, ast.Name):
            return None
        position = (call.lineno, call.col_offset)
        best = None
        for loop in loops:
            if not (isinstance(loop.target, ast.Name) and loop.target.id == argument.id):
                continue
            start = (loop.lineno, loop.col_offset)
            end = (loop.end_lineno or 0, loop.end_col_offset or 0)
            if start <= position < end and (best is None or start > (best.lineno, best.col_offset)):
                best = loop
        return best

    def _readds_prefix(self, call: ast.Call) -> bool:
        """``url_prefix=f"/api{bp.url_prefix}"`` (or ``"/api" + bp.url_prefix``, or a
        conditional whose branches do that): the API prefix is added in front."""
        value = next((k.value for k in call.keywords if k.arg == "url_prefix"), None)
        if value is None:
            return False
        candidates = [value.body, value.orelse] if isinstance(value, ast.IfExp) else [value]
        for candidate in candidates:
            if not isinstance(candidate, (ast.JoinedStr, ast.BinOp)):
                continue
            mentions = any(isinstance(n, ast.Attribute) and n.attr == "url_prefix" for n in ast.walk(candidate))
            head = self.modules.evaluate(candidate, self.path)
            if mentions and head is not None and head.text.startswith(self.api_prefix):
                rest = head.text[len(self.api_prefix):]
                if rest == "" or rest.startswith("/"):
                    return True
        return False
