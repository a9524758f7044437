"""SQLAlchemy Core constructs that render one-dialect SQL (RPT401, RPT402, RPT405).

The SQL-string rules read what ``text()`` / ``execute()`` send; Core builds the same
divergence without a string (STACK-NOTES: "SQLAlchemy Core renders the divergence too"):

* ``func.max(col, :v)`` / ``func.min(a, b)``, two or more positional arguments: renders
  SQLite's scalar ``max(a, b)``, which Postgres rejects (RPT401).  One argument is the
  aggregate: fine.
* ``func.greatest(...)`` / ``func.least(...)``: SQLite has neither (RPT402).
* ``insert(t).prefix_with("OR REPLACE" | "OR IGNORE")``: ``INSERT OR REPLACE``, which
  Postgres rejects (RPT405).  Not when ``dialect=`` restricts the prefix to another
  dialect (``prefix_with("OR IGNORE", dialect="sqlite")``).
* the Postgres dialect's ``insert(t)`` followed by ``.on_conflict_do_update()`` /
  ``.on_conflict_do_nothing()`` (RPT405): belongs in the postgresql branch, next to
  ``sqlite.insert`` for the tests.

``func`` is SQLAlchemy's when the file's semantic model (``ctx.semantic``) says so:
``from sqlalchemy import func [as f]``, ``sa.func``, ``sqlalchemy.func``,
``sqlalchemy.sql.functions.func``, ``from sqlalchemy.sql import func``; also Flask-
SQLAlchemy's ``db.func`` and an unbound ``func`` / ``sa.func`` (a star import), the way
``raptor_lint.sql.extract`` recognises ``db.text`` and ``text``.  A name holding a
statement (``stmt = pg_insert(t).values(...)``, then ``stmt.on_conflict_do_update(...)``)
is followed through the assignments that reach it.

This module only finds the constructs; the rule decides with the dialect guards of
``raptor_lint.sql.guards`` (the same ones the string rules honour) whether the database
that rejects the construct can run it.  Nothing is imported or executed.
"""

from __future__ import annotations

import ast
import re
import unicodedata
from dataclasses import dataclass
from typing import Iterator

from raptor_lint.semantic import SemanticModel, bound_value, reaching_bindings
from raptor_lint.sql.extract import SQLALCHEMY_NAMES, TEXT_PACKAGES

# func.<name> → (rule, SQL spelling)
FUNCTIONS = {"max": "MAX", "min": "MIN", "greatest": "GREATEST", "least": "LEAST"}
PREFIXES = {"OR REPLACE": "INSERT OR REPLACE", "OR IGNORE": "INSERT OR IGNORE"}
ON_CONFLICT = frozenset({"on_conflict_do_update", "on_conflict_do_nothing"})
# What the Postgres dialect's insert is called through the imports.
PG_INSERTS = frozenset({
    "sqlalchemy.dialects.postgresql.insert", "sqlalchemy.dialects.postgresql.dml.insert",
    "sqlalchemy.dialects.postgresql.Insert", "sqlalchemy.dialects.postgresql.dml.Insert",
})
_POSTGRES_NAMES = frozenset({"postgresql", "postgres"})
_MAX_BINDINGS = 64  # assignments followed for one statement


@dataclass(frozen=True)
class CoreUse:
    """One Core construct.  ``kind``: "two_argument" (RPT401), "greatest_least" (RPT402),
    "insert_or" or "pg_on_conflict" (RPT405).  ``name``: the SQL it renders ("MAX",
    "GREATEST", "INSERT OR REPLACE", "ON CONFLICT DO UPDATE"); ``spelling``: how the source
    calls it (``sa.func.max``, ``prefix_with("OR REPLACE")``, ``on_conflict_do_update``).
    ``guarded_at``: the nodes a dialect must reach for the construct to run (the call, and
    for a Postgres insert held in a name, the insert call too)."""

    kind: str
    name: str
    spelling: str
    position: tuple[int, int, int, int]
    guarded_at: tuple[ast.AST, ...]


# ------------------------------------------------------------------ the gate
# A Core finding needs `func` (or its alias) followed by `.max` / `.min` / `.greatest` /
# `.least` (whitespace, `\` continuations, comments and closing brackets may sit between:
# `(sa.func)\n    .max`), or the method names `prefix_with` / `on_conflict_do_`.  Python
# normalises identifiers (NFKC) before they reach the tree: a non-ASCII file is normalised
# first, so `ｆｕｎｃ.ｍａｘ` is seen too.
# A comment runs to its line break: `#[^\n]*` alone let the spaces inside a comment be taken
# either by it or by `\s`, exponential backtracking on a long comment (a stdlib file hung).
_GAP_BEFORE_DOT = r"(?:[\s)\\]|#[^\n]*\n)*"
_GAP_AFTER_DOT = r"(?:[\s\\]|#[^\n]*\n)*"
# Matched at the end of each `func` (or alias) found by str.find: a regex that has to look
# for its own start costs ~10x more on a big file.
_FUNCTION_TAIL = re.compile(rf"{_GAP_BEFORE_DOT}\.{_GAP_AFTER_DOT}(?i:(max|min)|greatest|least)(?![A-Za-z0-9_])"
                            rf"{_GAP_BEFORE_DOT}\(")
_ALIAS_TAIL = re.compile(r"\s+as\s+([A-Za-z_][A-Za-z0-9_]*)")


def _occurrences(text: str, word: str) -> Iterator[int]:
    """End offsets of ``word`` as a whole identifier in ``text``."""
    size = len(word)
    index = text.find(word)
    while index != -1:
        end = index + size
        if (index == 0 or not _is_identifier_char(text[index - 1])) and (
                end == len(text) or not _is_identifier_char(text[end])):
            yield end
        index = text.find(word, end)


def _is_identifier_char(char: str) -> bool:
    return char.isalnum() or char == "_"


def _may_have_two_arguments(text: str, start: int) -> bool:
    """Can the call whose arguments start at ``start`` (after its ``(``) have two: a comma
    at the top bracket level.  A quote or ``#`` inside (a string or comment could hold
    brackets) or no closing bracket: maybe.  Most ``func.max(col)`` are the aggregate."""
    depth = 1
    for index in range(start, len(text)):
        char = text[index]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
            if depth == 0:
                return False
        elif char == "," and depth == 1:
            return True
        elif char in "'\"#":
            return True
    return True


def may_have_core_construct(text: str) -> bool:
    """False only when no Core construct of this module can be in ``text`` (the rule
    family's pre-filter asks this for RPT401/RPT402/RPT405)."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    if "prefix_with" in text or "on_conflict_do_" in text:
        return True
    if "func" not in text:
        return False
    owners, seen = ["func"], {"func"}
    while owners:
        for end in _occurrences(text, owners.pop()):
            call = _FUNCTION_TAIL.match(text, end)
            if call and (call.group(1) is None or _may_have_two_arguments(text, call.end())):
                return True
            alias = _ALIAS_TAIL.match(text, end)  # `from sqlalchemy import func as F`: F.max too
            if alias and alias.group(1) not in seen:
                seen.add(alias.group(1))
                owners.append(alias.group(1))
    return False


# ------------------------------------------------------------------ the finder
def core_uses(model: SemanticModel) -> Iterator[CoreUse]:
    """The Core constructs of the file, in source order of their calls."""
    finder = _Finder(model)
    for call in sorted(model.calls, key=lambda c: (c.lineno, c.col_offset)):
        func = call.func
        if not isinstance(func, ast.Attribute):
            continue
        attr = func.attr
        lowered = attr.lower()
        if lowered in FUNCTIONS:
            use = finder.function(call, func, lowered)
        elif attr == "prefix_with":
            use = finder.prefix(call, func)
        elif attr in ON_CONFLICT:
            use = finder.on_conflict(call, func)
        else:
            continue
        if use is not None:
            yield use


class _Finder:
    def __init__(self, model: SemanticModel) -> None:
        self.model = model

    # ------------------------------------------------------------ func.max …
    def function(self, call: ast.Call, func: ast.Attribute, lowered: str) -> CoreUse | None:
        if not self.is_func(func.value):
            return None
        if any(isinstance(arg, ast.Starred) for arg in call.args):
            return None  # func.max(*columns): how many is unknown
        if lowered in ("max", "min"):
            if len(call.args) < 2:
                return None  # the aggregate
            kind = "two_argument"
        else:
            kind = "greatest_least"
        return CoreUse(kind, FUNCTIONS[lowered], ast.unparse(func), self.model.position(call), (call,))

    def is_func(self, node: ast.expr) -> bool:
        """Is ``node`` SQLAlchemy's ``func`` (see the module docstring)."""
        if isinstance(node, ast.Attribute) and node.attr == "func" and isinstance(node.value, ast.Name) \
                and node.value.id == "db":
            return True  # Flask-SQLAlchemy's db.func, as extract.py takes db.text
        qualified = self.model.qualified_name(node)
        if qualified is None:
            return False
        if qualified == "func":
            return True  # unbound: `from sqlalchemy import *`
        head = qualified.split(".", 1)[0]
        if head in TEXT_PACKAGES:
            return qualified.endswith(".func")
        if isinstance(node, ast.Attribute) and node.attr == "func" and isinstance(node.value, ast.Name):
            root = node.value
            return head == root.id and head in SQLALCHEMY_NAMES and not self.model.resolve(root)[1]
        return False

    # ------------------------------------------------------------ prefix_with
    def prefix(self, call: ast.Call, func: ast.Attribute) -> CoreUse | None:
        found = None
        for arg in call.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                words = " ".join(arg.value.split()).upper()
                if words in PREFIXES:
                    found = words
                    break
        if found is None:
            return None
        for keyword in call.keywords:
            if keyword.arg == "dialect":
                value = keyword.value
                if not (isinstance(value, ast.Constant) and isinstance(value.value, str)
                        and value.value.lower() in _POSTGRES_NAMES):
                    return None  # rendered for another dialect only (or unknown)
        if not self.inserts(func.value, self.is_insert):
            return None
        return CoreUse("insert_or", PREFIXES[found], f'prefix_with("{found}")', self.method_position(call, func),
                       (call,))

    def is_insert(self, call: ast.Call) -> bool:
        """``insert(t)`` / ``sa.insert`` / a dialect's insert / ``table.insert()``."""
        callee = call.func
        if isinstance(callee, ast.Attribute):
            return callee.attr == "insert"
        if isinstance(callee, ast.Name) and callee.id == "insert":
            qualified = self.model.qualified_name(callee)
            return qualified is not None and (
                qualified == "insert" or qualified.split(".", 1)[0] in TEXT_PACKAGES)
        return False

    # ------------------------------------------------------------ on_conflict_do_*
    def on_conflict(self, call: ast.Call, func: ast.Attribute) -> CoreUse | None:
        inserts: list[ast.Call] = []
        if not self.inserts(func.value, self.is_pg_insert, inserts):
            return None
        return CoreUse("pg_on_conflict", "ON CONFLICT " + func.attr[len("on_conflict_"):].replace("_", " ").upper(),
                       func.attr, self.method_position(call, func), (call, *inserts))

    def is_pg_insert(self, call: ast.Call) -> bool:
        return self.model.qualified_name(call.func) in PG_INSERTS

    # ------------------------------------------------------------ receivers
    def inserts(self, node: ast.expr, test, found: "list[ast.Call] | None" = None,
                seen: "set[ast.AST] | None" = None) -> bool:
        """Does the statement ``node`` start from a call ``test`` accepts: through method chains
        (``insert(t).values(...)``) and the assignments that reach a name, each assignment
        looked at once (``stmt = stmt.values(...)`` repeated is a chain, not a tree).
        ``found`` collects those calls."""
        seen = set() if seen is None else seen
        while True:
            if isinstance(node, ast.Call):
                if test(node):
                    if found is not None:
                        found.append(node)
                    return True
                if isinstance(node.func, ast.Attribute):
                    node = node.func.value  # a generative method: .values(), .returning() …
                    continue
                return False
            if isinstance(node, ast.Name):
                hit = False
                for binding in reaching_bindings(self.model, node):
                    if binding in seen or len(seen) >= _MAX_BINDINGS:
                        continue
                    seen.add(binding)
                    value = bound_value(self.model, binding)
                    if value is not None and self.inserts(value, test, found, seen):
                        hit = True
                        if found is None:
                            return True
                return hit
            return False

    def method_position(self, call: ast.Call, func: ast.Attribute) -> tuple[int, int, int, int]:
        """From the method's name (``.prefix_with`` on the last line of a chain) to the end of
        the call: the line a reader looks at, and the one a ``# noqa`` goes on."""
        model = self.model
        line = func.end_lineno or func.lineno
        offset = (func.end_col_offset or 0) - len(func.attr.encode("utf-8"))
        _, _, end_line, end_column = model.position(call)
        return (line, model.column(line, offset), end_line, end_column)
