"""Dialect guards: which databases can reach a given piece of code?

Alembic migrations (and the odd repository function) branch on the dialect::

    bind = op.get_bind()
    if bind.dialect.name == "postgresql":        # body: Postgres only
        op.execute(DO_BLOCK)

    if op.get_bind().dialect.name == 'postgresql':
        ...

    if bind.dialect.name != "postgresql":          # early return: the rest is Postgres only
        return
    op.execute(DO_BLOCK)

    if bind.dialect.name != "sqlite":              # not SQLite
        ...

``dialects_reaching(index, node)`` walks from ``node`` up to the module and
narrows the set {postgresql, sqlite, other} through every enclosing ``if``
branch (``==``, ``!=``, ``in``, ``not in``, ``.startswith()``, ``not``,
``and``/``or``, ``isinstance(X.dialect, PGDialect)``, a name bound to such a
test or to ``X.dialect.name``, a variable or parameter named ``*dialect*``, a
walrus ``(name := …)`` of one, a call of a ``*dialect*name*`` helper such as
``get_dialect_name(session)``), every earlier ``if <test>: return/raise`` in an
enclosing block, and every earlier ``assert <test>``; on request (``Reach``),
also the guards around every call of the enclosing module-level helper, or of
the enclosing method when it is only ever called as ``self.m()`` / ``cls.m()`` /
``Klass.m()``.  A module named for one database (a package or file name with a
``postgresql``/``postgres``/``psycopg``/``asyncpg`` part: ``dialects/postgresql/``,
``alembic/ddl/postgresql.py``, ``metrics_postgres.py``; likewise ``sqlite``) only
runs on it.  A construct that dialect D rejects is fine where D cannot reach.
"""

from __future__ import annotations

import ast
import re

from raptor_lint.sql.extract import SqlFile

POSTGRESQL, SQLITE, OTHER = "postgresql", "sqlite", "other"
ALL = frozenset({POSTGRESQL, SQLITE, OTHER})
_KNOWN = frozenset({POSTGRESQL, SQLITE})
_NAMES = {"postgresql": POSTGRESQL, "postgres": POSTGRESQL, "sqlite": SQLITE}
_MAX_DEPTH = 10


class Reach:
    """Lazy answer to "can dialect D run this node?": the cheap local guards first, the
    callers' guards (a full walk of the file) only when the local answer says yes."""

    def __init__(self, index: SqlFile, node: ast.AST, public_helpers: bool = False,
                 module_name: bool = True) -> None:
        self.index, self.node, self.public_helpers = index, node, public_helpers
        self.module_name = module_name
        self._local: frozenset[str] | None = None
        self._full: frozenset[str] | None = None

    @property
    def local(self) -> frozenset[str]:
        """Computed on the first question: most SQL holds nothing a rule asks about."""
        if self._local is None:
            self._local = dialects_reaching(self.index, self.node, module_name=self.module_name)
        return self._local

    def __contains__(self, dialect: str) -> bool:
        if dialect not in self.local:
            return False
        if self._full is None:
            self._full = dialects_reaching(self.index, self.node, through_callers=True,
                                           public_helpers=self.public_helpers, module_name=self.module_name)
        return dialect in self._full


def dialects_reaching(index: SqlFile, node: ast.AST, *, through_callers: bool = False,
                      public_helpers: bool = False, module_name: bool = True,
                      _seen: frozenset = frozenset()) -> frozenset[str]:
    """Dialects that can run ``node``.

    With ``through_callers``, a module-level function whose every use in this
    module is a direct call also takes the guards of its call sites
    (``_upgrade_postgresql(conn)`` called under ``if dialect == "postgresql":``),
    and so does a method of a module-level class whose every use is a call through
    ``self.``/``cls.``/the class.  Only for private (``_name``) ones unless
    ``public_helpers`` (migrations, whose helpers nobody imports).  This needs a full
    walk of the file, so rules ask for it only when a finding is about to be reported.

    ``module_name``: a module named for one database runs only on it
    (``module_dialects``); off for migrations, whose file names describe the change
    (``…_add_postgres_index.py`` runs on the SQLite test database too).
    """
    possible = module_dialects(index) if module_name else ALL
    child, parent = node, index.parents.get(node)
    while parent is not None:
        if (through_callers and isinstance(parent, (ast.Module, ast.ClassDef))
                and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
                and (public_helpers or child.name.startswith("_")) and child not in _seen):
            sites = index.call_sites(child.name) if isinstance(parent, ast.Module) \
                else _method_call_sites(index, parent, child)
            if sites:
                callers: frozenset[str] = frozenset()
                for site in sites:
                    callers |= dialects_reaching(index, site, through_callers=True, public_helpers=public_helpers,
                                                 module_name=module_name, _seen=_seen | {child})
                possible &= callers
        if isinstance(parent, (ast.If, ast.IfExp)):
            body = parent.body if isinstance(parent.body, list) else [parent.body]
            orelse = parent.orelse if isinstance(parent.orelse, list) else [parent.orelse]
            if any(child is item for item in body):
                index.attach(parent.test, parent)
                possible &= _when(index, parent.test, True, 0)
            elif any(child is item for item in orelse):
                index.attach(parent.test, parent)
                possible &= _when(index, parent.test, False, 0)
        if isinstance(child, ast.stmt):
            for field in ("body", "orelse", "finalbody"):
                block = getattr(parent, field, None)
                if not isinstance(block, list):
                    continue
                before = _guards_before(index, parent, block, child)
                if before is not None:
                    possible &= before
        child, parent = parent, index.parents.get(parent)
    return possible


def _guards_before(index: SqlFile, parent: ast.AST, block: list, child: ast.stmt) -> frozenset[str] | None:
    """Dialects the statements before ``child`` in ``block`` leave possible (an early
    ``if …: return``, an ``assert``), or None when ``child`` is not in ``block``.

    Per block, the statements' positions and the running intersection are computed once
    and extended as far as asked: every SQL use in a module of thousands of functions
    walking all the functions before it was quadratic."""
    entry = index.guard_blocks.get(id(block))
    if entry is None:
        entry = index.guard_blocks[id(block)] = ({id(item): i for i, item in enumerate(block)}, [ALL])
    positions, prefix = entry
    position = positions.get(id(child))
    if position is None or block[position] is not child:
        return None
    while len(prefix) <= position:
        sibling, possible = block[len(prefix) - 1], prefix[-1]
        if isinstance(sibling, (ast.If, ast.Assert)):
            index.parents.setdefault(sibling, parent)
            index.attach(sibling.test, sibling)
        if isinstance(sibling, ast.If) and _terminates(sibling.body):
            possible = possible & _when(index, sibling.test, False, 0)
        elif isinstance(sibling, ast.If) and sibling.orelse and _terminates(sibling.orelse):
            possible = possible & _when(index, sibling.test, True, 0)
        elif isinstance(sibling, ast.Assert):
            possible = possible & _when(index, sibling.test, True, 0)
        prefix.append(possible)
    return prefix[position]


def _method_call_sites(index: SqlFile, cls: ast.ClassDef, method: ast.AST) -> list[ast.Call]:
    """Calls ``self.m(...)`` / ``cls.m(...)`` / ``Klass.m(...)`` of the method ``m`` of a
    module-level class, or [] when ``m`` is used any other way (passed, stored, called on
    another object) or the class is nested."""
    model = index.semantic
    if not isinstance(model.parent(cls), ast.Module):
        return []
    name = method.name  # type: ignore[attr-defined]
    owners = {"self", "cls", cls.name}
    sites: list[ast.Call] = []
    for attribute in model.attributes:
        if attribute.attr != name:
            continue
        parent = model.parent(attribute)
        if not (isinstance(parent, ast.Call) and parent.func is attribute
                and isinstance(attribute.value, ast.Name) and attribute.value.id in owners):
            return []
        sites.append(parent)
    return sites


# A module named for one database only runs on it: name parts that say which.
_MODULE_DIALECT_WORDS = {
    "postgresql": POSTGRESQL, "postgres": POSTGRESQL, "psycopg": POSTGRESQL, "psycopg2": POSTGRESQL,
    "asyncpg": POSTGRESQL, "pg8000": POSTGRESQL,
    "sqlite": SQLITE, "sqlite3": SQLITE, "pysqlite": SQLITE, "aiosqlite": SQLITE,
}
_PATH_HINTS = ("postgres", "psycopg", "asyncpg", "pg8000", "sqlite")


def module_dialects(index: SqlFile) -> frozenset[str]:
    """The dialects that can run the module at all: one database when its dotted name
    (package and file stem: not the directories above the project) has a part named for it
    (``sqlalchemy.dialects.postgresql.provision``, ``alembic.ddl.postgresql``,
    ``mlflow….sql_trace_metrics_postgres``), else every dialect."""
    found = index.module_dialects
    if found is None:
        found = ALL
        # The package is worked out (directories listed) only when the path names a database.
        if any(word in str(index.path).lower() for word in _PATH_HINTS):
            words = ".".join([*index.semantic.package, index.path.stem]).lower()
            named = {_MODULE_DIALECT_WORDS[part] for part in re.split(r"[^a-z0-9]+", words)
                     if part in _MODULE_DIALECT_WORDS}
            if len(named) == 1:
                found = frozenset(named)
        index.module_dialects = found
    return found


def _terminates(block: list[ast.stmt]) -> bool:
    return bool(block) and isinstance(block[-1], (ast.Return, ast.Raise, ast.Continue, ast.Break))


def _when(index: SqlFile, test: ast.AST, outcome: bool, depth: int) -> frozenset[str]:
    """Dialects possible when ``test`` evaluates to ``outcome``."""
    if depth > _MAX_DEPTH:
        return ALL
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return _when(index, test.operand, not outcome, depth + 1)
    if isinstance(test, ast.BoolOp):
        parts = [_when(index, value, outcome, depth + 1) for value in test.values]
        conjunctive = isinstance(test.op, ast.And) == outcome
        result = ALL if conjunctive else frozenset()
        for part in parts:
            result = result & part if conjunctive else result | part
        return result
    if isinstance(test, ast.Name):
        bound = _assigned(index, test)
        return _when(index, bound, outcome, depth + 1) if bound is not None else ALL
    if (isinstance(test, ast.Call) and isinstance(test.func, ast.Name) and test.func.id == "isinstance"
            and len(test.args) == 2 and _is_dialect_object(index, test.args[0], depth)):
        classes = test.args[1].elts if isinstance(test.args[1], ast.Tuple) else [test.args[1]]
        named = set()
        for cls in classes:
            label = ast.unparse(cls).rsplit(".", 1)[-1].lower()
            dotted = ast.unparse(cls).lower()
            named.add(POSTGRESQL if label.startswith("pg") or "postgres" in dotted
                      else SQLITE if "sqlite" in dotted else OTHER)
        return _possible(named, outcome)
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        return _compare(index, test.left, test.ops[0], test.comparators[0], outcome, depth)
    if (isinstance(test, ast.Call) and isinstance(test.func, ast.Attribute)
            and test.func.attr == "startswith" and len(test.args) == 1
            and _is_dialect_name(index, test.func.value, depth)):
        values = _strings(test.args[0])
        if values is None:
            return ALL
        named = {_NAMES[v] for v in _NAMES if any(v.startswith(prefix) for prefix in values)}
        return _possible(named or {OTHER}, outcome)
    return ALL


def _compare(index: SqlFile, left: ast.AST, op: ast.cmpop, right: ast.AST,
             outcome: bool, depth: int) -> frozenset[str]:
    if _is_dialect_name(index, right, depth) and not _is_dialect_name(index, left, depth):
        left, right = right, left
    if not _is_dialect_name(index, left, depth):
        return ALL
    values = _strings(right)
    if values is None:
        return ALL
    if isinstance(op, (ast.Eq, ast.In, ast.Is)):
        positive = outcome
    elif isinstance(op, (ast.NotEq, ast.NotIn, ast.IsNot)):
        positive = not outcome
    else:
        return ALL
    return _possible({_NAMES.get(v.lower(), OTHER) for v in values}, positive)


def _possible(named: set[str], positive: bool) -> frozenset[str]:
    """``positive``: the dialect is one of ``named``; else it is none of them."""
    if positive:
        return frozenset(named)
    # "not mysql" says nothing about the other "other" dialects.
    return ALL - (frozenset(named) & _KNOWN)


def _strings(node: ast.AST) -> list[str] | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        values = [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        return values if len(values) == len(node.elts) else None
    return None


def _is_dialect_name(index: SqlFile, node: ast.AST, depth: int) -> bool:
    """``<anything>.dialect.name`` (optionally ``.lower()``), or a name bound to one."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(node, ast.NamedExpr):  # `if (name := bind.dialect.name) == "postgresql":`
        return _is_dialect_name(index, node.target, depth + 1) or _is_dialect_name(index, node.value, depth + 1)
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("lower", "casefold") and not node.args):
        node = node.func.value
    if isinstance(node, ast.Call):  # get_dialect_name(session), airflow's helper
        callee = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        lowered = callee.lower()
        return "dialect" in lowered and "name" in lowered
    if (isinstance(node, ast.Attribute) and node.attr == "name"
            and isinstance(node.value, ast.Attribute) and node.value.attr == "dialect"):
        return True
    if isinstance(node, ast.Name):
        if "dialect" in node.id.lower():  # `dialect`, `dialect_name` (often a parameter)
            return True
        bound = _assigned(index, node)
        return bound is not None and _is_dialect_name(index, bound, depth + 1)
    return False


def _is_dialect_object(index: SqlFile, node: ast.AST, depth: int) -> bool:
    """``<anything>.dialect`` or a name bound to one (``isinstance(conn.dialect, PGDialect)``)."""
    if depth > _MAX_DEPTH:
        return False
    if isinstance(node, ast.Attribute) and node.attr == "dialect":
        return True
    if isinstance(node, ast.Name):
        if node.id.lower() == "dialect":
            return True
        bound = _assigned(index, node)
        return bound is not None and _is_dialect_object(index, bound, depth + 1)
    return False


def _assigned(index: SqlFile, name: ast.Name) -> ast.AST | None:
    """The expression last assigned to ``name`` in the nearest scope that binds it."""
    for scope in index.scope_chain(name):
        entries = index.scope_bindings(scope).get(name.id)
        if entries:
            last = entries[-1]
            return last.value if last.kind == "assign" else None
    return None
