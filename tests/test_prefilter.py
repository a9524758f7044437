"""The pre-filters are safe, and a file no family wants costs no tree.

Every family's ``prefilter(text)`` may only say False when the family cannot
report anything on the file.  The proof: every fixture project and the example
app, linted with and without pre-filters, give identical findings (positions,
messages and fixes).  Then the engine's side: a Python file whose every
applicable pre-filter says no is syntax-checked without building a tree
(``compiles_quickly``, which must agree with the real gate); a file a family
wants gets one ``ast`` tree, and libcst never parses anything on the lint path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import EXAMPLES, FIXTURES, fixture_config
from raptor_lint.config import Config
from raptor_lint.discovery import iter_files
from raptor_lint.engine import Engine
from raptor_lint.rules.base import Checker, Rule
from raptor_lint.source import SourceError, compiles_quickly, parse_python

PROJECTS = sorted(p for p in FIXTURES.iterdir() if p.is_dir()) if FIXTURES.is_dir() else []


def _lint_all(project: Path, use_prefilter: bool) -> dict[str, list[tuple]]:
    config = fixture_config(project)
    engine = Engine(config, use_prefilter=use_prefilter)
    cwd = os.getcwd()
    os.chdir(project)
    try:
        results = [engine.lint_path(path, kind) for path, kind in iter_files([Path(".")], config)]
    finally:
        os.chdir(cwd)
    return {r.display_path: [(f.line, f.column, f.end_line, f.end_column, f.code, f.message, f.fix)
                             for f in r.findings] for r in results}


@pytest.mark.parametrize("project", [*PROJECTS, EXAMPLES], ids=lambda p: p.name)
def test_prefilters_change_no_finding(project: Path) -> None:
    with_prefilter = _lint_all(project, use_prefilter=True)
    without = _lint_all(project, use_prefilter=False)
    assert with_prefilter == without


# ------------------------------------------------------------ the fast gate
TRICKY_SOURCES = [
    "def ok():\n    return 1\n",
    "def broken(:\n",
    "return 1\n",                                   # valid for ast, not for the compiler
    "nonlocal x\n",
    "from __future__ import braces\n",
    "from __future__ import annotations\nx: int = 1\n",
    "def f():\n    x = 1\n    global x\n",
    "x = [1,  # type: int\n     2]\n",             # misplaced type comment: the gate rejects it
    "print(1)  # type: int\n",
    "x = 1  # type: ignore\n",
    "def f(a,  # type: int\n      ):\n    pass\n",
    "s = 'a\0b'\n",
    "x = '\\d'\n",                                  # invalid escape: a warning, not an error
    "match x:\n    case [1, *rest]:\n        pass\n",
    "x = (" * 250 + ")" * 250 + "\n",                # too deeply nested for the parser
    "async def f():\n    await g()\n",
    "await g()\n",
    "\tif x:\n  pass\n",
    "if x:\n\tpass\n        pass\n",
    "x = 1 +\n",
    "class A:\n    def f(self):\n        super().__init__()\n",
    "x = f'{a!r:>{width}}'\n",
    "lambda: (yield)\n",
]
CHAINS = [
    *("x = " + "+".join(["a"] * n) + "\n" for n in range(2970, 3010)),
    *("x = " + "-" * n + "1\n" for n in range(2970, 3010)),
    *("x = " + "not " * n + "1\n" for n in range(2970, 3010, 3)),
]


def _gate(source: str):
    try:
        parse_python(source, "f.py")
        return None
    except SourceError as exc:
        return exc.message, exc.line, exc.column


def _fast(source: str):
    if compiles_quickly(source, "f.py"):
        return None
    return _gate(source)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::SyntaxWarning")
@pytest.mark.parametrize("source", TRICKY_SOURCES + CHAINS, ids=lambda s: repr(s[:30]) + f"/{len(s)}")
def test_quick_syntax_check_never_disagrees_with_the_gate(source: str) -> None:
    assert _fast(source) == _gate(source)


def test_quick_syntax_check_agrees_on_every_fixture_and_example_file() -> None:
    for path in [*FIXTURES.rglob("*.py"), *EXAMPLES.rglob("*.py")]:
        source = path.read_bytes().decode("utf-8", "replace")
        assert _fast(source) == _gate(source), path


# -------------------------------------------------- which files get a tree
class _Counter:
    def __init__(self, monkeypatch) -> None:
        import libcst

        import raptor_lint.engine as engine_module

        self.cst = 0
        self.ast = 0
        real_cst, real_ast = libcst.parse_module, engine_module.parse_python

        def cst(*args, **kwargs):
            self.cst += 1
            return real_cst(*args, **kwargs)

        def ast(*args, **kwargs):
            self.ast += 1
            return real_ast(*args, **kwargs)

        monkeypatch.setattr(libcst, "parse_module", cst)
        monkeypatch.setattr(engine_module, "parse_python", ast)


INERT = '"""Money helpers."""\n\n\ndef cents(amount: float) -> int:\n    return round(amount * 100)\n'


def test_a_file_no_family_wants_is_never_parsed_into_a_tree(tmp_path: Path, monkeypatch) -> None:
    counter = _Counter(monkeypatch)
    path = tmp_path / "money.py"
    path.write_text(INERT, encoding="utf-8")
    result = Engine(Config(root=tmp_path)).lint_path(path, "python")
    assert result.findings == []
    assert (counter.ast, counter.cst) == (0, 0), "a family's pre-filter accepts an inert module"
    broken = tmp_path / "broken.py"
    broken.write_text("def cents(:\n", encoding="utf-8")
    assert [f.code for f in Engine(Config(root=tmp_path)).lint_path(broken, "python").findings] == ["E999"]


class _AstOnly(Checker):
    family = "ast-only-test"
    rules = (Rule("RPT992", "ast-only-test", "t", "t", "t", "x", "y"),)
    prefilter_rules = frozenset({"RPT992"})

    def prefilter(self, text: str) -> bool:
        return "WANTED" in text

    def check(self, ctx):
        assert ctx.ast_tree is not None
        return []


class _Other(_AstOnly):
    family = "other-test"
    rules = (Rule("RPT993", "other-test", "t", "t", "t", "x", "y"),)
    prefilter_rules = frozenset({"RPT993"})

    def prefilter(self, text: str) -> bool:
        return "OTHER" in text


class _BrokenPrefilter(_AstOnly):
    family = "broken-prefilter-test"
    rules = (Rule("RPT994", "broken-prefilter-test", "t", "t", "t", "x", "y"),)
    prefilter_rules = frozenset({"RPT994"})

    def prefilter(self, text: str) -> bool:
        raise ValueError("oops")

    def check(self, ctx):
        return [ctx.finding("RPT994", (1, 1), "ran anyway")]


@pytest.mark.parametrize("text, trees", [
    ("x = 1\n", (0, 0)),                 # nobody wants it: syntax check only
    ("x = 'WANTED'\n", (1, 0)),          # one family: one ast tree, never a CST
    ("x = 'WANTED OTHER'\n", (1, 0)),    # two families share the one tree
    ("x = 'OTHER'\n", (1, 0)),
])
def test_trees_are_built_only_for_families_that_want_them(tmp_path, monkeypatch, text, trees) -> None:
    monkeypatch.setattr("raptor_lint.engine.checker_classes", lambda: (_AstOnly, _Other))
    counter = _Counter(monkeypatch)
    path = tmp_path / "m.py"
    path.write_text(text, encoding="utf-8")
    assert Engine(Config(root=tmp_path)).lint_path(path, "python").findings == []
    assert (counter.ast, counter.cst) == trees


def test_a_failing_prefilter_runs_its_family(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr("raptor_lint.engine.checker_classes", lambda: (_BrokenPrefilter,))
    path = tmp_path / "m.py"
    path.write_text("x = 1\n", encoding="utf-8")
    assert [f.code for f in Engine(Config(root=tmp_path)).lint_path(path, "python").findings] == ["RPT994"]


def test_a_run_without_sql_never_imports_sqlglot(tmp_path) -> None:
    """sqlglot costs ~0.2 s to import: a pre-commit run over files with no SQL sink (and
    ``--version``/``rules``) must not pay it.  A file with SQL still imports it."""
    import subprocess
    import sys

    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    (tmp_path / "views.py").write_text("def health():\n    return {'ok': True}\n", encoding="utf-8")
    probe = (
        "import sys\n"
        "from raptor_lint.cli import main\n"
        "try:\n"
        "    main(['check', '--no-cache', '--exit-zero', *sys.argv[1:]])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('sqlglot' in sys.modules, file=sys.stderr)\n"
    )

    def imports_sqlglot(*args: str) -> bool:
        proc = subprocess.run([sys.executable, "-c", probe, *args], cwd=tmp_path, capture_output=True, text=True)
        return proc.stderr.strip().splitlines()[-1] == "True"

    assert not imports_sqlglot("views.py")
    (tmp_path / "report.py").write_text(
        "def report(conn):\n    return conn.execute('SELECT MAX(a, b) FROM t')\n", encoding="utf-8")
    assert imports_sqlglot("report.py")


def test_the_fast_word_test_agrees_with_the_regex() -> None:
    """The flags/config family's pre-filter looks for the word ``text`` without a
    leading-``\\b`` regex (which defeats re's literal search): same answer always."""
    import re

    from hypothesis import given, settings, strategies as st

    from raptor_lint.rules.project_rules import _mentions_word_text

    pieces = st.sampled_from(["text", "Text", "con", "s", "_", "1", "é", ".", "(", " ", "\n", "ß", "٣"])

    @settings(max_examples=300, deadline=None)
    @given(st.lists(pieces, max_size=12).map("".join))
    def agree(source: str) -> None:
        assert _mentions_word_text(source) == (re.search(r"\btext\b", source) is not None)

    agree()


def test_no_libcst_on_the_lint_path() -> None:
    """Analysis runs on CPython's ``ast`` only (libcst costs 25-100x; it is kept for fixes
    that restructure code): linting the example app with every family never imports it."""
    script = (
        "import sys\n"
        "from raptor_lint.cli import main\n"
        "try:\n"
        "    main(['check', '--no-cache', '--jobs', '1', '.'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('LIBCST', 'libcst' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=EXAMPLES, capture_output=True, text=True,
                          timeout=300)
    assert proc.stdout.splitlines()[-1] == "LIBCST False", proc.stdout[-2000:] + proc.stderr[-2000:]
