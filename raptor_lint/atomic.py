"""Replace a file's content all at once: a reader sees the old bytes or the new, never half.

Two writers use this module:

* ``--output-file`` (``replace_file``): a report raptor-lint writes in full — no checks,
  nothing to re-check (the findings cache has its own ``dir_fd``-relative writer in
  ``raptor_lint.cache``);
* every write to a user's file (``read_for_rewrite`` then ``rewrite_file``): ``--fix``, the
  fixes that edit another file (runbook, manifest) and ``--add-noqa``.  One write path, so
  each of them keeps the same promises:

  - **no lost write**: the file is read once (``read_for_rewrite``); just before the rename
    it is checked again — device, inode, size, mtime, mode, owner and a SHA-256 of its
    bytes — and left alone (``WriteRefused``) if anything changed, e.g. an editor saved it;
  - **no write through a symlink that leaves the project**: a path that resolves through a
    symlink to outside ``root`` is refused; a symlink inside the project is followed, so
    the target is rewritten and the link stays a link (as ``git`` and ``pre-commit`` hooks
    see it: the link's content is the target's);
  - **owner, group and mode kept**: the new file gets the old one's uid/gid (``fchown``, which
    needs root for another user's file) and then its permission bits; when the owner cannot
    be kept the file is refused rather than silently changing hands;
  - **hard links kept**: a file with more than one link is refused — a rename would give this
    name a new inode and leave the other names on the old text, and writing in place would
    lose the all-or-nothing promise;
  - **read-only kept**: a file without any write bit is refused (root could rename over it);
  - **crash safe**: the temporary file lives beside the target (``os.replace`` is a rename on
    one file system), is fsynced before the rename, and is removed on any failure (full
    disk included).  SIGTERM and SIGHUP are held back while it exists (``docker stop`` in
    the middle of ``--fix``): the write completes or is undone, then the signal takes effect.

A writer landing in the few system calls between the final check and the rename still loses
its bytes: no portable primitive closes that window (there is no compare-and-rename).  The
check shrinks it from the whole lint-and-fix (milliseconds to seconds) to microseconds.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from raptor_lint.safe_read import open_regular_file

# Test hook: called with the real path just before the final check (after the new content is
# written to the temporary file), so a test can be a concurrent writer at the worst moment
# without a sleep race.  Never set outside tests.
before_final_check: Callable[[Path], None] | None = None


class WriteRefused(Exception):
    """The file was left as it was.  ``str(exc)`` completes ``"not fixing <path>: "``."""


@dataclass(frozen=True)
class ReadSnapshot:
    """A file's bytes and what it was when they were read (``rewrite_file`` compares)."""

    path: Path
    data: bytes
    device: int
    inode: int
    size: int
    mtime_ns: int
    mode: int
    uid: int
    gid: int
    links: int
    digest: bytes

    def same_file_as(self, other: "ReadSnapshot") -> bool:
        return ((self.device, self.inode, self.size, self.mtime_ns, self.mode, self.uid, self.gid,
                 self.digest) ==
                (other.device, other.inode, other.size, other.mtime_ns, other.mode, other.uid, other.gid,
                 other.digest))


def read_for_rewrite(path: Path | str) -> ReadSnapshot:
    """Read ``path`` (following a symlink) and note its identity for ``rewrite_file``.

    Raises ``OSError`` (``safe_read.UnreadableFile`` with a one-line reason) when it cannot
    be read, is not a regular file (a device is never opened, a FIFO never blocks) or is
    larger than ``safe_read.MAX_FILE_BYTES`` — the same limits as every other read."""
    descriptor = open_regular_file(path)  # regular file, size checked before and after opening
    try:
        info = os.fstat(descriptor)  # before reading: a write during the read shows later
        chunks, total = [], 0
        while total <= info.st_size and (chunk := os.read(descriptor, 1 << 20)):  # grown since: refused later
            chunks.append(chunk)
            total += len(chunk)
    finally:
        os.close(descriptor)
    data = b"".join(chunks)
    return ReadSnapshot(Path(path), data, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns,
                        info.st_mode, info.st_uid, info.st_gid, info.st_nlink, hashlib.sha256(data).digest())


def rewrite_file(snapshot: ReadSnapshot, data: bytes, *, root: Path | str | None = None) -> None:
    """Replace the file ``snapshot`` was read from with ``data``, atomically, or refuse.

    A path that reaches its file through a symlink pointing outside its project is refused.
    The project is the one the path itself lies in, found without resolving symlinks (the
    nearest directory up holding pyproject.toml, setup.cfg or .git, or the working directory
    the path was named from; ``root`` when there is none): the configured root is found from
    the resolved file, and for ``b/store.py -> ../../outside/victim.py`` that is the outside
    file's own directory.  A marker directory reached through a symlink out of the directories
    above it is not a project (``lib -> ../other`` with ``other/.git``).  Raises
    ``WriteRefused`` (nothing written, nothing left behind) or ``OSError`` (the same)."""
    real = Path(os.path.realpath(snapshot.path))
    project = _project_of_location(snapshot.path) or (Path(root) if root is not None else None)
    if project is not None and _leaves_root(snapshot.path, real, project):
        raise WriteRefused("symlink to outside the project")
    if not snapshot.mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH):
        raise WriteRefused("the file is read-only")
    if snapshot.links > 1:
        raise WriteRefused(f"it has {snapshot.links} hard links (replacing it would split them); edit it by hand")
    with _temporary_beside(real) as (handle, temporary):
        handle.write(data)
        handle.flush()
        _keep_owner(handle.fileno(), snapshot)
        os.fchmod(handle.fileno(), stat.S_IMODE(snapshot.mode))  # after fchown: it may clear set-id bits
        os.fsync(handle.fileno())
        handle.close()
        if before_final_check is not None:
            before_final_check(real)
        if Path(os.path.realpath(snapshot.path)) != real or not _unchanged(real, snapshot):
            raise WriteRefused("it changed on disk while being fixed; run again")
        os.replace(temporary, real)
    _sync_directory(real.parent)


def replace_file(path: Path | str, data: bytes, *, keep_mode: bool = True, durable: bool = True) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``, with no
    checks (``--output-file``: ``durable=False``, ``keep_mode`` when the file exists).

    ``keep_mode``: ``path`` exists; follow it if it is a symlink and give the new file its
    permission bits.  ``durable``: fsync the data before the rename.  A user's file goes
    through ``read_for_rewrite``/``rewrite_file`` instead."""
    target = Path(os.path.realpath(path)) if keep_mode else Path(path)
    mode = stat.S_IMODE(os.stat(target).st_mode) if keep_mode else None
    with _temporary_beside(target) as (handle, temporary):
        handle.write(data)
        if durable:
            handle.flush()
            os.fsync(handle.fileno())
        handle.close()
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, target)


@contextlib.contextmanager
def _temporary_beside(target: Path) -> Iterator[tuple[BinaryIO, str]]:
    """A new temporary file in ``target``'s directory (so ``os.replace`` onto ``target`` is a
    rename on one file system), open for writing, and its name; the caller closes it and
    renames it.  SIGTERM/SIGHUP are held back meanwhile, and on any failure (full disk,
    ``WriteRefused``, Ctrl-C) the file is closed and removed."""
    with _termination_deferred():
        descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                                 suffix=".raptor-lint.tmp")
        try:
            with os.fdopen(descriptor, "wb") as handle:
                yield handle, temporary
        except BaseException:
            _remove(temporary)
            raise


# Signals that end the process by default and may arrive from outside at any moment.
_DEFERRED_SIGNALS = {getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)}


@contextlib.contextmanager
def _termination_deferred() -> Iterator[None]:
    """Hold SIGTERM/SIGHUP back (this thread's signal mask) while a temporary file exists, so
    the default action cannot kill the process between ``mkstemp`` and the rename or the
    clean-up.  A signal that arrives meanwhile is delivered when the block ends.  Ctrl-C
    needs no such care: Python turns it into ``KeyboardInterrupt`` and the clean-up runs.
    (The CLI writes from its only thread; an embedding program's other threads keep their
    own masks.)"""
    if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - Windows
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _DEFERRED_SIGNALS)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _remove(temporary: str) -> None:
    try:
        os.unlink(temporary)
    except OSError:
        pass


def _project_of_location(path: Path | str) -> Path | None:
    """The project the user works in when naming ``path``: found along the path as named
    (symlinks not resolved), from the directories that hold a project marker and the working
    directory the path was named from.  A marker directory counts only if its real path lies
    inside the real path of every such directory above it: ``proj/lib -> ../other`` with
    ``other/.git`` is not a project of its own but a way out of ``proj`` (a marker in a
    symlink's target must not make the outside its own project)."""
    from raptor_lint.config import PROJECT_MARKERS

    location = Path(os.path.abspath(path))
    anchors = [candidate for candidate in location.parents
               if any(os.path.lexists(candidate / marker) for marker in PROJECT_MARKERS)]
    try:
        working = Path(os.getcwd())
    except OSError:  # the working directory was deleted
        working = None
    if working is not None and working in location.parents and working not in anchors:
        anchors.append(working)
    anchors.sort(key=lambda anchor: len(anchor.parts), reverse=True)  # nearest first
    real = [os.path.realpath(anchor) for anchor in anchors]
    for index, anchor in enumerate(anchors):
        if all(inside_directory(real[index], outer) for outer in real[index + 1:]):
            return anchor
    return None


def inside_directory(path: str, directory: str) -> bool:
    """Is ``path`` ``directory`` or below it (both real, absolute paths)?"""
    try:
        return os.path.commonpath([path, directory]) == directory
    except ValueError:  # different drives (Windows)
        return False


def _leaves_root(path: Path, real: Path, root: Path) -> bool:
    """Does ``path`` go through a symlink to a file outside ``root``?"""
    if inside_directory(str(real), os.path.realpath(root)):
        return False
    return os.path.abspath(path) != str(real)  # outside, and reached through a link


def _keep_owner(descriptor: int, snapshot: ReadSnapshot) -> None:
    info = os.fstat(descriptor)
    if (info.st_uid, info.st_gid) == (snapshot.uid, snapshot.gid):
        return
    try:
        os.fchown(descriptor, snapshot.uid, snapshot.gid)
    except PermissionError:
        raise WriteRefused(f"cannot keep its owner {snapshot.uid}:{snapshot.gid} "
                           "(run as that user or as root)") from None


def _unchanged(real: Path, snapshot: ReadSnapshot) -> bool:
    try:
        now = read_for_rewrite(real)
    except OSError:
        return False  # deleted or replaced by something else
    return now.same_file_as(snapshot)


def _sync_directory(directory: Path) -> None:
    """Make the rename itself durable (best effort: not every file system allows it)."""
    try:
        descriptor = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
