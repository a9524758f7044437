"""A lint worker: a child process of the language server that runs checks.

Why a process and not a thread: a Python thread cannot be stopped, so a check that
hangs (a pathological input, a bug) would keep a core, its memory and, for C code
that holds the GIL (a regular expression backtracking), the whole server.  A
process can be killed: the server gives each check a time budget, kills the worker
that overruns it and starts another.  The price is memory (each worker imports
the rule families' libraries, ~60-90 MB) and a copy of each document per check
(a pipe write, ~1 ms for 100 KB); the workers keep their own engines, project facts
and parse trees, so the copy is the only cost per check.

Frames on stdin/stdout: an 8-byte big-endian length, then a pickle (the server and
its workers are one program; nothing else writes to these pipes).
  server -> worker: ("check", job_id, request dict) | ("cancel", job_id) | ("forget", roots | None)
                    | ("drop", path)
                    | ("configure", settings)
  worker -> server: ("ready",) | ("done", job_id, CheckResult) | ("cancelled", job_id)
                    | ("failed", job_id, message)
A reader thread takes "cancel" while a check runs (the check polls it before each rule
family); the checks run one at a time on the main thread.  The worker exits when its
stdin closes, and (Linux) when the server dies.
"""

from __future__ import annotations

import fnmatch
import os
import pickle
import queue
import struct
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, BinaryIO

from raptor_lint.engine import Cancelled
from raptor_lint.lsp.session import LintSession

FRAME_LENGTH = struct.Struct(">Q")  # also read and written by the pool's side (pool.py)
# Testing only: a check of a file whose name matches this glob never ends (it sleeps),
# so tests can stand for any hanging check without relying on a particular bug.
HANG_ENV = "RAPTOR_LINT_LSP_TEST_HANG"
# A warm-up check makes a new worker import what the rule families need before its
# first real check (the server counts on a replacement being ready within a second).
WARM_UP = '''\
import os
from flask import Blueprint
from sqlalchemy import text
bp = Blueprint("w", __name__, url_prefix="/api/w")
_seen = {}
def create_app():
    return os.environ.get("FLAG_WARM")
@bp.route("/x")
def x():
    _seen[1] = text("SELECT MAX(a, b) FROM t")
'''


def encode_frame(message: Any) -> bytes:
    """One frame: the pickle's length (8 bytes, big-endian), then the pickle."""
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return FRAME_LENGTH.pack(len(data)) + data


def write_frame(stream: BinaryIO, message: Any) -> None:
    stream.write(encode_frame(message))
    stream.flush()


def read_frame(stream: BinaryIO) -> Any | None:
    header = stream.read(FRAME_LENGTH.size)
    if len(header) < FRAME_LENGTH.size:
        return None
    (length,) = FRAME_LENGTH.unpack(header)
    data = stream.read(length)
    if len(data) < length:
        return None
    return pickle.loads(data)


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when the server dies, even mid-check."""
    try:
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def warm_up(session: LintSession) -> None:
    with tempfile.TemporaryDirectory(prefix="raptor-lint-warm-") as tmp:
        root = Path(tmp)
        (root / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
        try:
            session.check(root / "warm.py", WARM_UP, "python")
        except Exception:  # noqa: BLE001 - a warm-up failure only costs the first check time
            pass
        session.forget()
        session.settle()


def main() -> None:
    _die_with_parent()
    ppid = os.getppid()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but frames may reach the server's pipe
    session = LintSession(manage_gc=True)
    warm_up(session)
    hang_glob = os.environ.get(HANG_ENV, "")
    jobs: queue.Queue = queue.Queue()
    cancelled_jobs: set[int] = set()
    write_lock = threading.Lock()

    def reader() -> None:
        while True:
            message = read_frame(stdin)
            if message is None:
                os._exit(0)  # the server closed the pipe (or died)
            if message[0] == "cancel":
                cancelled_jobs.add(message[1])
            else:
                jobs.put(message)

    threading.Thread(target=reader, name="raptor-lint-worker-reader", daemon=True).start()
    with write_lock:
        write_frame(stdout, ("ready",))
    while True:
        message = jobs.get()
        kind = message[0]
        if kind == "forget":
            session.forget(message[1])
            continue
        if kind == "configure":
            session.configure(message[1])
            continue
        if kind == "drop":
            session.drop_document(message[1])
            continue
        job_id, request = message[1], message[2]
        reply: tuple
        try:
            path = Path(request["path"])
            if hang_glob and fnmatch.fnmatch(path.name, hang_glob):
                while os.getppid() == ppid:
                    time.sleep(0.05)  # "hangs" until killed
            started = time.perf_counter()
            result = session.check(path, request["text"], request["kind"],
                                   cancelled=lambda: job_id in cancelled_jobs,
                                   previous=request.get("previous"))
            result.seconds = time.perf_counter() - started
            reply = ("done", job_id, result)
        except Cancelled:
            reply = ("cancelled", job_id)
        except Exception as exc:  # noqa: BLE001 - the worker must outlive any bug
            reply = ("failed", job_id, f"{type(exc).__name__}: {exc}")
        cancelled_jobs.discard(job_id)
        with write_lock:
            write_frame(stdout, reply)
        if jobs.empty():
            session.settle()


if __name__ == "__main__":
    main()
