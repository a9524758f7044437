"""Where this project's findings cache lives, and the checks that keep a repository from choosing.

A repository is not trusted to decide where raptor-lint writes: git stores symlinks, so a
committed ``.raptor_lint_cache -> ../..`` used to send the cache tree, a ``.gitignore``
holding ``*`` and a ``CACHEDIR.TAG`` into the user's home.  So:

- the default cache lives in the user's cache directory (``$XDG_CACHE_HOME`` or
  ``~/.cache`` on Linux, ``~/Library/Caches`` on macOS, ``%LOCALAPPDATA%`` on Windows), in
  ``raptor-lint/<project name>-<hash of the resolved project root>``, outside the checkout;
- ``RAPTOR_LINT_CACHE_DIR`` (the user's environment) names the cache directory itself;
- the ``cache-dir`` setting (the repository's configuration) must stay inside the project;
- every directory below the starting point (the user's cache directory, the parent of
  ``RAPTOR_LINT_CACHE_DIR``, or the project root) is opened without following symlinks
  (``O_NOFOLLOW``) and must be owned by the effective user; a symlink or a foreign owner
  refuses the cache (``CacheRefused``: one warning line, then the run goes uncached).

Everything below the cache directory is reached through directory descriptors opened the
same way (``open_directory``), so a symlink planted inside it cannot redirect a write.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import stat
import sys
from dataclasses import dataclass
from pathlib import Path

from raptor_lint.config import Config

ENV_VAR = "RAPTOR_LINT_CACHE_DIR"
APP_DIR_NAME = "raptor-lint"
# Where versions before 0.x kept the cache (inside the checkout): never read or written now,
# still excluded from linting (config.DEFAULT_EXCLUDE) and removed by ``raptor-lint clean``.
LEGACY_DIR_NAME = ".raptor_lint_cache"
# The only names raptor-lint makes in a cache directory: pruning and ``clean`` touch nothing
# else (a ``RAPTOR_LINT_CACHE_DIR`` may sit beside the user's own files).
TOOL_DIR_PATTERN = re.compile(r"[0-9a-f]{20}")
PROJECT_DIR_PATTERN = re.compile(r"[A-Za-z0-9._-]+-[0-9a-f]{16}")
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_DIRECTORY_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _NOFOLLOW | _CLOEXEC


class CacheRefused(Exception):
    """The cache directory may not be used; ``str(exc)`` is the warning line's reason."""


class CacheUnavailable(Exception):
    """No cache this run, nothing to warn about (no home directory, a file in the way...)."""


@dataclass(frozen=True)
class CacheLocation:
    """``directory`` = ``anchor`` joined with ``parts``.  ``anchor`` is followed as it is (the
    user's own choice, or the project root); each of ``parts`` is opened without following
    symlinks and must be owned by the effective user.  ``origin``: ``environment``,
    ``setting`` or ``default``."""

    directory: Path
    anchor: Path
    parts: tuple[str, ...]
    origin: str

    @property
    def siblings(self) -> Path | None:
        """The directory holding other projects' default caches (pruned by age), if any."""
        return self.directory.parent if self.origin == "default" else None


def user_cache_base() -> Path | None:
    """The per-user cache directory of the platform, or None when there is no home."""
    if sys.platform == "win32":  # pragma: no cover - not on the CI platform
        local = os.environ.get("LOCALAPPDATA")
        return Path(local) if local and os.path.isabs(local) else None
    if sys.platform == "darwin":  # pragma: no cover - not on the CI platform
        home = os.path.expanduser("~")
        return Path(home, "Library", "Caches") if os.path.isabs(home) else None
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):  # the XDG spec: a relative value is invalid and ignored
        return Path(xdg)
    home = os.path.expanduser("~")
    return Path(home, ".cache") if os.path.isabs(home) else None


def project_key(root: Path) -> str:
    """A readable, collision-free directory name for a project: its root's name and a hash
    of its resolved path (the same checkout reached through a symlink shares a cache)."""
    try:
        resolved = os.path.realpath(root)
    except OSError:
        resolved = os.path.abspath(root)
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", os.path.basename(resolved)).strip("._") or "root"
    digest = hashlib.sha256(resolved.encode("utf-8", "surrogateescape")).hexdigest()[:16]
    return f"{name[:40]}-{digest}"  # PROJECT_DIR_PATTERN


def locate(config: Config) -> CacheLocation:
    """Where this project's cache lives (nothing is created or opened)."""
    from_env = os.environ.get(ENV_VAR, "").strip()
    if from_env:
        directory = Path(os.path.abspath(os.path.expanduser(from_env)))
        if directory.parent == directory:
            raise CacheRefused(f"{ENV_VAR}={from_env} names a file-system root")
        return CacheLocation(directory, directory.parent, (directory.name,), "environment")
    root = Path(os.path.abspath(config.root))
    if config.cache_dir:
        relative = os.path.normpath(config.cache_dir)
        if os.path.isabs(relative) or relative == "." or relative.split(os.sep)[0] == os.pardir:
            raise CacheRefused(f"cache-dir {config.cache_dir!r} is not inside the project "
                               f"(use {ENV_VAR} for a directory elsewhere)")
        parts = tuple(relative.split(os.sep))
        return CacheLocation(root.joinpath(*parts), root, parts, "setting")
    base = user_cache_base()
    if base is None:
        raise CacheUnavailable("no user cache directory")
    parts = (APP_DIR_NAME, project_key(root))
    return CacheLocation(base.joinpath(*parts), base, parts, "default")


def key_location(location: CacheLocation) -> CacheLocation:
    """Where the key that signs this cache's entries lives: in the cache directory, except for
    a ``cache-dir`` inside the project, whose files the repository may have committed — then
    in the user's cache directory (``raptor-lint/``)."""
    if location.origin != "setting":
        return location
    base = user_cache_base()
    if base is None:
        raise CacheUnavailable("no user cache directory for the signing key")
    return CacheLocation(base / APP_DIR_NAME, base, (APP_DIR_NAME,), "default")


def open_location(location: CacheLocation, create: bool = True) -> int:
    """A descriptor of the cache directory, each of ``location.parts`` opened without
    following symlinks (created, mode 0700, when missing and ``create``)."""
    anchor = str(location.anchor)
    if create and location.origin != "setting":
        try:
            os.makedirs(anchor, mode=0o700, exist_ok=True)
        except OSError as exc:
            raise CacheUnavailable(str(exc)) from exc
    try:
        fd = os.open(anchor, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | _CLOEXEC)
    except OSError as exc:
        raise CacheUnavailable(str(exc)) from exc
    # Inside the project, name the directory as the setting does (short, and what to fix).
    shown = Path() if location.origin == "setting" else location.anchor
    for part in location.parts:
        shown = shown / part
        try:
            child = open_directory(fd, part, create=create)
        except CacheRefused as exc:
            prefix = "cache-dir: " if location.origin == "setting" else ""
            raise CacheRefused(f"{prefix}{shown} {exc}") from None
        finally:
            os.close(fd)
        fd = child
    return fd


def open_directory(parent_fd: int, name: str, create: bool = True) -> int:
    """Open (or create, mode 0700) directory ``name`` in ``parent_fd`` without following a
    symlink; it must be owned by the effective user.  ``CacheRefused`` for a symlink or a
    foreign owner, ``CacheUnavailable`` (an ``OSError``-like miss) otherwise."""
    for attempt in range(2):
        try:
            fd = os.open(name, _DIRECTORY_FLAGS, dir_fd=parent_fd)
            break
        except FileNotFoundError:
            if not create or attempt:
                raise CacheUnavailable(f"{name} does not exist") from None
            try:
                os.mkdir(name, 0o700, dir_fd=parent_fd)
            except FileExistsError:
                pass
            except OSError as exc:
                raise CacheUnavailable(str(exc)) from exc
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR, errno.EMLINK):
                try:
                    if stat.S_ISLNK(os.lstat(name, dir_fd=parent_fd).st_mode):
                        raise CacheRefused("is a symlink") from None
                except OSError:
                    pass
            raise CacheUnavailable(str(exc)) from exc
    else:  # pragma: no cover - the loop always breaks or raises
        raise CacheUnavailable(name)
    owner = os.fstat(fd).st_uid
    if hasattr(os, "geteuid") and owner != os.geteuid():
        os.close(fd)
        raise CacheRefused(f"is owned by uid {owner}, not by this user")
    return fd


def refusal_warning(reason: str) -> str:
    """The one stderr line of a refused cache."""
    return f"raptor-lint: warning: not using the cache: {reason}"
