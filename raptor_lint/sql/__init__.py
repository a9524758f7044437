"""Shared SQL extraction and parsing for the SQL rules (RPT401–RPT405, RPT504).

Usage from a rule family's ``check(ctx)``::

    from raptor_lint.sql import iter_sql_uses, tables_used

    for use in iter_sql_uses(ctx):          # one SqlUse per sink call carrying SQL
        if not use.parsed.ok:               # not parsable SQL: use.parsed.error says why
            continue
        for table in tables_used(use.statements):
            ...                             # report with ctx.finding(code, use.position, msg)

``SqlUse`` fields: ``text`` (the SQL, unknown parts as the bind parameter
``PLACEHOLDER``), ``line``/``column``/``end_line``/``end_column`` (the first
line of the string literal that carries the SQL, 1-based code-point columns;
``position`` is the 4-tuple ``ctx.finding`` accepts), ``sink`` (``"text"``,
``"execute"``, …), ``call`` (the ``ast.Call``), ``argument``, ``external``
(True when the literal is a constant from another module, reported at the
argument), ``parsed`` (``ParsedSql``: ``ok``, ``error``, ``statements``,
``tokens``) and ``statements`` (sqlglot statement roots, ``read="postgres"``;
empty when not SQL).  Parses are cached per run: one sqlglot parse per
distinct SQL string (``ctx.project.get(SqlParseCache)``).

Tables: ``tables_used(statements)`` gives the unqualified names read or
written by INSERT/UPDATE/DELETE/MERGE/FROM/JOIN (subqueries included), with
CTE names subtracted and DDL subjects and ``FROM :param`` placeholders left
out; ``tables_created(statements)`` gives ``CREATE TABLE`` names.

``sql_file(ctx)`` exposes the per-file index (``parents``, scopes, bindings)
that ``guards.dialects_reaching(index, node)`` uses to tell whether Postgres
or SQLite can reach a node (``if bind.dialect.name == "postgresql":`` …).
Outside a FileContext (e.g. reading a migration from disk), build
``SqlFile(tree, path, text, modules, cache)`` and read ``.uses``.
"""

from raptor_lint.sql.extract import PLACEHOLDER, SqlFile, SqlUse, iter_sql_uses, sql_file
from raptor_lint.sql.parse import ParsedSql, SqlParseCache, parse_sql, tables_created, tables_used

__all__ = [
    "PLACEHOLDER", "ParsedSql", "SqlFile", "SqlParseCache", "SqlUse", "iter_sql_uses",
    "parse_sql", "sql_file", "tables_created", "tables_used",
]
