"""Where a report goes: standard output or ``--output-file``, and what can go wrong there.

A report is data about the user's files, written to a destination the user picked, so
its failures are the user's to fix and get one line each, never a traceback:

- a reader that stops early (``raptor-lint check | head -1``) is not an error: the rest
  of the report is dropped and the run ends with its usual status, as ``ruff | head`` does;
- any other OS error (a full disk, a read-only directory) is ``cannot write PATH: reason``
  and exit 2.

``--output-file`` is replaced atomically (temporary file in the same directory, then a
rename), so a reader never sees half a report and a failed run leaves the old one; a
destination that is not a regular file (``/dev/stdout``, a FIFO, ``/dev/full``) is written
in place, never replaced.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path
from typing import BinaryIO, TextIO

STDOUT = "standard output"


class ReportWriteError(Exception):
    """The report could not be written; ``str()`` is the one-line message."""


def encode_report(text: str) -> bytes:
    """UTF-8 whatever the locale (as Ruff writes), so a report means the same bytes
    everywhere.  The formats escape file names already; a character UTF-8 cannot carry (a
    lone surrogate from undecodable bytes in a message) is written as its escape."""
    return text.encode("utf-8", "backslashreplace")


def write_report(data: bytes, output_file: Path | None = None, *, to_stderr: bool = False) -> None:
    """Write ``data`` to ``output_file``, else standard output (standard error with
    ``to_stderr``).  Raises ``ReportWriteError``; a closed pipe is silently the end of it."""
    if output_file is not None:
        _write_file(output_file, data)
        return
    stream = sys.stderr if to_stderr else sys.stdout
    if stream is None:  # started with the descriptor closed (`>&-`): nobody to read it
        return
    try:
        _write_stream(stream, data)
    except BrokenPipeError:
        silence_closed_stream(stream)
    except OSError as exc:
        # Either way the report is lost: point the stream at /dev/null so the interpreter's own
        # flush at exit does not fail again on what is still buffered ("Exception ignored").
        silence_closed_stream(stream)
        if exc.errno == errno.EPIPE:
            return
        raise ReportWriteError(f"cannot write to {STDOUT if not to_stderr else 'standard error'}: "
                               f"{_reason(exc)}") from None


def _write_stream(stream: TextIO, data: bytes) -> None:
    stream.flush()
    binary: BinaryIO | None = getattr(stream, "buffer", None)
    if binary is None:  # a text-only stream (an embedding host's): give it text
        stream.write(data.decode("utf-8", "replace"))
        stream.flush()
        return
    binary.write(data)
    binary.flush()


def silence_closed_stream(stream: TextIO) -> None:
    """The reader went away: point the stream's descriptor at /dev/null, so the interpreter's
    flush at exit does not raise again and print ``Exception ignored ... BrokenPipeError``
    (the recipe of Python's ``signal`` documentation)."""
    try:
        descriptor = stream.fileno()
    except (OSError, ValueError, AttributeError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, descriptor)
    finally:
        os.close(devnull)


def _write_file(path: Path, data: bytes) -> None:
    try:
        if _is_special(path):
            with open(path, "wb") as handle:  # a device or FIFO: write into it, never replace it
                handle.write(data)
            return
        from raptor_lint.atomic import replace_file

        existed = path.exists()
        replace_file(path, data, keep_mode=existed, durable=False)
        if not existed:
            # mkstemp creates the file 0600; a report is as readable as any new file (umask).
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(path, 0o666 & ~umask)
    except OSError as exc:
        raise ReportWriteError(f"cannot write {path}: {_reason(exc)}") from None


def _is_special(path: Path) -> bool:
    try:
        return not stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False  # missing (created) or unreachable (the write says why)


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def use_colour(no_colour: bool, stream: TextIO | None, output_file: Path | None) -> bool:
    """Colour only for a person at a terminal.  ``--no-color`` and ``NO_COLOR``
    (https://no-color.org) turn it off; ``FORCE_COLOR`` / ``CLICOLOR_FORCE`` turn it on
    for standard output that is not a terminal (CI logs that render ANSI), as Ruff does;
    a report file never gets colour.  ``TERM=dumb`` is a terminal without colour."""
    if no_colour or output_file is not None or os.environ.get("NO_COLOR"):
        return False
    if os.environ.get("FORCE_COLOR") or os.environ.get("CLICOLOR_FORCE", "0") != "0":
        return True
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream is not None and stream.isatty())
    except (ValueError, AttributeError):
        return False
