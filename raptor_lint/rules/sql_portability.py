"""SQL portability (RPT401–RPT405): SQL that passes the SQLite unit tests and 500s on Postgres.

Runbook: "SQLite-vs-Postgres test divergence".  The SQL is found by
``raptor_lint.sql`` (every string reaching ``text()`` / ``execute()`` …, however
it is built) and analysed with sqlglot's postgres reader; nothing here is a
regular expression over SQL.  Findings are reported at the first line of the
string literal that carries the SQL, once per offending use.

RPT405's constructs are data: add a row to ``ONE_DIALECT_CONSTRUCTS`` (what it
is, which dialect rejects it, what to write instead, and a matcher built from
the small helpers below) and the visitor picks it up.
"""

from __future__ import annotations

import ast
import functools
import re
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from raptor_lint.findings import Finding
from raptor_lint.rules.base import Checker, Rule, with_story
from raptor_lint.sql import ParsedSql, SqlFile, SqlUse, sql_file
from raptor_lint.sql.core import CoreUse, core_uses, may_have_core_construct
from raptor_lint.sql.parse import exp  # sqlglot's expressions, imported on first use
from raptor_lint.sql.guards import POSTGRESQL, SQLITE, Reach
from raptor_lint.strings import shorten, with_first_fitting

RUNBOOK = "SQLite-vs-Postgres test divergence"
GUARD = 'if bind.dialect.name == "postgresql":'
_DIALECT_TEXT = {POSTGRESQL: "Postgres", SQLITE: "SQLite"}


# ---------------------------------------------------------------- the data table
@dataclass(frozen=True)
class OneDialectConstruct:
    """A construct one of the two databases rejects (RPT405)."""

    name: str                               # how the message names it
    rejected_by: str                        # POSTGRESQL or SQLITE
    alternative: str                        # what to write instead (the short message's remedy)
    matches: Callable[[ParsedSql], bool]    # does the parsed SQL contain it?
    detail: str = ""                        # more for the finding's note, e.g. which versions accept it


def node_of(*names: str) -> Callable[[ParsedSql], bool]:
    """Matcher: a node of one of the ``sqlglot.exp`` types ``names`` anywhere in the statements."""
    def matches(parsed: ParsedSql) -> bool:
        types = tuple(getattr(exp, name) for name in names)
        return any(s.find(*types) is not None for s in parsed.statements)
    return matches


def insert_or(alternative: str) -> Callable[[ParsedSql], bool]:
    """Matcher: ``INSERT OR <alternative>`` (SQLite's conflict clause)."""
    def matches(parsed: ParsedSql) -> bool:
        return any(str(insert.args.get("alternative") or "").upper() == alternative
                   for s in parsed.statements for insert in s.find_all(exp.Insert))
    return matches


def function_with_literal(type_names: tuple[str, ...], names: tuple[str, ...],
                          literal: str) -> Callable[[ParsedSql], bool]:
    """Matcher: a function call (a node of the ``sqlglot.exp`` types ``type_names``, or an
    anonymous call of ``names``) with the string ``literal`` as an argument."""
    def has_literal(node: exp.Expression) -> bool:
        return any(isinstance(arg, exp.Literal) and arg.is_string and arg.this.lower() == literal
                   for arg in node.iter_expressions())

    def matches(parsed: ParsedSql) -> bool:
        types = tuple(getattr(exp, name) for name in type_names)
        for statement in parsed.statements:
            for node in statement.find_all(exp.Func):
                if isinstance(node, types) or (
                        isinstance(node, exp.Anonymous) and str(node.this).lower() in names):
                    if has_literal(node):
                        return True
        return False
    return matches


def token_of(token_type: str) -> Callable[[ParsedSql], bool]:
    """Matcher: a token (e.g. ``::``, which parses to the same tree as CAST)."""
    return lambda parsed: parsed.has_token(token_type)


ONE_DIALECT_CONSTRUCTS: tuple[OneDialectConstruct, ...] = (
    OneDialectConstruct("INSERT OR REPLACE", POSTGRESQL,
                        "INSERT … ON CONFLICT (key) DO UPDATE SET …",
                        insert_or("REPLACE"), "SQLite 3.24+ accepts ON CONFLICT too."),
    OneDialectConstruct("INSERT OR IGNORE", POSTGRESQL,
                        "INSERT … ON CONFLICT DO NOTHING",
                        insert_or("IGNORE"), "SQLite 3.24+ accepts ON CONFLICT too."),
    OneDialectConstruct("AUTOINCREMENT", POSTGRESQL,
                        "a plain INTEGER PRIMARY KEY, or sa.Identity()",
                        node_of("AutoIncrementColumnConstraint")),
    OneDialectConstruct("datetime('now')", POSTGRESQL,
                        "CURRENT_TIMESTAMP, or a timestamp bound from Python",
                        function_with_literal(("Datetime", "Date", "Time"), ("datetime", "date", "time"), "now")),
    OneDialectConstruct("ILIKE", SQLITE,
                        "LOWER(col) LIKE LOWER(:pattern)",
                        node_of("ILike")),
    OneDialectConstruct("'::' cast", SQLITE,
                        "CAST(expr AS type)",
                        token_of("DCOLON")),
)


# ---------------------------------------------------------------- the rules
_MIGRATION = "migrations/versions/20260612_0001_beta_preview.py"

RULES = (
    Rule(
        code="RPT401",
        name="two-argument-max-min",
        summary=("Two-argument MAX(a, b) / MIN(a, b) in SQL, or `func.max(a, b)` / `func.min(a, b)` in "
                 "SQLAlchemy Core: SQLite's scalar form, which Postgres rejects."),
        runbook=RUNBOOK,
        why=(
            "SQLite treats `MAX(col, :val)` as a scalar maximum, so the unit tests (in-memory "
            "SQLite) pass; Postgres only has the one-argument aggregate and fails with `function "
            "max(integer, integer) does not exist`. This is the PR #3540 incident: `POST "
            "/screen/1` on beta_preview returned 500 in production. The runbook's pattern (from "
            "beta_walkthrough.py): read the current value, compute `max()` in Python, bind it. "
            "SQLAlchemy Core renders the same SQL: `update(t).values(step=func.max(t.c.step, value))` "
            "is `max(step, ?)` (also through `sa.func`, `sqlalchemy.sql.functions.func`, Flask-"
            "SQLAlchemy's `db.func`); `func.max(col)` with one argument is the aggregate and fine. "
            "Under a sqlite dialect guard it is fine, as for the SQL strings."
        ),
        bad=(
            "from sqlalchemy import text\n\n\n"
            "def advance(conn, user_id, screen):\n"
            "    conn.execute(\n"
            "        text(\"UPDATE beta_preview_progress SET screen = MAX(screen, :screen) WHERE user_id = :uid\"),\n"
            "        {\"screen\": screen, \"uid\": user_id},\n"
            "    )\n"
        ),
        good=(
            "from sqlalchemy import text\n\n\n"
            "def advance(conn, user_id, screen):\n"
            "    row = conn.execute(\n"
            "        text(\"SELECT screen FROM beta_preview_progress WHERE user_id = :uid\"), {\"uid\": user_id}\n"
            "    ).fetchone()\n"
            "    current = row[0] if row else 0\n"
            "    conn.execute(\n"
            "        text(\"UPDATE beta_preview_progress SET screen = :screen WHERE user_id = :uid\"),\n"
            "        {\"screen\": max(current, screen), \"uid\": user_id},\n"
            "    )\n"
        ),
    ),
    Rule(
        code="RPT402",
        name="greatest-least",
        summary=("GREATEST() / LEAST() in SQL, or `func.greatest()` / `func.least()` in SQLAlchemy Core: "
                 "Postgres-only, so the SQLite unit tests cannot exercise the path."),
        runbook=RUNBOOK,
        why=(
            "SQLite has no `GREATEST`/`LEAST`: the statement fails in the unit tests, so the path "
            "ends up untested or mocked away. Compute the value in Python (`max()`/`min()`) and "
            "bind it, which both databases accept. SQLAlchemy Core's `func.greatest(a, b)` renders "
            "the same `greatest(a, b)`. Inside a postgresql dialect guard "
            f"(`{GUARD}`, the early-return form, `!= \"sqlite\"`), in a private helper or method "
            "called only under one, or in a module named for Postgres (`dialects/postgresql/`, "
            "`metrics_postgres.py`) it is fine."
        ),
        bad=(
            "from sqlalchemy import text\n\n\n"
            "def bump(conn, user_id, score):\n"
            "    conn.execute(\n"
            "        text(\"UPDATE leaderboard SET best = GREATEST(best, :score) WHERE user_id = :uid\"),\n"
            "        {\"score\": score, \"uid\": user_id},\n"
            "    )\n"
        ),
        good=(
            "from sqlalchemy import text\n\n\n"
            "def bump(conn, user_id, score, current):\n"
            "    conn.execute(\n"
            "        text(\"UPDATE leaderboard SET best = :best WHERE user_id = :uid\"),\n"
            "        {\"best\": max(current, score), \"uid\": user_id},\n"
            "    )\n"
        ),
    ),
    Rule(
        code="RPT403",
        name="unguarded-do-block",
        summary=("`DO $$ … $$` block in a migration without both a `-- POSTGRES-ONLY` sentinel "
                 "and a postgresql dialect guard."),
        runbook=RUNBOOK,
        why=(
            "A PL/pgSQL `DO` block is Postgres-only: SQLite rejects it, so the migration breaks the "
            "SQLite test database. The runbook asks for both a `-- POSTGRES-ONLY` sentinel (a SQL "
            "comment in the string, or a Python comment on the line before the call) so reviewers "
            f"see it, and a `{GUARD}` guard (or the early-return form) so SQLite never runs it."
        ),
        bad=(
            "from alembic import op\n\n\n"
            "def upgrade():\n"
            "    op.execute(\"\"\"\n"
            "        DO $$ BEGIN\n"
            "            ALTER TABLE beta_preview_progress ADD COLUMN screen integer;\n"
            "        EXCEPTION WHEN duplicate_column THEN NULL;\n"
            "        END $$;\n"
            "    \"\"\")\n"
        ),
        good=(
            "from alembic import op\n\n\n"
            "def upgrade():\n"
            "    bind = op.get_bind()\n"
            "    if bind.dialect.name == \"postgresql\":\n"
            "        op.execute(\"\"\"\n"
            "            -- POSTGRES-ONLY\n"
            "            DO $$ BEGIN\n"
            "                ALTER TABLE beta_preview_progress ADD COLUMN screen integer;\n"
            "            EXCEPTION WHEN duplicate_column THEN NULL;\n"
            "            END $$;\n"
            "        \"\"\")\n"
        ),
        example_path=_MIGRATION,
    ),
    Rule(
        code="RPT404",
        name="now-server-default",
        summary=('`server_default="now()"` (always wrong), or `sa.text("now()")` / `sa.func.now()` '
                 "outside a postgresql dialect guard, in a migration."),
        runbook=RUNBOOK,
        why=(
            'A plain string `server_default="now()"` is rendered as the quoted literal `\'now()\'`, '
            "not a function call: wrong on every database. `now()` itself is Postgres-only: "
            "SQLite rejects it as a column default, so the migration fails on the test database. "
            f'Use `sa.text("CURRENT_TIMESTAMP")` (portable), or gate `now()` with `{GUARD}`.'
        ),
        bad=(
            "import sqlalchemy as sa\n"
            "from alembic import op\n\n\n"
            "def upgrade():\n"
            "    op.add_column(\n"
            "        \"beta_preview_progress\",\n"
            "        sa.Column(\"updated_at\", sa.DateTime(), server_default=\"now()\"),\n"
            "    )\n"
        ),
        good=(
            "import sqlalchemy as sa\n"
            "from alembic import op\n\n\n"
            "def upgrade():\n"
            "    op.add_column(\n"
            "        \"beta_preview_progress\",\n"
            "        sa.Column(\"updated_at\", sa.DateTime(), server_default=sa.text(\"CURRENT_TIMESTAMP\")),\n"
            "    )\n"
        ),
        example_path=_MIGRATION,
    ),
    Rule(
        code="RPT405",
        name="one-dialect-sql",
        summary=("Other SQL one of the two databases rejects: INSERT OR REPLACE/IGNORE (also Core's "
                 "`prefix_with(\"OR REPLACE\")`), AUTOINCREMENT, datetime('now'), ILIKE, `::` casts, "
                 "and the Postgres dialect's `insert().on_conflict_do_*` outside a postgresql guard."),
        runbook=RUNBOOK,
        why=(
            "Each of these works on one database only: `INSERT OR REPLACE/IGNORE`, `AUTOINCREMENT` "
            "and `datetime('now')` are SQLite (the tests pass, Postgres 500s); `ILIKE` and `::` "
            "casts are Postgres (the tests cannot run the path). The message names the portable "
            "alternative. The list is a data table in `raptor_lint/rules/sql_portability.py` "
            "(`ONE_DIALECT_CONSTRUCTS`); Postgres-only constructs are fine under a postgresql guard. "
            "SQLAlchemy Core: `insert(t).prefix_with(\"OR REPLACE\")` renders `INSERT OR REPLACE` "
            "(not when `dialect=\"sqlite\"` limits the prefix to SQLite). The Postgres dialect's "
            "`postgresql.insert(t).on_conflict_do_update()` belongs in the postgresql branch, next to "
            "`sqlite.insert(t)` for the tests: SQLAlchemy 1.3 cannot compile it for SQLite, and 1.4+ "
            "compiles it only because the clause names match, dropping `constraint=` (a bare `ON "
            "CONFLICT DO UPDATE`, which SQLite before 3.35 rejects and which matches any constraint)."
        ),
        bad=(
            "from sqlalchemy import text\n\n\n"
            "def remember(conn, user_id, step):\n"
            "    conn.execute(\n"
            "        text(\"INSERT OR REPLACE INTO beta_walkthrough_progress (user_id, step) VALUES (:uid, :step)\"),\n"
            "        {\"uid\": user_id, \"step\": step},\n"
            "    )\n"
        ),
        good=(
            "from sqlalchemy import text\n\n\n"
            "def remember(conn, user_id, step):\n"
            "    conn.execute(\n"
            "        text(\n"
            "            \"INSERT INTO beta_walkthrough_progress (user_id, step) VALUES (:uid, :step) \"\n"
            "            \"ON CONFLICT (user_id) DO UPDATE SET step = excluded.step\"\n"
            "        ),\n"
            "        {\"uid\": user_id, \"step\": step},\n"
            "    )\n"
        ),
    ),
)

# Prefilter: a finding needs a sink call (or a server_default keyword) in this
# file; the SQL itself may come from another module, so the sink names are the
# test: `execute`/`exec_driver_sql` anywhere, `text(` called, or `text` imported
# under another name (`from sqlalchemy import text as sql_text`).  Substring
# tests first (a regex alternation costs ~3 ms on a big file).
_TEXT_CALL = re.compile(r"text(?:\s*\(|\s+as\b)")
_SENTINEL = re.compile(r"--[ \t]*POSTGRES-ONLY\b")
_NOW = re.compile(r"\s*now\s*\(\s*\)\s*", re.IGNORECASE)


class SqlPortabilityChecker(Checker):
    family = "SQL portability"
    rules = RULES
    file_kinds = frozenset({"python"})

    prefilter_rules = frozenset({"RPT401", "RPT402", "RPT403", "RPT404", "RPT405"})

    def prefilter(self, text: str) -> bool:
        if "execute" in text or "exec_driver_sql" in text or "server_default" in text:
            return True
        if "text" in text and _TEXT_CALL.search(text) is not None:
            return True
        # SQLAlchemy Core (RPT401/RPT402/RPT405 only): func.max/min/greatest/least,
        # prefix_with("OR REPLACE"), a Postgres insert's on_conflict_do_*.
        return _core_gate(text)

    def check(self, ctx) -> Iterable[Finding]:
        index = sql_file(ctx)
        if index is None:
            return []
        findings: list[Finding] = []
        noted: set[tuple[int, int]] = set()
        for use in index.uses:
            parsed = use.parsed
            if not parsed.ok:
                # A text() fragment (server_default=sa.text("now()"), .where(text("a > 1"))) is
                # not a statement by design: only say so when it was sent to execute().
                quiet = parsed.fragment and use.sink == "text" and not _executed(index, use.call)
                if not quiet and (use.line, use.column) not in noted:
                    noted.add((use.line, use.column))
                    ctx.notes.append(
                        f"{ctx.display_path}:{use.line}:{use.column}: note: SQL string passed to "
                        f"{use.sink}() skipped: {parsed.error}")
                continue
            findings.extend(self._check_use(ctx, index, use, parsed))
        if ctx.is_migration and "server_default" in ctx.text:
            findings.extend(self._check_server_defaults(ctx, index))
        if _core_gate(ctx.text):
            findings.extend(self._check_core(ctx, index))
        return findings

    # ------------------------------------------------------------ SQLAlchemy Core
    def _check_core(self, ctx, index: SqlFile) -> Iterator[Finding]:
        for use in core_uses(ctx.semantic):
            rejected_by = _CORE_REJECTED_BY[use.kind]
            if all(rejected_by in Reach(index, node, public_helpers=ctx.is_migration, module_name=not ctx.is_migration)
                   for node in use.guarded_at):
                yield with_story(ctx.finding(_CORE_CODES[use.kind], use.position, _core_message(use)),
                                 _core_note(use))

    # ------------------------------------------------------------ SQL uses
    def _check_use(self, ctx, index: SqlFile, use: SqlUse, parsed: ParsedSql) -> Iterator[Finding]:
        reaching = Reach(index, use.call, public_helpers=ctx.is_migration, module_name=not ctx.is_migration)
        where = use.position

        facts = _facts_of(parsed)
        if facts.two_argument and POSTGRESQL in reaching:
            fn = facts.two_argument
            yield with_story(ctx.finding("RPT401", where, (
                f"two-argument {fn}(a, b) is SQLite-only: compute {fn.lower()}() in Python and bind it")),
                _two_argument_note(fn.lower()))

        if facts.greatest_least and SQLITE in reaching:
            fn = facts.greatest_least
            py = "max" if fn == "GREATEST" else "min"
            yield with_story(ctx.finding("RPT402", where, (
                f"{fn}() is Postgres-only (SQLite rejects it): compute {py}() in Python and bind it, "
                f"or guard the dialect")), _GREATEST_NOTE)

        if ctx.is_migration and facts.do_block:
            sentinel = bool(_SENTINEL.search(use.text)) or self._comment_sentinel(ctx, use)
            guarded = SQLITE not in reaching
            if not (sentinel and guarded):
                missing = " and ".join(part for part, ok in (
                    ("a postgresql guard", guarded), ("`-- POSTGRES-ONLY`", sentinel)) if not ok)
                if guarded:
                    # The guard keeps SQLite away already: only the reviewer's marker is missing.
                    message = "DO $$ block is guarded but not marked: add a `-- POSTGRES-ONLY` comment for reviewers"
                    note = ("The dialect guard keeps SQLite away; the `-- POSTGRES-ONLY` sentinel tells "
                            "reviewers the block is Postgres-only on purpose.")
                else:
                    message = f"DO $$ block needs {missing}"
                    note = ("SQLite rejects PL/pgSQL, so this migration breaks the SQLite test database. "
                            f"Mark it `-- POSTGRES-ONLY` and run it only under `{GUARD}` (or return "
                            "early when the dialect is not postgresql).")
                yield with_story(ctx.finding("RPT403", where, message), note)

        hits = [c for c in facts.one_dialect if c.rejected_by in reaching]
        if hits:
            first = hits[0]
            message = f"{first.name} is rejected by {_DIALECT_TEXT[first.rejected_by]}: use {first.alternative}"
            if len(hits) > 1:
                message = with_first_fitting(message, f" (also {', '.join(c.name for c in hits[1:])})",
                                             " (and more)")
            note = " ".join(
                f"{c.name}: {_DIALECT_TEXT[c.rejected_by]} rejects it{_consequence(c.rejected_by)}; use "
                f"{c.alternative}.{' ' + c.detail if c.detail else ''}" for c in hits)
            yield with_story(ctx.finding("RPT405", where, message), note)

    @staticmethod
    def _comment_sentinel(ctx, use: SqlUse) -> bool:
        lines = ctx.lines
        anchors = {use.call.lineno}
        if not use.external:
            anchors.add(use.line)
        for anchor in anchors:
            number = anchor - 1
            while 1 <= number <= len(lines) and lines[number - 1].lstrip().startswith("#"):
                if "POSTGRES-ONLY" in lines[number - 1]:
                    return True
                number -= 1
        return False

    # ---------------------------------------------------- server_default
    def _check_server_defaults(self, ctx, index: SqlFile) -> Iterator[Finding]:
        for node in index.calls:  # every call on a line naming server_default is indexed
            for keyword in node.keywords:
                if keyword.arg != "server_default":
                    continue
                value = keyword.value
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    if _NOW.fullmatch(value.value):
                        yield with_story(ctx.finding("RPT404", index.position(value), (
                            f'{shorten(repr(value.value), 20)} is a quoted string: '
                            'use sa.text("CURRENT_TIMESTAMP")')), (
                            "Every database stores the text 'now()' as the default, not the time. "
                            'sa.text("CURRENT_TIMESTAMP") is portable; sa.text("now()") is fine under '
                            f"`{GUARD}`."))
                    continue
                form = self._now_call(index, value)
                if form and SQLITE in Reach(index, node, public_helpers=True, module_name=False):
                    yield with_story(ctx.finding("RPT404", index.position(keyword), (
                        f"server_default={shorten(form, 30)} is Postgres-only (SQLite rejects now()): "
                        'use sa.text("CURRENT_TIMESTAMP")')), (
                        "now() is Postgres-only and SQLite rejects it as a default, so the migration "
                        f"fails on the SQLite test database. Under `{GUARD}` it is fine."))

    @staticmethod
    def _now_call(index: SqlFile, value: ast.AST) -> str | None:
        if not isinstance(value, ast.Call):
            return None
        func = value.func
        if index.sink_name(value) == "text" and value.args:
            argument = value.args[0]
            if (isinstance(argument, ast.Constant) and isinstance(argument.value, str)
                    and _NOW.fullmatch(argument.value)):
                return f'{ast.unparse(func)}("{argument.value}")'
            return None
        if isinstance(func, ast.Attribute) and func.attr.lower() == "now" and not value.args:
            owner = func.value
            if (isinstance(owner, ast.Name) and owner.id == "func") or (
                    isinstance(owner, ast.Attribute) and owner.attr == "func"):
                return f"{ast.unparse(func)}()"
        return None


def _executed(index: SqlFile, call: ast.Call) -> bool:
    parent = index.parents.get(call)
    return isinstance(parent, ast.Call) and index.sink_name(parent) not in (None, "text")


@dataclass(frozen=True)
class _SqlFacts:
    """What the rules ask of one parsed string, whatever the call site: the parsed trees
    are shared by every use of the same string (and every re-check of a buffer in the
    editor), so the tree walks are done once per distinct string, not once per use."""

    two_argument: str | None        # "MAX" / "MIN": the first two-argument call (RPT401)
    greatest_least: str | None      # "GREATEST" / "LEAST" (RPT402)
    do_block: bool                  # a DO $$ … $$ statement (RPT403)
    one_dialect: tuple[OneDialectConstruct, ...]  # RPT405 constructs present


_FACTS_ATTRIBUTE = "_raptor_lint_portability"


def _facts_of(parsed: ParsedSql) -> _SqlFacts:
    facts = parsed.__dict__.get(_FACTS_ATTRIBUTE)
    if facts is None:
        two_arg = [node for s in parsed.statements for node in s.find_all(exp.Max, exp.Min)
                   if node.expressions]
        greatest = [node for s in parsed.statements for node in s.find_all(exp.Greatest, exp.Least)]
        facts = _SqlFacts(
            two_argument=("MAX" if isinstance(two_arg[0], exp.Max) else "MIN") if two_arg else None,
            greatest_least=("GREATEST" if isinstance(greatest[0], exp.Greatest) else "LEAST")
            if greatest else None,
            do_block=any(_is_do_block(s) for s in parsed.statements),
            one_dialect=tuple(c for c in ONE_DIALECT_CONSTRUCTS if c.matches(parsed)),
        )
        object.__setattr__(parsed, _FACTS_ATTRIBUTE, facts)  # ParsedSql is frozen: a memo only
    return facts


def _is_do_block(statement: exp.Expression) -> bool:
    return isinstance(statement, exp.Command) and str(statement.this).upper() == "DO"


def _consequence(dialect: str) -> str:
    return ", so the tests pass and production 500s" if dialect == POSTGRESQL else \
        ", so the unit tests cannot run this path"


# ---------------------------------------------------------------- SQLAlchemy Core
_CORE_CODES = {"two_argument": "RPT401", "greatest_least": "RPT402",
               "insert_or": "RPT405", "pg_on_conflict": "RPT405"}
# The database that rejects what the construct renders: a guard that keeps it away silences.
_CORE_REJECTED_BY = {"two_argument": POSTGRESQL, "greatest_least": SQLITE,
                     "insert_or": POSTGRESQL, "pg_on_conflict": SQLITE}


@functools.lru_cache(maxsize=8)
def _core_gate(text: str) -> bool:
    """``may_have_core_construct``, asked by the pre-filter and again by ``check`` (a string
    hashes once: the second look-up is a dictionary hit)."""
    return may_have_core_construct(text)


def _core_message(use: CoreUse) -> str:
    py = "max" if use.name in ("MAX", "GREATEST") else "min"
    spelling = shorten(use.spelling, 30)
    if use.kind == "two_argument":
        return (f"{spelling}(a, b) renders SQLite's scalar {py}(), which Postgres rejects: "
                f"compute it in Python and bind it")
    if use.kind == "greatest_least":
        return (f"{spelling}() renders {use.name}(), which SQLite lacks: compute {py}() in Python "
                "and bind it, or guard the dialect")
    if use.kind == "insert_or":
        action = "on_conflict_do_update" if use.name.endswith("REPLACE") else "on_conflict_do_nothing"
        return f"{spelling} renders {use.name} (Postgres rejects it): use the dialect's {action}()"
    return (f"postgresql insert().{spelling}() outside a postgresql guard: use sqlite.insert() on SQLite, "
            "or guard it")


def _core_note(use: CoreUse) -> str:
    if use.kind == "two_argument":
        return _two_argument_note("max" if use.name == "MAX" else "min")
    if use.kind == "greatest_least":
        return _GREATEST_NOTE
    if use.kind == "insert_or":
        return ("Postgres rejects INSERT OR …, so the SQLite unit tests pass and production 500s. Both "
                "databases accept ON CONFLICT (SQLite 3.24+) through their dialect's insert().")
    return ("The postgresql dialect's insert() compiles ON CONFLICT for Postgres only; on the SQLite "
            f"test database use sqlite.insert(), or run this under `{GUARD}`.")


def _two_argument_note(fn: str) -> str:
    return (f"Postgres has only the one-argument aggregate: function {fn}(integer, integer) does not "
            f"exist, while the SQLite unit tests pass (PR #3540: POST /screen/1 returned 500). The "
            f"runbook's beta_walkthrough pattern reads the current value, computes {fn}() in Python and "
            f"binds it as a parameter.")


_GREATEST_NOTE = ("SQLite has no GREATEST()/LEAST(), so the unit tests cannot exercise this path. "
                  f"Under `{GUARD}` it is fine.")
