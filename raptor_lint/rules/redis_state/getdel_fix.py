"""RPT202's fix: ``val = r.get(k)`` … ``r.delete(k)`` → ``val = r.getdel(k)``, a libcst rewrite.

libcst is the fix engine for rewrites that restructure code (SPEC §5): it keeps every
byte it is not asked to change — formatting, comments, line endings (a file with old Mac
``\r`` endings is handed to it with ``\n`` and turned back).  It is imported
and run only here, only when a file has a fixable RPT202 (never on the lint path
otherwise), and only on the text of the top-level statement(s) that hold the pair, so
the rest of the module (deep expressions libcst may not survive, other code) is never
given to it.

The rule (``raptor_lint.rules.redis_state``) decides *whether* the pair may be fused
(nothing between them reads or writes the key, the read is bound to a name, the delete is
an expression statement); this module only rewrites: the read's method becomes
``getdel``, the delete statement goes (the comment lines above it stay, attached to what
follows), and the result must be what the original was outside the span from the read's
statement to the end of the delete's line, and must parse, or there is no fix.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Any, Sequence

from raptor_lint.findings import Edit
from raptor_lint.source import LINE_BREAK


@dataclass(frozen=True)
class GetdelSite:
    """Where the pair is, 1-based lines and code-point columns of ``text``."""

    chunk_first_line: int  # the top-level statement(s) handed to libcst: first line
    chunk_last_line: int  # ... and last line
    get_statement: tuple[int, int]  # start of ``val = r.get(k)``
    get_call: tuple[int, int]  # start of the ``r.get(k)`` call
    delete_call: tuple[int, int]  # start of the ``r.delete(k)`` call
    delete_last_line: int  # the delete statement's last line


def line_starts(text: str) -> list[int]:
    """The offset where each line of ``text`` starts: computed once per file by the caller
    and shared by all its pairs (once per pair was quadratic in files with thousands)."""
    return [0] + [match.end() for match in LINE_BREAK.finditer(text)]


def getdel_edit(text: str, site: GetdelSite, starts: list[int] | None = None) -> Edit | None:
    """The edit that fuses the pair, or None when the rewrite cannot be made exactly.
    ``starts``: ``line_starts(text)``, when the caller has it."""
    try:
        return _edit(text, site, starts if starts is not None else line_starts(text))
    except Exception:  # noqa: BLE001 - libcst's parser or a surprise: no fix, never a crash
        return None


def _edit(text: str, site: GetdelSite, starts: list[int]) -> Edit | None:
    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    lines = len(starts)
    first, last = site.chunk_first_line, site.chunk_last_line
    if not (1 <= first <= site.get_statement[0] and site.delete_last_line <= last <= lines):
        return None
    base = starts[first - 1]
    chunk = text[base:starts[last] if last < lines else len(text)]

    # libcst reads "\n" and "\r\n" line endings, not old Mac "\r": such a chunk is rewritten
    # with "\n" and turned back (the columns do not move).
    lone_cr = set(LINE_BREAK.findall(chunk)) == {"\r"}
    source = chunk.replace("\r", "\n") if lone_cr else chunk
    wrapper = MetadataWrapper(cst.parse_module(source), unsafe_skip_copy=True)
    positions = wrapper.resolve(PositionProvider)
    module = wrapper.module

    def at(node: Any) -> tuple[int, int]:
        start = positions[node].start
        return (start.line + first - 1, start.column + 1)

    class Finder(cst.CSTVisitor):
        get_call: Any = None
        delete_statement: Any = None

        def visit_Call(self, node: Any) -> None:
            if at(node) == site.get_call and isinstance(node.func, cst.Attribute) \
                    and node.func.attr.value == "get":
                self.get_call = node

        def visit_SimpleStatementLine(self, node: Any) -> None:
            if len(node.body) != 1 or not isinstance(node.body[0], cst.Expr):
                return
            value = node.body[0].value
            call = value.expression if isinstance(value, cst.Await) else value
            if isinstance(call, cst.Call) and at(call) == site.delete_call:
                self.delete_statement = node

    finder = Finder()
    module.visit(finder)
    if finder.get_call is None or finder.delete_statement is None:
        return None

    class Rewrite(cst.CSTTransformer):
        dropped = False

        def leave_Call(self, original: Any, updated: Any) -> Any:
            if original is finder.get_call:
                return updated.with_changes(
                    func=updated.func.with_changes(attr=updated.func.attr.with_changes(value="getdel")))
            return updated

        def _drop(self, original: Sequence[Any], updated: Any) -> Any:
            for index, statement in enumerate(original):
                if statement is finder.delete_statement:
                    self.dropped = True
                    body = list(updated.body)
                    comments = body.pop(index).leading_lines  # the lines above the delete stay
                    if index < len(body):
                        body[index] = body[index].with_changes(
                            leading_lines=[*comments, *body[index].leading_lines])
                        return updated.with_changes(body=body)
                    return updated.with_changes(body=body, footer=[*comments, *updated.footer])
            return updated

        def leave_IndentedBlock(self, original: Any, updated: Any) -> Any:
            return self._drop(original.body, updated)

        def leave_Module(self, original: Any, updated: Any) -> Any:
            return self._drop(original.body, updated)

    rewrite = Rewrite()
    new_chunk = module.visit(rewrite).code
    if lone_cr:
        new_chunk = new_chunk.replace("\n", "\r")
    if not rewrite.dropped:
        return None

    # The span: from the read's statement to the end of the delete's line (its line break
    # included, when there is one).  Outside it, the rewrite must equal the original.
    line, column = site.get_statement
    start = starts[line - 1] + column - 1 - base
    end_line = site.delete_last_line
    if end_line < lines:
        end, edit_end = starts[end_line] - base, (end_line + 1, 1)
    else:
        end, edit_end = len(text) - base, (end_line, len(text) - starts[end_line - 1] + 1)
    tail = len(chunk) - end
    if new_chunk[:start] != chunk[:start] or len(new_chunk) < start + tail \
            or new_chunk[len(new_chunk) - tail:] != chunk[end:]:
        return None
    content = new_chunk[start:len(new_chunk) - tail]
    # The chunk is whole top-level statements and the rest of the file is unchanged, so the
    # file parses when the rewritten chunk does (parsing the whole file once per pair was
    # quadratic; --fix still compiles the whole result before it writes).
    try:
        ast.parse(new_chunk)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return Edit(line, column, edit_end[0], edit_end[1], content)
