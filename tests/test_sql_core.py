"""RPT401/RPT402/RPT405 on SQLAlchemy Core (issue 16 item 2, SPEC §7 "Wider reach"):
``func.max(a, b)``, ``func.greatest``, ``prefix_with("OR REPLACE")`` and the Postgres
dialect's ``insert().on_conflict_do_*``; how ``func`` resolves through the imports; the
dialect guards that silence them; the pre-filter that must let each one through."""

from __future__ import annotations

import pytest

from raptor_lint.rules.sql_portability import SqlPortabilityChecker
from raptor_lint.sql.core import may_have_core_construct
from test_sql_rules import lint


def found(tmp_path, source: str, rel: str = "app/routes/progress.py") -> list[tuple[str, int, int]]:
    return [(f.code, f.line, f.column) for f in lint(tmp_path, source, rel=rel)]


def assert_core_rules_on(tmp_path) -> None:
    """The control of every "stays silent" test: the same rules do fire on Core."""
    assert found(tmp_path, """\
        from sqlalchemy import func, insert, select
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        def control(conn, t, v):
            conn.execute(t.update().values(step=func.max(t.c.step, v)))
            conn.execute(select(func.greatest(t.c.a, t.c.b)))
            conn.execute(insert(t).prefix_with("OR REPLACE"))
            conn.execute(pg_insert(t).on_conflict_do_nothing())
        """, rel="app/control.py") == [("RPT401", 5, 41), ("RPT402", 6, 25), ("RPT405", 7, 28), ("RPT405", 8, 31)]


# ------------------------------------------------------------------ RPT401
def test_two_argument_func_max_in_a_set_clause(tmp_path):
    (finding,) = lint(tmp_path, """\
        from sqlalchemy import func, update

        def cap(conn, progress, value):
            conn.execute(update(progress).values(step=func.max(progress.c.step, value)))
        """)
    assert (finding.code, finding.line, finding.column, finding.end_line, finding.end_column) == (
        "RPT401", 4, 47, 4, 79)
    assert finding.message == ("func.max(a, b) renders SQLite's scalar max(), which Postgres rejects: "
                               "compute it in Python and bind it")
    assert "PR #3540" in finding.note


@pytest.mark.parametrize("imports, spelling", [
    ("import sqlalchemy as sa", "sa.func.max"),
    ("import sqlalchemy", "sqlalchemy.func.max"),
    ("from sqlalchemy import func as F", "F.max"),
    ("from sqlalchemy.sql import func", "func.max"),
    ("from sqlalchemy.sql import functions", "functions.func.max"),
    ("from sqlalchemy.sql.functions import func", "func.MAX"),
    ("from sqlmodel import func", "func.min"),
    ("from sqlalchemy import *", "func.max"),
    ("from app.extensions import db", "db.func.max"),   # Flask-SQLAlchemy, as db.text
    ("db = SQLAlchemy()", "db.func.max"),
])
def test_func_resolves_through_the_imports(tmp_path, imports, spelling):
    assert found(tmp_path, f"""\
        {imports}

        def cap(conn, t, v):
            conn.execute(t.update().values(step={spelling}(t.c.step, v, 10)))
        """) == [("RPT401", 4, 41)]


@pytest.mark.parametrize("source", [
    "from sqlalchemy import func\nx = func.max(t.c.step)\n",                 # the aggregate
    "from sqlalchemy import func\nx = func.max(*columns)\n",                 # count unknown
    "from sqlalchemy import func\nx = func.max(t.c.step, type_=Integer)\n",  # keyword: one argument
    "x = max(current, value)\n",                                              # Python's max
    "from mylib import func\nx = func.max(a, b)\n",                           # not SQLAlchemy's
    "def f(func):\n    return func.max(a, b)\n",                              # a parameter
    "import sqlalchemy as sa\nx = sa.func.maximum(a, b)\n",
])
def test_not_two_argument_sqlalchemy_max(tmp_path, source):
    assert found(tmp_path, source) == []
    assert_core_rules_on(tmp_path)


def test_a_sqlite_guard_silences_rpt401_as_for_sql_strings(tmp_path):
    assert found(tmp_path, """\
        from sqlalchemy import func, text

        def cap(conn, t, v):
            if conn.dialect.name == "sqlite":
                conn.execute(t.update().values(step=func.max(t.c.step, v)))
                conn.execute(text("UPDATE t SET step = MAX(step, :v)"), {"v": v})
            else:
                conn.execute(t.update().values(step=func.max(t.c.step, v)))
        """) == [("RPT401", 8, 45)]


# ------------------------------------------------------------------ RPT402
def test_greatest_and_least(tmp_path):
    findings = lint(tmp_path, """\
        import sqlalchemy as sa

        def best(conn, t):
            return conn.execute(sa.select(sa.func.greatest(t.c.best, t.c.last), sa.func.least(t.c.a)))
        """)
    assert [(f.code, f.line, f.column) for f in findings] == [("RPT402", 4, 35), ("RPT402", 4, 73)]
    assert findings[0].message == ("sa.func.greatest() renders GREATEST(), which SQLite lacks: compute max() "
                                   "in Python and bind it, or guard the dialect")
    assert findings[1].message.startswith("sa.func.least() renders LEAST(), which SQLite lacks: compute min()")


@pytest.mark.parametrize("guard", [
    'if bind.dialect.name == "postgresql":',
    'if bind.dialect.name != "sqlite":',
    'if (name := get_dialect_name(session)) == "postgresql":',
    'if get_dialect_name(session) == "postgresql":',
])
def test_postgresql_guards_silence_greatest(tmp_path, guard):
    source = """\
        from sqlalchemy import func, select

        def best(conn, t, bind, session):
            {guard}
                return conn.execute(select(func.greatest(t.c.best, t.c.last)))
            return None
        """
    assert found(tmp_path, source.format(guard=guard)) == []
    assert found(tmp_path, source.format(guard="if session:")) == [("RPT402", 5, 36)]


def test_early_return_guard_silences_greatest(tmp_path):
    source = """\
        from sqlalchemy import func, select

        def best(conn, t):
            if conn.dialect.name {op} "postgresql":
                return None
            return conn.execute(select(func.greatest(t.c.best, t.c.last)))
        """
    assert found(tmp_path, source.format(op="!=")) == []
    assert found(tmp_path, source.format(op="==")) == [("RPT402", 6, 32)]


def test_a_private_method_called_only_under_the_guard(tmp_path):
    source = """\
        from sqlalchemy import func, select

        class Scores:
            @classmethod
            def best(cls, conn, t):
                if conn.dialect.name == "postgresql":
                    return cls._best_postgres(conn, t)
                return None

            @classmethod
            def _best_postgres(cls, conn, t):
                return conn.execute(select(func.greatest(t.c.best, t.c.last)))
        """
    assert found(tmp_path, source) == []
    # Also called outside the guard: SQLite reaches it.
    assert found(tmp_path, source.replace("return None", "return cls._best_postgres(conn, t)")) == [
        ("RPT402", 12, 36)]


# ------------------------------------------------------------------ RPT405: prefix_with
@pytest.mark.parametrize("prefix, words, instead", [
    ('"OR REPLACE"', "OR REPLACE", "on_conflict_do_update()"),
    ("'or  ignore'", "OR IGNORE", "on_conflict_do_nothing()"),
])
def test_prefix_with_on_an_insert(tmp_path, prefix, words, instead):
    finding, table_insert = lint(tmp_path, f"""\
        from sqlalchemy import insert

        def remember(conn, t, uid, step):
            statement = (
                insert(t)
                .values(user_id=uid, step=step)
                .prefix_with({prefix})
            )
            conn.execute(statement)
            conn.execute(t.insert().prefix_with({prefix}), {{"user_id": uid}})
        """)
    assert (finding.code, finding.line, finding.column, finding.end_line) == ("RPT405", 7, 10, 7)
    assert (table_insert.code, table_insert.line, table_insert.column) == ("RPT405", 10, 29)
    assert finding.message == (f'prefix_with("{words}") renders INSERT {words} (Postgres rejects it): '
                               f"use the dialect's {instead}")


def test_prefix_with_through_a_name_and_table_insert(tmp_path):
    assert found(tmp_path, """\
        import sqlalchemy as sa

        def remember(conn, t, rows):
            statement = sa.insert(t)
            statement = statement.prefix_with("OR IGNORE")
            conn.execute(t.insert().prefix_with("OR REPLACE"), rows)
        """) == [("RPT405", 5, 27), ("RPT405", 6, 29)]


@pytest.mark.parametrize("call", [
    'insert(t).prefix_with("OR REPLACE", dialect="sqlite")',   # rendered on SQLite only
    'insert(t).prefix_with("OR REPLACE", dialect=which)',
    'select(t).prefix_with("OR REPLACE")',                     # not an insert
    'insert(t).prefix_with("IGNORE")',
    'insert(t).prefix_with("/*+ hint */")',
    'query.prefix_with("OR REPLACE")',                          # nothing says it is an insert
])
def test_prefix_with_not_sqlite_conflict_clause(tmp_path, call):
    assert found(tmp_path, f"""\
        from sqlalchemy import insert, select

        def remember(conn, t, query, which):
            conn.execute({call})
        """) == []
    assert_core_rules_on(tmp_path)


def test_prefix_with_for_postgresql_is_still_reported(tmp_path):
    assert found(tmp_path, """\
        from sqlalchemy import insert

        def remember(conn, t):
            conn.execute(insert(t).prefix_with("OR REPLACE", dialect="postgresql"))
        """) == [("RPT405", 4, 28)]


def test_prefix_with_under_a_sqlite_guard(tmp_path):
    source = """\
        from sqlalchemy import insert

        def remember(conn, t):
            if conn.dialect.name == "{dialect}":
                conn.execute(insert(t).prefix_with("OR REPLACE"))
        """
    assert found(tmp_path, source.format(dialect="sqlite")) == []
    assert found(tmp_path, source.format(dialect="postgresql")) == [("RPT405", 5, 32)]


# ------------------------------------------------------------------ RPT405: Postgres insert
@pytest.mark.parametrize("imports, call", [
    ("from sqlalchemy.dialects.postgresql import insert", "insert"),
    ("from sqlalchemy.dialects.postgresql import insert as pg_insert", "pg_insert"),
    ("from sqlalchemy.dialects import postgresql", "postgresql.insert"),
    ("import sqlalchemy.dialects.postgresql as pg", "pg.insert"),
    ("from sqlalchemy.dialects.postgresql.dml import Insert", "Insert"),
])
def test_postgres_insert_on_conflict_outside_a_guard(tmp_path, imports, call):
    (finding,) = lint(tmp_path, f"""\
        {imports}

        def record(conn, t, rows):
            conn.execute({call}(t).on_conflict_do_nothing(), rows)
        """)
    assert (finding.code, finding.line) == ("RPT405", 4)
    assert finding.column == 18 + len(call) + len("(t).")
    assert finding.message == ("postgresql insert().on_conflict_do_nothing() outside a postgresql guard: "
                               "use sqlite.insert() on SQLite, or guard it")


def test_postgres_insert_held_in_a_name(tmp_path):
    assert found(tmp_path, """\
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        def record(conn, t, values):
            statement = pg_insert(t).values(**values)
            statement = statement.on_conflict_do_update(index_elements=["id"], set_=values)
            conn.execute(statement)
        """) == [("RPT405", 5, 27)]


def test_dialect_branches_with_each_insert_are_fine(tmp_path):
    # airflow's _build_upsert_stmt shape: the Postgres insert only under its guard, SQLite's
    # own insert (whose on_conflict_do_update is SQLite's) in the other branch.
    assert found(tmp_path, """\
        def build(dialect, model, values, update_fields):
            if dialect == "postgresql":
                from sqlalchemy.dialects.postgresql import insert as pg_insert

                stmt = pg_insert(model).values(**values)
                stmt = stmt.on_conflict_do_update(index_elements=["id"], set_=update_fields)
            else:
                from sqlalchemy.dialects.sqlite import insert as sqlite_insert

                stmt = sqlite_insert(model).values(**values)
                stmt = stmt.on_conflict_do_update(index_elements=["id"], set_=update_fields)
            return stmt
        """) == []
    assert_core_rules_on(tmp_path)


def test_sqlite_insert_on_conflict_is_not_the_postgres_one(tmp_path):
    assert found(tmp_path, """\
        from sqlalchemy.dialects.sqlite import insert

        def record(conn, t):
            conn.execute(insert(t).on_conflict_do_nothing())
        """) == []
    assert_core_rules_on(tmp_path)


def test_a_module_named_for_postgres_runs_only_on_postgres(tmp_path):
    source = """\
        from sqlalchemy import func, select, text
        from sqlalchemy.dialects.postgresql import insert

        def record(conn, t):
            conn.execute(insert(t).on_conflict_do_nothing())
            conn.execute(select(func.greatest(t.c.a, t.c.b)))
            conn.execute(text("SELECT id::text FROM t"))
        """
    assert found(tmp_path, source, rel="app/store/metrics_postgres.py") == []
    # A package named postgresql (its directories hold __init__.py: the dotted name counts,
    # not the directories above the project).
    for package in ("app", "app/dialects", "app/dialects/postgresql"):
        (tmp_path / package).mkdir(parents=True, exist_ok=True)
        (tmp_path / package / "__init__.py").write_text("")
    assert found(tmp_path, source, rel="app/dialects/postgresql/upsert.py") == []
    (tmp_path / "app/dialects/postgresql/__init__.py").unlink()
    assert len(found(tmp_path, source, rel="app/dialects/postgresql/upsert.py")) == 3
    assert [code for code, _, _ in found(tmp_path, source, rel="app/store/metrics.py")] == [
        "RPT405", "RPT402", "RPT405"]
    # A migration's file name describes the change: it runs on the SQLite test database too.
    assert [code for code, _, _ in found(tmp_path, source, rel="migrations/versions/0003_postgres_upsert.py")] == [
        "RPT405", "RPT402", "RPT405"]


# ------------------------------------------------------------------ the pre-filter
@pytest.mark.parametrize("source", [
    "from sqlalchemy import func\nx = func.max(a, b)\n",
    "from sqlalchemy import func\nx = (func\n  .MAX)(a, b)\n",
    "import sqlalchemy as sa\nx = sa.func . greatest(a)\n",
    "from sqlalchemy import func as F\nx = F.least(a, b)\n",
    "from sqlalchemy import func as F\nfrom x import F as G\nx = G.max(a, b)\n",
    "from sqlalchemy import func\nx = func.max(a, # c (\n b)\n",
    "from sqlalchemy import func\nx = func.max(a, b\n",
    "from sqlalchemy import func\nx = func.\uff4d\uff41\uff58(a, b)\n",   # fullwidth: NFKC gives max
    "s = insert(t).prefix_with('OR REPLACE')\n",
    "s = pg_insert(t).on_conflict_do_nothing()\n",
])
def test_prefilter_lets_core_constructs_through(source):
    assert may_have_core_construct(source)
    assert SqlPortabilityChecker().prefilter(source)


@pytest.mark.parametrize("source", [
    "from sqlalchemy import func\nx = func.max(t.c.step)\n",
    "from sqlalchemy import func\nx = func.min(getattr(model, name)).label('low')\n",
    "def wrap(func):\n    return functools.wraps(func)(func)\n",
    "x = max(a, b)\n",
    "from sqlalchemy import func\nx = func.maximum(a, b)\n",
])
def test_prefilter_skips_files_with_no_core_construct(source):
    assert not may_have_core_construct(source)
    assert not SqlPortabilityChecker().prefilter(source)
    # The control: the gate is on, and a second argument opens it.
    assert SqlPortabilityChecker().prefilter("from sqlalchemy import func\nx = func.max(t.c.step, 1)\n")


def test_every_core_finding_passes_the_prefilter(tmp_path):
    """The gate is safe for the fixture shapes: each reported file passes it."""
    sources = [
        "from sqlalchemy import func\n\ndef f(t, v):\n    return t.update().values(a=func.max(t.c.a, v))\n",
        "import sqlalchemy as sa\n\ndef f(t):\n    return sa.select(sa.func.least(t.c.a, t.c.b))\n",
        "from sqlalchemy import insert\n\ndef f(t):\n    return insert(t).prefix_with('OR IGNORE')\n",
        "from sqlalchemy.dialects import postgresql\n\ndef f(t):\n"
        "    return postgresql.insert(t).on_conflict_do_nothing()\n",
    ]
    for source in sources:
        assert found(tmp_path, source), source
        assert SqlPortabilityChecker().prefilter(source), source


def test_a_statement_reassigned_many_times_is_followed_once_per_assignment(tmp_path):
    # Every `stmt = stmt.values(...)` reaches every later use (no flow analysis): following
    # each binding afresh was exponential in their number (the standard library run hung).
    lines = ["from sqlalchemy import insert", "", "def build(t):", "    stmt = insert(t)"]
    lines += [f"    stmt = stmt.values(c{i}={i})" for i in range(40)]
    lines += ['    stmt = stmt.prefix_with("OR IGNORE")', "    return stmt", ""]
    assert found(tmp_path, "\n".join(lines)) == [("RPT405", 45, 17)]
