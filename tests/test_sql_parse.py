"""raptor_lint.sql.parse: only statements count, bad SQL never crashes, warnings stay quiet;
and --verbose says which SQL strings were skipped and why."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from sqlglot import exp

from raptor_lint.config import Config
from raptor_lint.runner import CheckOptions, run_check
from raptor_lint.sql import SqlParseCache, parse_sql


@pytest.mark.parametrize("text, root", [
    ("UPDATE beta_preview_progress SET screen = MAX(screen, :screen) WHERE user_id = :uid", exp.Update),
    ("SELECT * FROM t WHERE a = %s AND b = %(b)s", exp.Select),
    ("DO $$ BEGIN NULL; END $$", exp.Command),
    ("DO $body$ BEGIN NULL; END $body$;", exp.Command),
    ("CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT)", exp.Create),
    ("SELECT 1 UNION SELECT 2", exp.SetOperation),
])
def test_statements_parse_with_the_postgres_reader(text, root):
    parsed = parse_sql(text)
    assert parsed.ok and parsed.error is None
    assert isinstance(parsed.statements[0], root)


@pytest.mark.parametrize("text, why", [
    ("hello world", "not a SQL statement"),
    ("score > 1", "not a SQL statement"),
    ("", "empty"),
    ("   ;  ", "no SQL statement"),
    ("SELECT FROM WHERE", "cannot parse"),
    ("SELECT 'unterminated", "cannot tokenize"),
    ("UPDATE t SET a = MAX(a, ", "cannot parse"),
    ("(" * 5000 + "1" + ")" * 5000, "SELECT"),  # deep nesting: reported, never raised
])
def test_non_sql_and_broken_sql_are_skipped_with_a_reason(text, why):
    parsed = parse_sql(text if why != "SELECT" else "SELECT " + text)
    assert not parsed.ok and parsed.statements == ()
    if why != "SELECT":
        assert why in parsed.error
    assert "\x1b" not in parsed.error  # no terminal escapes from sqlglot's error text


def test_sqlglot_warnings_are_silenced_without_changing_its_logger(caplog):
    logger = logging.getLogger("sqlglot")
    level = logger.level
    with caplog.at_level(logging.DEBUG):
        assert parse_sql("DO $$ BEGIN NULL; END $$").ok
    assert [r for r in caplog.records if r.name.startswith("sqlglot")] == []
    assert logger.level == level
    # Outside our parses, sqlglot still logs for whoever else uses it.
    with caplog.at_level(logging.WARNING, logger="sqlglot"):
        logger.warning("still heard")
    assert any(r.getMessage() == "still heard" for r in caplog.records)


def test_cache_parses_each_distinct_string_once():
    cache = SqlParseCache()
    first = cache.parse("SELECT 1")
    assert cache.parse("SELECT 1") is first
    cache.parse("SELECT 2")
    cache.parse("hello world")
    cache.parse("hello world")
    assert cache.parses == 3


def test_cache_is_bounded():
    cache = SqlParseCache(maxsize=2)
    for text in ("SELECT 1", "SELECT 2", "SELECT 3"):
        cache.parse(text)
    assert len(cache) == 2


# ------------------------------------------------------------ --verbose notes
SOURCE = '''\
from sqlalchemy import text


def report(conn):
    conn.execute(text("SELECT FROM WHERE"))
    conn.execute(text("SELECT screen FROM beta_preview_progress"))
    conn.execute("hello world")
    return conn.execute(text("score > 1"))
'''


def _run(tmp_path: Path, verbose: bool):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "report.py").write_text(SOURCE, encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        return run_check(Config(root=tmp_path), CheckOptions(paths=[Path(".")], use_cache=False, verbose=verbose))
    finally:
        os.chdir(cwd)


def test_verbose_notes_say_which_sql_was_skipped_and_why(tmp_path):
    result = _run(tmp_path, verbose=True)
    assert result.findings == []
    assert result.notes == [
        "app/report.py:5:23: note: SQL string passed to text() skipped: sqlglot cannot parse it: "
        "Expected table name but got 'WHERE' (SQL line 1, column 17)",
        "app/report.py:7:18: note: SQL string passed to execute() skipped: not a SQL statement "
        "(sqlglot reads it as Alias)",
        "app/report.py:8:30: note: SQL string passed to text() skipped: not a SQL statement "
        "(sqlglot reads it as GT)",
    ]


def test_no_notes_without_verbose(tmp_path):
    result = _run(tmp_path, verbose=False)
    assert result.notes == [] and result.findings == []


def test_cli_prints_notes_on_stderr_only_with_verbose(tmp_path):
    from click.testing import CliRunner

    from raptor_lint.cli import main

    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    (tmp_path / "report.py").write_text(SOURCE, encoding="utf-8")
    runner = CliRunner()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        quiet = runner.invoke(main, ["check", "report.py"])
        loud = runner.invoke(main, ["check", "--verbose", "report.py"])
    finally:
        os.chdir(cwd)
    assert quiet.exit_code == 0 and quiet.stderr == ""
    assert loud.exit_code == 0
    assert "report.py:5:23: note: SQL string passed to text() skipped" in loud.stderr
    assert "note" not in loud.stdout
