"""raptor_lint.sql: which SQL strings are found, what text they carry, where they are reported."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from raptor_lint.config import Config
from raptor_lint.context import FileContext
from raptor_lint.project import ProjectIndex
from raptor_lint.sql import PLACEHOLDER, SqlParseCache, iter_sql_uses, sql_file, tables_created, tables_used
from raptor_lint.source import parse_python
from raptor_lint.sql.guards import POSTGRESQL, SQLITE, Reach, dialects_reaching

P = PLACEHOLDER


def make_ctx(tmp_path: Path, source: str, files: dict[str, str] | None = None,
             rel: str = "app/routes/mod.py", project: ProjectIndex | None = None) -> FileContext:
    source = textwrap.dedent(source)
    for name, text in {"app/__init__.py": "", "app/routes/__init__.py": "", **(files or {})}.items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text), encoding="utf-8")
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    config = Config(root=tmp_path)
    return FileContext(path=path, display_path=rel, kind="python", text=source, config=config,
                       project=project or ProjectIndex(config), ast_tree=parse_python(source, str(path)))


def found(tmp_path: Path, source: str, **kwargs) -> list[tuple[int, int, str]]:
    return [(u.line, u.column, u.text) for u in iter_sql_uses(make_ctx(tmp_path, source, **kwargs))]


def test_direct_sinks_and_one_use_for_execute_of_text(tmp_path):
    uses = found(tmp_path, """\
        import sqlalchemy as sa
        from sqlalchemy import text
        from alembic import op

        def handler(conn, session, cursor, engine):
            conn.execute(text("SELECT 1"))
            session.execute(sa.text("SELECT 2"))
            cursor.execute("SELECT 3", (1,))
            engine.exec_driver_sql("SELECT 4")
            op.execute("SELECT 5")
            cursor.executemany("INSERT INTO t (a) VALUES (%s)", rows)
            conn.execute(statement="SELECT 6")
        """)
    assert [text for _, _, text in uses] == [
        "SELECT 1", "SELECT 2", "SELECT 3", "SELECT 4", "SELECT 5",
        "INSERT INTO t (a) VALUES (%s)", "SELECT 6",
    ]
    assert [(line, col) for line, col, _ in uses][:2] == [(6, 23), (7, 29)]


def test_aliased_text_import(tmp_path):
    uses = found(tmp_path, """\
        from sqlalchemy import text as sql_text
        q = sql_text("SELECT 1")
        """)
    assert uses == [(2, 14, "SELECT 1")]


def test_not_sinks(tmp_path):
    assert found(tmp_path, """\
        def handler(response, executor):
            response.text("SELECT 1")
            executor.submit("SELECT 2")
            print("SELECT 3")
        """) == []


def test_implicit_concatenation_reports_first_piece(tmp_path):
    uses = found(tmp_path, """\
        def handler(conn):
            conn.execute(
                "UPDATE t SET a = 1 "
                "WHERE id = :id"
            )
        """)
    assert uses == [(3, 9, "UPDATE t SET a = 1 WHERE id = :id")]


def test_triple_quoted_multi_line_reported_at_first_line(tmp_path):
    uses = found(tmp_path, '''\
        def handler(conn):
            conn.execute(text("""
                UPDATE t
                SET a = MAX(a, :v)
            """))
        ''')
    assert uses[0][:2] == (2, 23)
    assert "SET a = MAX(a, :v)" in uses[0][2]


def test_fstring_format_percent_plus(tmp_path):
    uses = found(tmp_path, """\
        def handler(conn, table, col, uid):
            conn.execute(f"SELECT {col} FROM {table} WHERE id = {uid}")
            conn.execute("SELECT {} FROM t WHERE a = '{{x}}'".format(col))
            conn.execute("SELECT %s FROM t WHERE b LIKE 'a%%'" % col)
            conn.execute("SELECT " + col + " FROM t")
            conn.execute(table + " WHERE a = 1")
            conn.execute(table + col)
        """)
    assert [text for _, _, text in uses] == [
        f"SELECT {P} FROM {P} WHERE id = {P}",
        f"SELECT {P} FROM t WHERE a = '{{x}}'",
        f"SELECT {P} FROM t WHERE b LIKE 'a%'",
        f"SELECT {P} FROM t",
        f"{P} WHERE a = 1",
    ]
    # `table + " WHERE ..."`: the first literal piece carries the position.
    assert uses[4][:2] == (6, 26)


def test_names_module_and_function_level(tmp_path):
    uses = found(tmp_path, """\
        BASE = "SELECT a FROM t"
        LATE = "never " + "used first"

        def handler(conn, flag):
            sql = BASE + " WHERE 1 = 1"
            if flag:
                sql += " AND b = :b"
            conn.execute(sql)
            sql = "DELETE FROM t"
            conn.execute(sql)

        def uses_later_constant(conn):
            conn.execute(AFTER)

        AFTER = "SELECT 42"
        """)
    assert uses == [
        (1, 8, "SELECT a FROM t WHERE 1 = 1 AND b = :b"),
        (9, 11, "DELETE FROM t"),
        (15, 9, "SELECT 42"),
    ]


def test_parameters_and_unknowns_are_not_sql(tmp_path):
    assert found(tmp_path, """\
        def handler(conn, sql, stmt):
            conn.execute(sql)
            conn.execute(stmt.where(x))
            conn.execute(build_query())
            for q in queries:
                conn.execute(q)
        """) == []


def test_statement_object_is_reported_through_its_text_call(tmp_path):
    uses = found(tmp_path, """\
        from sqlalchemy import text

        def handler(conn):
            stmt = text("SELECT 1")
            conn.execute(stmt)
        """)
    assert uses == [(4, 17, "SELECT 1")]


def test_constants_imported_from_another_module(tmp_path):
    files = {
        "app/queries.py": """\
            from app.settings import TABLE
            ADVANCE = f"UPDATE {TABLE} SET screen = MAX(screen, :screen) WHERE user_id = :uid"
            """,
        "app/settings.py": 'TABLE = "beta_preview_progress"\n',
    }
    uses = found(tmp_path, """\
        from sqlalchemy import text
        from app.queries import ADVANCE
        from app import queries
        from .. import queries as relative_queries

        def handler(conn):
            conn.execute(text(ADVANCE))
            conn.execute(queries.ADVANCE)
            conn.execute(relative_queries.ADVANCE)
        """, files=files)
    expected = "UPDATE beta_preview_progress SET screen = MAX(screen, :screen) WHERE user_id = :uid"
    # The literal lives in another module: reported at the argument in this file.
    assert uses == [(7, 23, expected), (8, 18, expected), (9, 18, expected)]


def test_several_statements_in_one_string(tmp_path):
    ctx = make_ctx(tmp_path, """\
        from alembic import op
        op.execute("CREATE TABLE a (x int); DO $$ BEGIN NULL; END $$; INSERT INTO a VALUES (1)")
        """)
    (use,) = iter_sql_uses(ctx)
    assert [type(s).__name__ for s in use.statements] == ["Create", "Command", "Insert"]


def test_non_ascii_columns_are_code_points(tmp_path):
    uses = found(tmp_path, """\
        def handler(conn):
            é = 1; conn.execute("SELECT 1")
        """)
    assert uses == [(2, 25, "SELECT 1")]


def test_type_ignore_comments_and_pruned_lines(tmp_path):
    # The engine parses with type comments (ast.TypeIgnore has no end_lineno).
    uses = found(tmp_path, """\
        import sqlalchemy as sqla  # type: ignore[import]
        from sqlalchemy import text as T

        SQL = (
            "SELECT 1"
        )

        def handler(conn):
            conn.execute(
                SQL
            )
            return sqla.text("SELECT 2"), T("SELECT 3")
        """)
    assert uses == [(5, 5, "SELECT 1"), (12, 22, "SELECT 2"), (12, 37, "SELECT 3")]


def test_dedent_and_strip(tmp_path):
    uses = found(tmp_path, '''\
        import textwrap

        def handler(conn):
            conn.execute(textwrap.dedent("""
                SELECT 1
            """).strip())
        ''')
    assert uses[0][2] == "SELECT 1"


def test_tables_used_and_created(tmp_path):
    ctx = make_ctx(tmp_path, """\
        def handler(conn):
            conn.execute(
                "WITH recent AS (SELECT user_id FROM beta_walkthrough_progress) "
                "INSERT INTO beta_nda_ack (user_id) SELECT r.user_id FROM recent r "
                "JOIN users u ON u.id = r.user_id"
            )
            conn.execute(f"SELECT * FROM {table}")
            conn.execute("CREATE TABLE beta_nda_ack (user_id int)")
        """)
    first, second, third = iter_sql_uses(ctx)
    # The CTE name `recent` is not a table.
    assert tables_used(first.statements) == ["beta_nda_ack", "beta_walkthrough_progress", "users"]
    assert tables_used(second.statements) == []
    assert tables_used(third.statements) == []
    assert tables_created(third.statements) == ["beta_nda_ack"]


# ----------------------------------------------------------------- guards
def _reaching(tmp_path, source):
    ctx = make_ctx(tmp_path, source)
    index = sql_file(ctx)
    return [dialects_reaching(index, use.call) for use in index.uses]


@pytest.mark.parametrize("source", [
    """\
    def upgrade():
        bind = op.get_bind()
        if bind.dialect.name == "postgresql":
            op.execute("SELECT 1")
    """,
    """\
    def upgrade():
        if op.get_bind().dialect.name == 'postgresql':
            op.execute("SELECT 1")
    """,
    """\
    def upgrade():
        bind = op.get_bind()
        if bind.dialect.name != "postgresql":
            return
        op.execute("SELECT 1")
    """,
    """\
    def upgrade():
        if op.get_bind().dialect.name != "sqlite":
            op.execute("SELECT 1")
    """,
    """\
    def upgrade():
        dialect = op.get_bind().dialect.name
        is_pg = dialect in ("postgresql", "postgres")
        if not is_pg:
            return
        op.execute("SELECT 1")
    """,
    """\
    def upgrade():
        if op.get_bind().dialect.name == "sqlite":
            pass
        else:
            op.execute("SELECT 1")
    """,
])
def test_postgresql_guard_forms(tmp_path, source):
    (reaching,) = _reaching(tmp_path, textwrap.dedent(source))
    assert SQLITE not in reaching and POSTGRESQL in reaching


@pytest.mark.parametrize("source", [
    """\
    def upgrade():
        op.execute("SELECT 1")
    """,
    """\
    def upgrade():
        bind = op.get_bind()
        if bind.dialect.name == "postgresql" or DEBUG:
            op.execute("SELECT 1")
    """,
    """\
    def upgrade():
        if op.get_bind().dialect.name != "postgresql":
            log("not postgres")
        op.execute("SELECT 1")
    """,
    """\
    def upgrade():
        if settings.name == "postgresql":
            op.execute("SELECT 1")
    """,
])
def test_not_guards(tmp_path, source):
    (reaching,) = _reaching(tmp_path, textwrap.dedent(source))
    assert SQLITE in reaching


@pytest.mark.parametrize("source", [
    """\
    def upgrade():
        conn = op.get_bind()
        if isinstance(conn.dialect, PGDialect):
            op.execute("SELECT 1")
    """,
    """\
    def update(conn, dialect: str):
        if dialect == "postgresql":
            conn.execute("SELECT 1")
    """,
])
def test_more_guard_forms(tmp_path, source):
    (reaching,) = _reaching(tmp_path, textwrap.dedent(source))
    assert SQLITE not in reaching


CALLERS = """\
    def {name}(conn):
        conn.execute("SELECT 1")

    def upgrade():
        conn = op.get_bind()
        if conn.dialect.name == "postgresql":
            {name}(conn)
    {extra}
    """


@pytest.mark.parametrize("name, extra, public, guarded", [
    ("_pg_only", "", False, True),                          # private helper, every call guarded
    ("pg_only", "", True, True),                            # public helper, trusted (migrations)
    ("pg_only", "", False, False),                          # public helper elsewhere: may be imported
    ("_pg_only", "_pg_only(op.get_bind())", False, False),  # one unguarded call
    ("_pg_only", "HOOKS = [_pg_only]", False, False),       # used as a value: callers unknown
])
def test_guards_of_a_helpers_callers(tmp_path, name, extra, public, guarded):
    ctx = make_ctx(tmp_path, textwrap.dedent(CALLERS.format(name=name, extra=extra)))
    index = sql_file(ctx)
    (use,) = index.uses
    assert SQLITE in dialects_reaching(index, use.call)  # locally unguarded
    assert (SQLITE not in Reach(index, use.call, public_helpers=public)) is guarded


# ------------------------------------------------------------------ cache
def test_one_parse_per_distinct_string_per_run(tmp_path):
    config = Config(root=tmp_path)
    project = ProjectIndex(config)
    source = """\
        Q = "SELECT a FROM t"

        def one(conn):
            conn.execute(Q)
            conn.execute("SELECT a FROM t")
            conn.execute("SELECT b FROM t")

        def two(conn):
            conn.execute(Q)
        """
    for rel in ("app/routes/a.py", "app/routes/b.py"):
        ctx = make_ctx(tmp_path, source, rel=rel, project=project)
        for use in iter_sql_uses(ctx):
            assert use.parsed.ok
    cache = project.get(SqlParseCache)
    assert cache.parses == 2 and len(cache) == 2


# ------------------------------------------------------- the semantic model
def test_text_recognised_through_imports(tmp_path):
    uses = found(tmp_path, """\
        import sqlalchemy
        import sqlalchemy.sql.expression as expr
        from sqlalchemy import sql
        from sqlalchemy.sql import text as sql_text
        from app.extensions import db

        def handler():
            return (sqlalchemy.sql.text("SELECT 1"), expr.text("SELECT 2"), sql.text("SELECT 3"),
                    sql_text("SELECT 4"), db.text("SELECT 5"))
        """)
    assert [text for _, _, text in uses] == ["SELECT 1", "SELECT 2", "SELECT 3", "SELECT 4", "SELECT 5"]


def test_text_that_is_not_sqlalchemys(tmp_path):
    assert found(tmp_path, """\
        from markupsafe import text as safe
        from django.utils import text as sa

        def handler(text, page):
            return text("SELECT 1"), safe("SELECT 2"), sa.text("SELECT 3"), page.text("SELECT 4")
        """) == []


def test_relative_import_of_text_inside_a_package(tmp_path):
    # SQLAlchemy's own modules reach text() through relative imports.
    package = {"sqlalchemy/__init__.py": "", "sqlalchemy/engine/__init__.py": ""}
    uses = found(tmp_path, """\
        from .. import text as t

        def handler(conn):
            conn.execute(t("SELECT 1"))
        """, rel="sqlalchemy/engine/mod.py", files=package)
    assert [text for _, _, text in uses] == ["SELECT 1"]


def test_names_follow_python_scopes(tmp_path):
    uses = found(tmp_path, """\
        SQL = "SELECT 1"

        def shadowed(conn, SQL):
            conn.execute(SQL)

        def declared_global(conn):
            global SQL
            conn.execute(SQL)

        def outer(conn):
            query = "SELECT 2"
            def inner():
                conn.execute(query)
            class Body:
                query = "SELECT 3"
                conn.execute(query)
            return [conn.execute(query) for _ in range(2)]
        """)
    assert [(line, text) for line, _, text in uses] == [
        (1, "SELECT 1"), (11, "SELECT 2"), (15, "SELECT 3"), (11, "SELECT 2")]


def test_the_model_is_the_files_shared_one_and_built_only_when_needed(tmp_path):
    ctx = make_ctx(tmp_path, """\
        def handler(conn):
            conn.execute(build())
        """)
    assert iter_sql_uses(ctx) == []
    assert "semantic" not in ctx.__dict__  # no name, no text(), no use: no model
    ctx = make_ctx(tmp_path, """\
        def handler(conn):
            conn.execute("SELECT 1")
        """)
    index = sql_file(ctx)
    assert index.uses and index.semantic is ctx.semantic


def test_an_early_exit_guards_only_the_statements_after_it_in_any_asking_order(tmp_path):
    # The guards before each statement are a running intersection per block, cached and
    # extended as far as asked: asking the last use first must not leak into the first.
    ctx = make_ctx(tmp_path, textwrap.dedent("""\
        def upgrade():
            op.execute("SELECT 1")
            if op.get_bind().dialect.name != "postgresql":
                return
            op.execute("SELECT 2")
            op.execute("SELECT 3")
        """))
    index = sql_file(ctx)
    calls = [use.call for use in index.uses]
    assert len(calls) == 3
    backwards = [dialects_reaching(index, call) for call in reversed(calls)][::-1]
    assert [SQLITE in reaching for reaching in backwards] == [True, False, False]
    assert [dialects_reaching(index, call) for call in calls] == backwards
