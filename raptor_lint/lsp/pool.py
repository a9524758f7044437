"""The server's side of the lint workers (``raptor_lint.lsp.worker``): start them, hand
out checks, enforce the time budget, replace a worker that overran it.

* ``size`` workers are kept warm (two by default: one document's long check never
  makes another document wait).  When every worker is busy with a check that has run
  for more than ``SLOW_SECONDS`` and a check is waiting, one more worker is started,
  up to ``max_size``; an extra worker is retired after ``IDLE_SECONDS`` without work.
* A check that runs past ``budget`` seconds is abandoned: its worker is killed (its
  CPU and memory come back at once) and a fresh one started; the caller gets
  ``Abandoned``.
* A document's checks prefer the worker that checked it last (its parse tree is there,
  so ``reparse`` applies).
* Everything runs on the server's event loop; nothing here blocks it.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import pickle
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from raptor_lint.lsp.session import CheckResult
from raptor_lint.lsp.worker import FRAME_LENGTH, encode_frame

log = logging.getLogger(__name__)

DEFAULT_SIZE = 2
DEFAULT_MAX_SIZE = 4
SLOW_SECONDS = 0.5
# Seconds a check waits for its document's worker to stop the check it superseded.
AFFINITY_WAIT = 0.25
IDLE_SECONDS = 30.0


class Abandoned(Exception):
    """The check ran past the time budget; its worker was replaced."""


class CheckCancelled(Exception):
    """The worker stopped the check because the caller cancelled it."""


class CheckFailed(Exception):
    """The worker raised (a bug) or died."""


@dataclass
class Worker:
    process: asyncio.subprocess.Process
    ready: asyncio.Future
    job: int | None = None
    job_uri: str | None = None  # the document of ``job``
    job_started: float = 0.0
    last_used: float = field(default_factory=time.monotonic)
    dead: bool = False
    reader_task: asyncio.Task | None = None

    def send(self, message: Any) -> None:
        if self.dead or self.process.stdin is None:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            self.process.stdin.write(encode_frame(message))

    def kill(self) -> None:
        self.dead = True
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()


class WorkerPool:
    def __init__(self, budget: float, size: int = DEFAULT_SIZE, max_size: int = DEFAULT_MAX_SIZE) -> None:
        self.budget = budget
        self.size = size
        self.max_size = max(size, max_size)
        self.workers: list[Worker] = []
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future] = {}
        self._changed: asyncio.Condition | None = None
        self._closed = False
        self._last_worker: dict[str, Worker] = {}
        # Per cancelled job: the timer that kills its worker if it ignores the cancel.
        self._cancel_timers: dict[int, asyncio.TimerHandle] = {}
        # Messages every worker must see (settings, forgotten roots), replayed to new ones.
        self._settings: dict | None = None

    # ----------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Start the warm workers (call on the event loop; returns at once).  The first
        one alone, the others once it is ready: on a small machine, starting them all
        at once would delay the first check by the others' imports."""
        self._changed = asyncio.Condition()
        asyncio.get_running_loop().create_task(self._start_all())

    async def _start_all(self) -> None:
        first = await self._spawn()
        if first is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(first.ready), 30)
        for _ in range(self.size - 1):
            await self._spawn()

    async def _spawn(self) -> Worker | None:
        if self._closed:
            return None
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "raptor_lint.lsp.worker",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=None,
            limit=2 ** 20)
        worker = Worker(process, asyncio.get_running_loop().create_future())
        self.workers.append(worker)
        if self._settings is not None:
            worker.send(("configure", self._settings))
        worker.reader_task = asyncio.get_running_loop().create_task(self._read(worker))
        if self._closed:
            worker.kill()
        return worker

    async def _read(self, worker: Worker) -> None:
        stream = worker.process.stdout
        assert stream is not None
        try:
            while True:
                header = await stream.readexactly(FRAME_LENGTH.size)
                (length,) = FRAME_LENGTH.unpack(header)
                message = pickle.loads(await stream.readexactly(length))
                if message[0] == "ready":
                    if not worker.ready.done():
                        worker.ready.set_result(True)
                    await self._notify()
                    continue
                job_id = message[1]
                timer = self._cancel_timers.pop(job_id, None)
                if timer is not None:
                    timer.cancel()
                if worker.job == job_id:
                    worker.job = None
                    worker.last_used = time.monotonic()
                reply = self._replies.pop(job_id, None)
                if reply is not None and not reply.done():
                    if message[0] == "done":
                        reply.set_result(message[2])
                    elif message[0] == "cancelled":
                        reply.set_exception(CheckCancelled())
                    else:
                        reply.set_exception(CheckFailed(message[2]))
                await self._notify()
        except (asyncio.IncompleteReadError, ConnectionError, EOFError, pickle.UnpicklingError):
            pass
        await self._lost(worker)

    async def _lost(self, worker: Worker) -> None:
        """The worker exited (killed for its budget, or crashed): fail its check, replace it."""
        worker.dead = True
        if worker in self.workers:
            self.workers.remove(worker)
        for uri, last in list(self._last_worker.items()):
            if last is worker:
                del self._last_worker[uri]
        if worker.job is not None:
            reply = self._replies.pop(worker.job, None)
            if reply is not None and not reply.done():
                reply.set_exception(CheckFailed("the lint worker exited"))
        with contextlib.suppress(ProcessLookupError):
            await worker.process.wait()
        if not self._closed and len(self.workers) < self.size:
            await self._spawn()
        await self._notify()

    async def _notify(self) -> None:
        if self._changed is not None:
            async with self._changed:
                self._changed.notify_all()

    def close(self) -> None:
        """Kill every worker now (``shutdown``/``exit``: nothing may make the client wait)."""
        self._closed = True
        for worker in list(self.workers):
            worker.kill()
            if worker.process.stdin is not None:
                with contextlib.suppress(Exception):
                    worker.process.stdin.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def forget_document(self, uri: str) -> None:
        self._last_worker.pop(uri, None)

    # ------------------------------------------------------------- messages
    def broadcast(self, message: tuple) -> None:
        if message[0] == "configure":
            self._settings = message[1]
        for worker in self.workers:
            worker.send(message)

    # --------------------------------------------------------------- checks
    async def check(self, uri: str, request: dict, background: bool = False) -> CheckResult:
        """Run one check on a worker.  Raises ``Abandoned`` past the budget,
        ``CheckCancelled``/``CheckFailed``; cancelling the awaiting task stops the check.
        ``background``: a check nobody waits for (the full check behind an incremental
        one) starts only while another worker stays free for the next edit's check."""
        worker = await self._acquire(uri, background)
        job_id = next(self._ids)
        reply: asyncio.Future = asyncio.get_running_loop().create_future()
        self._replies[job_id] = reply
        worker.job, worker.job_uri, worker.job_started = job_id, uri, time.monotonic()
        if not background:
            self._last_worker[uri] = worker
        worker.send(("check", job_id, request))
        try:
            return await asyncio.wait_for(asyncio.shield(reply), self.budget)
        except asyncio.TimeoutError:
            log.warning("a check of %s ran past %.1f s: its worker is replaced", uri, self.budget)
            self._replies.pop(job_id, None)
            worker.kill()
            raise Abandoned() from None
        except asyncio.CancelledError:
            # Superseded (or closed): ask the worker to stop, unless ``supersede`` did.
            self._replies.pop(job_id, None)
            if worker.job == job_id:
                self._stop(worker, job_id)
            raise

    def supersede(self, uri: str) -> None:
        """A newer version of ``uri`` is to be checked: ask the worker checking an older
        one to stop now (the caller cancels the awaiting task too).  Done synchronously,
        not when the cancelled task next runs: the newer check's ``_acquire`` may run first,
        and must see its document's worker as stopping (and wait for it, whose caches know
        the document) rather than as busy (and take the other worker, cold for it: a
        2,000-line module's first check there is ~2x a warm one)."""
        for worker in self.workers:
            if worker.job is not None and worker.job_uri == uri and not worker.dead:
                self._stop(worker, worker.job)

    def _stop(self, worker: Worker, job_id: int) -> None:
        """Ask ``worker`` to stop ``job_id`` (once); it stays busy until it answers, and the
        budget still applies to it (a check that ignores the request is killed)."""
        if job_id in self._cancel_timers:
            return
        worker.send(("cancel", job_id))
        self._cancel_timers[job_id] = asyncio.get_running_loop().call_later(
            self.budget, self._kill_if_still_on, worker, job_id)

    def _kill_if_still_on(self, worker: Worker, job_id: int) -> None:
        self._cancel_timers.pop(job_id, None)
        if worker.job == job_id and not worker.dead:
            log.warning("a cancelled check ran past the budget: its worker is replaced")
            worker.kill()

    async def _acquire(self, uri: str, background: bool = False) -> Worker:
        """A free worker: the one that checked ``uri`` last if it is free, or about to be
        (it is stopping this document's superseded check: waiting up to ``AFFINITY_WAIT``
        for it keeps the document on the worker whose caches know it, as typing does),
        else any."""
        assert self._changed is not None
        started = time.monotonic()
        async with self._changed:
            while True:
                if self._closed:
                    raise CheckFailed("the server is shutting down")
                free = [w for w in self.workers if not w.dead and w.job is None and w.ready.done()]
                preferred = self._last_worker.get(uri)
                if preferred in free and (not background or len(free) > 1):
                    return preferred
                stopping = (preferred is not None and not preferred.dead and preferred.job in self._cancel_timers
                            and time.monotonic() - started < AFFINITY_WAIT)
                if len(free) > (1 if background else 0) and not stopping:
                    return free[0]
                if not background:
                    self._maybe_grow()
                try:
                    await asyncio.wait_for(self._changed.wait(), AFFINITY_WAIT if stopping else SLOW_SECONDS)
                except asyncio.TimeoutError:
                    pass
                self._retire_idle()

    def _maybe_grow(self) -> None:
        live = [w for w in self.workers if not w.dead]
        starting = [w for w in live if not w.ready.done()]
        now = time.monotonic()
        if starting or len(live) >= self.max_size:
            return
        if all(w.job is not None and now - w.job_started > SLOW_SECONDS for w in live):
            asyncio.get_running_loop().create_task(self._spawn())

    def _retire_idle(self) -> None:
        now = time.monotonic()
        live = [w for w in self.workers if not w.dead]
        for worker in live[self.size:]:
            if worker.job is None and now - worker.last_used > IDLE_SECONDS:
                worker.kill()

    def pids(self) -> list[int]:
        return [w.process.pid for w in self.workers if not w.dead]
