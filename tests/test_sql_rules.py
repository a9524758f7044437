"""RPT401–RPT405 behaviour that the fixture markers cannot express: messages, columns,
one finding per use, and the RPT405 data table."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from raptor_lint.config import Config
from raptor_lint.engine import Engine
from raptor_lint.rules.sql_portability import ONE_DIALECT_CONSTRUCTS, OneDialectConstruct, SqlPortabilityChecker


def lint(tmp_path: Path, source: str, rel: str = "app/routes/progress.py") -> list:
    (tmp_path / "migrations" / "versions").mkdir(parents=True, exist_ok=True)
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source), encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = Engine(Config(root=tmp_path)).lint_path(path, "python")
    finally:
        os.chdir(cwd)
    return [f for f in result.findings if f.code.startswith("RPT4") or f.code == "RPT000"]


def test_rpt401_message_names_the_runbook_pattern(tmp_path):
    (finding,) = lint(tmp_path, """\
        from sqlalchemy import text

        def advance(conn, uid, screen):
            conn.execute(text("UPDATE beta_preview_progress SET screen = MAX(screen, :s) WHERE user_id = :u"),
                         {"s": screen, "u": uid})
        """)
    assert (finding.code, finding.line, finding.column) == ("RPT401", 4, 23)
    assert finding.message == "two-argument MAX(a, b) is SQLite-only: compute max() in Python and bind it"
    assert "PR #3540" in finding.note
    assert "reads the current value, computes max() in Python and binds it" in finding.note


def test_one_finding_per_use_and_per_code(tmp_path):
    findings = lint(tmp_path, """\
        from sqlalchemy import text

        SQL = "UPDATE t SET a = MAX(a, :v), b = MIN(b, :v), c = MAX(c, :v) WHERE ILIKE_col ILIKE :q AND x::int = 1"

        def one(conn):
            conn.execute(text(SQL))

        def two(conn):
            conn.execute(text(SQL))
        """)
    assert sorted((f.line, f.code) for f in findings) == [(3, "RPT401"), (3, "RPT405")]
    (rpt405,) = [f for f in findings if f.code == "RPT405"]
    assert "ILIKE" in rpt405.message and "'::' cast" in rpt405.message


def test_unparsable_sql_never_yields_a_finding(tmp_path):
    assert lint(tmp_path, """\
        from sqlalchemy import text

        def broken(conn):
            conn.execute(text("UPDATE t SET a = MAX(a, :v WHERE"))
            conn.execute(text("SELECT GREATEST(1, 2) FROM ((("))
            conn.execute(text("'unterminated MAX(a, b)"))
        """) == []


def test_noqa_on_the_literal_line(tmp_path):
    assert lint(tmp_path, """\
        from sqlalchemy import text

        def advance(conn):
            conn.execute(text("UPDATE t SET a = MAX(a, :v)"))  # noqa: RPT401
        """) == []


def test_do_block_outside_migrations_is_not_rpt403(tmp_path):
    assert lint(tmp_path, """\
        def tune(conn):
            conn.execute("DO $$ BEGIN PERFORM 1; END $$")
        """) == []
    (finding,) = lint(tmp_path, """\
        from alembic import op

        def upgrade():
            op.execute("DO $$ BEGIN PERFORM 1; END $$")
        """, rel="migrations/versions/0001_tune.py")
    assert finding.code == "RPT403"
    assert finding.message == "DO $$ block needs a postgresql guard and `-- POSTGRES-ONLY`"


def test_the_data_table_is_the_only_place_rpt405_constructs_live(tmp_path, monkeypatch):
    import raptor_lint.rules.sql_portability as module

    source = """\
        def report(conn):
            conn.execute("SELECT id FROM users TABLESAMPLE BERNOULLI (10)")
        """
    assert lint(tmp_path, source) == []
    row = OneDialectConstruct("TABLESAMPLE", "sqlite", "ORDER BY random() LIMIT :n",
                              module.node_of("TableSample"))
    monkeypatch.setattr(module, "ONE_DIALECT_CONSTRUCTS", (*ONE_DIALECT_CONSTRUCTS, row))
    (finding,) = lint(tmp_path, source)
    assert finding.code == "RPT405"
    assert finding.message == "TABLESAMPLE is rejected by SQLite: use ORDER BY random() LIMIT :n"


def test_prefilter_is_safe_for_every_sink_spelling():
    checker = SqlPortabilityChecker()
    for text in ("conn.execute(q)", "engine.exec_driver_sql(q)", "sa.text (q)",
                 "from sqlalchemy import text as T\nT(q)", "Column(server_default='now()')"):
        assert checker.prefilter(text), text
    assert not checker.prefilter("def render(page):\n    return page.textual_summary")


def test_rpt403_message_says_what_is_missing(tmp_path):
    """With the dialect guard in place SQLite never runs the block: the message must not
    claim the migration breaks SQLite, only that the marker is missing."""
    body = '''\
        from alembic import op


        def upgrade():
            bind = op.get_bind()
            {guard}
                op.execute("""
                    DO $$ BEGIN
                        ALTER TABLE beta_walkthrough ADD COLUMN seen INTEGER;
                    END $$;
                """)
        '''
    guarded = lint(tmp_path, body.format(guard='if bind.dialect.name == "postgresql":'),
                   rel="migrations/versions/20260612_0003_guarded.py")
    assert [f.message for f in guarded if f.code == "RPT403"] == [
        "DO $$ block is guarded but not marked: add a `-- POSTGRES-ONLY` comment for reviewers"]
    unguarded = lint(tmp_path, body.format(guard="if True:"), rel="migrations/versions/20260612_0004_bare.py")
    [message] = [f.message for f in unguarded if f.code == "RPT403"]
    assert message == "DO $$ block needs a postgresql guard and `-- POSTGRES-ONLY`"


def test_core_prefilter_does_not_backtrack_on_long_comments(tmp_path):
    """`func` followed by a comment full of spaces made the pre-filter's gap regex try every
    split of the spaces between the comment and whitespace (ctypes/test/test_prototypes.py
    in the standard library hung a sweep).  A hang guard, not a speed test: a subprocess
    with a generous limit."""
    import subprocess
    import sys

    code = ("from raptor_lint.sql.core import may_have_core_construct\n"
            "text = 'func' + ('#' + ' ' * 60 + 'x\\n') * 3 + 'y = 1\\n'\n"
            "print(may_have_core_construct(text))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr
