"""``--jobs``: worker processes give exactly the serial results, in the same order."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import EXAMPLES, FIXTURES, fixture_config, run_cli
from raptor_lint import parallel
from raptor_lint.config import Config
from raptor_lint.rules.base import Checker, Rule
from raptor_lint.runner import CheckOptions, run_check

PROJECTS = sorted(p for p in FIXTURES.iterdir() if p.is_dir()) if FIXTURES.is_dir() else []


class PidChecker(Checker):
    """Reports each ``MARK`` line and which process linted it."""

    family = "jobs-test"
    rules = (Rule("RPT991", "jobs-test", "test", "test", "test", "x", "y"),)
    prefilter_rules = frozenset({"RPT991"})

    def prefilter(self, text: str) -> bool:
        return "MARK" in text

    def check(self, ctx):
        for number, line in enumerate(ctx.lines, 1):
            if "MARK" in line:
                yield ctx.finding("RPT991", (number, line.index("MARK") + 1), f"pid {os.getpid()}")


def _snapshot(result):
    return ([(r.display_path, r.kind) for r in result.files],
            [(f.path, f.line, f.column, f.end_line, f.end_column, f.code, f.message, f.fix)
             for f in result.findings])


def _run(project: Path, config: Config, jobs: int, use_cache: bool = False):
    cwd = os.getcwd()
    os.chdir(project)
    try:
        return run_check(config, CheckOptions(paths=[Path(".")], use_cache=use_cache, jobs=jobs))
    finally:
        os.chdir(cwd)


@pytest.fixture
def always_parallel(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_PARALLEL_FILES", 0)
    monkeypatch.setattr(parallel, "MIN_PARALLEL_BYTES", 0)


def test_default_jobs_is_the_usable_cores() -> None:
    assert parallel.default_jobs() == len(os.sched_getaffinity(0))


@pytest.mark.parametrize("project", [*PROJECTS, EXAMPLES], ids=lambda p: p.name)
def test_workers_match_serial_on_real_projects(project: Path, always_parallel) -> None:
    config = fixture_config(project)
    assert _snapshot(_run(project, config, jobs=2)) == _snapshot(_run(project, config, jobs=1))


def test_many_files_are_linted_by_workers_in_order(tmp_path: Path, monkeypatch, always_parallel) -> None:
    monkeypatch.setattr("raptor_lint.engine.checker_classes", lambda: (PidChecker,))
    for number in range(40):
        package = tmp_path / f"pkg{number % 4}"
        package.mkdir(exist_ok=True)
        body = "".join(f"value_{i} = {i}\n" for i in range(10 + 7 * number))
        (package / f"mod{number:02d}.py").write_text(body + "MARK = True\n", encoding="utf-8")
    (tmp_path / "pkg0" / "broken.py").write_text("def broken(:\n", encoding="utf-8")
    config = Config(root=tmp_path)
    parallel_result = _run(tmp_path, config, jobs=2)
    serial_result = _run(tmp_path, config, jobs=1)
    pids = {f.message for f in parallel_result.findings if f.code == "RPT991"}
    assert pids and f"pid {os.getpid()}" not in pids  # linted in worker processes
    strip = lambda snap: (snap[0], [item[:6] for item in snap[1]])  # noqa: E731 - messages hold pids
    assert strip(_snapshot(parallel_result)) == strip(_snapshot(serial_result))
    assert [r.display_path for r in parallel_result.files] == sorted(r.display_path for r in parallel_result.files)
    assert any(f.code == "E999" for f in parallel_result.findings)


def test_few_files_stay_in_process(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr("raptor_lint.engine.checker_classes", lambda: (PidChecker,))
    (tmp_path / "app.py").write_text("MARK = 1\n", encoding="utf-8")
    result = _run(tmp_path, Config(root=tmp_path), jobs=4)
    assert [f.message for f in result.findings] == [f"pid {os.getpid()}"]


def test_workers_fill_the_cache_for_the_next_run(tmp_path: Path, monkeypatch, always_parallel) -> None:
    monkeypatch.setattr("raptor_lint.engine.checker_classes", lambda: (PidChecker,))
    for number in range(8):
        (tmp_path / f"mod{number}.py").write_text("MARK = 1\n", encoding="utf-8")
    config = Config(root=tmp_path)
    first = _run(tmp_path, config, jobs=2, use_cache=True)
    second = _run(tmp_path, config, jobs=1, use_cache=True)
    # Served from entries the workers wrote: the messages still name the workers' pids.
    assert _snapshot(second) == _snapshot(first)
    assert f"pid {os.getpid()}" not in {f.message for f in second.findings}


def test_cli_jobs_option_gives_identical_output() -> None:
    one = run_cli("check", "--no-cache", "--jobs", "1", "--format", "json", ".", cwd=EXAMPLES)
    two = run_cli("check", "--no-cache", "--jobs", "2", "--format", "json", ".", cwd=EXAMPLES)
    assert one.returncode == two.returncode and one.stdout == two.stdout and two.stderr == b""
    bad = run_cli("check", "--jobs", "0", ".", cwd=EXAMPLES)
    assert bad.returncode == 2


def test_large_parallel_runs_let_families_build_shared_facts_before_the_fork(tmp_path, monkeypatch) -> None:
    """Checker.before_workers runs once, in the parent, for runs of WARM_UP_FILES files or
    more (the workers inherit what it builds); a failing warm-up changes nothing."""
    import os as _os

    from raptor_lint import parallel
    from raptor_lint.config import Config
    from raptor_lint.engine import Engine
    from raptor_lint.rules.fork_safety import ForkSafetyChecker

    calls: list[int] = []

    def warm(self, project) -> None:
        calls.append(_os.getpid())
        raise RuntimeError("a warm-up may fail")

    monkeypatch.setattr(ForkSafetyChecker, "before_workers", warm)
    monkeypatch.setattr(parallel, "WARM_UP_FILES", 20)
    for number in range(24):
        (tmp_path / f"module_{number}.py").write_text(
            "_seen = {}\n\n\ndef remember(key):\n    _seen[key] = True\n" + "# padding\n" * 2000,
            encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    engine = Engine(Config(root=tmp_path))
    files = [(path.relative_to(tmp_path), "python") for path in sorted(tmp_path.glob("*.py"))]
    results = parallel.lint_many(engine, files, jobs=2, use_cache=False)
    assert calls == [_os.getpid()]
    assert len(results) == 24
    assert all([f.code for f in r.findings] == ["RPT101"] for r in results)


def test_the_fork_safety_warm_up_builds_the_word_index_and_small_runs_skip_it(tmp_path, monkeypatch) -> None:
    """The real hook: ForkSafetyChecker.before_workers indexes the project in the parent
    (so the workers inherit it); below WARM_UP_FILES nothing is built up front."""
    from raptor_lint import parallel
    from raptor_lint.config import Config
    from raptor_lint.engine import Engine
    from raptor_lint.rules.fork_safety.callers import build_fork_calls
    from raptor_lint.rules.fork_safety import ForkSafetyChecker

    for number in range(3):
        (tmp_path / f"module_{number}.py").write_text("import os\n", encoding="utf-8")
    engine = Engine(Config(root=tmp_path))
    ForkSafetyChecker().before_workers(engine.project)
    assert engine.project.get(build_fork_calls).files_indexed == 3

    # A run that does use worker processes, one file short of WARM_UP_FILES: no warm-up.
    warmed: list[int] = []
    pooled: list[int] = []
    monkeypatch.setattr(ForkSafetyChecker, "before_workers", lambda self, project: warmed.append(1))
    lint_parallel = parallel._lint_parallel
    monkeypatch.setattr(parallel, "_lint_parallel",
                        lambda *args: pooled.append(len(args[2])) or lint_parallel(*args))
    monkeypatch.setattr(parallel, "WARM_UP_FILES", 25)
    for number in range(3, 24):
        (tmp_path / f"module_{number}.py").write_text("import os\n" + "# padding\n" * 2000, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    files = [(path.relative_to(tmp_path), "python") for path in sorted(tmp_path.glob("*.py"))]
    assert len(files) < parallel.WARM_UP_FILES
    assert len(parallel.lint_many(Engine(Config(root=tmp_path)), files, jobs=2, use_cache=False)) == 24
    assert pooled == [24]
    assert warmed == []
