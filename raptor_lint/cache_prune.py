"""Keeping the findings cache bounded, at a cost of one ``stat`` on most runs.

Without this the cache only grew: entries of other ``select`` variants, renamed files and old
raptor-lint versions stayed forever, and moving a checkout left its whole cache behind
(8.9 MB → 60 MB for a 2,000-file project).  The rule, applied at most once a day per cache
(when its ``last-prune`` stamp is older than ``PRUNE_INTERVAL_S``):

1. entries and snapshots unused for ``MAX_AGE_S`` (30 days) are removed — "used" is the
   file's mtime: set when written, refreshed at most daily when a run is served from it;
2. if the cache still holds more than ``MAX_BYTES`` (128 MiB), entries of other raptor-lint
   versions go first, then the least recently used, until it is under three quarters of it;
3. in the user's cache directory, other projects' caches whose stamp is older than
   ``MAX_AGE_S`` are removed (a moved or deleted checkout leaves one behind).

Every walk goes through directory descriptors and never follows a symlink.
"""

from __future__ import annotations

import os
import shutil
import stat
import time

from raptor_lint.cache_location import PROJECT_DIR_PATTERN, TOOL_DIR_PATTERN

MAX_BYTES = 128 * 1024 * 1024
MAX_AGE_S = 30 * 24 * 3600
PRUNE_INTERVAL_S = 24 * 3600
STAMP = "last-prune"
# A temporary file this old was left by a run that died between writing and renaming.
TEMPORARY_AGE_S = 3600
TEMPORARY_SUFFIX = ".raptor-lint.tmp"
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)


def prune_due(cache_fd: int, now: float | None = None) -> bool:
    """Is the cache's last prune older than a day (or in the future, or never)?"""
    now = time.time() if now is None else now
    try:
        st = os.stat(STAMP, dir_fd=cache_fd, follow_symlinks=False)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return not stat.S_ISREG(st.st_mode) or not 0 <= now - st.st_mtime < PRUNE_INTERVAL_S


def touch_stamp(cache_fd: int) -> None:
    """Set the stamp's mtime to now (creating it).  The name may be anything a repository
    committed (a ``cache-dir`` inside the project): a stamp that is not a regular file is
    removed first, and the stamp is opened without blocking (a FIFO opened for writing would
    wait for a reader forever) nor following a symlink, and used only if it is a regular
    file (``OSError`` otherwise: pruning is skipped, the run goes on)."""
    try:
        st = os.stat(STAMP, dir_fd=cache_fd, follow_symlinks=False)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISREG(st.st_mode):
            os.unlink(STAMP, dir_fd=cache_fd)  # a directory raises: no prune, no hang
    fd = os.open(STAMP, os.O_WRONLY | os.O_CREAT | _NONBLOCK | _NOFOLLOW | _CLOEXEC, 0o600, dir_fd=cache_fd)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # replaced between the unlink and the open
            raise OSError(f"{STAMP} is not a regular file")
        os.utime(fd)
    finally:
        os.close(fd)


def prune(cache_fd: int, current_tool: str, now: float | None = None,
          max_bytes: int | None = None, max_age_s: float | None = None) -> int:
    """Apply rules 1 and 2 to the cache open as ``cache_fd``; the bytes removed.

    ``current_tool``: the name of this raptor-lint's directory (kept longest)."""
    now = time.time() if now is None else now
    max_bytes = MAX_BYTES if max_bytes is None else max_bytes
    max_age_s = MAX_AGE_S if max_age_s is None else max_age_s
    removed = 0
    kept: list[tuple[bool, float, int, str]] = []  # (current tool?, mtime, size, relative path)
    for directory, dirnames, filenames, dir_fd in _walk_tool_directories(cache_fd):
        tool = directory.split("/")[1]
        for name in filenames + [d for d in dirnames if _is_symlink(name_=d, dir_fd=dir_fd)]:
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                continue
            age = now - st.st_mtime
            if not stat.S_ISREG(st.st_mode) or age > max_age_s or \
                    (name.endswith(TEMPORARY_SUFFIX) and age > TEMPORARY_AGE_S):
                removed += _unlink(name, dir_fd, st)  # a symlink is removed, never followed
            elif not name.endswith(TEMPORARY_SUFFIX):
                kept.append((tool == current_tool, st.st_mtime, st.st_size, f"{directory}/{name}"))
    total = sum(size for _current, _mtime, size, _path in kept)
    if total > max_bytes:
        for _current, _mtime, size, path in sorted(kept):
            if total <= max_bytes * 3 // 4:
                break
            try:
                os.unlink(path, dir_fd=cache_fd)
            except OSError:
                continue
            total -= size
            removed += size
    _remove_empty_directories(cache_fd)
    return removed


def prune_siblings(base: os.PathLike | str, keep: str, now: float | None = None,
                   max_age_s: float | None = None) -> list[str]:
    """Rule 3: remove the default caches of other projects (directories of ``base``, the
    user's ``raptor-lint`` cache directory) unused for ``max_age_s``; their names."""
    now = time.time() if now is None else now
    max_age_s = MAX_AGE_S if max_age_s is None else max_age_s
    gone: list[str] = []
    try:
        base_fd = os.open(base, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC)
    except OSError:
        return gone
    try:
        for name in os.listdir(base_fd):
            if name == keep or not PROJECT_DIR_PATTERN.fullmatch(name):
                continue
            try:
                st = os.stat(name, dir_fd=base_fd, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
                    continue
                try:
                    last_used = os.stat(f"{name}/{STAMP}", dir_fd=base_fd, follow_symlinks=False).st_mtime
                except FileNotFoundError:
                    last_used = st.st_mtime
                if now - last_used > max_age_s:
                    # fd-based where the platform allows (shutil.rmtree.avoids_symlink_attacks):
                    # refuses a symlink and never follows one inside.
                    shutil.rmtree(os.path.join(base, name))
                    gone.append(name)
            except OSError:
                continue
    finally:
        os.close(base_fd)
    return gone


def cache_size(cache_fd: int) -> int:
    """Bytes in the cache's regular files (tests and measurements)."""
    total = 0
    for _directory, _dirnames, filenames, dir_fd in _walk_tool_directories(cache_fd):
        for name in filenames:
            try:
                st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


def _is_symlink(name_: str, dir_fd: int) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name_, dir_fd=dir_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _unlink(name: str, dir_fd: int, st: os.stat_result) -> int:
    try:
        os.unlink(name, dir_fd=dir_fd)
    except OSError:
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0


def _walk_tool_directories(cache_fd: int):
    """``os.fwalk`` of the cache's tool directories only (``<cache>/<20 hex digits>/``): the
    cache directory's other contents are not raptor-lint's to judge."""
    for directory, dirnames, filenames, dir_fd in os.fwalk(".", dir_fd=cache_fd, follow_symlinks=False):
        if directory == ".":
            dirnames[:] = [name for name in dirnames if TOOL_DIR_PATTERN.fullmatch(name)
                           and not _is_symlink(name_=name, dir_fd=dir_fd)]
            continue
        yield directory, dirnames, filenames, dir_fd


def _remove_empty_directories(cache_fd: int) -> None:
    for tool in _tool_directories(cache_fd):
        for _directory, dirnames, _filenames, dir_fd in os.fwalk(tool, topdown=False, dir_fd=cache_fd,
                                                                 follow_symlinks=False):
            for name in dirnames:
                try:
                    os.rmdir(name, dir_fd=dir_fd)  # only succeeds when empty (and not a symlink)
                except OSError:
                    pass
        try:
            os.rmdir(tool, dir_fd=cache_fd)
        except OSError:
            pass


def _tool_directories(cache_fd: int) -> list[str]:
    return [name for name in os.listdir(cache_fd)
            if TOOL_DIR_PATTERN.fullmatch(name) and not _is_symlink(name_=name, dir_fd=cache_fd)]
