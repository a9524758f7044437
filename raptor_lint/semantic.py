"""The one per-file semantic model every rule family reads.

Built once per file from CPython's ``ast`` tree (``FileContext.semantic``, lazily: only
when a family asks), and for other modules' trees by the cross-module indexes.  It
answers the questions every family used to answer with its own scope walk:

* **parents and units** — ``parent(node)``; ``unit_of(node)``, the function or lambda
  whose body executes a node, or the module (decorators, defaults and annotations run
  where the ``def`` runs; class bodies and comprehensions run in their enclosing unit);
* **scopes and bindings** — resolved as Python's symbol table does: a name bound anywhere
  in a function is local to it unless declared ``global``/``nonlocal``; class bodies do
  not enclose their methods; comprehension targets are local to the comprehension, whose
  first iterable runs outside it; walrus targets bind in the enclosing non-comprehension
  scope.  ``owner(name, scope)``, ``refs(owner, name)``, ``bound(owner, name)``,
  ``resolve(name_node)``;
* **qualified names** — ``qualified_name(expr)``: ``sa.func.max`` → ``sqlalchemy.func.max``
  through the file's imports (aliases and relative imports included), ``dict`` → ``dict``
  when no binding shadows the builtin;
* **positions** — ``position(node)``: 1-based lines and code-point columns (``ast``
  counts UTF-8 bytes), a ``def``/``class`` at its name.

Which code runs before gunicorn forks (import or decoration time, the app factory) and
which after is the call model, ``raptor_lint.execution``, built on this one.

The model holds the tree's nodes in dicts keyed by node; it holds no reference cycle
(nodes never point back at it), so reference counting frees it with the tree.
"""

from __future__ import annotations

import ast
import builtins
import re
from typing import Callable, Iterator, Union

from raptor_lint.astwalk import child_fields
from raptor_lint.source import column_of, split_lines

FunctionNode = Union[ast.FunctionDef, ast.AsyncFunctionDef]
UnitNode = Union[ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.Module]
DefNode = Union[ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef]

FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
UNITS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_UNIT_TYPES = frozenset(UNITS)
_BUILTINS = frozenset(dir(builtins))
_DEF_KEYWORD = re.compile(r"(?:async\s+def|def|class)\s+")


class Scope:
    """A Python scope: module, function/lambda, class body or comprehension."""

    __slots__ = ("node", "parent", "kind", "local", "globals", "nonlocals")

    def __init__(self, node: ast.AST, parent: "Scope | None", kind: str) -> None:
        self.node = node
        self.parent = parent
        self.kind = kind  # "module" | "function" | "class" | "comprehension"
        self.local: set[str] = set()
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()


class SemanticModel:
    """One iterative pass over a module's ``ast``: parents, units, scopes, bindings."""

    def __init__(self, tree: ast.Module, text: str | None = None,
                 package: "list[str] | Callable[[], list[str]] | None" = None) -> None:
        self.tree = tree
        self.text = text
        # The dotted package of the module (``["app", "services"]``), for relative imports:
        # a list, or a callable asked the first time a relative import is resolved.
        self._package = package
        self.module_scope = Scope(tree, None, "module")
        self.parents: dict[ast.AST, ast.AST] = {}
        self.units: dict[ast.AST, ast.AST] = {}
        # The scope a Name (load or store) or a parameter is looked up in.
        self.name_scope: dict[ast.AST, Scope] = {}
        # The scope a def/class binds its name in; the scope a def/lambda/class opens.
        self.def_scope: dict[ast.AST, Scope] = {}
        self.inner_scope: dict[ast.AST, Scope] = {}
        self.loads: dict[str, list[ast.Name]] = {}
        self.functions: list[FunctionNode] = []
        self.lambdas: list[ast.Lambda] = []
        self.classes: list[ast.ClassDef] = []
        self.attributes: list[ast.Attribute] = []
        self.calls: list[ast.Call] = []
        self.subscripts: list[ast.Subscript] = []
        self.global_statements: list[ast.Global] = []
        self.bindings: list[ast.Assign | ast.NamedExpr] = []
        self.imports: list[ast.Import | ast.ImportFrom] = []
        self._binds: list[tuple[Scope, str, ast.AST]] = []
        self._owners: dict[tuple[Scope, str], Scope] = {}
        # Loads of a name grouped by the scope owning their binding, built for a name the
        # first time any owner's refs are asked (one pass over its loads, not one per owner:
        # 10,000 functions each with a local ``r`` made that quadratic).
        self._refs: dict[str, dict[Scope, list[ast.Name]]] = {}
        self._bound: dict[tuple[Scope, str], list[ast.AST]] = {}
        self._lines: list[str] | None = None
        self._walk()
        self._settle()

    @property
    def package(self) -> list[str]:
        if callable(self._package):
            self._package = self._package()
        return self._package or []

    # ------------------------------------------------------------------ building
    def _walk(self) -> None:
        tree = self.tree
        parents, units, binds = self.parents, self.units, self._binds
        stack: list[tuple[ast.AST, ast.AST, ast.AST, Scope]] = [
            (child, tree, tree, self.module_scope) for child in reversed(tree.body)]
        push, pop = stack.append, stack.pop
        name_scope, loads, attributes, calls = self.name_scope, self.loads, self.attributes, self.calls
        while stack:
            node, parent, unit, scope = pop()
            kind = type(node)
            if kind is ast.Constant:
                parents[node] = parent
                units[node] = unit
                continue
            parents[node] = parent
            units[node] = unit
            if kind is ast.Name:
                assert isinstance(node, ast.Name)
                name_scope[node] = scope
                if type(node.ctx) is ast.Load:
                    found = loads.get(node.id)
                    if found is None:
                        loads[node.id] = [node]
                    else:
                        found.append(node)
                else:
                    binds.append((scope, node.id, node))
                continue
            if kind is ast.Attribute:
                assert isinstance(node, ast.Attribute)
                attributes.append(node)
                push((node.value, node, unit, scope))  # its only child (attr, ctx: leaves)
                continue
            if kind in _UNIT_TYPES:
                assert isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                inner = Scope(node, scope, "function")
                self.inner_scope[node] = inner
                args = node.args
                outer: list[ast.AST] = [*getattr(node, "decorator_list", ()), *args.defaults,
                                        *(d for d in args.kw_defaults if d is not None)]
                for param in (*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, args.kwarg):
                    if param is None:
                        continue
                    parents[param] = node
                    units[param] = node
                    name_scope[param] = inner
                    binds.append((inner, param.arg, param))
                    if param.annotation is not None:
                        outer.append(param.annotation)
                if isinstance(node, ast.Lambda):
                    self.lambdas.append(node)
                    push((node.body, node, node, inner))
                else:
                    self.functions.append(node)
                    self.def_scope[node] = scope
                    binds.append((scope, node.name, node))
                    if node.returns is not None:
                        outer.append(node.returns)
                    for stmt in reversed(node.body):
                        push((stmt, node, node, inner))
                for child in reversed(outer):
                    push((child, node, unit, scope))
                continue
            if kind is ast.ClassDef:
                assert isinstance(node, ast.ClassDef)
                self.classes.append(node)
                self.def_scope[node] = scope
                binds.append((scope, node.name, node))
                body_scope = Scope(node, scope, "class")
                self.inner_scope[node] = body_scope
                for stmt in reversed(node.body):
                    push((stmt, node, unit, body_scope))
                for child in reversed([*node.decorator_list, *node.bases, *node.keywords]):
                    push((child, node, unit, scope))
                continue
            if kind in _COMPREHENSION_TYPES:
                assert isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp))
                inner = Scope(node, scope, "comprehension")
                self.inner_scope[node] = inner
                if isinstance(node, ast.DictComp):
                    push((node.value, node, unit, inner))
                    push((node.key, node, unit, inner))
                else:
                    push((node.elt, node, unit, inner))
                for index in range(len(node.generators) - 1, -1, -1):
                    generator = node.generators[index]
                    parents[generator] = node
                    units[generator] = unit
                    for condition in reversed(generator.ifs):
                        push((condition, generator, unit, inner))
                    push((generator.iter, generator, unit, scope if index == 0 else inner))
                    push((generator.target, generator, unit, inner))
                continue
            if kind is ast.NamedExpr:
                assert isinstance(node, ast.NamedExpr)
                self.bindings.append(node)
                target_scope = scope
                while target_scope.kind == "comprehension" and target_scope.parent is not None:
                    target_scope = target_scope.parent
                push((node.value, node, unit, scope))
                push((node.target, node, unit, target_scope))
                continue
            if kind is ast.Assign:
                assert isinstance(node, ast.Assign)
                self.bindings.append(node)
            elif kind is ast.Call:
                assert isinstance(node, ast.Call)
                calls.append(node)
            elif kind is ast.Subscript:
                assert isinstance(node, ast.Subscript)
                self.subscripts.append(node)
            elif kind is ast.Global:
                assert isinstance(node, ast.Global)
                scope.globals.update(node.names)
                self.global_statements.append(node)
                continue
            elif kind is ast.Nonlocal:
                assert isinstance(node, ast.Nonlocal)
                scope.nonlocals.update(node.names)
                continue
            elif kind is ast.Import or kind is ast.ImportFrom:
                assert isinstance(node, (ast.Import, ast.ImportFrom))
                self.imports.append(node)
                for alias in node.names:
                    if alias.name == "*":
                        continue
                    parents[alias] = node
                    units[alias] = unit
                    name_scope[alias] = scope
                    bound = alias.asname or (alias.name.split(".")[0] if kind is ast.Import else alias.name)
                    binds.append((scope, bound, alias))
                continue
            elif kind is ast.ExceptHandler:
                assert isinstance(node, ast.ExceptHandler)
                if node.name:
                    binds.append((scope, node.name, node))
            elif kind is ast.MatchAs or kind is ast.MatchStar:
                assert isinstance(node, (ast.MatchAs, ast.MatchStar))
                if node.name:
                    binds.append((scope, node.name, node))
            elif kind is ast.MatchMapping:
                assert isinstance(node, ast.MatchMapping)
                if node.rest:
                    binds.append((scope, node.rest, node))
            # The children, last first (the walk visits them in source order).
            for field in reversed(child_fields(kind)):
                value = getattr(node, field, None)
                if type(value) is list:
                    for index in range(len(value) - 1, -1, -1):
                        item = value[index]
                        if item is not None:
                            push((item, node, unit, scope))
                elif value is not None:
                    push((value, node, unit, scope))

    def _settle(self) -> None:
        module = self.module_scope
        for scope, name, _node in self._binds:
            if scope is module or (name not in scope.globals and name not in scope.nonlocals):
                scope.local.add(name)
        for scope, name, node in self._binds:
            self._bound.setdefault((self.owner(name, scope), name), []).append(node)

    # ------------------------------------------------------------------ structure
    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.parents.get(node)

    def unit_of(self, node: ast.AST) -> ast.AST:
        """The function or lambda whose body executes ``node``, or the module."""
        return self.units.get(node, self.tree)

    def ancestors(self, node: ast.AST) -> Iterator[ast.AST]:
        parent = self.parents.get(node)
        while parent is not None:
            yield parent
            parent = self.parents.get(parent)

    def enclosing_class(self, node: ast.AST) -> ast.ClassDef | None:
        """The class whose body directly holds ``node`` (a def or statement), if any."""
        parent = self.parent(node)
        while parent is not None and not isinstance(parent, (ast.ClassDef, *UNITS, ast.Module)):
            parent = self.parent(parent)
        return parent if isinstance(parent, ast.ClassDef) else None

    def qualname(self, unit: ast.AST) -> str:
        """``Klass.method()``, ``outer.<locals>.inner()``, or ``module top level``."""
        parts: list[str] = []
        node: ast.AST | None = unit
        first = True
        while node is not None and node is not self.tree:
            if isinstance(node, ast.ClassDef):
                parts.append(node.name)
                first = False
            elif isinstance(node, FUNCTIONS):
                parts.append(node.name if first else node.name + ".<locals>")
                first = False
            elif isinstance(node, ast.Lambda):
                parts.append("<lambda>" if first else "<lambda>.<locals>")
                first = False
            node = self.parent(node)
        return ".".join(reversed(parts)) + "()" if parts else "module top level"

    def statement_of(self, node: ast.AST) -> ast.stmt | None:
        """The innermost statement holding ``node`` (``node`` itself when it is one)."""
        current: ast.AST | None = node
        while current is not None and not isinstance(current, ast.stmt):
            current = self.parent(current)
        return current

    # ------------------------------------------------------------------ names
    def owner(self, name: str, scope: Scope) -> Scope:
        """The scope whose binding of ``name`` a use in ``scope`` refers to."""
        key = (scope, name)
        found = self._owners.get(key)
        if found is None:
            current, first = scope, True
            while current.kind != "module":
                if name in current.globals:
                    current = self.module_scope
                    break
                if name in current.local and name not in current.nonlocals \
                        and (first or current.kind != "class"):
                    break
                assert current.parent is not None
                current, first = current.parent, False
            found = self._owners[key] = current
        return found

    def refs(self, owner: Scope, name: str) -> list[ast.Name]:
        """Loads of ``name`` that refer to ``owner``'s binding of it."""
        by_owner = self._refs.get(name)
        if by_owner is None:
            by_owner = {}
            name_scope, find_owner = self.name_scope, self.owner
            for node in self.loads.get(name, ()):
                by_owner.setdefault(find_owner(name, name_scope[node]), []).append(node)
            # Cached only once complete: a RecursionError raised in here (a deep caller, run
            # again on a larger stack) must not leave a partial index behind.
            self._refs[name] = by_owner
        found = by_owner.get(owner)
        if found is None:
            found = by_owner[owner] = []
        return found

    def bound(self, owner: Scope, name: str) -> list[ast.AST]:
        """Nodes that bind ``name`` in ``owner`` (Name targets, defs, imports, params…)."""
        return self._bound.get((owner, name), [])

    def resolve(self, name: ast.Name) -> tuple[Scope, list[ast.AST]]:
        """The scope ``name`` refers to and the nodes that bind it there ([] for a builtin
        or an undefined name)."""
        scope = self.name_scope.get(name, self.module_scope)
        owner = self.owner(name.id, scope)
        return owner, self.bound(owner, name.id)

    def is_module_name(self, name: ast.Name) -> bool:
        """True when ``name`` refers to a module-level binding (or an unbound global)."""
        return self.resolve(name)[0] is self.module_scope

    def function_refs(self, func: ast.AST) -> list[ast.Name]:
        """Loads that refer to the def or class ``func`` by its name."""
        scope = self.def_scope.get(func)
        if scope is None:
            return []
        name = func.name  # type: ignore[attr-defined]
        return self.refs(self.owner(name, scope), name)

    def qualified_name(self, expr: ast.AST) -> str | None:
        """The dotted name ``expr`` stands for through the file's imports: ``sa.func.max``
        with ``import sqlalchemy as sa`` → ``sqlalchemy.func.max``; ``defaultdict`` with
        ``from collections import defaultdict as dd`` → ``collections.defaultdict`` at
        ``dd``; a builtin not shadowed → its name.  A name bound by anything but one import
        gives its own name only when it is a module-level def or class
        (``<module>.Name`` is unknown here: plain ``Name``); else None."""
        attrs: list[str] = []
        while isinstance(expr, ast.Attribute):
            attrs.append(expr.attr)
            expr = expr.value
        if not isinstance(expr, ast.Name):
            return None
        head = self._qualified_head(expr)
        if head is None:
            return None
        return ".".join([head, *reversed(attrs)])

    def _qualified_head(self, name: ast.Name) -> str | None:
        owner, nodes = self.resolve(name)
        if not nodes:
            return name.id if owner is self.module_scope and name.id in _BUILTINS else (
                name.id if owner is self.module_scope else None)
        imported = {self.import_target(node) for node in nodes if isinstance(node, ast.alias)}
        if len(imported) == 1 and len(nodes) == sum(isinstance(n, ast.alias) for n in nodes):
            return imported.pop()
        if owner is self.module_scope and all(isinstance(n, DEFS) for n in nodes):
            return name.id
        return None

    def import_target(self, alias: ast.alias) -> str | None:
        """What the name bound by an import alias stands for (dotted, absolute)."""
        statement = self.parent(alias)
        if isinstance(statement, ast.ImportFrom):
            module = absolute_module(self.package, statement.module, statement.level)
            if module is None:
                return None
            return f"{module}.{alias.name}" if module else alias.name
        if alias.asname:
            return alias.name
        return alias.name.split(".")[0]

    # ------------------------------------------------------------------ positions
    def _line_text(self, line: int) -> str:
        if self._lines is None:
            self._lines = split_lines(self.text or "")
        return self._lines[line - 1] if 0 < line <= len(self._lines) else ""

    def column(self, line: int, offset: int) -> int:
        """1-based column in code points of the UTF-8 byte ``offset`` on ``line``."""
        return column_of(self._line_text(line), offset)

    def position(self, node: ast.AST) -> tuple[int, int, int, int]:
        """(line, column, end_line, end_column), 1-based code-point columns; a def or class
        at its name (the ``def``/``class`` keyword is on ``node.lineno``)."""
        line, offset = node.lineno, node.col_offset  # type: ignore[attr-defined]
        end_line = getattr(node, "end_lineno", None) or line
        end_offset = getattr(node, "end_col_offset", None)
        if end_offset is None:
            end_offset = offset
        if isinstance(node, DEFS):
            text = self._line_text(line)
            start = column_of(text, offset) - 1
            match = _DEF_KEYWORD.match(text, start)
            if match and text.startswith(node.name, match.end()):
                column = match.end() + 1
                return (line, column, line, column + len(node.name))
        return (line, self.column(line, offset), end_line, self.column(end_line, end_offset))


_COMPREHENSION_TYPES = frozenset(COMPREHENSIONS)


def absolute_module(package: list[str], module: str | None, level: int) -> str | None:
    """``from <level dots><module> import …`` written in ``package`` → the absolute module
    ("" for ``from . import x`` at the top of the tree); None when the dots climb above
    the known package."""
    if level == 0:
        return module or ""
    if level - 1 > len(package):
        return None
    base = package[:len(package) - (level - 1)]
    return ".".join([*base, module] if module else base)


def last_name(node: ast.AST | None) -> str | None:
    """``x`` for ``x`` and ``a.b.x``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def string_value(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def is_none(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def contains(block: list, node: ast.AST) -> bool:
    """``node in block`` by identity (``ast`` nodes compare by identity anyway, but ``in``
    on a long list calls ``__eq__`` per item)."""
    return any(item is node for item in block)


_TRY_TYPES = (ast.Try, getattr(ast, "TryStar", ast.Try))


def exclusive(parents: dict[ast.AST, ast.AST], a: ast.AST, b: ast.AST) -> bool:
    """True when ``a`` and ``b`` sit in branches of one statement that never both run: the
    body and else of an ``if`` (or a conditional expression), two ``except`` handlers or a
    handler and the ``else`` of a ``try``, two cases of a ``match``."""
    path_b: dict[ast.AST, ast.AST] = {}  # ancestor of b -> its child on the way to b
    child, node = b, parents.get(b)
    while node is not None:
        path_b[node] = child
        child, node = node, parents.get(node)
    child, node = a, parents.get(a)
    while node is not None:
        other_child = path_b.get(node)
        if other_child is not None:
            if other_child is child:
                return False  # one holds the other
            field, other = field_of(node, child), field_of(node, other_child)
            if isinstance(node, (ast.If, ast.IfExp)):
                return {field, other} == {"body", "orelse"}
            if isinstance(node, _TRY_TYPES):
                return {field, other} == {"handlers", "orelse"} or field == other == "handlers"
            if isinstance(node, ast.Match):
                return field == other == "cases"
            return False
        child, node = node, parents.get(node)
    return False


def bound_value(model: SemanticModel, target: ast.AST) -> ast.expr | None:
    """The value a plain binding gives ``target``: ``x = v``, ``x: T = v``, ``(x := v)``."""
    parent = model.parent(target)
    if isinstance(parent, ast.Assign) and contains(parent.targets, target):
        return parent.value
    if isinstance(parent, (ast.AnnAssign, ast.NamedExpr)) and parent.target is target:
        return parent.value
    return None


def first_param(func: ast.AST) -> str | None:
    args = getattr(func, "args", None)
    if not isinstance(args, ast.arguments):
        return None
    params = [*args.posonlyargs, *args.args]
    return params[0].arg if params else None


# ====================================================================== reaching bindings
# Appended for the SQL extractor's name look-ups (raptor_lint/sql/extract.py), general
# purpose: which bindings of a name can have run before a use, in straight-line code (no
# flow analysis: an assignment under an ``if`` before the use counts).

def bindings_in_order(model: SemanticModel, owner: Scope, name: str) -> list[ast.AST]:
    """The nodes that give ``name`` a value in ``owner`` (``model.bound`` less ``del x`` and
    a bare ``x: int``), in the source order of their binding constructs, parameters first."""
    return [node for _, node in _ordered_bindings(model, owner, name)]


def reaching_bindings(model: SemanticModel, name: ast.Name) -> list[ast.AST]:
    """The bindings (``bindings_in_order``) of the variable the load ``name`` reads that can
    have run before it: all of them when a function, class body or comprehension reads a
    module-level name (the module body has run by then); else those whose construct ends
    before the use: the assignment (``x += …`` and ``(x := …)`` included) or the statement
    (``for``, ``with``, unpacking) of a target, the import statement of an alias; a ``def``,
    ``class``, ``except … as`` or ``match`` capture from where it starts; a parameter always."""
    owner, _ = model.resolve(name)
    found = _ordered_bindings(model, owner, name.id)
    if owner is model.module_scope and model.name_scope.get(name, owner) is not owner:
        return [node for _, node in found]
    use = (name.lineno, name.col_offset)
    return [node for (_, end), node in found if end <= use]


Span = tuple[tuple[int, int], tuple[int, int]]


def _ordered_bindings(model: SemanticModel, owner: Scope, name: str) -> list[tuple[Span, ast.AST]]:
    found = [(_binding_span(model, node), node) for node in model.bound(owner, name)
             if _gives_value(model, node)]
    found.sort(key=lambda item: item[0][0])
    return found


def _gives_value(model: SemanticModel, node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        if isinstance(node.ctx, ast.Del):
            return False
        parent = model.parent(node)
        return not (isinstance(parent, ast.AnnAssign) and parent.value is None)
    return True


def _binding_span(model: SemanticModel, node: ast.AST) -> Span:
    """(start, end) of the construct that binds: (line, byte offset) pairs."""
    if isinstance(node, ast.arg):
        return (0, 0), (0, 0)
    site: ast.AST | None = node
    if isinstance(node, ast.Name):
        parent = model.parent(node)
        site = parent if isinstance(parent, ast.NamedExpr) else model.statement_of(node)
    elif isinstance(node, ast.alias):
        site = model.parent(node)
    else:  # def, class, except handler, match capture: bound for the body that follows
        start = (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))
        return start, start
    site = site or node
    line = getattr(site, "lineno", 0)
    return ((line, getattr(site, "col_offset", 0)),
            (getattr(site, "end_lineno", None) or line, getattr(site, "end_col_offset", None) or 0))


# ====================================================================== fields and source text
# Appended for the Redis family (raptor_lint/rules/redis_state), general purpose: which
# field of its parent holds a node (``if x:`` — the test or the body?), and a node's text.

def field_of(parent: ast.AST, child: ast.AST) -> str | None:
    """The field of ``parent`` that holds ``child`` (itself, or in a list): "test", "body",
    "orelse", "handlers"…; None when ``child`` is not a child of ``parent``."""
    for field in parent._fields:
        value = getattr(parent, field, None)
        if value is child or (type(value) is list and contains(value, child)):
            return field
    return None


def source_segment(model: SemanticModel, node: ast.AST) -> str | None:
    """The source text of ``node`` when it sits on one line (code-point columns); None for a
    node spanning lines or a model built without the text."""
    if model.text is None:
        return None
    line, column, end_line, end_column = model.position(node)
    if line != end_line:
        return None
    return model._line_text(line)[column - 1:end_column - 1]
