"""Shared test helpers: run the engine on fixture projects and read ``# expect:`` markers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
EXAMPLES = REPO / "examples" / "raptor_app"
BIN = Path(sys.executable).parent

# `# expect: RPT101` (this line), `# expect-next-line: RPT401,RPT402` (the line below).
# Markdown uses `<!-- expect: RPT601 -->`.
EXPECT = re.compile(r"(?:#|<!--)\s*expect(?P<next>-next-line)?:\s*(?P<codes>[A-Z0-9, ]+)")


def expectations(path: Path) -> set[tuple[int, str]]:
    """(line, code) pairs declared in a fixture file."""
    found: set[tuple[int, str]] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        for match in EXPECT.finditer(line):
            target = number + 1 if match.group("next") else number
            for code in re.split(r"[,\s]+", match.group("codes").strip()):
                if code:
                    found.add((target, code))
    return found


def fixture_config(project: Path):
    from raptor_lint.config import Config, load_config

    for name in ("pyproject.toml", "setup.cfg"):
        if (project / name).is_file():
            return load_config(config_file=project / name)
    return Config(root=project)


def lint_project(project: Path, **config_changes):
    """Lint every file of a fixture project; returns {relative path: [findings]}."""
    from raptor_lint.config import Config
    from raptor_lint.runner import CheckOptions, run_check

    config = fixture_config(project)
    if config_changes:
        config = config.replace(**config_changes)
    cwd = os.getcwd()
    os.chdir(project)
    try:
        result = run_check(config, CheckOptions(paths=[Path(".")], use_cache=False))
    finally:
        os.chdir(cwd)
    by_file: dict[str, list] = {}
    for file_result in result.files:
        by_file[file_result.display_path] = file_result.findings
    return by_file


def lint_rule_example(rule, source: str, tmp_path: Path) -> list:
    """Lint ``source`` as ``rule``'s example file, with the example's project files around
    it, the way a user would: the findings of every rule."""
    from raptor_lint.config import Config
    from raptor_lint.discovery import file_kind
    from raptor_lint.engine import Engine

    for rel, text in rule.example_project.items():
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    path = tmp_path / rule.example_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source, encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        return Engine(Config(root=tmp_path)).lint_path(path, file_kind(path, explicit=True)).findings
    finally:
        os.chdir(cwd)


def run_cli(*args: str, cwd: Path | None = None, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "raptor-lint"), *args], cwd=cwd or REPO, input=input,
        capture_output=True, timeout=300,
    )


@pytest.fixture
def cli():
    return run_cli


# ------------------------------------------------------------- make fuzz summary
# With RAPTOR_LINT_HYPOTHESIS_PROFILE set (``make fuzz``), the run ends with one line per
# property: examples run, failures, seconds — the figures the README quotes.
_FUZZ_PROFILE = os.environ.get("RAPTOR_LINT_HYPOTHESIS_PROFILE")
_FUZZ_STATS: dict[str, dict] = {}
_FUZZ_START: list[float] = []


def pytest_sessionstart(session):
    import time

    _FUZZ_START.append(time.monotonic())


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_runtest_call(item):
    if not _FUZZ_PROFILE or getattr(item.obj, "hypothesis", None) is None:
        yield
        return
    from hypothesis.statistics import collector

    outer = collector.value  # hypothesis' own pytest plugin (--hypothesis-show-statistics)

    def note(stats: dict) -> None:
        _FUZZ_STATS[item.nodeid] = stats
        if outer is not None:
            outer(stats)

    with collector.with_value(note):
        yield


def pytest_terminal_summary(terminalreporter):
    if not _FUZZ_PROFILE:
        return
    seconds = {}
    outcomes = {}
    for reports in terminalreporter.stats.values():
        for report in reports:
            nodeid = getattr(report, "nodeid", None)
            if nodeid and getattr(report, "when", None) in ("setup", "call", "teardown"):
                seconds[nodeid] = seconds.get(nodeid, 0.0) + report.duration
                if report.when == "call" or report.outcome != "passed":
                    outcomes[nodeid] = report.outcome
    if not outcomes:
        return
    terminalreporter.section(f"fuzz summary (hypothesis profile {_FUZZ_PROFILE})")
    rows, total = [], [0, 0, 0, 0.0]
    for nodeid in outcomes:
        stats = _FUZZ_STATS.get(nodeid, {})
        statuses: dict[str, int] = {}
        for phase in ("explicit", "reuse", "generate", "target"):  # shrinking is not new examples
            for case in stats.get(f"{phase}-phase", {}).get("test-cases", []):
                statuses[case["status"]] = statuses.get(case["status"], 0) + 1
        examples = statuses.get("valid", 0) + statuses.get("interesting", 0)
        invalid = statuses.get("invalid", 0) + statuses.get("overrun", 0)
        failures = max((p.get("distinct-failures", 0) for k, p in stats.items() if k.endswith("-phase")),
                       default=0)
        if outcomes[nodeid] == "failed":
            failures = max(failures, 1)
        rows.append((nodeid.split("::")[-1], examples, invalid, failures, seconds.get(nodeid, 0.0),
                     outcomes[nodeid], stats.get("stopped-because", "")))
        for i, value in enumerate((examples, invalid, failures, seconds.get(nodeid, 0.0))):
            total[i] += value
    width = max(len(row[0]) for row in rows)
    write = terminalreporter.write_line
    write(f"{'property':<{width}}  examples  invalid  failures  seconds  outcome  stopped because")
    for name, examples, invalid, failures, secs, outcome, stopped in rows:
        write(f"{name:<{width}}  {examples:>8}  {invalid:>7}  {failures:>8}  {secs:>7.0f}  {outcome:<7}  {stopped}")
    write(f"{'total (' + str(len(rows)) + ' properties)':<{width}}  {total[0]:>8}  {total[1]:>7}  "
          f"{total[2]:>8}  {total[3]:>7.0f}")
    if _FUZZ_START:
        import time

        write(f"wall time including collection: {time.monotonic() - _FUZZ_START[0]:.0f} s")


def write_tree(root: Path, files: dict[str, str]) -> Path:
    """Write ``files`` (relative path -> dedented text) under ``root``; returns ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


@pytest.fixture(autouse=True)
def _keep_pytests_heap_unfrozen(monkeypatch):
    """The flake8 plugin freezes its process's heap after imports (a flake8 worker's
    heap is the plugin's); tests run it inside pytest, whose heap must stay collectable.
    tests/test_flake8_plugin.py checks the freezing in a process of its own."""
    import raptor_lint.flake8_plugin

    monkeypatch.setattr(raptor_lint.flake8_plugin, "FREEZE_LONG_LIVED", False)


@pytest.fixture(autouse=True)
def _private_cache_directory(monkeypatch, tmp_path_factory):
    """Every test (and the CLI subprocesses it starts) gets a user cache directory of its
    own: the findings cache never lands in the real ~/.cache, and no test sees another's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
    monkeypatch.delenv("RAPTOR_LINT_CACHE_DIR", raising=False)


# Linux capability numbers (linux/capability.h) and prctl's PR_CAPBSET_DROP.
CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 0, 1, 2
_PR_CAPBSET_DROP = 24


def without_capabilities(*capabilities: int):
    """A ``preexec_fn`` dropping ``capabilities`` from the bounding set before exec, so a
    child of root (CI runs as root) is held to what an ordinary user is held to — it stays
    uid 0 because uid 65534 cannot even start the interpreter, which lives under /root, mode
    0700.  Not root: nothing to drop, permissions already bind."""

    def drop() -> None:
        if os.geteuid() != 0:
            return
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        for capability in capabilities:
            if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
                raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")

    return drop


# File permissions bind (a mode-0 directory cannot be listed, a mode-0 file read).
without_permission_override = without_capabilities(CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH)
