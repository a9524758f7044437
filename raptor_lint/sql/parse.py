"""Parse SQL strings with sqlglot, once per distinct string per run.

Why ``read="postgres"``: it is the only sqlglot reader that accepts every
statement the rules care about (``DO $$ … $$`` becomes an ``exp.Command``,
``%s``/``%(name)s``/``:name`` become placeholders) and it keeps SQLite's
two-argument ``MAX(a, b)`` as ``exp.Max`` with ``.expressions`` (the sqlite
reader rewrites it to ``GREATEST``).  See STACK-NOTES.md.

sqlglot is lenient (``"hello world"`` parses as an ``Alias``), so a string
only counts as SQL when every parsed piece is a *statement* (see
``statement_types()``).  A string that does not tokenize or parse, or is not a
statement, gets ``ParsedSql.error`` (the reason, for ``--verbose``) and no
statements: rules never look at it, so it can never produce a finding by
accident.  sqlglot's warnings (the ``Command`` fallback) are silenced while we
parse, without touching the ``sqlglot`` logger's level for anyone else.
"""

from __future__ import annotations

import functools
import importlib
import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from sqlglot.tokens import Token, TokenType

    from raptor_lint.project import ProjectIndex


class _LazyModule:
    """A module imported on first attribute access.  sqlglot takes ~0.2 s to import, more
    than a pre-commit run over a few files spends linting, and most runs parse no SQL at all
    (no file passes the SQL families' pre-filters): ``raptor-lint check`` on files with no
    SQL, ``--version`` and ``rules`` never import it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str):
        # Only for attributes not yet copied here: after the first access the value is an
        # instance attribute and Python never calls ``__getattr__`` for it again.
        value = getattr(importlib.import_module(self._name), attribute)
        setattr(self, attribute, value)
        return value


if TYPE_CHECKING:  # the type checker reads the modules themselves
    from sqlglot import errors as sqlglot_errors
    from sqlglot import expressions as exp
    from sqlglot import tokens as token_types
else:
    exp = _LazyModule("sqlglot.expressions")
    sqlglot_errors = _LazyModule("sqlglot.errors")
    token_types = _LazyModule("sqlglot.tokens")

READ_DIALECT = "postgres"

_STATEMENT_TYPE_NAMES = (
    "Select", "SetOperation", "Insert", "Update", "Delete", "Merge", "Create", "Drop",
    "Alter", "TruncateTable", "Command", "Grant", "Revoke", "Set", "Transaction",
    "Commit", "Rollback", "Copy", "Pragma", "Comment", "Analyze", "Describe", "Use",
)


@functools.lru_cache(maxsize=None)
def statement_types() -> "tuple[type[exp.Expression], ...]":
    """Root node types that make a parsed piece a SQL statement."""
    return tuple(cls for cls in (getattr(exp, name, None) for name in _STATEMENT_TYPE_NAMES)
                 if isinstance(cls, type))


@functools.lru_cache(maxsize=None)
def _dialect():
    from sqlglot.dialects.dialect import Dialect

    return Dialect.get_or_raise(READ_DIALECT)


# Distinct strings kept per run.  A Raptor service has a few hundred; the bound
# only protects a long-lived process (flake8 worker, LSP) from unbounded growth.
CACHE_SIZE = 20_000


@dataclass(frozen=True)
class ParsedSql:
    """One SQL string, parsed.  ``ok`` is False when ``error`` says why it was skipped."""

    text: str
    statements: tuple[exp.Expression, ...] = ()
    tokens: tuple[Token, ...] = ()
    error: str | None = None
    # Parsed, but as an expression rather than a statement (``text("now()")``,
    # ``text("score > 1")`` used inside a query): usually a fragment, not an error.
    fragment: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None

    @functools.cached_property
    def tables(self) -> tuple[str, ...]:
        """``tables_used(self.statements)``, walked once per distinct string (every use of it,
        every re-check of a buffer in the editor, shares this object)."""
        return tuple(tables_used(self.statements))

    def has_token(self, token_type: "TokenType | str") -> bool:
        """``token_type``: a ``TokenType`` or its name (``"DCOLON"``)."""
        if isinstance(token_type, str):
            token_type = getattr(token_types.TokenType, token_type)
        return any(token.token_type == token_type for token in self.tokens)


# ------------------------------------------------------------------ silencing
_state = threading.local()


class _SilenceWhileParsing(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:  # noqa: A003 - logging API
        return not getattr(_state, "parsing", False)


_FILTER = _SilenceWhileParsing()
logging.getLogger("sqlglot").addFilter(_FILTER)


# ---------------------------------------------------------------------- parse
def parse_sql(text: str) -> ParsedSql:
    """Parse ``text`` (uncached).  Never raises."""
    if not text.strip():
        return ParsedSql(text, error="empty string")
    dialect = _dialect()
    errors = sqlglot_errors
    _state.parsing = True
    try:
        tokens = dialect.tokenize(text)
        trees = dialect.parser().parse(tokens, text)
    except errors.ParseError as exc:
        return ParsedSql(text, error=f"sqlglot cannot parse it: {_describe_parse_error(exc)}")
    except errors.TokenError as exc:
        return ParsedSql(text, error=f"sqlglot cannot tokenize it: {_first_line(exc)}")
    except RecursionError:
        return ParsedSql(text, error="sqlglot cannot parse it: nesting too deep")
    except Exception as exc:  # noqa: BLE001 - odd input must never crash the run
        return ParsedSql(text, error=f"sqlglot failed on it: {type(exc).__name__}: {_first_line(exc)}")
    finally:
        _state.parsing = False
    pieces = [tree for tree in trees if tree is not None]
    if not pieces:
        return ParsedSql(text, error="no SQL statement in it")
    strangers = [tree for tree in pieces if not isinstance(tree, statement_types())]
    if strangers:
        return ParsedSql(text, error=(
            f"not a SQL statement (sqlglot reads it as {type(strangers[0]).__name__})"), fragment=True)
    return ParsedSql(text, tuple(pieces), tuple(tokens))


def _first_line(exc: BaseException) -> str:
    lines = str(exc).splitlines()
    return lines[0][:160] if lines else type(exc).__name__


def _describe_parse_error(exc: Exception) -> str:
    errors = getattr(exc, "errors", None) or []
    if errors:
        first = errors[0]
        description = str(first.get("description") or "").split(" <Token", 1)[0]
        highlight = first.get("highlight")
        if highlight and "<Token" in str(first.get("description") or ""):
            description += f" {highlight!r}"
        return f"{description[:160]} (SQL line {first.get('line')}, column {first.get('col')})"
    return _first_line(exc)


# ---------------------------------------------------------------------- cache
class SqlParseCache:
    """Per-run cache: ``parse(text)`` runs sqlglot once per distinct string.

    Get the run's instance with ``ctx.project.get(SqlParseCache)`` (the class is
    its own builder).  ``parses`` counts real sqlglot parses (tests use it).
    """

    def __init__(self, project: "ProjectIndex | None" = None, maxsize: int = CACHE_SIZE) -> None:
        self._entries: OrderedDict[str, ParsedSql] = OrderedDict()
        self._lock = threading.Lock()
        self.maxsize = maxsize
        self.parses = 0

    def parse(self, text: str) -> ParsedSql:
        with self._lock:
            found = self._entries.get(text)
            if found is not None:
                self._entries.move_to_end(text)
                return found
            self.parses += 1
        parsed = parse_sql(text)
        with self._lock:
            if text not in self._entries:
                self._entries[text] = parsed
                if len(self._entries) > self.maxsize:
                    self._entries.popitem(last=False)
            return self._entries[text]

    def __len__(self) -> int:
        return len(self._entries)


# --------------------------------------------------------------------- tables
def _plain_table(table: exp.Table) -> bool:
    return isinstance(table.this, exp.Identifier) and bool(table.name)


def tables_used(statements: "tuple[exp.Expression, ...] | list[exp.Expression]") -> list[str]:
    """Unqualified names of the tables the statements read or write, sorted, once each.

    Covers INSERT INTO / UPDATE / DELETE FROM / MERGE targets, FROM and JOIN
    (also in subqueries and CTE bodies).  CTE names are subtracted, and so are
    tables that are the subject of DDL (CREATE/DROP/ALTER ... TABLE x), and
    placeholders (``FROM :param`` built from an f-string).
    """
    names: list[str] = []
    for statement in statements:
        cte_names = {cte.alias_or_name for cte in statement.find_all(exp.CTE)}
        if isinstance(statement, (exp.Create, exp.Drop, exp.Alter)):
            continue
        for table in statement.find_all(exp.Table):
            if _plain_table(table) and table.name not in cte_names and table.name not in names:
                names.append(table.name)
    return sorted(names)


def tables_created(statements: "tuple[exp.Expression, ...] | list[exp.Expression]") -> list[str]:
    """Unqualified names created by ``CREATE TABLE`` statements (for migration SQL)."""
    names: list[str] = []
    for statement in statements:
        if isinstance(statement, exp.Create) and str(statement.args.get("kind") or "").upper() == "TABLE":
            table = statement.find(exp.Table)
            if table is not None and _plain_table(table) and table.name not in names:
                names.append(table.name)
    return names
