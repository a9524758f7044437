"""The language server's partial re-parse (raptor_lint.lsp.reparse) gives exactly the tree a
full parse gives, or declines.

The property: for random edits (quotes, brackets, backslashes, new definitions,
decorators, line breaks...) of every Python fixture and example, chained so a reused
tree is re-used again, ``reparse`` either returns None or a tree whose ``ast.dump``
with positions equals that of ``parse_python`` of the new text; and it never returns a
tree for text that does not parse.  ``make fuzz`` draws 20x more examples.
"""

from __future__ import annotations

import ast
import os

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st

from conftest import EXAMPLES, FIXTURES
from raptor_lint.lsp.reparse import reparse
from raptor_lint.source import SourceError, parse_python

FUZZ = os.environ.get("RAPTOR_LINT_HYPOTHESIS_PROFILE") == "raptor-fuzz"
EDITS = settings(max_examples=6000 if FUZZ else 300, deadline=None, derandomize=not FUZZ,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _parses(text: str) -> bool:
    try:
        parse_python(text, "x.py")
    except SourceError:
        return False
    return True


TEXTS = sorted(
    text for path in sorted([*FIXTURES.rglob("*.py"), *EXAMPLES.rglob("*.py")])
    if ".raptor_lint_cache" not in path.parts
    and _parses(text := path.read_text(encoding="utf-8")) and "\r" not in text
)
SNIPPETS = [
    "", "x", "_cache", " ", "    ", "(", ")", "[", "]", "{", "}", ":", ",", ".", "=", "'", '"',
    '"""', "'''", "\\", "#", "@", "@bp.route('/x')", "def f():", "class C:", "pass", "return",
    "lambda: 0", "global _cache", "await x", "yield", "import os", "from __future__ import annotations",
    "f'{", "}'", "\n", "\n    ", "\n\n", "\t", "\x0c", "é", "if x:",
]


def _dump(tree: ast.AST) -> str:
    return ast.dump(tree, include_attributes=True)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::SyntaxWarning")
@EDITS
@given(text=st.sampled_from(TEXTS), data=st.data())
def test_reparse_equals_a_full_parse_or_declines(text: str, data) -> None:
    current, tree = text, parse_python(text, "x.py")
    for _ in range(data.draw(st.integers(1, 3), label="edits")):
        start = data.draw(st.integers(0, len(current)), label="at")
        removed = data.draw(st.integers(0, 16), label="removed")
        inserted = "".join(data.draw(st.lists(st.sampled_from(SNIPPETS), max_size=3), label="inserted"))
        new = current[:start] + inserted + current[start + removed:]
        note(f"edit at {start}: {current[start:start + removed]!r} -> {inserted!r}")
        try:
            full = parse_python(new, "x.py")
        except SourceError:
            full = None
        partial = reparse(current, tree, new, "x.py")
        event("reparsed" if partial is not None else "declined" if full is not None else "syntax error")
        if partial is not None:
            assert full is not None, "reparse built a tree for text that does not parse"
            assert _dump(partial) == _dump(full)
        if full is None:
            return
        current, tree = new, partial if partial is not None else full


SERVICE = '''\
"""Orders."""

import redis

_recent: dict[int, dict] = {}


@bp.route("/a")
def first(order_id: int):
    key = f"orders:{order_id}"
    return key


@bp.route("/b")
def second():
    _recent[1] = {}
    return None
'''


def test_a_keystroke_reparses_one_statement_and_reuses_the_others() -> None:
    tree = parse_python(SERVICE, "svc.py")
    new = SERVICE.replace('f"orders:{order_id}"', 'f"orders:v2:{order_id}"')
    partial = reparse(SERVICE, tree, new, "svc.py")
    assert partial is not None and _dump(partial) == _dump(parse_python(new, "svc.py"))
    # Docstring, import, the module dict and second(): the very same objects.
    assert [a is b for a, b in zip(partial.body, tree.body)] == [True, True, True, False, True]


def test_reparse_declines_when_it_cannot_be_sure() -> None:
    tree = parse_python(SERVICE, "svc.py")
    moved = SERVICE.replace("    return key\n", "    log(key)\n    return key\n")  # a line more
    opened = SERVICE.replace('    return key\n', '    return """key\n')  # a string left open
    carriage = SERVICE.replace("\n", "\r\n")
    assert reparse(SERVICE, tree, moved, "svc.py") is None
    assert reparse(SERVICE, tree, opened, "svc.py") is None
    # An edit in a comment above the first statement.
    assert reparse("# a\n" + SERVICE, parse_python("# a\n" + SERVICE, "svc.py"),
                   "# b\n" + SERVICE, "svc.py") is None
    assert reparse(SERVICE, tree, carriage, "svc.py") is None
    assert reparse(SERVICE, tree, SERVICE, "svc.py") is tree
