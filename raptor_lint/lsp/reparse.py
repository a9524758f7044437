"""Re-parse only the top-level statements an edit touched.

Parsing is a fifth of a check in the editor (~25 ms of a 2,000-line module), and a
keystroke changes one statement.  CPython's parser has no incremental mode, but it
is context-free at the level of top-level statements: a module's tree is the trees of
its top-level statements, each parsed on its own (the checks that do depend on
context, like ``return`` outside a function or a late ``from __future__`` import,
belong to the compiler, not to ``ast.parse``).  So ``reparse`` parses the lines from
the first statement the edit touched up to the next untouched statement, shifts the
line numbers of the result, and splices it between the previous tree's untouched
statements, which it reuses as they are.

It answers only when that is certainly what a full parse would give, and None
otherwise (the caller parses the whole text): the line count changed (every later
statement would move), the edit touched the text before the first statement, the
text has carriage returns (line splitting would need the tokenizer's rules), or the
re-parsed lines are not valid on their own (a syntax error, or a bracket or string
the edit opened that the rest of the file may close: then only a full parse can say
where the error is).  The statement after the re-parsed lines starts in column 0 of
an unchanged line, so the tokenizer's state there (no open bracket, string or block)
is the same in both parses.  tests/test_lsp_reparse.py checks the equality on random
edits.
"""

from __future__ import annotations

import ast
import bisect

from raptor_lint.source import SourceError, parse_python


def reparse(old_text: str, old_tree: ast.Module, new_text: str, filename: str) -> ast.Module | None:
    """The tree ``parse_python(new_text)`` would give, built from ``old_tree`` (the tree
    of ``old_text``) by re-parsing only the changed statements; None when unsure."""
    body = old_tree.body
    if not body or "\r" in old_text or "\r" in new_text:
        return None
    if old_text.count("\n") != new_text.count("\n"):
        return None
    same_head = _common_prefix(old_text, new_text)
    if same_head == len(old_text) == len(new_text):
        return old_tree
    same_tail = _common_suffix(old_text, new_text, same_head)
    first_line = old_text.count("\n", 0, same_head) + 1
    last_line = old_text.count("\n", 0, len(old_text) - same_tail) + 1
    starts = [_first_line(statement) for statement in body]
    first = bisect.bisect_right(starts, first_line) - 1
    if first < 0:
        return None  # the edit starts before the first statement (module comments)
    last = bisect.bisect_right(starts, last_line) - 1
    lines = new_text.split("\n")
    begin = starts[first]
    end = starts[last + 1] - 1 if last + 1 < len(body) else len(lines)
    chunk = "\n".join(lines[begin - 1:end])
    if end < len(lines):
        chunk += "\n"
    try:
        piece = parse_python(chunk, filename)
    except SourceError:
        return None
    if begin > 1:
        for statement in piece.body:
            ast.increment_lineno(statement, begin - 1)
    return ast.Module(body=[*body[:first], *piece.body, *body[last + 1:]], type_ignores=[])


def _first_line(statement: ast.stmt) -> int:
    """The line a top-level statement starts on: its first decorator's, for a definition."""
    decorators = getattr(statement, "decorator_list", None)
    return decorators[0].lineno if decorators else statement.lineno


def _common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix (slice comparisons run at memcmp speed)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


def _common_suffix(a: str, b: str, prefix: int) -> int:
    """Length of the longest common suffix that does not overlap the common prefix."""
    low, high = 0, min(len(a), len(b)) - prefix
    while low < high:
        middle = (low + high + 1) // 2
        if a[len(a) - middle:] == b[len(b) - middle:]:
            low = middle
        else:
            high = middle - 1
    return low
