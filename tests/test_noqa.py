"""`# noqa` semantics are flake8's, checked against flake8's own implementation."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flake8.violation import Violation
from raptor_lint.config import Config
from raptor_lint.discovery import PYTHON
from raptor_lint.engine import Engine
from raptor_lint.noqa import file_is_disabled, line_is_suppressed, python_noqa_lines


def _flake8_ignores(line: str, code: str) -> bool:
    violation = Violation(code, "x.py", 1, 1, "msg", line)
    return violation.is_inline_ignored(disable_noqa=False)


COMMENTS = st.sampled_from([
    "", "# noqa", "#noqa", "# NOQA", "# noqa:RPT101", "# noqa: RPT101", "# noqa:  RPT101",
    "# noqa: RPT101,RPT301", "# noqa: RPT101, RPT301", "# noqa: RPT1", "# noqa: RPT",
    "# noqa: E501", "# noqa:E501,W291", "# NoQA: rpt101", "# noqa - reason", "# type: ignore  # noqa: RPT3",
])


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from(["x = {}", "_store[user_id] = challenge  ", "bp = Blueprint('a', __name__)  "]),
    comment=COMMENTS,
    extra=st.text(alphabet=" ,:RPT0123456789#", max_size=8),
    code=st.sampled_from(["RPT101", "RPT301", "RPT302", "RPT104"]),
)
def test_inline_noqa_matches_flake8(prefix: str, comment: str, extra: str, code: str) -> None:
    line = f"{prefix}{comment}{extra}\n"
    assert line_is_suppressed(line, code) == _flake8_ignores(line, code)


def test_codes_are_prefixes_and_bare_rpt_is_blanket() -> None:
    assert line_is_suppressed("x  # noqa: RPT1\n", "RPT101")
    assert not line_is_suppressed("x  # noqa: RPT1\n", "RPT301")
    assert line_is_suppressed("x  # noqa: RPT\n", "RPT301")  # no digits: flake8 reads a bare noqa
    assert not line_is_suppressed("x  # noqa: E501\n", "RPT101")


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_noqa_after_a_triple_quoted_string_covers_all_its_lines(eol: str) -> None:
    # CR: tokenize splits lines at \n only, so before the fix a lone-CR file was one
    # line to it and the comment covered nothing (found by make fuzz).
    text = (
        "SQL = '''\n"
        "UPDATE screens SET progress = MAX(progress, :p)\n"
        "WHERE user_id = :uid\n"
        "'''  # noqa: RPT401\n"
        "other = 1\n"
    ).replace("\n", eol)
    lookup = python_noqa_lines(text)
    for line in (1, 2, 3, 4):
        assert line_is_suppressed(lookup(line), "RPT401"), line
    assert not line_is_suppressed(lookup(5), "RPT401")


def test_noqa_inside_brackets_is_per_physical_line() -> None:
    text = "bp = Blueprint(\n    'a',  # noqa: RPT301\n    url_prefix='/api/x',\n)\n"
    lookup = python_noqa_lines(text)
    assert line_is_suppressed(lookup(2), "RPT301")
    assert not line_is_suppressed(lookup(3), "RPT301")


def test_untokenizable_text_falls_back_to_physical_lines() -> None:
    lookup = python_noqa_lines("x = (  # noqa\n")
    assert line_is_suppressed(lookup(1), "RPT101")
    assert lookup(99) is None


def test_file_level_flake8_noqa() -> None:
    assert file_is_disabled(["import os\n", "# flake8: noqa\n"])
    assert not file_is_disabled(["x = 1  # flake8: noqa\n"])


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_noqa_after_a_multiline_sql_string_silences_it_with_any_line_endings(tmp_path: Path, eol: str) -> None:
    # flake8 reads files with universal newlines, so it agreed here and the CLI did not.
    migration = tmp_path / "migrations" / "versions" / "0001_notes.py"
    text = (
        "from alembic import op\n"
        "\n"
        "\n"
        "def upgrade() -> None:\n"
        "    op.execute(\n"
        "        \"\"\"\n"
        "        DO $$ BEGIN PERFORM 1; END $$;\n"
        "        \"\"\"  # noqa: RPT403\n"
        "    )\n"
    ).replace("\n", eol)
    engine = Engine(Config(root=tmp_path))
    assert engine.lint_text(text, migration, PYTHON, "migrations/versions/0001_notes.py").findings == []
    unsilenced = text.replace("  # noqa: RPT403", "")
    findings = engine.lint_text(unsilenced, migration, PYTHON, "migrations/versions/0001_notes.py").findings
    assert [(f.line, f.code) for f in findings] == [(6, "RPT403")]
