"""The language server's pure conversions, in process: positions and noqa edits."""

from __future__ import annotations

import pytest
from lsprotocol import types

from raptor_lint import noqa
from raptor_lint.findings import Edit, Finding, Fix
from raptor_lint.lsp import convert

UTF8, UTF16, UTF32 = (types.PositionEncodingKind.Utf8, types.PositionEncodingKind.Utf16,
                      types.PositionEncodingKind.Utf32)


def pos(line: int, character: int) -> types.Position:
    return types.Position(line=line, character=character)


def apply(text: str, edit: types.TextEdit) -> str:
    lines = convert.split_lines(text)
    start = convert.from_lsp_position(lines, edit.range.start)
    end = convert.from_lsp_position(lines, edit.range.end)

    def offset(line: int, column: int) -> int:
        return sum(len(x) + 1 for x in lines[:line - 1]) + column - 1

    return text[:offset(*start)] + edit.new_text + text[offset(*end):]


def test_columns_become_utf16_code_units() -> None:
    lines = convert.split_lines('x = "é😋" + y\n')
    # `y` is code point 12 (1-based); before it: é is 1 unit, 😋 is 2 UTF-16 units.
    assert convert.to_lsp_position(lines, 1, 12) == pos(0, 12)
    assert convert.to_lsp_position(lines, 1, 12, UTF32) == pos(0, 11)
    assert convert.to_lsp_position(lines, 1, 12, UTF8) == pos(0, 15)
    assert convert.from_lsp_position(lines, pos(0, 12)) == (1, 12)
    assert convert.from_lsp_position(lines, pos(0, 15), UTF8) == (1, 12)


def test_lines_split_like_cpython_not_like_splitlines() -> None:
    # A form feed is not a line break for CPython or LSP; \r\n and \r are.
    assert convert.split_lines("a\x0cb\r\nc\rd\n") == ["a\x0cb", "c", "d", ""]


def test_positions_are_clamped_into_the_text() -> None:
    lines = convert.split_lines("ab\ncd")
    assert convert.to_lsp_position(lines, 9, 1) == pos(1, 2)  # past the last line
    assert convert.to_lsp_position(lines, 1, 40) == pos(0, 2)  # past the line end
    assert convert.to_lsp_position(lines, 0, 0) == pos(0, 0)


def test_a_zero_width_finding_gets_a_one_character_range() -> None:
    lines = convert.split_lines("x = (\n")
    finding = Finding("a.py", 1, 5, "E999", "SyntaxError: '(' was never closed")
    assert convert.finding_range(lines, finding) == types.Range(start=pos(0, 4), end=pos(0, 5))


def test_diagnostic_fields() -> None:
    lines = convert.split_lines("x\n")
    unknown = convert.to_diagnostic(lines, Finding("a.py", 1, 1, "E999", "bad"), "file:///d/rules.md")
    assert unknown.code == "E999" and unknown.source == "raptor-lint"
    assert unknown.code_description is None  # not a documented rule
    assert unknown.severity == types.DiagnosticSeverity.Error
    assert convert.rule_url("E999", "https://x/rules.md") is None


def test_fix_edits_become_text_edits() -> None:
    text = 'bp = Blueprint("😋", __name__, url_prefix="/api/x")\n'
    fix = Fix("drop /api", (Edit(1, 43, 1, 47, ""),))
    [edit] = convert.fix_text_edits(convert.split_lines(text), fix)
    assert edit.range == types.Range(start=pos(0, 43), end=pos(0, 47))
    assert apply(text, edit) == 'bp = Blueprint("😋", __name__, url_prefix="/x")\n'


NOQA_CASES = [
    # (line text, code, expected line after the edit)
    ('bp = Blueprint("b", __name__, url_prefix="/api/b")',
     "RPT301", 'bp = Blueprint("b", __name__, url_prefix="/api/b")  # noqa: RPT301'),
    ('x = 1   ', "RPT101", 'x = 1  # noqa: RPT101'),
    ('x = 1  # noqa: E501', "RPT101", 'x = 1  # noqa: E501,RPT101'),
    ('x = 1  # noqa:E501', "RPT101", 'x = 1  # noqa:E501,RPT101'),
    ('x = 1  # noqa: E501, W291', "RPT101", 'x = 1  # noqa: E501, W291, RPT101'),
    ('x = 1  # noqa: E501 W291', "RPT101", 'x = 1  # noqa: E501 W291 RPT101'),
    ('x = 1  # noqa: E501 -- long on purpose', "RPT101", 'x = 1  # noqa: E501,RPT101 -- long on purpose'),
    ('x = 1  # type: ignore[attr]', "RPT101", 'x = 1  # type: ignore[attr]  # noqa: RPT101'),
]


@pytest.mark.parametrize("line, code, expected", NOQA_CASES)
def test_noqa_edit_adds_or_merges_the_code(line: str, code: str, expected: str) -> None:
    text = f"import os\n{line}\nprint(os)\n"
    edit = convert.noqa_edit(text, Finding("a.py", 2, 1, code, "m"), "python")
    fixed = apply(text, edit)
    assert fixed == f"import os\n{expected}\nprint(os)\n"
    assert noqa.line_is_suppressed(noqa.python_noqa_lines(fixed)(2), code)


def test_noqa_for_a_multiline_string_goes_after_the_closing_quotes() -> None:
    text = 'rows = db.execute(text("""\n    SELECT MAX(a, b)\n    FROM t\n""")).all()\nnext_line = 1\n'
    edit = convert.noqa_edit(text, Finding("a.py", 1, 24, "RPT401", "m"), "python")
    fixed = apply(text, edit)
    assert fixed.split("\n")[3] == '""")).all()  # noqa: RPT401'
    assert noqa.line_is_suppressed(noqa.python_noqa_lines(fixed)(1), "RPT401")


@pytest.mark.parametrize("eol", ["\r\n", "\r"], ids=["CRLF", "CR"])
def test_noqa_target_line_counts_lines_as_cpython_does(eol: str) -> None:
    text = 'rows = db.execute(text("""\n    SELECT MAX(a, b)\n    FROM t\n""")).all()\nnext_line = 1\n'
    assert convert.noqa_target_line(text.replace("\n", eol), 2, "python") == 4
    assert convert.noqa_target_line(text.replace("\n", eol), 5, "python") == 5


def test_noqa_for_a_backslash_continuation_goes_on_the_last_line() -> None:
    text = 'PREFIX = "/api" + \\\n    "/v2"\n'
    fixed = apply(text, convert.noqa_edit(text, Finding("a.py", 1, 10, "RPT301", "m"), "python"))
    assert fixed == 'PREFIX = "/api" + \\\n    "/v2"  # noqa: RPT301\n'
    assert noqa.line_is_suppressed(noqa.python_noqa_lines(fixed)(1), "RPT301")


def test_noqa_in_non_python_files_is_per_line() -> None:
    text = "set -e\nheroku config:set A=1 --app x\n"
    fixed = apply(text, convert.noqa_edit(text, Finding("s.sh", 2, 1, "RPT601", "m"), "shell"))
    assert fixed == "set -e\nheroku config:set A=1 --app x  # noqa: RPT601\n"
    text = "web: gunicorn app:app  # noqa: E501\n"
    fixed = apply(text, convert.noqa_edit(text, Finding("Procfile", 1, 1, "RPT602", "m"), "procfile"))
    assert fixed == "web: gunicorn app:app  # noqa: E501,RPT602\n"


def test_no_noqa_edit_when_a_comment_cannot_help() -> None:
    assert convert.noqa_edit("x = (\n", Finding("a.py", 1, 5, "E999", "m"), "python") is None
    assert convert.noqa_edit("x = 1  # noqa\n", Finding("a.py", 1, 1, "RPT101", "m"), "python") is None
    assert convert.noqa_edit("x = 1  # noqa: RPT1\n", Finding("a.py", 1, 1, "RPT101", "m"), "python") is None
    # flake8 reads the first `# noqa` of the line: here one inside a string literal.
    assert convert.noqa_edit('x = "# noqa: E501"\n', Finding("a.py", 1, 1, "RPT101", "m"), "python") is None


def test_related_places_become_related_information_and_the_note_goes_to_the_hover(tmp_path) -> None:
    from raptor_lint.findings import Related

    settings = tmp_path / "settings.py"
    finding = Finding("bp.py", 3, 42, "RPT301", "url_prefix starts with '/api'", 3, 50,
                      note="The core loop registers this blueprint under /api already (incident 2026-03).",
                      related=(Related(str(settings), 7, 12, "API_PREFIX is set here"),))
    diagnostic = convert.to_diagnostic(["", "", "x" * 60], finding, "https://docs.example/rules.md")
    [related] = diagnostic.related_information
    assert related.location.uri == settings.as_uri()
    assert related.location.range.start == pos(6, 11) and related.message == "API_PREFIX is set here"
    hover = convert.hover_markdown(finding, "https://docs.example/rules.md")
    assert hover.startswith("**RPT301** ")
    assert "url_prefix starts with '/api'" in hover and "incident 2026-03" in hover
    assert "*Why:*" in hover and "(https://docs.example/rules.md#rpt301)" in hover
    # The rule's own name and story, not just their headings.
    from raptor_lint.registry import all_rules

    rule = all_rules()["RPT301"]
    assert hover.startswith(f"**RPT301** {rule.name}") and f"*Why:* {rule.why}" in hover
    assert "`raptor-lint rule RPT301`" in hover
    # Without a story: no related information, a hover with the message alone.
    plain = Finding("bp.py", 3, 42, "RPT301", "url_prefix starts with '/api'")
    assert convert.to_diagnostic(["", "", "x" * 60], plain, None).related_information is None
