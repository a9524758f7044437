"""Fault isolation and deep code: no input and no bug in one rule family takes the run
(or the process) down.

* An exception inside one family on one file is an ``RPT000`` finding naming the
  family, the file and a short reason; every other family and file still runs, and
  the CLI exits 2.  Checked in-process with an injected failing family, and across
  process boundaries (CLI, flake8, LSP) with the documented test hook
  ``RAPTOR_LINT_INJECT_FAULT`` — once for every family in the registry, so
  families that land later are covered without editing this file.
* Deep but valid code (long ``elif`` chains, nested unary operators and calls; also
  the constructs that crash libcst, which is not on the lint path) is linted by every
  family: a family whose recursive ``ast`` walk exhausts the recursion limit runs
  again on a large helper stack (``raptor_lint.source.run_with_deep_stack``).
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from conftest import BIN, EXAMPLES, REPO, expectations, fixture_config
from raptor_lint import engine as engine_module
from raptor_lint.config import Config
from raptor_lint.engine import FAULT_ENV, FAULT_PATHS_ENV, Engine
from raptor_lint.findings import INTERNAL_ERROR
from raptor_lint.registry import checker_classes
from raptor_lint.rules.base import Checker, Rule
from raptor_lint.runner import CheckOptions, run_check
from raptor_lint.source import in_deep_stack, run_with_deep_stack

FAMILIES = list(checker_classes())
PYTHON_FAMILIES = [cls for cls in FAMILIES if "python" in cls.file_kinds]


def _rule(code: str) -> Rule:
    return Rule(code, "test-rule", "test", "test", "test", "x = 1", "x = 1")


class Boom(Checker):
    """A family with a bug: raises on every file."""

    family = "Boom (test)"
    rules = (_rule("RPT990"),)

    def check(self, ctx):
        raise KeyError("no such thing")


class AstProbe(Checker):
    """An ast family with a recursive visitor (as several real families have)."""

    family = "AST probe (test)"
    rules = (_rule("RPT992"),)

    def check(self, ctx):
        class Depth(ast.NodeVisitor):
            deepest = 0

            def generic_visit(self, node, depth=0):  # recursive on purpose
                self.deepest = max(self.deepest, depth)
                for child in ast.iter_child_nodes(node):
                    self.generic_visit(child, depth + 1)

        visitor = Depth()
        visitor.generic_visit(ctx.ast_tree)
        yield ctx.finding("RPT992", (1, 1), f"depth {visitor.deepest}")


class Malformed(Checker):
    family = "Malformed (test)"
    rules = (_rule("RPT993"),)

    def check(self, ctx):
        yield ctx.finding("RPT993", (None, 1), "a finding without a line")


def _engine(monkeypatch, *extra: type[Checker], root: Path = REPO, config: Config | None = None) -> Engine:
    classes = (*checker_classes(), *extra)
    monkeypatch.setattr(engine_module, "checker_classes", lambda: classes)
    monkeypatch.setattr("raptor_lint.registry.all_rules", _rules_with(extra))
    return Engine(config or Config(root=root))


def _rules_with(extra):
    from raptor_lint.registry import all_rules

    rules = dict(all_rules())
    for cls in extra:
        rules.update({rule.code: rule for rule in cls.rules})
    return lambda: rules


def _lint_examples(monkeypatch, *extra: type[Checker]):
    classes = (*checker_classes(), *extra)
    monkeypatch.setattr(engine_module, "checker_classes", lambda: classes)
    config = fixture_config(EXAMPLES)
    monkeypatch.chdir(EXAMPLES)
    return run_check(config, CheckOptions(paths=[Path(".")], use_cache=False))


def _expected_examples() -> set[tuple[str, int, str]]:
    return {
        (p.relative_to(EXAMPLES).as_posix(), line, code)
        for p in EXAMPLES.rglob("*") if p.is_file()
        for line, code in expectations(p)
    }


# ------------------------------------------------------------ fault isolation

def test_a_failing_family_becomes_rpt000_and_everything_else_still_runs(monkeypatch) -> None:
    result = _lint_examples(monkeypatch, Boom)
    findings = result.findings
    others = {(f.path, f.line, f.code) for f in findings if f.code != INTERNAL_ERROR}
    assert others == _expected_examples()
    internal = [f for f in findings if f.code == INTERNAL_ERROR]
    python_files = {r.display_path for r in result.files if r.kind == "python"}
    assert {f.path for f in internal} == python_files  # one per Python file, nothing else
    for finding in internal:
        assert "Boom (test) (RPT990)" in finding.message
        assert "KeyError" in finding.message and "no such thing" in finding.message
        assert "test_reliability.py" in finding.message  # where it was raised
        assert "please report" in finding.message
    assert result.has_internal_error  # the CLI turns this into exit status 2


@pytest.mark.parametrize("family", FAMILIES, ids=lambda cls: cls.__name__)
def test_every_family_is_isolated_from_the_others(family, monkeypatch) -> None:
    """Inject a fault into one real family: exactly its findings turn into RPT000."""
    monkeypatch.setenv(FAULT_ENV, family.codes()[0])
    result = _lint_examples(monkeypatch)
    mine = set(family.codes())
    expected = {item for item in _expected_examples() if item[2] not in mine}
    actual = {(f.path, f.line, f.code) for f in result.findings if f.code != INTERNAL_ERROR}
    assert actual == expected
    internal = [f for f in result.findings if f.code == INTERNAL_ERROR]
    files_of_kind = {r.display_path for r in result.files if r.kind in family.file_kinds}
    assert {f.path for f in internal} == files_of_kind
    assert all(family.family in f.message and "fault injected" in f.message for f in internal)


def test_fault_injection_can_be_limited_to_some_paths(monkeypatch) -> None:
    family = PYTHON_FAMILIES[0]
    monkeypatch.setenv(FAULT_ENV, family.family)
    monkeypatch.setenv(FAULT_PATHS_ENV, "*/routes/*")
    result = _lint_examples(monkeypatch)
    internal = {f.path for f in result.findings if f.code == INTERNAL_ERROR}
    assert internal and all("/routes/" in path for path in internal)


def test_a_malformed_finding_is_the_familys_internal_error(monkeypatch) -> None:
    engine = _engine(monkeypatch, Malformed)
    result = engine.lint_text("import os\n", Path("app.py"), "python", "app.py")
    [finding] = [f for f in result.findings if f.code == INTERNAL_ERROR]
    assert "Malformed (test)" in finding.message and "malformed finding" in finding.message


def test_a_failure_in_the_engine_itself_costs_one_file_not_the_run(monkeypatch) -> None:
    from raptor_lint import noqa

    real = noqa.python_noqa_lines

    def flaky(text: str):
        if "webauthn" in text:
            raise UnicodeError("boom in noqa")
        return real(text)

    monkeypatch.setattr(noqa, "python_noqa_lines", flaky)
    result = _lint_examples(monkeypatch, Boom)
    broken = {f.path for f in result.findings if f.code == INTERNAL_ERROR and "engine" in f.message}
    assert broken and all("webauthn" in (EXAMPLES / p).read_text(encoding="utf-8") for p in broken)
    fine = {f.path for f in result.findings if f.code != INTERNAL_ERROR}
    assert fine - broken  # the other files still report their findings


# ------------------------------------------------------------ across processes

def _run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def _fault_family() -> type[Checker]:
    """A Python family whose findings in the example app come from more than one file."""
    expected = _expected_examples()
    for family in PYTHON_FAMILIES:
        if len({path for path, _, code in expected if code in family.codes() and path.endswith(".py")}) > 1:
            return family
    pytest.skip("no Python family with findings in two example files has landed yet")


def test_cli_reports_rpt000_and_exits_2_with_other_findings_intact() -> None:
    family = _fault_family()
    proc = _run([str(BIN / "raptor-lint"), "check", "--no-cache", "--format", "json", "."], EXAMPLES,
                {FAULT_ENV: family.codes()[0]})
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    findings = json.loads(proc.stdout)
    others = {(f["path"], f["line"], f["code"]) for f in findings if f["code"] != INTERNAL_ERROR}
    assert others == {item for item in _expected_examples() if item[2] not in family.codes()}
    assert any(f["code"] == INTERNAL_ERROR and family.family in f["message"] for f in findings)


def test_flake8_run_survives_a_failing_family_and_reports_every_file() -> None:
    family = _fault_family()
    fmt = "%(path)s:%(row)d:%(col)d: %(code)s %(text)s"
    proc = _run([str(BIN / "flake8"), "--select", "RPT", "--format", fmt, "."], EXAMPLES,
                {FAULT_ENV: family.codes()[0]})
    assert proc.returncode == 1, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr == ""
    lines = [line.removeprefix("./") for line in proc.stdout.splitlines()]
    reported = {(line.split(":")[0], int(line.split(":")[1]), line.split()[1]) for line in lines}
    expected_py = {item for item in _expected_examples()
                   if item[0].endswith(".py") and item[2] not in family.codes()}
    assert {item for item in reported if item[2] != INTERNAL_ERROR} == expected_py
    python_files = {p.relative_to(EXAMPLES).as_posix() for p in EXAMPLES.rglob("*.py")}
    assert {path for path, _, code in reported if code == INTERNAL_ERROR} == python_files


@pytest.mark.asyncio
async def test_lsp_publishes_rpt000_and_stays_alive(tmp_path: Path) -> None:
    from lsprotocol import types
    from pytest_lsp import ClientServerConfig, client_capabilities

    family = _fault_family()
    other = next((cls for cls in PYTHON_FAMILIES if cls is not family and _bad_python_example(cls)), None)
    if other is None:
        pytest.skip("needs two Python families")
    code, source = _bad_python_example(other)
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    config = ClientServerConfig(server_command=[sys.executable, "-m", "raptor_lint", "lsp"],
                                server_env={**os.environ, FAULT_ENV: family.codes()[0]})
    client = await config.start()
    try:
        await client.initialize_session(types.InitializeParams(
            capabilities=client_capabilities("visual-studio-code"), root_uri=tmp_path.as_uri(),
            initialization_options={"debounce": 0.01}))
        path = tmp_path / "app" / "module.py"
        path.parent.mkdir()
        uri = path.as_uri()
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=source)))
        first = await _diagnostics(client, uri, lambda d: INTERNAL_ERROR in _codes(d) and code in _codes(d))
        assert any(family.family in d.message for d in first if d.code == INTERNAL_ERROR)
        # Still alive and still linting: an edit gets fresh diagnostics.
        client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text="import os\n")]))
        second = await _diagnostics(client, uri, lambda d: code not in _codes(d))
        assert INTERNAL_ERROR in _codes(second)
        await client.shutdown_session()
    finally:
        await client.stop()


def _bad_python_example(family: type[Checker]) -> tuple[str, str] | None:
    for rule in family.rules:
        if rule.example_path.endswith(".py") and not rule.example_project:
            return rule.code, rule.bad
    return None


def _codes(diagnostics) -> set[str]:
    return {str(d.code) for d in diagnostics}


async def _diagnostics(client, uri: str, predicate, wait: float = 60.0):
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait  # a hang guard, not a timing assertion
    while True:
        current = client.diagnostics.get(uri)
        if current is not None and predicate(list(current)):
            return list(current)
        assert loop.time() < deadline, f"diagnostics never matched: {current}"
        await asyncio.sleep(0.02)


# ------------------------------------------------------------------ deep code

def _construct(kind: str, n: int) -> str:
    """Valid Python that CPython's compiler accepts, ``n`` elements long or deep."""
    if kind == "and":
        return "ok = " + " and ".join(f"a{i}" for i in range(n)) + "\n"
    if kind == "or":
        return "ok = " + " or ".join(["flag"] * n) + "\n"
    if kind == "strings":
        return "TABLE = (\n" + "".join(f"    '\\x{i % 256:02x}'\n" for i in range(n)) + ")\n"
    if kind == "fstrings":
        return "x = (" + " ".join('f"{y}"' for _ in range(n)) + ")\n"
    if kind == "import":
        return "import " + ".".join(f"m{i}" for i in range(n)) + "\n"
    if kind == "from-import":
        return "from " + ".".join(f"m{i}" for i in range(n)) + " import name\n"
    if kind == "comprehension":
        return "x = [1 " + " ".join(f"for a{i} in b" for i in range(n)) + "]\n"
    if kind == "plus":
        return "x = " + " + ".join(["a"] * n) + "\n"
    if kind == "elif":
        return "if a:\n    pass\n" + "".join(f"elif a{i}:\n    pass\n" for i in range(n))
    if kind == "unary":
        return "x = " + "-" * n + "a\n"
    if kind == "calls":
        return "x = " + "f(" * n + ")" * n + "\n"
    raise AssertionError(kind)


# Flat in ``ast`` but one level an element in libcst: each of these crashed libcst 1.9 or
# gave a false ParserSyntaxError (STACK-NOTES); then nesting in ``ast`` itself.
DEEP_CODE = [("and", 7_100), ("or", 20_000), ("strings", 3_001), ("fstrings", 3_500),
             ("import", 6_000), ("from-import", 6_000), ("comprehension", 3_001),
             ("plus", 1_500), ("elif", 700), ("unary", 1_500), ("calls", 150)]


@pytest.mark.parametrize("kind, n", DEEP_CODE)
def test_deep_valid_code_is_linted_by_every_family(kind: str, n: int, monkeypatch) -> None:
    """Every real family (pre-filters off, so each one reads the file) and a recursive ast
    family: no RPT000, and the recursion limit is restored."""
    engine = _engine(monkeypatch, AstProbe)
    engine.use_prefilter = False
    limit = sys.getrecursionlimit()
    result = engine.lint_text("import os\n\n" + _construct(kind, n), Path("deep.py"), "python", "deep.py")
    codes = {f.code for f in result.findings}
    assert "RPT992" in codes and INTERNAL_ERROR not in codes, [f.message for f in result.findings]
    assert sys.getrecursionlimit() == limit


def test_deep_stdlib_modules_are_linted_normally() -> None:
    """Real code nests this deep: the stdlib's codecs concatenate 256 string literals,
    pydoc's topics 2,221 (found by the sweep)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    engine = Engine(Config(root=REPO), use_prefilter=False)
    for module in ("encodings/cp1252.py", "pydoc_data/topics.py"):
        path = stdlib / module
        result = engine.lint_text(path.read_text(encoding="utf-8"), path, "python", module)
        assert [f for f in result.findings if f.code == INTERNAL_ERROR] == [], module


def test_an_ast_family_that_recurses_too_deep_is_retried_on_a_large_stack(monkeypatch) -> None:
    engine = _engine(monkeypatch, AstProbe)
    text = _construct("unary", 2_000)  # ~2,000 frames of recursion in AstProbe
    [finding] = [f for f in engine.lint_text(text, Path("deep.py"), "python", "deep.py").findings
                 if f.code in ("RPT992", INTERNAL_ERROR)]
    assert finding.code == "RPT992" and finding.message.startswith("depth ")


def test_run_with_deep_stack_returns_raises_and_restores() -> None:
    limit = sys.getrecursionlimit()
    assert not in_deep_stack()
    assert run_with_deep_stack(in_deep_stack) is True

    def deep(n: int) -> int:
        return 0 if n == 0 else 1 + deep(n - 1)

    assert run_with_deep_stack(lambda: deep(limit * 5)) == limit * 5
    with pytest.raises(ZeroDivisionError):
        run_with_deep_stack(lambda: 1 / 0)
    assert sys.getrecursionlimit() == limit


# ------------------------------------------------------------------ the sweep

def test_sweep_of_a_stdlib_sample_has_no_internal_error() -> None:
    """``make sweep`` lints the whole standard library; here a sample of it."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    trees = [stdlib / "json", stdlib / "email", stdlib / "encodings"]
    proc = subprocess.run(
        [sys.executable, str(REPO / "tools" / "sweep.py"), "--jobs", "2", "--sample", "12", *map(str, trees)],
        capture_output=True, text=True, timeout=600, cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for tree in trees:
        assert str(tree) in out
    assert len(re.findall(r"^  files (\d[\d,]*)  lines (\d[\d,]*)  seconds \d+\.\d", out, re.M)) == 3
    assert re.findall(r"^  internal errors (\d+)$", out, re.M) == ["0", "0", "0"]
    assert out.rstrip().endswith("internal errors 0")
