"""Pure conversions between the engine's findings and LSP objects (no server state).

The engine reports 1-based lines and 1-based columns counted in code points,
with exclusive ends (``raptor_lint.findings``).  LSP positions are 0-based lines
and 0-based characters counted in the negotiated position encoding: UTF-16
code units unless the client offered something else.  Lines are split the way
both CPython and LSP split them (``\\n``, ``\\r\\n``, ``\\r``), not by
``str.splitlines`` (which also splits on form feeds and other separators).
"""

from __future__ import annotations

import os
import re
import tokenize
from pathlib import Path
from typing import Sequence

from lsprotocol import types

from raptor_lint import noqa
from raptor_lint.findings import INTERNAL_ERROR, IO_ERROR, SYNTAX_ERROR, Edit, Finding, Fix
from raptor_lint.formats.sarif import RULES_URL as PUBLIC_RULES_URL
from raptor_lint.source import split_lines  # lines as LSP and CPython count them

SOURCE = "raptor-lint"
# Codes a ``# noqa`` comment cannot silence: they describe the run, not the code.
UNSUPPRESSIBLE = frozenset({SYNTAX_ERROR, IO_ERROR, INTERNAL_ERROR})


def units(text: str, encoding: str = types.PositionEncodingKind.Utf16) -> int:
    """Length of ``text`` in code units of the LSP position ``encoding``."""
    if encoding == types.PositionEncodingKind.Utf32 or text.isascii():
        # (ASCII: one unit per character in every encoding; most lines, and isascii is O(1)
        # for str objects CPython knows to be ASCII.)
        return len(text)
    if encoding == types.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8", "surrogatepass"))
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def to_lsp_position(lines: Sequence[str], line: int, column: int,
                    encoding: str = types.PositionEncodingKind.Utf16) -> types.Position:
    """1-based line / 1-based code-point column → LSP position, clamped into the text."""
    index = min(max(line - 1, 0), len(lines) - 1)
    text = lines[index]
    if line - 1 > index:  # past the end: the end of the last line
        return types.Position(line=index, character=units(text, encoding))
    chars = min(max(column - 1, 0), len(text))
    return types.Position(line=index, character=units(text[:chars], encoding))


def from_lsp_position(lines: Sequence[str], position: types.Position,
                      encoding: str = types.PositionEncodingKind.Utf16) -> tuple[int, int]:
    """LSP position → (1-based line, 1-based code-point column), clamped into the text."""
    index = min(max(position.line, 0), len(lines) - 1)
    text = lines[index]
    count = 0
    for chars, ch in enumerate(text):
        if count >= position.character:
            return index + 1, chars + 1
        count += units(ch, encoding)
    return index + 1, len(text) + 1


def finding_range(lines: Sequence[str], finding: Finding,
                  encoding: str = types.PositionEncodingKind.Utf16) -> types.Range:
    """The LSP range of a finding; a zero-width finding is widened to one character
    (editors draw nothing for an empty range at the end of a token)."""
    line, column = finding.line, finding.column
    end_line = finding.end_line if finding.end_line is not None else line
    end_column = finding.end_column if finding.end_column is not None else column
    if (end_line, end_column) <= (line, column):
        end_line, end_column = line, column + 1
    start = to_lsp_position(lines, line, column, encoding)
    end = to_lsp_position(lines, end_line, end_column, encoding)
    return types.Range(start=start, end=end)


def rule_url(code: str, base: str | None) -> str | None:
    """Link to the rule's section of docs/rules.md (anchors are the lowercase code)."""
    from raptor_lint.registry import all_rules

    if not base or code not in all_rules():
        return None
    return f"{base.split('#', 1)[0]}#{code.lower()}"


def default_docs_base() -> str:
    """``RAPTOR_LINT_DOCS_URL``, else the docs/rules.md of this checkout/installation as a
    file:// URL, else the public page."""
    configured = os.environ.get("RAPTOR_LINT_DOCS_URL", "").strip()
    if configured:
        return configured
    local = Path(__file__).resolve().parents[2] / "docs" / "rules.md"
    if local.is_file():
        return local.as_uri()
    return PUBLIC_RULES_URL


def severity(code: str) -> types.DiagnosticSeverity:
    return types.DiagnosticSeverity.Error if code in (SYNTAX_ERROR, IO_ERROR) else types.DiagnosticSeverity.Warning


def to_diagnostic(lines: Sequence[str], finding: Finding, docs_base: str | None,
                  encoding: str = types.PositionEncodingKind.Utf16) -> types.Diagnostic:
    href = rule_url(finding.code, docs_base)
    return types.Diagnostic(
        range=finding_range(lines, finding, encoding),
        message=finding.message,
        severity=severity(finding.code),
        code=finding.code,
        code_description=types.CodeDescription(href=href) if href else None,
        source=SOURCE,
        related_information=related_information(finding) or None,
    )


def related_information(finding: Finding) -> list[types.DiagnosticRelatedInformation]:
    """``Finding.related`` as LSP related information.  The other file is not open here, so
    its column is taken as UTF-16 units of an ASCII line (exact for the settings lines and
    SQL these point at; a client clamps the rest)."""
    out = []
    for related in finding.related:
        position = types.Position(line=max(related.line - 1, 0), character=max(related.column - 1, 0))
        out.append(types.DiagnosticRelatedInformation(
            location=types.Location(uri=Path(related.path).as_uri(),
                                    range=types.Range(start=position, end=position)),
            message=related.message))
    return out


def hover_markdown(finding: Finding, docs_base: str | None) -> str:
    """The story of a finding, for a hover: the rule's name, the message, this finding's
    note, and the rule's summary and why (its docs, as ``raptor-lint rule CODE`` shows)."""
    from raptor_lint.docs import where_documented
    from raptor_lint.registry import all_rules

    rule = all_rules().get(finding.code)
    title = f"**{finding.code}** {rule.name}" if rule is not None else f"**{finding.code}**"
    parts = [f"{title} (raptor-lint)", finding.message]
    if finding.note:
        parts.append(finding.note)
    if rule is not None:
        if rule.why:
            parts.append(f"*Why:* {rule.why}")
        if rule.runbook:
            parts.append(f"*Runbook:* {rule.runbook}")
        href = rule_url(finding.code, docs_base)
        more = f"[{finding.code} in the rules]({href})" if href else ""
        parts.append(" ".join(p for p in (more, f"`{where_documented(finding.code)}`") if p))
    return "\n\n".join(parts)


# ------------------------------------------------------------------ edits

def fix_text_edits(lines: Sequence[str], fix: Fix,
                   encoding: str = types.PositionEncodingKind.Utf16) -> list[types.TextEdit]:
    """The fix's edits of the finding's own file (``lines``) as LSP TextEdits."""
    return text_edits(lines, [edit for edit in fix.edits if edit.path is None], encoding)


def text_edits(lines: Sequence[str], edits: Sequence[Edit],
               encoding: str = types.PositionEncodingKind.Utf16) -> list[types.TextEdit]:
    """``edits`` (all of the file whose text is ``lines``) as LSP TextEdits."""
    return [
        types.TextEdit(
            range=types.Range(
                start=to_lsp_position(lines, edit.line, edit.column, encoding),
                end=to_lsp_position(lines, edit.end_line, edit.end_column, encoding),
            ),
            new_text=edit.content,
        )
        for edit in edits
    ]


def _python_tokens(text: str) -> list[tokenize.TokenInfo] | None:
    try:
        return noqa.python_tokens(text)  # lines as CPython counts them, also with lone CR line breaks
    except (tokenize.TokenError, SyntaxError, IndentationError):
        return None


def noqa_target_line(text: str, line: int, kind: str, tokens: list | None = None) -> int:
    """The 1-based line where a ``# noqa`` comment silences a finding on ``line``.

    flake8 searches the comment in all physical lines of the token run that
    holds the finding (a triple-quoted string, a backslash continuation), so
    the comment goes on the last of them — the only one where a comment is
    legal.  Outside Python every physical line stands alone.
    """
    if kind != "python":
        return line
    tokens = _python_tokens(text) if tokens is None else tokens
    first, last = None, None
    for tok in tokens or ():
        if tok.type in (tokenize.ENDMARKER, tokenize.DEDENT):
            continue
        first = tok.start[0] if first is None else min(first, tok.start[0])
        last = tok.end[0] if last is None else max(last, tok.end[0])
        if tok.type in (tokenize.NL, tokenize.NEWLINE):
            if first <= line <= last:
                return last
            first, last = None, None
    return line


def noqa_edit(text: str, finding: Finding, kind: str,
              encoding: str = types.PositionEncodingKind.Utf16) -> types.TextEdit | None:
    """A TextEdit adding ``finding.code`` to the line's ``# noqa`` comment (merged into
    an existing ``# noqa: CODES`` list), or None when a comment cannot help."""
    if finding.code in UNSUPPRESSIBLE:
        return None
    lines = split_lines(text)
    tokens = _python_tokens(text) if kind == "python" else None
    target = noqa_target_line(text, finding.line, kind, tokens)
    if not 0 < target <= len(lines):
        return None
    line_text = lines[target - 1]
    code = finding.code
    # flake8 reads the first `# noqa` of the line, wherever it is.
    match = noqa.NOQA_INLINE.search(line_text)
    if match is not None:
        codes_text = match.group("codes")
        if codes_text is None or noqa.line_is_suppressed(match.group(0), code):
            return None  # already silenced: nothing to add
        if not _in_comment(match.start(), target, kind, tokens):
            return None  # e.g. "# noqa: E501" inside a string literal: editing it would change the code
        if re.search(r",\s", codes_text):
            separator = ", "
        elif "," in codes_text or not re.search(r"\w\s+\w", codes_text):
            separator = ","
        else:
            separator = " "
        column = match.start("codes") + len(codes_text.rstrip(", \t"))
        position = to_lsp_position(lines, target, column + 1, encoding)
        return types.TextEdit(range=types.Range(start=position, end=position), new_text=f"{separator}{code}")
    content_end = len(line_text.rstrip())
    start = to_lsp_position(lines, target, content_end + 1, encoding)
    end = to_lsp_position(lines, target, len(line_text) + 1, encoding)
    prefix = "  " if content_end else ""
    return types.TextEdit(range=types.Range(start=start, end=end), new_text=f"{prefix}# noqa: {code}")


def _in_comment(column: int, line: int, kind: str, tokens: list | None) -> bool:
    """Is 0-based ``column`` of ``line`` inside a comment?  Only Python is tokenized;
    elsewhere ``# noqa`` is searched as plain text, like the engine does."""
    if kind != "python" or tokens is None:
        return True
    return any(tok.type == tokenize.COMMENT and tok.start[0] == line and tok.start[1] <= column
               for tok in tokens)
