"""Linting many files: the cache first, then worker processes (``--jobs``) for the rest.

``lint_many`` is the one entry point (``runner.run_check`` calls it):

1. With the cache on, the parent takes the findings of unchanged files from
   the findings cache (``raptor_lint.cache``, in the user's cache directory): from the last whole-project run's
   snapshot when nothing in the project changed, else per file (stat, then the content
   hash when the stat differs).
2. The remaining files are linted in this process when they are few (starting
   workers costs more than it saves), else in ``jobs`` worker processes
   (``ProcessPoolExecutor``, fork where available) fed size-balanced chunks,
   largest files first.  Workers are forked from the parent and inherit its
   ``Engine`` with the project facts already built (``prepare`` builds the
   migrations/runbook/manifest facts up front): shared copy-on-write, nothing
   pickled.  A fact first asked for inside a worker is built there, once per
   worker (without fork, each worker builds its own engine and facts).
   Whoever lints a file writes its cache entry, keyed by the bytes it linted.
3. Results come back in discovery order whatever the scheduling, so output is
   deterministic (findings are sorted by path, line, column, code as well).

Workers never outlive the run (issue 17: ``docker stop``, a cancelled CI step or
``Popen.terminate()`` send SIGTERM to the parent only, not to its process group):

* while the pool runs, SIGTERM and SIGHUP in the parent stop every worker (SIGKILL, then
  reaped) and exit with 128 + the signal number, as shells report a death by signal
  (a disposition someone else set — ``nohup``'s ignored SIGHUP, a host's handler — is
  left alone);
* on Linux each worker asks the kernel to kill it when the parent dies, whatever the
  cause, SIGKILL included (``prctl(PR_SET_PDEATHSIG)``), and exits at once if the parent
  is already gone;
* workers write nothing to the terminal (results come back through the pool's pipes), so
  their stdout and stderr point at ``/dev/null``: even an orphan elsewhere could not keep
  a caller's ``communicate()`` waiting on the pipes it holds.
"""

from __future__ import annotations

import functools
import gc
import os
import signal
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import TYPE_CHECKING

from raptor_lint.config import Config, relative_posix
from raptor_lint.discovery import PYTHON
from raptor_lint.source import SourceError, read_source

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.cache import FindingsCache
    from raptor_lint.engine import Engine, FileResult

# Below either threshold the files are linted in-process: a worker pool costs
# ~50-150 ms to start (fork, then each worker imports libcst itself).
MIN_PARALLEL_FILES = 16
MIN_PARALLEL_BYTES = 256 * 1024
CHUNK_FILES = 24
# From this many files to lint, families may build shared project facts in the parent
# before the workers fork (``Checker.before_workers``); below it, facts nobody may need
# would cost more than building them in each worker on demand.
WARM_UP_FILES = 500


def default_jobs() -> int:
    """Cores this process may run on (``os.sched_getaffinity``), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)


def lint_many(engine: "Engine", files: list[tuple[Path, str]], *, jobs: int | None = None,
              use_cache: bool = True, keep_text: bool = False, read_cache: bool = True,
              covers_project: bool = False) -> list["FileResult"]:
    """Lint ``files`` ((path, kind) pairs); results in the same order.

    ``keep_text``: keep each file's decoded text on its result (``--fix``/``--diff``
    need it).  With it, or without ``read_cache`` (``--verbose``: the families'
    notes are not cached), every file is linted again; entries are still written.
    ``covers_project``: ``files`` are every lintable file of the project (a run over
    its root), so their stats are the project state the cache needs.
    """
    from raptor_lint.cache import stat_or_none
    from raptor_lint.engine import FileResult

    cache = _make_cache(engine.config) if use_cache else None
    cached: dict[int, FileResult] = {}  # by index in ``files``
    todo: list[tuple[int, Path, str, str, int]] = []  # index, path, kind, display, size
    cwd = os.getcwd()
    stats = [stat_or_none(path) for path, _kind in files]  # before reading anything
    snapshot = None
    if cache is not None and covers_project:
        cache.set_project_stats({str(path): st for (path, _kind), st in zip(files, stats)})
        if read_cache and not keep_text:
            snapshot = cache.load_snapshot()  # the whole project unchanged: one read
    for index, ((path, kind), st) in enumerate(zip(files, stats)):
        display = _display(path, cwd)
        if cache is not None and st is not None and read_cache and not keep_text:
            found = None if snapshot is None else cache.snapshot_findings(snapshot, path, display)
            if found is None:
                found = cache.lookup(path, functools.partial(_read_or_none, path), display, st)
            if found is not None:
                cached[index] = FileResult(path, display, kind, found)
                continue
        todo.append((index, path, kind, display, st.st_size if st is not None else 0))

    jobs = jobs or default_jobs()
    if todo and cache is not None:
        cache.project_state()  # fingerprint the project as it was before linting started
    if jobs > 1 and len(todo) >= MIN_PARALLEL_FILES and sum(t[4] for t in todo) >= MIN_PARALLEL_BYTES:
        done = _lint_parallel(engine, cache, todo, jobs, keep_text)
    else:
        done = {}
    for index, path, kind, display, _size in todo:
        if index not in done:  # serial, or left over by a broken pool
            done[index] = _lint_one(engine, cache, path, kind, display, keep_text)
    # Every index is either a cache hit or linted (serially if the pool broke).
    results = [cached[index] if index in cached else done[index] for index in range(len(files))]
    if cache is not None and covers_project and (todo or snapshot is None):
        cache.store_snapshot([(path, result.display_path, result.findings, st)
                              for (path, _kind), result, st in zip(files, results, stats)])
    return results


def _make_cache(config: Config) -> "FindingsCache | None":
    from raptor_lint.cache import make_cache

    return make_cache(config)


def _display(path: Path, cwd: str) -> str:
    """``relative_posix(path)`` without building path objects (the common POSIX case)."""
    text = str(path)
    if os.sep == "/" and not os.path.isabs(text):
        text = os.path.normpath(text)
        if not text.startswith(".."):
            return text
    return relative_posix(path, Path(cwd))


def _read_or_none(path: Path) -> bytes | None:
    try:
        return read_source(path)  # never blocks on a FIFO, never reads a device
    except SourceError:
        return None


def _lint_one(engine: "Engine", cache: "FindingsCache | None", path: Path, kind: str, display: str,
              keep_text: bool) -> "FileResult":
    st = None
    if cache is not None:
        from raptor_lint.cache import stat_or_none

        st = stat_or_none(path)  # before reading: a later change then shows as a stat change
    try:
        data = read_source(path)  # never blocks on a FIFO, never reads a device
    except SourceError:
        return engine.lint_path(path, kind, display)  # reports the I/O error (E902)
    result = engine.lint_bytes(data, path, kind, display)
    if cache is not None:
        # Non-Python files count as reading the project: a Procfile's RPT602 reads the
        # gunicorn config it names, directly.  They are few and cheap to lint again.
        used_project = result.used_project or kind != PYTHON
        cache.store(path, data, result.findings, display, used_project, st)
    if not keep_text:
        result.text = None
    return result


# ------------------------------------------------------------------ workers
_WORKER: dict = {}


def _init_worker(config: Config | None, use_prefilter: bool, cache: "FindingsCache | None",
                 keep_text: bool, parent_pid: int) -> None:
    """``config`` None: forked from the parent, whose engine (and the project facts it
    already built, e.g. in ``prepare``) the worker inherited copy-on-write."""
    _die_with_parent(parent_pid)
    _release_standard_streams()
    if config is not None:
        from raptor_lint.engine import Engine

        _WORKER["engine"] = Engine(config, use_prefilter=use_prefilter)  # noqa: RPT101 - per worker
    _WORKER.update(cache=cache, keep_text=keep_text)  # noqa: RPT101 - per worker process, by design


def _lint_chunk(chunk: list[tuple[int, Path, str, str]]) -> list[tuple[int, "FileResult"]]:
    engine, cache, keep_text = _WORKER["engine"], _WORKER["cache"], _WORKER["keep_text"]
    return [(index, _lint_one(engine, cache, path, kind, display, keep_text))
            for index, path, kind, display in chunk]


def _chunks(todo: list[tuple[int, Path, str, str, int]], jobs: int) -> list[list[tuple[int, Path, str, str]]]:
    """Size-balanced chunks, the ones holding the biggest files first."""
    ordered = sorted(todo, key=lambda item: -item[4])
    count = max(jobs * 4, -(-len(ordered) // CHUNK_FILES))
    chunks: list[list[tuple[int, Path, str, str]]] = [[] for _ in range(min(count, len(ordered)))]
    for position, (index, path, kind, display, _size) in enumerate(ordered):
        chunks[position % len(chunks)].append((index, path, kind, display))
    return chunks


def _lint_parallel(engine: "Engine", cache: "FindingsCache | None", todo: list, jobs: int,
                   keep_text: bool) -> dict[int, "FileResult"]:
    import multiprocessing

    chunks = _chunks(todo, jobs)
    fork = "fork" in multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if fork else None)
    done: dict[int, FileResult] = {}
    if fork and len(todo) >= WARM_UP_FILES:
        for checker in engine.checkers:
            try:
                checker.before_workers(engine.project)
            except Exception:  # noqa: BLE001 - an optimisation only: the workers build it then
                pass
    if fork:
        _WORKER["engine"] = engine  # noqa: RPT101 - set before the fork: inherited by the workers
        # The inherited heap (engine, project facts, imported modules) stays shared only
        # while nobody writes to it: the cyclic collector writes to every object it scans.
        # Frozen objects are never scanned (the documented use of gc.freeze before fork).
        gc.freeze()
    stop_on_signal = _StopWorkersOnSignal()
    executor = ProcessPoolExecutor(max_workers=min(jobs, len(chunks)), mp_context=context,
                                   initializer=_init_worker,
                                   initargs=(None if fork else engine.config, engine.use_prefilter,
                                             cache, keep_text, os.getpid()))
    try:
        stop_on_signal.watch(executor)
        stop_on_signal.install()  # before the fork (the first submit): start-up is covered too
        futures = [executor.submit(_lint_chunk, chunk) for chunk in chunks]
        for future in futures:
            try:
                done.update(future.result())
            except BrokenProcessPool:
                break  # a worker died (e.g. killed): the caller lints what is left in-process
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        stop_on_signal.restore()
        _WORKER.clear()  # noqa: RPT101 - the parent's, after the workers are gone
        if fork:
            gc.unfreeze()
    return done


# ------------------------------------------------------------------ process hygiene
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
# The signals that end a run from outside without reaching the workers (SIGINT, Ctrl-C,
# goes to the whole foreground process group and reaches them by itself).
_TERMINATING_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


class _StopWorkersOnSignal:
    """SIGTERM/SIGHUP handlers for the pool's lifetime in the parent: stop the workers, exit.

    The handler ends the process with ``os._exit``: during the pool the parent only waits
    (nothing to flush or write), and raising from a handler could leave the executor's
    internal lock held by the interrupted frame, so a ``shutdown`` in a ``finally`` would
    hang.  Only the main thread may set handlers; elsewhere (an embedding program's
    thread) the workers still die with the process through ``PR_SET_PDEATHSIG``."""

    def __init__(self) -> None:
        self.owner = os.getpid()
        self.previous: dict[int, object] = {}
        self.executor: ProcessPoolExecutor | None = None

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in _TERMINATING_SIGNALS:
            if signal.getsignal(signum) is signal.SIG_DFL:  # nohup's SIG_IGN, a host's handler: theirs
                self.previous[signum] = signal.signal(signum, self._handle)

    def watch(self, executor: ProcessPoolExecutor) -> None:
        self.executor = executor

    def _worker_pids(self) -> list[int]:
        # The handler runs between two bytecodes of the main thread, the only one that adds
        # workers: the dict is never seen half-updated.
        processes = getattr(self.executor, "_processes", None) or {}
        return [pid for pid in list(processes) if isinstance(pid, int)]

    def restore(self) -> None:
        for signum, handler in self.previous.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        self.previous.clear()

    def _handle(self, signum: int, _frame) -> None:
        if os.getpid() != self.owner:  # a worker between fork and its initializer
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        workers = self._worker_pids()
        for pid in workers:
            try:
                os.kill(pid, signal.SIGKILL)  # they hold nothing to save: results come back by pipe
            except OSError:
                pass
        for pid in workers:
            try:
                os.waitpid(pid, 0)  # reap: no zombie left under a pid 1 that never reaps
            except OSError:
                pass
        try:
            sys.stderr.write(f"raptor-lint: stopped by {signal.Signals(signum).name}\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os._exit(128 + signum)


def _die_with_parent(parent_pid: int) -> None:
    """In a worker: take back the default dispositions the parent's handlers replaced, and
    on Linux have the kernel SIGKILL this process when the parent dies."""
    for signum in _TERMINATING_SIGNALS:
        if isinstance(getattr(signal.getsignal(signum), "__self__", None), _StopWorkersOnSignal):
            signal.signal(signum, signal.SIG_DFL)
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # no libc prctl (an unusual libc): the handlers still work
        return
    if os.getppid() != parent_pid:  # the parent died before the request was in place
        os._exit(1)


def _release_standard_streams() -> None:
    """Point the worker's stdout and stderr at /dev/null: it prints nothing, and must not
    keep the caller's pipes open (``communicate()`` waits for every holder to close them)."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError, AttributeError):
        pass
    descriptor = os.open(os.devnull, os.O_WRONLY)
    try:
        for target in (1, 2):
            os.dup2(descriptor, target)
    finally:
        os.close(descriptor)
