"""Linting many files: the cache first, then worker processes (``--jobs``) for the rest.

``lint_many`` is the one entry point (``runner.run_check`` calls it):

1. With the cache on, the parent takes the findings of unchanged files from
   ``.raptor_lint_cache/`` (``raptor_lint.cache``): from the last whole-project run's
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
"""

from __future__ import annotations

import functools
import gc
import os
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
                 keep_text: bool) -> None:
    """``config`` None: forked from the parent, whose engine (and the project facts it
    already built, e.g. in ``prepare``) the worker inherited copy-on-write."""
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
    executor = ProcessPoolExecutor(max_workers=min(jobs, len(chunks)), mp_context=context,
                                   initializer=_init_worker,
                                   initargs=(None if fork else engine.config, engine.use_prefilter,
                                             cache, keep_text))
    try:
        futures = [executor.submit(_lint_chunk, chunk) for chunk in chunks]
        for future in futures:
            try:
                done.update(future.result())
            except BrokenProcessPool:
                break  # a worker died (e.g. killed): the caller lints what is left in-process
    finally:
        executor.shutdown(wait=True, cancel_futures=True)
        _WORKER.clear()  # noqa: RPT101 - the parent's, after the workers are gone
        if fork:
            gc.unfreeze()
    return done
