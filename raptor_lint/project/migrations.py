"""Facts about the service's Alembic migrations, built once per run.

Read statically with ``ast`` (never imported): for each migration file

* every string literal (docstrings excluded; comments are not in the tree), as
  a set of whole tokens — SPEC §6: ``beta_walkthrough`` must not match
  ``beta_walkthrough_progress``;
* the tables it creates (``op.create_table`` and ``CREATE TABLE`` in SQL run by
  ``op.execute``/``text()``/``exec_driver_sql``, found and parsed by the shared
  ``raptor_lint.sql`` package), anywhere but in code that only ``downgrade()`` runs;
* the tables it renames (``op.rename_table`` and ``ALTER TABLE … RENAME TO`` in
  executed SQL), read from ``upgrade()`` and the module's functions it calls
  only;
* ``revision`` / ``down_revision``, giving the revision graph.

Applying creates and renames in revision order gives the tables that exist at
the head (``Migrations.tables``).  RPT501 asks ``mentions()``; RPT504 asks
``tables``.  A migration that does not parse contributes nothing (it is
reported as E999 in its own file).
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from raptor_lint.safe_read import read_regular_file
from raptor_lint.source import SourceError, decode_python, parse_python

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.project import ProjectIndex

TOKEN = re.compile(r"\w+")
_SQL_SINKS = {"execute", "executemany", "exec_driver_sql"}
_CREATE = re.compile(r"(?i)\bcreate\b")
_TABLE = re.compile(r"(?i)\btable\b")
_RENAME = re.compile(r"(?i)\brename\b")


def may_create_or_rename_tables(text: str) -> bool:
    """SQL or code that may create or rename a table: the word ``create`` with ``table`` after
    it, or ``rename`` (a cheap test before building the SQL index or parsing).

    What ``re.search(r"(?i)\\bcreate\\b.*\\btable\\b|\\brename\\b", text, re.S)`` says, in linear
    time: that regex scans to the end of the text from every ``create`` (a 56 KB migration
    of them took 10 s)."""
    if _RENAME.search(text):
        return True
    create = _CREATE.search(text)
    return create is not None and _TABLE.search(text, create.end()) is not None


def tokens_of(text: str) -> set[str]:
    """Whole tokens (runs of letters, digits and ``_``) of ``text``."""
    return set(TOKEN.findall(text))


@dataclass(frozen=True)
class Migration:
    path: Path
    relpath: str
    revision: str | None = None
    down_revisions: tuple[str, ...] = ()
    tokens: frozenset[str] = frozenset()
    # Lower-cased, unqualified table names, in source order.
    creates: tuple[str, ...] = ()
    renames: tuple[tuple[str, str], ...] = ()
    parsed: bool = True

    def mentions(self, token: str) -> bool:
        return token in self.tokens


@dataclass(frozen=True)
class Migrations:
    directory: Path
    reldir: str
    migrations: tuple[Migration, ...] = ()
    # Table name -> relpath of the migration that (last) created or renamed it into being.
    tables: dict[str, str] = field(default_factory=dict)
    # Old table name -> (new name, relpath of the renaming migration), for tables renamed away.
    renamed_away: dict[str, tuple[str, str]] = field(default_factory=dict)
    heads: tuple[str, ...] = ()

    def mentioning(self, *tokens: str) -> tuple[Migration, ...]:
        return tuple(m for m in self.migrations if any(m.mentions(t) for t in tokens))


def _migration_files(directory: Path) -> Iterator[Path]:
    """Every ``*.py`` below ``directory`` except packages' ``__init__``, without following a
    symlinked subdirectory (``Path.rglob`` follows them before Python 3.13: a committed
    ``versions/x -> /usr`` had the run parse a system tree).  Symlinked files are still read,
    through the bounded reader."""
    for parent, dirnames, filenames in os.walk(directory):
        dirnames[:] = [name for name in dirnames if name != "__pycache__"]
        for name in filenames:
            if name.endswith(".py") and name != "__init__.py":
                yield Path(parent) / name


def build(project: "ProjectIndex") -> Migrations | None:
    """ProjectIndex fact: None when there is no migrations directory (default missing).

    A configured ``migrations-dir`` that is missing raises ``ConfigError``.
    """
    directory = project.config.resolved_migrations_dir()
    if directory is None:
        return None
    root = project.config.root
    files = sorted(_migration_files(directory))
    migrations = tuple(read_migration(path, project_relpath(path, root), project) for path in files)
    order = _revision_order(migrations)
    tables: dict[str, str] = {}
    renamed_away: dict[str, tuple[str, str]] = {}
    for migration in order:
        for name in migration.creates:
            tables[name] = migration.relpath
            renamed_away.pop(name, None)
        for old, new in migration.renames:
            tables.pop(old, None)
            tables[new] = migration.relpath
            renamed_away.pop(new, None)
            renamed_away[old] = (new, migration.relpath)
    return Migrations(directory=directory, reldir=project_relpath(directory, root), migrations=migrations,
                      tables=tables, renamed_away=renamed_away, heads=_heads(migrations))


def project_relpath(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


# ----------------------------------------------------------------- one file

def read_migration(path: Path, relpath: str, project: "ProjectIndex | None" = None) -> Migration:
    try:
        text = decode_python(read_regular_file(path))
        tree = parse_python(text, str(path))
    except (OSError, SourceError):  # UnreadableFile is an OSError
        return Migration(path=path, relpath=relpath, parsed=False)
    return migration_from_tree(tree, text, path, relpath, project)


def migration_from_tree(tree: ast.Module, text: str, path: Path, relpath: str,
                        project: "ProjectIndex | None" = None) -> Migration:
    # One walk of each top-level statement collects string tokens, calls and their owner.
    tokens: set[str] = set()
    calls: list[tuple[str, ast.Call]] = []
    called: dict[str, set[str]] = {}
    docstrings = _docstring_of(tree)
    for statement in tree.body:
        owner = statement.name if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef)) else ""
        for node in ast.walk(statement):
            if isinstance(node, ast.Constant):
                if isinstance(node.value, str) and node is not docstrings.get(id(node)):
                    tokens.update(TOKEN.findall(node.value))
            elif isinstance(node, ast.Call):
                calls.append((owner, node))
                if isinstance(node.func, ast.Name):
                    called.setdefault(owner, set()).add(node.func.id)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                docstrings.update(_docstring_of(node))

    revision, down = _revision_ids(tree)
    upgrade_only, downgrade_only = _function_reach(tree, called)
    creates: list[str] = []
    renames: list[tuple[str, str]] = []
    evaluate = _evaluator(path, project)
    for owner, call in calls:
        if owner in downgrade_only:
            continue
        attr = _call_name(call)
        if attr == "create_table":
            name = evaluate(_argument(call, 0, "table_name"))
            if name:
                creates.append(_table_key(name))
        elif attr == "rename_table" and owner in upgrade_only:
            old = evaluate(_argument(call, 0, "old_table_name"))
            new = evaluate(_argument(call, 1, "new_table_name"))
            if old and new:
                renames.append((_table_key(old), _table_key(new)))
    # SQL the migration executes (op.execute, text(), exec_driver_sql ...): CREATE TABLE, and
    # ALTER TABLE ... RENAME TO in upgrade().  A literal argument is parsed directly; anything
    # built (a constant, a variable, concatenation) goes through the shared SQL package.
    if may_create_or_rename_tables(text):
        owners = {id(call): owner for owner, call in calls}
        handled: set[int] = set()
        built = False
        for owner, call in calls:
            if _call_name(call) not in _SQL_SINKS:
                continue
            argument = _argument(call, 0, "statement")
            if isinstance(argument, ast.Call) and _call_name(argument) == "text":
                handled.add(id(argument))
                argument = _argument(argument, 0, "text")
            sql = _str(argument)
            if sql is None:
                built = True
                continue
            handled.add(id(call))
            if owner not in downgrade_only and may_create_or_rename_tables(sql):
                _add_ddl(_parse(sql, project), owner in upgrade_only, creates, renames)
        if built or any(_call_name(c) == "text" and id(c) not in handled for _, c in calls):
            for use in _sql_uses(tree, text, path, project):
                owner = owners.get(id(use.call), "")
                if id(use.call) in handled or owner in downgrade_only or not may_create_or_rename_tables(use.text):
                    continue
                _add_ddl(use.parsed, owner in upgrade_only, creates, renames)
    return Migration(path=path, relpath=relpath, revision=revision, down_revisions=down,
                     tokens=frozenset(tokens), creates=tuple(creates), renames=tuple(renames))


def _str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _parse(sql: str, project: "ProjectIndex | None"):
    from raptor_lint.sql import SqlParseCache, parse_sql

    return project.get(SqlParseCache).parse(sql) if project is not None else parse_sql(sql)


def _add_ddl(parsed, in_upgrade: bool, creates: list[str], renames: list[tuple[str, str]]) -> None:
    if parsed.ok:
        made, moved = _ddl_tables(parsed.statements)
        creates.extend(made)
        if in_upgrade:
            renames.extend(moved)


def _sql_uses(tree: ast.Module, text: str, path: Path, project: "ProjectIndex | None"):
    from raptor_lint.sql import SqlFile, SqlParseCache

    cache = project.get(SqlParseCache) if project is not None else SqlParseCache()
    modules = project.modules if project is not None else None
    return SqlFile(tree, path, text, modules, cache).uses


def _docstring_of(node: ast.AST) -> dict[int, ast.Constant]:
    """{id: node} of the docstring of a module/class/function (empty when it has none)."""
    body = getattr(node, "body", None)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        return {id(body[0].value): body[0].value}
    return {}


def _revision_ids(tree: ast.Module) -> tuple[str | None, tuple[str, ...]]:
    revision: str | None = None
    down: tuple[str, ...] = ()
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            target, value = node.targets[0].id, node.value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
            target, value = node.target.id, node.value
        else:
            continue
        if target == "revision" and isinstance(value, ast.Constant) and isinstance(value.value, str):
            revision = value.value
        elif target == "down_revision":
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                down = (value.value,)
            elif isinstance(value, (ast.Tuple, ast.List)):
                down = tuple(e.value for e in value.elts
                             if isinstance(e, ast.Constant) and isinstance(e.value, str))
    return revision, down


def _function_reach(tree: ast.Module, called: dict[str, set[str]]) -> tuple[set[str], set[str]]:
    """(functions upgrade() runs, functions only downgrade() runs), by top-level name.

    ``called`` maps a top-level function to the names it calls.
    """
    functions = {s.name for s in tree.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))}

    def reach(start: str) -> set[str]:
        seen: set[str] = set()
        stack = [start] if start in functions else []
        while stack:
            name = stack.pop()
            if name in seen:
                continue
            seen.add(name)
            stack.extend(c for c in called.get(name, ()) if c in functions)
        return seen

    up = reach("upgrade")
    return up, reach("downgrade") - up


def _call_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def _argument(call: ast.Call, index: int, keyword: str) -> ast.AST | None:
    if len(call.args) > index and not any(isinstance(a, ast.Starred) for a in call.args[: index + 1]):
        return call.args[index]
    for kw in call.keywords:
        if kw.arg == keyword:
            return kw.value
    return None


def _evaluator(path: Path, project: "ProjectIndex | None"):
    def evaluate(node: ast.AST | None, placeholder: str | None = None) -> str | None:
        if node is None:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if project is None:
            return None
        try:
            value = project.modules.evaluate(node, path, placeholder=placeholder)
        except (RecursionError, ValueError):
            return None
        return value.text if value is not None and value.complete else None
    return evaluate


def _table_key(name: str) -> str:
    """Unqualified, lower-cased table name (``public.Users`` -> ``users``)."""
    return name.strip().strip('"').rsplit(".", 1)[-1].strip('"').lower()


def _ddl_tables(statements) -> tuple[list[str], list[tuple[str, str]]]:
    """Tables created (``CREATE TABLE``) and renamed (``ALTER TABLE a RENAME TO b``)."""
    from sqlglot import exp

    from raptor_lint.sql import tables_created

    created = [name.lower() for name in tables_created(statements)]
    renamed: list[tuple[str, str]] = []
    for statement in statements:
        if isinstance(statement, exp.Alter) and isinstance(statement.this, exp.Table):
            for action in statement.args.get("actions") or ():
                if isinstance(action, exp.AlterRename) and isinstance(action.this, exp.Table):
                    renamed.append((statement.this.name.lower(), action.this.name.lower()))
    return created, renamed


# ----------------------------------------------------------- revision graph

def _revision_order(migrations: tuple[Migration, ...]) -> list[Migration]:
    """Migrations parents-first (Kahn, ties by path); those outside the graph last, by path."""
    by_revision = {m.revision: m for m in migrations if m.revision}
    children: dict[str, list[str]] = {}
    pending: dict[str, int] = {}
    for revision, m in by_revision.items():
        parents = [d for d in m.down_revisions if d in by_revision]
        pending[revision] = len(parents)
        for parent in parents:
            children.setdefault(parent, []).append(revision)

    def relpath(revision: str) -> str:
        return by_revision[revision].relpath

    ready = sorted((revision for revision, count in pending.items() if count == 0), key=relpath)
    order: list[Migration] = []
    while ready:
        current = ready.pop(0)
        order.append(by_revision[current])
        for child in children.get(current, ()):
            pending[child] -= 1
            if pending[child] == 0:
                ready.append(child)
                ready.sort(key=relpath)
    placed = {id(m) for m in order}
    order.extend(m for m in migrations if id(m) not in placed)  # no revision, or a cycle
    return order


def _heads(migrations: tuple[Migration, ...]) -> tuple[str, ...]:
    referenced = {d for m in migrations for d in m.down_revisions}
    return tuple(sorted(m.revision for m in migrations if m.revision and m.revision not in referenced))
