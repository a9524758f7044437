"""Reading a file the linter did not write, without ever hanging or running out of memory.

Every file raptor-lint reads — linted sources, migrations, the runbook, the config
manifest, the gunicorn config a Procfile names, modules read for cross-module facts,
cache entries, the editor's copy on disk — comes from a tree someone else controls.
A FIFO there blocks ``open()`` until a writer appears; ``/dev/zero`` (or a symlink to
it) reads forever; a sparse 1 GB file is 1 GB of memory before anything looks at it.
So a file is read only when it is a regular file (symlinks resolved), through a
descriptor opened with ``O_NONBLOCK``, and only up to ``MAX_FILE_BYTES``.

``MAX_FILE_BYTES`` is 16 MiB, twice the largest file the engine could check: it does not
parse a file of more than 2 million characters (``engine.MAX_FILE_CHARS``, whose RPT000
"file not checked … exclude it" names the problem better), and 2 million characters are at
most 8 MB of UTF-8.  So a read never holds more than 16 MB (and its decoded text at most
64 MB), while every file the linter can check is read.  The largest file of the bench
corpus (mlflow's ``service_pb2.py``) is 0.55 MB, the standard library's
(``pydoc_data/topics.py``) 0.76 MB.

Anything else is an ``UnreadableFile``: an ``OSError`` (code that already handles
``OSError`` keeps working) whose ``str()`` is the one-line reason without the path,
e.g. ``not a regular file (a FIFO)`` or ``larger than 16 MB (1024.0 MB)``; callers put
the path (or the E902 finding's position) in front.
"""

from __future__ import annotations

import errno as errno_codes
import os
import stat

MAX_FILE_BYTES = 16 * 1024 * 1024
_CHUNK_BYTES = 1 << 20
_OPEN_FLAGS = (os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
               | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class UnreadableFile(OSError):
    """A file the linter will not (or cannot) read; ``str()`` is the one-line reason.

    ``path`` is the path as given, ``reason`` the same text as ``str()``.  ``errno`` is
    the operating system's error number when the OS refused (``EACCES``, ``ELOOP``…),
    else ``EINVAL`` (not a regular file) or ``EFBIG`` (over the size limit).
    """

    def __init__(self, path: "os.PathLike[str] | str", reason: str, error_number: int) -> None:
        super().__init__(error_number, reason)
        self.path = os.fspath(path)
        self.reason = reason

    def __str__(self) -> str:
        return self.reason

    def __reduce__(self) -> "tuple[type[UnreadableFile], tuple[str, str, int]]":
        """Picklable (a worker process may hand it back): OSError's default would call
        ``UnreadableFile(errno, reason)``."""
        return UnreadableFile, (self.path, self.reason, self.errno or errno_codes.EIO)


def read_regular_file(path: "os.PathLike[str] | str", *, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of the regular file at ``path`` (symlinks followed), at most ``limit`` of them.

    Raises ``UnreadableFile`` — never blocks, never reads past ``limit`` (+1 byte, to know
    the file is longer) — when ``path`` is a directory, a FIFO, a socket or a device, when it
    is larger than ``limit`` (decided from its size before reading, and again while reading,
    for files whose size the OS does not know, like ``/proc`` files), or when the OS refuses
    (permissions, a symlink loop, a missing file).  The type is checked before opening (a
    device is never opened) and again on the open descriptor (the path may change between).
    """
    fd = open_regular_file(path, limit=limit)
    try:
        return read_open_file(fd, path, limit=limit)
    finally:
        os.close(fd)


def read_open_file(fd: int, path: "os.PathLike[str] | str", *, limit: int = MAX_FILE_BYTES) -> bytes:
    """The rest of the descriptor ``fd`` (from ``open_regular_file``), at most ``limit``
    bytes; ``UnreadableFile`` (naming ``path``) as ``read_regular_file``.  ``fd`` stays open."""
    try:
        chunks: list[bytes] = []
        total = 0
        while total <= limit:
            chunk = os.read(fd, min(_CHUNK_BYTES, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
        if total > limit:
            raise UnreadableFile(path, f"larger than {_megabytes(limit)}", errno_codes.EFBIG)
        return b"".join(chunks)
    except UnreadableFile:
        raise
    except BlockingIOError:
        raise UnreadableFile(path, "not ready to be read (locked or on a device that would block)",
                             errno_codes.EAGAIN) from None
    except OSError as exc:
        raise _refused(path, exc) from None
    except MemoryError:
        raise UnreadableFile(path, "too large to fit in memory", errno_codes.ENOMEM) from None


def open_regular_file(path: "os.PathLike[str] | str", *, limit: int = MAX_FILE_BYTES, dir_fd: int | None = None,
                      follow_symlinks: bool = True) -> int:
    """A read-only, non-blocking descriptor on the regular file at ``path`` of at most
    ``limit`` bytes, for a caller that reads it itself (and closes it).
    Raises ``UnreadableFile`` as ``read_regular_file`` does: the type and size are checked
    before opening (a device is never opened) and on the descriptor.  ``dir_fd`` and
    ``follow_symlinks`` as ``os.stat``'s (without following, a symlink is refused, and
    ``O_NOFOLLOW`` keeps one planted between the two checks from being opened)."""
    try:
        _check_kind_and_size(path, os.stat(path, dir_fd=dir_fd, follow_symlinks=follow_symlinks), limit)
        fd = os.open(path, _OPEN_FLAGS | (0 if follow_symlinks else _NOFOLLOW), dir_fd=dir_fd)
    except UnreadableFile:
        raise
    except OSError as exc:
        raise _refused(path, exc) from None
    except ValueError:  # a NUL byte in the path (from a setting): no file can have that name
        raise UnreadableFile(path, "the path holds a NUL byte", errno_codes.EINVAL) from None
    try:
        _check_kind_and_size(path, os.fstat(fd), limit)
    except UnreadableFile:
        os.close(fd)
        raise
    except OSError as exc:
        os.close(fd)
        raise _refused(path, exc) from None
    return fd


def describe_file_type(mode: int) -> str:
    """``a FIFO``, ``a socket``, ``a character device``… for an ``st_mode`` that is not a
    regular file."""
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISLNK, "a symbolic link")):
        if test(mode):
            return name
    return "an unknown file type"


def _check_kind_and_size(path: "os.PathLike[str] | str", info: os.stat_result, limit: int) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise UnreadableFile(path, "it is a directory", errno_codes.EISDIR)
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFile(path, f"not a regular file ({describe_file_type(info.st_mode)})", errno_codes.EINVAL)
    if info.st_size > limit:
        raise UnreadableFile(path, f"larger than {_megabytes(limit)} ({info.st_size / (1 << 20):.1f} MB)",
                             errno_codes.EFBIG)


def _refused(path: "os.PathLike[str] | str", exc: OSError) -> UnreadableFile:
    reason = f"{exc.strerror or exc} ({type(exc).__name__})"
    return UnreadableFile(path, reason, exc.errno or errno_codes.EIO)


def _megabytes(limit: int) -> str:
    """``16 MB`` for 16 MiB: the limit as people write it (``100 bytes``, ``64 KB`` below 1 MiB)."""
    if limit < 1 << 10:
        return f"{limit} bytes"
    if limit < 1 << 20:
        return f"{limit / (1 << 10):g} KB"
    return f"{limit / (1 << 20):g} MB"
