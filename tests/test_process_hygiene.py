"""``--jobs`` workers never outlive the run (issue 17).

``docker stop``, a cancelled CI step and ``Popen.terminate()`` signal the parent only, not
its process group; before the fix the workers kept running and kept the caller's pipes
open, so ``communicate()`` never returned.  Each test starts a real ``raptor-lint check
--jobs 2`` on a tree big enough to run for ~20 s, waits until both workers exist (read from
/proc, no sleep race), signals the parent, and checks by pid that every worker is gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BIN
from raptor_lint import parallel

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")

MODULE = "import os\n" + "".join(f'''
_cache_{number} = {{}}


def handler_{number}(key, value):
    if key in _cache_{number}:
        return _cache_{number}[key]
    _cache_{number}[key] = sum(x * {number} for x in range(value) if x % 3)
    return _cache_{number}[key]
''' for number in range(60))
# Timed bounds, with far more than 3x headroom on 2 shared cores: the workers appear within
# ~2 s and the parent exits within milliseconds of the signal.
WORKERS_APPEAR_WITHIN = 120.0
EXIT_WITHIN = 30.0


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("big_tree")
    (root / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    for number in range(600):
        package = root / f"pkg{number % 20}"
        package.mkdir(exist_ok=True)
        (package / f"mod_{number}.py").write_text(MODULE, encoding="utf-8")
    return root


def _process(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of ``pid`` from /proc, or None once it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2:].split()  # after "pid (comm) "
    return int(fields[1]), fields[0], int(fields[19])


def _children(parent: int) -> dict[int, int]:
    """pid -> start time of every live child of ``parent``."""
    found = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (info := _process(int(entry))) is not None and info[0] == parent:
            found[int(entry)] = info[2]
    return found


def _alive(pid: int, started: int) -> bool:
    """The same process (not a reused pid), and not a zombie: it still runs or holds files."""
    info = _process(pid)
    return info is not None and info[2] == started and info[1] not in ("Z", "X")


def _start_and_wait_for_workers(tree: Path) -> tuple[subprocess.Popen, dict[int, int]]:
    run = subprocess.Popen([str(BIN / "raptor-lint"), "check", "--jobs", "2", "--no-cache", "."], cwd=tree,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + WORKERS_APPEAR_WITHIN
    workers: dict[int, int] = {}
    while len(workers) < 2:
        assert run.poll() is None, "the run ended before its workers were seen"
        assert time.monotonic() < deadline, "the workers did not appear"
        workers = _children(run.pid)
        time.sleep(0.02)  # polling for a condition, not racing against one
    return run, workers


def _assert_all_gone(workers: dict[int, int]) -> None:
    deadline = time.monotonic() + EXIT_WITHIN
    while (alive := [pid for pid, started in workers.items() if _alive(pid, started)]):
        if time.monotonic() > deadline:
            for pid in alive:  # do not leave them to the next test
                os.kill(pid, signal.SIGKILL)
            pytest.fail(f"workers left behind: {alive}")
        time.sleep(0.02)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_a_signal_to_the_parent_stops_every_worker(big_tree: Path, signum: int) -> None:
    run, workers = _start_and_wait_for_workers(big_tree)
    try:
        run.send_signal(signum)
        _stdout, stderr = run.communicate(timeout=EXIT_WITHIN)  # no worker holds the pipes
    finally:
        if run.poll() is None:
            run.kill()
        _assert_all_gone(workers)
    assert run.returncode == 128 + signum
    assert stderr.decode() == f"raptor-lint: stopped by {signal.Signals(signum).name}\n"


def test_workers_die_with_a_killed_parent(big_tree: Path) -> None:
    run, workers = _start_and_wait_for_workers(big_tree)
    try:
        run.kill()  # SIGKILL: no handler runs; the kernel's parent-death signal must do it
        run.communicate(timeout=EXIT_WITHIN)
    finally:
        _assert_all_gone(workers)
    assert run.returncode == -signal.SIGKILL


def test_handlers_someone_else_set_are_left_alone() -> None:
    """``nohup`` ignores SIGHUP before starting us: a hang-up must still not stop the run."""
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        hygiene = parallel._StopWorkersOnSignal()
        hygiene.install()
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) == hygiene._handle
        hygiene.restore()
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGHUP, previous)
