"""Findings cache: one signed entry per linted file, in the user's cache directory.

Where it lives and why a repository cannot choose: ``raptor_lint.cache_location`` (by
default ``~/.cache/raptor-lint/<project>-<hash>/``; ``RAPTOR_LINT_CACHE_DIR`` or the
``cache-dir`` setting move it; ``--no-cache`` turns it off).  How it stays bounded:
``raptor_lint.cache_prune``.

Layout: ``<cache>/<tool>/<xx>/<key>.json`` where ``<tool>`` fingerprints the tool
(version, the source of every raptor_lint module, the versions of the libraries that
shape findings, the Python version) and ``<key>`` hashes the file's path and the
configuration fingerprint (``Config.fingerprint()``).  An entry is used only when all of
these still match:

- the file's content (sha1 of its bytes);
- the project facts fingerprint: the stat of the runbook, the config manifest and every
  file of the migrations directory (project rules read them);
- for files whose findings consulted the project index (cross-module constants, project
  facts), also the project state: the stat of every ``.py`` (and lintable) file of the
  project, including those ``extend-exclude`` or the ignore files keep from being linted —
  the resolver reads any module an import names (``_project_stats``).  Such entries go
  stale whenever any such file changes; the others depend only on their own content.
  Non-Python files always count as such (a Procfile's RPT602 reads the gunicorn config
  file it names).

Trust: an entry is signed (keyed BLAKE2b over its name and bytes) with a random key kept
in the user's cache directory, so an entry the repository planted — a committed cache
directory, crafted to hide findings — is a miss.  Every entry read is also validated: the
shape and types, codes known to the rule registry (or always-reported), positions inside
the file (line 1 .. its line count, column >= 1, end not before start); anything else is a
miss.  Entries are opened with ``O_NOFOLLOW | O_NONBLOCK`` and must be regular files of
bounded size; everything below the cache directory is reached through directory
descriptors, so a symlink planted inside it cannot redirect a write.

Speed (the warm run is all look-ups): an entry also records the file's stat (size,
mtime, ctime, inode) when it was read, so an unchanged file is not even read — its
content is hashed only when the stat differs (then a matching hash is still a hit, and
the entry takes the new stat).  git's racy-clean rule (Documentation/technical/racy-git.txt):
a stat is recorded only when the file's mtime is older than the entry's write time by
more than the coarsest timestamp step (2 s) — a file modified within that window, or with
an mtime in the future, is always hashed, since a second change within the same tick could
keep size and mtime.  ctime is compared too (as git does): restoring an old mtime with
``touch -d``/``os.utime`` after an edit sets ctime, which no tool can restore.  The same
rule covers the files an entry depends on (other modules through the project state, the
runbook, manifest and migrations through the facts): those within the window when the run
began are recorded in the entry by content hash (``racy``), checked again on every look-up.

A run over the whole project also leaves a *snapshot*: every file's findings in one
entry (``<tool>/runs/<config and root key>.json``), valid only while the project state
(every lintable file's stat, and the facts fingerprint) is exactly the one it was taken
at, with every file older than two seconds then.  A warm run over an unchanged project
reads that one entry instead of one per file (3,678 opens and JSON parses on the bench
corpus, ~40 % of the warm run); any difference falls back to the per-file entries.

Entries are written by whoever linted the file (a worker process included), as a
temporary file renamed over the entry: concurrent runs never see half an entry.
Anything unreadable, truncated, unsigned, of another shape or deleted mid-run is a miss,
and a cache that cannot be written is silently skipped: the cache can make a run faster,
never wrong or failing.  The directory carries a ``CACHEDIR.TAG`` and a ``.gitignore``
holding ``*``.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import os
import secrets
import stat
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, TypeGuard

from raptor_lint.cache_location import (
    LEGACY_DIR_NAME, CacheLocation, CacheRefused, CacheUnavailable, key_location, locate,
    open_directory, open_location, refusal_warning,
)
from raptor_lint.config import Config
from raptor_lint.findings import (
    ALWAYS_REPORTED, SAFE, UNSAFE, INTERNAL_ERROR, IO_ERROR, Edit, Finding, Fix, Related,
)
from raptor_lint.safe_read import open_regular_file, read_open_file, read_regular_file
from raptor_lint.source import MTIME_TICK_NS

FORMAT = 2
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by raptor-lint.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)
GITIGNORE = "# Created by raptor-lint.\n*\n"
KEY_NAME = "key"
TAG_NAME = "CACHEDIR.TAG"
KEY_BYTES = 32
# Entries hold one file's findings; a snapshot those of a whole project.
MAX_ENTRY_BYTES = 16 * 1024 * 1024
MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024
# An entry served from is marked used (its mtime, which pruning reads) at most this often.
REFRESH_S = 24 * 3600
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC
# Libraries whose behaviour decides findings.
_LIBRARIES = ("libcst", "sqlglot", "astroid", "PyYAML")


def content_hash(data: bytes) -> str:
    return hashlib.sha1(data, usedforsecurity=False).hexdigest()


@functools.lru_cache(maxsize=None)
def tool_fingerprint() -> str:
    """Changes whenever raptor-lint's code, its key libraries or Python change."""
    import raptor_lint

    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(f"{FORMAT}\0{raptor_lint.__version__}\0{sys.version}\0".encode())
    versions = _library_versions()
    for name in _LIBRARIES:
        digest.update(f"{name}={versions.get(_dist_key(name), 'none')}\0".encode())
    package = Path(raptor_lint.__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        try:
            digest.update(path.read_bytes())
        except OSError:
            digest.update(b"unreadable")
    return digest.hexdigest()


# A file whose mtime is this recent may still change within the same mtime tick: its
# stat is not recorded, so the next run hashes its content.
RECENT_NS = MTIME_TICK_NS


def _dist_key(name: str) -> str:
    return name.lower().replace("-", "_").replace(".", "_")


def _library_versions() -> dict[str, str]:
    """Installed versions of ``_LIBRARIES``, from their ``*.dist-info`` directory names on
    ``sys.path`` (``name-version.dist-info``).  ``importlib.metadata`` gives the same answer
    but costs ~50-120 ms to import, more than a small pre-commit run spends linting."""
    wanted = {_dist_key(name) for name in _LIBRARIES}
    found: dict[str, str] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                project, _, version = name[: -len(".dist-info")].rpartition("-")
                key = _dist_key(project)
                if key in wanted and key not in found:
                    found[key] = version
    return found


def _stat_token(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return f"{path}:missing"
    return f"{path}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


def _relative(root: str, path: Path | str) -> str:
    """``path`` relative to the project root, with ``/``: the same whatever the working
    directory (the project state and the snapshot name files so)."""
    absolute = os.path.abspath(path)
    prefix = root.rstrip(os.sep) + os.sep
    rel = absolute[len(prefix):] if absolute.startswith(prefix) else os.path.relpath(absolute, root)
    return rel.replace(os.sep, "/")


def _file_token(root: str, path: Path | str, st: "os.stat_result | None") -> str:
    """One project file in the project state: its relative path and what its stat says
    about its content (size, mtime, ctime, inode: restoring an old mtime sets ctime)."""
    rel = _relative(root, path)
    return f"{rel}:missing" if st is None else f"{rel}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{st.st_ino}"


def _trusted(st: "os.stat_result | None", now_ns: int) -> "TypeGuard[os.stat_result]":
    """May this stat stand for the file's content later?  git's racy-clean rule: not when
    the file's mtime is within ``RECENT_NS`` of now (the entry's write time) or in the
    future — a second change in the same timestamp tick would keep size and mtime."""
    return st is not None and now_ns - st.st_mtime_ns > RECENT_NS


def _storable(findings: list[Finding], display: str) -> bool:
    """Internal and I/O errors may be transient (lint again next time); a finding about
    another path would be re-attributed to this one when read back."""
    return not any(f.code in (INTERNAL_ERROR, IO_ERROR) or f.path != display for f in findings)


def stat_or_none(path: Path | str) -> "os.stat_result | None":
    try:
        return os.stat(path)
    except OSError:
        return None


def _facts_files(config: Config) -> "list[str | Path]":
    """The files project rules read (runbook, manifest, every file of the migrations
    directory), in a fixed order, with a note in place of each one that is missing."""
    from raptor_lint.config import ConfigError

    items: list[str | Path] = []
    for resolve in (config.resolved_migrations_dir, config.resolved_runbook, config.resolved_config_manifest):
        try:
            target = resolve()
        except ConfigError as exc:  # the run reports it; here it only has to differ
            items.append(f"error:{exc}")
            continue
        if target is None:
            items.append("none")
        elif target.is_dir():
            for directory, dirnames, filenames in os.walk(target):
                dirnames.sort()
                items.extend(Path(directory) / name for name in sorted(filenames))
        else:
            items.append(target)
    return items


def facts_fingerprint(config: Config, items: "list[str | Path] | None" = None) -> str:
    """The stat of the files project rules read (runbook, manifest, migrations);
    ``items``: ``_facts_files(config)`` when the caller already has it."""
    if items is None:
        items = _facts_files(config)
    tokens = [item if isinstance(item, str) else _stat_token(item) for item in items]
    return hashlib.sha1("\n".join(tokens).encode("utf-8", "surrogateescape"), usedforsecurity=False).hexdigest()


def racy_content(root: str, stats: "Iterable[tuple[str, os.stat_result | None]]") -> dict[str, str]:
    """{path relative to the root: content hash} of the files whose stat cannot be trusted
    yet (git's racily clean entries: modified within ``RECENT_NS`` of now, or in the
    future).  An entry depending on them records these hashes and is served only while
    the files still hash the same: their stat alone could hide a second change."""
    now = time.time_ns()
    return {_relative(root, path): _content_hash_now(path)
            for path, st in stats if st is not None and not _trusted(st, now)}


def _content_hash_now(path: "Path | str") -> str:
    try:
        return content_hash(read_regular_file(path))
    except OSError:
        return "unreadable"


# Files the project state holds besides ``.py`` ones: those discovery may lint by name, and
# every file without a suffix (a shell script known by its shebang).
_STATE_SUFFIXES = frozenset({".py", ".sh", ".bash", ".mk", ".md", ".markdown", ".yml", ".yaml"})
# A directory holding one of these is a virtual environment or a cache, never project code
# (a gitignored ``venv311/`` may hold tens of thousands of files): the state skips it.
_NOT_PROJECT_MARKERS = ("pyvenv.cfg", TAG_NAME)


def _state_files(config: Config) -> list[str]:
    """The absolute paths of the files the project state covers: below the root, symlinked
    directories not followed, every ``.py`` file and every file discovery may lint — *without*
    ``extend-exclude`` or the ignore files.  The cross-module resolver reads whatever module an
    import names (a gitignored generated ``_version.py``, a ``local_settings.py``), so a file
    discovery skips may still decide another file's findings.  Only the built-in excludes
    (``.git``, ``.venv``, ``node_modules``... while ``exclude`` still lists them) and virtual
    environments and caches are skipped: never imported project code, and costly to walk."""
    from raptor_lint.config import DEFAULT_EXCLUDE, _exclude_matcher

    root = os.path.abspath(config.root)
    skip = _exclude_matcher(tuple(p for p in config.exclude if p in DEFAULT_EXCLUDE))
    found: list[str] = []
    pending: list[tuple[str, str]] = [(root, "")]
    while pending:
        directory, rel_dir = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
        except OSError:
            continue
        if rel_dir and any(entry.name in _NOT_PROJECT_MARKERS for entry in entries):
            continue
        for entry in entries:
            name = entry.name
            try:
                is_dir = entry.is_dir()  # follows a symlink: a symlinked directory is not a file
                if is_dir and entry.is_symlink():
                    continue
            except OSError:
                continue
            if is_dir:
                rel = f"{rel_dir}/{name}" if rel_dir else name
                if not skip(name, rel):
                    pending.append((entry.path, rel))
                continue
            dot = name.rfind(".")
            suffix = name[dot:].lower() if 0 < dot < len(name) - 1 else ""
            if not suffix or suffix in _STATE_SUFFIXES or name.startswith("Procfile"):
                found.append(entry.path)
    return found


def _project_stats(config: Config, known: "dict[str, os.stat_result | None] | None" = None,
                   ) -> "dict[str, os.stat_result | None]":
    """{absolute path: stat} of the files of the project state (``_state_files``), and of
    ``known`` (path: stat of the files a run over the whole project lints, taken before it
    read them; their stats are used as they are, and the snapshot depends on each of them)."""
    root = os.path.abspath(config.root)
    stats: dict[str, os.stat_result | None] = {}
    if known:
        for path, st in known.items():
            stats[os.path.join(root, _relative(root, path))] = st
    for path in _state_files(config):
        if path not in stats:
            stats[path] = stat_or_none(path)
    return stats


def project_state_fingerprint(config: Config, stats: "dict[str, os.stat_result | None] | None" = None) -> str:
    """The stat of every file of the project state (``_state_files``).

    ``stats``: the stats of the files a run over the whole project lints, when the caller
    already has them (used as they are); the rest of the project is walked."""
    return _state_fingerprint(config, _project_stats(config, stats))


def _state_fingerprint(config: Config, stats: "dict[str, os.stat_result | None]", facts: str | None = None) -> str:
    """``facts``: ``facts_fingerprint(config)`` when the caller already has it."""
    root = os.path.abspath(config.root)
    tokens = sorted(_file_token(root, path, st) for path, st in stats.items())
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update("\n".join(tokens).encode("utf-8", "surrogateescape"))
    digest.update((facts if facts is not None else facts_fingerprint(config)).encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


class FindingsCache:
    """Read and write entries for one configuration.  Picklable (sent to workers): the
    directory descriptors are per process and reopened (and re-checked) after pickling."""

    def __init__(self, config: Config, location: CacheLocation | None = None) -> None:
        self.config = config
        self.location = location if location is not None else locate(config)
        self.directory = self.location.directory
        self.tool_name = tool_fingerprint()[:20]
        self.tool_dir = self.directory / self.tool_name
        self._root = os.path.abspath(config.root)  # as the project state names files from
        # surrogateescape: a root or file name that is not UTF-8 (caf\xe9/) is still a key.
        fingerprint = config.fingerprint().encode("utf-8", "surrogateescape")
        self.config_key = hashlib.sha1(fingerprint, usedforsecurity=False).hexdigest()
        facts_files = _facts_files(config)  # walked once: the facts and their racy files
        self.facts = facts_fingerprint(config, facts_files)
        # Facts files whose stat is too recent to stand for their content: every entry
        # records their hashes (taken now, before anything is linted).
        self._racy_facts = racy_content(self._root, ((str(item), stat_or_none(item))
                                                     for item in facts_files if not isinstance(item, str)))
        # Computed on first need (only entries that consulted the project need it).
        self._project_state: str | None = None
        self._racy_project: dict[str, str] = {}
        self._hashes_now: dict[str, str] = {}  # racy files hashed by look-ups, per run
        self._key: bytes | None = None
        self._known_codes: frozenset[str] | None = None
        self._fds: dict[str, int] = {}  # "cache", "tool": open directory descriptors
        self._failed = False  # the directory could not be opened: every operation is a no-op
        # Look-ups that had to hash the file's content (the stat did not answer).
        self.content_hashes = 0

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_fds"] = {}
        return state

    # ---------------------------------------------------------- directories
    def open(self) -> None:
        """Open (create) the cache directory and its key.  Raises ``CacheRefused`` (warn)
        or ``CacheUnavailable`` (stay quiet); ``make_cache`` turns both into no cache."""
        if "cache" in self._fds:
            return
        fd = open_location(self.location)
        try:
            _claim(fd, self.location)
            self._key = self._load_key(fd)
        except BaseException:
            os.close(fd)
            raise
        self._fds["cache"] = fd

    def _load_key(self, cache_fd: int) -> bytes:
        if key_location(self.location) is self.location:
            return _load_or_create_key(cache_fd)
        fd = open_location(key_location(self.location))
        try:
            return _load_or_create_key(fd)
        finally:
            os.close(fd)

    def _cache_fd(self) -> int:
        if "cache" not in self._fds:
            if self._failed:
                raise CacheUnavailable("not opened")
            try:
                self.open()
            except (CacheRefused, CacheUnavailable, OSError):
                self._failed = True
                raise CacheUnavailable("not opened") from None
        return self._fds["cache"]

    def _tool_fd(self, create: bool) -> int:
        if "tool" not in self._fds:
            self._fds["tool"] = open_directory(self._cache_fd(), self.tool_name, create=create)
        return self._fds["tool"]

    def close(self) -> None:
        for fd in self._fds.values():
            try:
                os.close(fd)
            except OSError:
                pass
        self._fds.clear()

    # ------------------------------------------------------------- state
    def project_state(self) -> str:
        if self._project_state is None:
            self._take_project_state(_project_stats(self.config))
        assert self._project_state is not None
        return self._project_state

    def set_project_stats(self, stats: "dict[str, os.stat_result | None]") -> None:
        """The stats of every project file, taken by a run over the whole project before
        it linted anything: the project state without walking the project again."""
        if self._project_state is None:
            self._take_project_state(_project_stats(self.config, stats))

    def _take_project_state(self, stats: "dict[str, os.stat_result | None]") -> None:
        """``stats``: every file of the state (``_project_stats``)."""
        self._project_state = _state_fingerprint(self.config, stats, self.facts)
        self._racy_project = racy_content(self._root, stats.items())

    def _racy_for_entry(self, used_project: bool) -> dict[str, str]:
        if not used_project:
            return dict(self._racy_facts)
        self.project_state()
        return {**self._racy_facts, **self._racy_project}

    def _still_same(self, racy: Any) -> bool:
        """Do the files an entry recorded as racy still hash as they did?"""
        if not isinstance(racy, dict):
            return False
        for rel, recorded in racy.items():
            if rel not in self._hashes_now:
                self._hashes_now[rel] = _content_hash_now(os.path.join(self._root, rel))
            if self._hashes_now[rel] != recorded:
                return False
        return True

    def entry_name(self, path: Path) -> str:
        """The entry's path relative to the tool directory."""
        identity = f"{self.config_key}\0{os.path.abspath(path)}"
        key = hashlib.sha1(identity.encode("utf-8", "surrogateescape"), usedforsecurity=False).hexdigest()
        return f"{key[:2]}/{key[2:]}.json"

    def entry_path(self, path: Path) -> str:
        return os.path.join(self.tool_dir, self.entry_name(path))

    def known_codes(self) -> frozenset[str]:
        """Codes an entry may carry: those of the rule families (as the engine finds them)
        and the always-reported ones."""
        if self._known_codes is None:
            from raptor_lint import engine

            self._known_codes = frozenset(code for cls in engine.checker_classes() for code in cls.codes()) \
                | frozenset(ALWAYS_REPORTED)
        return self._known_codes

    # -------------------------------------------------------------- read
    def lookup(self, path: Path, data: "bytes | Callable[[], bytes | None]", display: str,
               st: "os.stat_result | None" = None) -> list[Finding] | None:
        """The cached findings for ``path`` with content ``data``, or None (a miss).

        ``data`` may be a function reading the file: it is called only when the
        entry's recorded stat does not match ``st`` (the file's stat before reading)."""
        try:
            name = self.entry_name(path)
            found = self._read_signed(name, MAX_ENTRY_BYTES)
            if found is None:
                return None
            entry, _entry_st = found
            if entry["v"] != FORMAT or entry["path"] != os.path.abspath(path) \
                    or entry["config"] != self.config_key or entry["facts"] != self.facts:
                return None
            recorded = entry["stat"]
            restat = False
            if not (st is not None and recorded is not None and recorded == _stat_list(st)):
                content = data() if callable(data) else data
                self.content_hashes += 1
                if content is None or entry["content"] != content_hash(content) \
                        or entry["lines"] != line_bound(content):
                    return None
                restat = _trusted(st, time.time_ns())  # a hit: next time the stat answers
            if entry["project"] is not None and entry["project"] != self.project_state():
                return None
            if not self._still_same(entry["racy"]):
                return None
            findings = self._decode_all(entry["findings"], display, entry["lines"])
            if findings is None:
                return None
            if restat and st is not None:
                entry["stat"] = _stat_list(st)
                self._write_signed(name, entry)
            return findings
        except Exception:  # noqa: BLE001 - missing, truncated, corrupt, foreign: all misses
            return None

    def _decode_all(self, items: Any, display: str, max_line: Any) -> list[Finding] | None:
        if not isinstance(items, list) or type(max_line) is not int:
            return None
        known = self.known_codes()
        decoded = []
        for item in items:
            finding = _decode(item, display)
            if finding is None or not _valid(finding, known, max_line):
                return None
            decoded.append(finding)
        return decoded

    # --------------------------------------------------------- snapshot
    def snapshot_name(self) -> str:
        identity = f"{self.config_key}\0{self._root}".encode("utf-8", "surrogateescape")
        return f"runs/{hashlib.sha1(identity, usedforsecurity=False).hexdigest()}.json"

    def snapshot_path(self) -> str:
        return os.path.join(self.tool_dir, self.snapshot_name())

    def load_snapshot(self) -> "dict[str, list] | None":
        """{path relative to the root: [line bound, encoded findings]} of the last
        whole-project run, when the project state is still the one it was taken at."""
        try:
            found = self._read_signed(self.snapshot_name(), MAX_SNAPSHOT_BYTES)
            if found is None:
                return None
            entry, _entry_st = found
            if entry["v"] != FORMAT or entry["root"] != self._root or entry["config"] != self.config_key \
                    or entry["project"] != self.project_state():
                return None
            files = entry["files"]
            if not isinstance(files, dict):
                return None
            return files
        except Exception:  # noqa: BLE001 - missing, truncated, corrupt, foreign: a miss
            return None

    def snapshot_findings(self, snapshot: "dict[str, list]", path: Path, display: str) -> list[Finding] | None:
        try:
            max_line, items = snapshot[_relative(self._root, path)]
            return self._decode_all(items, display, max_line)
        except Exception:  # noqa: BLE001 - not in it, or of another shape: a miss
            return None

    def store_snapshot(self, results: "list[tuple[Path, str, list[Finding], os.stat_result | None]]") -> None:
        """Record a whole-project run (every file: path, display path, findings, its stat
        before it was read).  Skipped, like ``store``, when a file's stat is missing or
        recent (its content may still change within the same mtime) or a finding is an
        internal or I/O error or about another path."""
        if self._racy_facts or self._racy_project:
            return  # a racy file's stat could hide a change the snapshot would not notice
        now = time.time_ns()
        files: dict[str, list] = {}
        for path, display, findings, st in results:
            if not (_trusted(st, now) and _storable(findings, display)):
                return
            # The file's size bounds its line count (the snapshot is only read while every
            # file's stat, hence its size, is what it was).
            files[_relative(self._root, path)] = [st.st_size + 1, [_encode(f) for f in findings]]
        try:
            self._write_signed(self.snapshot_name(), {
                "v": FORMAT, "root": self._root, "config": self.config_key,
                "project": self.project_state(), "files": files})
        except Exception:  # noqa: BLE001 - read-only, disk full, deleted mid-run...
            pass

    # ------------------------------------------------------------- write
    def store(self, path: Path, data: bytes, findings: list[Finding], display: str,
              used_project: bool, st: "os.stat_result | None" = None) -> None:
        """Record ``findings`` for ``path`` as it was linted (``data``, read after taking
        the stat ``st``).  Never raises."""
        if not _storable(findings, display):
            return
        try:
            self._write_signed(self.entry_name(path), {
                "v": FORMAT,
                "path": os.path.abspath(path),
                "config": self.config_key,
                "stat": _stat_list(st) if _trusted(st, time.time_ns()) else None,
                "content": content_hash(data),
                "lines": line_bound(data),
                "facts": self.facts,
                "project": self.project_state() if used_project else None,
                "racy": self._racy_for_entry(used_project),
                "findings": [_encode(f) for f in findings],
            })
        except Exception:  # noqa: BLE001 - read-only, disk full, deleted mid-run...
            pass

    # ---------------------------------------------------------- signing
    def _signature(self, name: str, body: bytes) -> bytes:
        if self._key is None:
            self._cache_fd()  # opens the directory and loads the key, or raises
        if self._key is None:  # pragma: no cover - open() always sets it
            raise CacheUnavailable("no key")
        digest = hashlib.blake2b(key=self._key, digest_size=32)
        digest.update(name.encode() + b"\0" + body)
        return digest.hexdigest().encode()

    def _read_signed(self, name: str, cap: int) -> "tuple[Any, os.stat_result] | None":
        """The entry ``name`` (relative to the tool directory) when it is a regular file of
        at most ``cap`` bytes signed with this user's key; else None."""
        try:
            tool_fd = self._tool_fd(create=False)
        except (CacheUnavailable, CacheRefused, OSError):
            return None
        found = _read_regular(tool_fd, name, cap)
        if found is None:
            return None
        raw, entry_st = found
        signature, _, body = raw.partition(b"\n")
        if not hmac.compare_digest(signature, self._signature(name, body)):
            return None
        return json.loads(body), entry_st

    def _write_signed(self, name: str, entry: dict) -> None:
        body = json.dumps(entry, separators=(",", ":")).encode()
        payload = self._signature(name, body) + b"\n" + body
        directory, _, filename = name.rpartition("/")
        tool_fd = self._tool_fd(create=True)
        shard_fd = open_directory(tool_fd, directory)
        try:
            _write_file(shard_fd, filename, payload)
        finally:
            os.close(shard_fd)


def _claim(cache_fd: int, location: CacheLocation) -> None:
    """Make the directory a cache (``CACHEDIR.TAG``, ``.gitignore``) when it is empty; one
    that already is (its tag) is used as it is.  Anything else — say ``RAPTOR_LINT_CACHE_DIR``
    or ``cache-dir`` naming a directory of the user's — is refused: a ``.gitignore`` holding
    ``*`` there would hide it from git, and pruning or ``clean`` would remove from it."""
    try:
        os.stat(TAG_NAME, dir_fd=cache_fd, follow_symlinks=False)
        return
    except FileNotFoundError:
        pass
    if os.listdir(cache_fd):
        shown = "cache-dir: " + "/".join(location.parts) if location.origin == "setting" else location.directory
        raise CacheRefused(f"{shown} is not empty and has no {TAG_NAME}")
    for name, text in ((".gitignore", GITIGNORE), (TAG_NAME, CACHEDIR_TAG)):  # the tag last
        _write_file(cache_fd, name, text.encode())


def _read_regular(dir_fd: int, name: str, cap: int) -> "tuple[bytes, os.stat_result] | None":
    """``name``'s bytes if it is a regular file of at most ``cap`` bytes (opened without
    following a symlink or blocking on a FIFO); else None.  A file last written or read more
    than ``REFRESH_S`` ago gets a new mtime: pruning removes what no run reads for a month."""
    try:
        fd = open_regular_file(name, limit=cap, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:  # UnreadableFile
        return None
    try:
        st = os.fstat(fd)
        data = read_open_file(fd, name, limit=cap)
        if time.time() - st.st_mtime > REFRESH_S:
            try:
                os.utime(fd)
            except OSError:
                pass
        return data, st
    except OSError:
        return None
    finally:
        os.close(fd)


def _write_file(dir_fd: int, name: str, payload: bytes) -> None:
    """Write ``name`` in ``dir_fd`` as a temporary file renamed over it (never following a
    symlink; a symlink named ``name`` is replaced, not written through)."""
    temporary = f".{name}.{os.getpid()}.{secrets.token_hex(4)}.raptor-lint.tmp"
    fd = os.open(temporary, _CREATE_FLAGS, 0o600, dir_fd=dir_fd)
    try:
        try:
            view = memoryview(payload)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except BaseException:
        try:
            os.unlink(temporary, dir_fd=dir_fd)
        except OSError:
            pass
        raise


def _load_or_create_key(dir_fd: int) -> bytes:
    """The signing key in ``dir_fd``: read when it is a regular file of this user holding
    ``KEY_BYTES`` bytes, else a fresh random one (created without overwriting a concurrent
    run's: write a temporary file, then ``link`` it to the name)."""
    for _attempt in range(3):
        found = _read_regular(dir_fd, KEY_NAME, KEY_BYTES)
        if found is not None:
            key, st = found
            if len(key) == KEY_BYTES and (not hasattr(os, "geteuid") or st.st_uid == os.geteuid()) \
                    and not st.st_mode & 0o077:
                return key
            os.unlink(KEY_NAME, dir_fd=dir_fd)  # not one this user alone could have written
        key = secrets.token_bytes(KEY_BYTES)
        temporary = f".{KEY_NAME}.{os.getpid()}.{secrets.token_hex(4)}.raptor-lint.tmp"
        fd = os.open(temporary, _CREATE_FLAGS, 0o600, dir_fd=dir_fd)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(key)
            try:
                os.link(temporary, KEY_NAME, src_dir_fd=dir_fd, dst_dir_fd=dir_fd, follow_symlinks=False)
                return key
            except FileExistsError:
                continue  # a concurrent run made one first: use theirs
        finally:
            try:
                os.unlink(temporary, dir_fd=dir_fd)
            except OSError:
                pass
    raise CacheUnavailable("no signing key")


def line_bound(data: bytes) -> int:
    """An upper bound of the number of lines of ``data`` in any encoding a source file may
    use (every line break holds a ``\\n`` or ``\\r`` byte; ``\\r\\n`` counted once)."""
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n") + 1


def _stat_list(st: os.stat_result) -> list[int]:
    """What a stat says about the content (git's ``stat_data`` less uid/gid/dev)."""
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _encode(finding: Finding) -> list:
    fix = None
    if finding.fix is not None:
        fix = [finding.fix.description,
               [[e.line, e.column, e.end_line, e.end_column, e.content] + ([] if e.path is None else [e.path])
                for e in finding.fix.edits],
               finding.fix.applicability]
    related = [[r.path, r.line, r.column, r.message] for r in finding.related]
    return [finding.line, finding.column, finding.end_line, finding.end_column,
            finding.code, finding.message, fix, finding.note, related]


def _is_int(value: Any) -> TypeGuard[int]:
    return type(value) is int


def _is_str(value: Any) -> TypeGuard[str]:
    return type(value) is str


def _decode(item: Any, display: str) -> Finding | None:
    """The finding an entry holds, or None when any part has another shape or type."""
    if not isinstance(item, list) or len(item) != 9:
        return None
    line, column, end_line, end_column, code, message, fix, note, related = item
    if not (_is_int(line) and _is_int(column) and _is_str(code) and _is_str(message)
            and (end_line is None or _is_int(end_line)) and (end_column is None or _is_int(end_column))
            and (note is None or _is_str(note)) and isinstance(related, list)):
        return None
    decoded_fix = None
    if fix is not None:
        if not (isinstance(fix, list) and len(fix) == 3 and _is_str(fix[0]) and isinstance(fix[1], list)
                and fix[2] in (SAFE, UNSAFE)):
            return None
        edits = []
        for edit in fix[1]:
            # An edit of another file carries its absolute path (an entry is only ever read
            # back for the same absolute file and root, so it still names the same file).
            if not (isinstance(edit, list) and len(edit) in (5, 6) and all(_is_int(v) for v in edit[:4])
                    and all(_is_str(v) for v in edit[4:])) or (len(edit) == 6 and not os.path.isabs(edit[5])):
                return None
            edits.append(Edit(edit[0], edit[1], edit[2], edit[3], edit[4], edit[5] if len(edit) == 6 else None))
        decoded_fix = Fix(fix[0], tuple(edits), fix[2])
    places = []
    for place in related:
        if not (isinstance(place, list) and len(place) == 4 and _is_str(place[0]) and _is_int(place[1])
                and _is_int(place[2]) and _is_str(place[3]) and place[1] >= 1 and place[2] >= 1):
            return None
        places.append(Related(*place))
    return Finding(display, line, column, code, message, end_line, end_column, decoded_fix,
                   note, tuple(places))


def _valid(finding: Finding, known_codes: frozenset[str], max_line: int) -> bool:
    """Could the linter have reported this on a file of at most ``max_line`` lines?"""
    if finding.code not in known_codes or not _inside(finding.line, finding.column, max_line):
        return False
    if (finding.end_line is None) != (finding.end_column is None):
        return False
    if finding.end_line is not None and finding.end_column is not None and not (
            _inside(finding.end_line, finding.end_column, max_line)
            and (finding.end_line, finding.end_column) >= (finding.line, finding.column)):
        return False
    if finding.fix is not None:
        for edit in finding.fix.edits:
            if not (edit.line >= 1 and edit.column >= 1
                    and (edit.end_line, edit.end_column) >= (edit.line, edit.column)):
                return False
            if edit.path is None and not (_inside(edit.line, edit.column, max_line)
                                          and _inside(edit.end_line, edit.end_column, max_line)):
                return False
    return True


def _inside(line: int, column: int, max_line: int) -> bool:
    return 1 <= line <= max_line and column >= 1


# ------------------------------------------------------------------ entry points
def make_cache(config: Config) -> FindingsCache | None:
    """This run's cache, or None: no cache directory could be had, or it was refused (a
    symlink, another user's, a ``cache-dir`` outside the project: one warning line on
    stderr).  Prunes it when due (at most daily).  Where directory descriptors cannot be
    used (``os.supports_dir_fd``: not on Windows) there is no cache: it could not be kept
    from following a planted symlink."""
    if os.open not in os.supports_dir_fd or os.mkdir not in os.supports_dir_fd:
        return None
    try:
        cache = FindingsCache(config)
        cache.open()
    except CacheRefused as exc:
        print(refusal_warning(str(exc)), file=sys.stderr)
        return None
    except (CacheUnavailable, OSError, ValueError):
        return None
    _prune_if_due(cache)
    return cache


def _prune_if_due(cache: FindingsCache) -> None:
    from raptor_lint import cache_prune

    try:
        cache_fd = cache._cache_fd()
        if not cache_prune.prune_due(cache_fd):
            return
        cache_prune.touch_stamp(cache_fd)  # first: a concurrent run does not prune as well
        cache_prune.prune(cache_fd, cache.tool_name)
        siblings = cache.location.siblings
        if siblings is not None:
            cache_prune.prune_siblings(siblings, cache.directory.name)
    except Exception:  # noqa: BLE001 - pruning is housekeeping: never fail a run for it
        pass


def cache_directory(config: Config) -> Path | None:
    """Where this project's cache lives (whether or not it exists), or None."""
    try:
        return locate(config).directory
    except (CacheRefused, CacheUnavailable):
        return None


def clear_cache(config: Config) -> list[Path]:
    """``raptor-lint clean``: remove this project's cache wherever it lives (and the
    in-checkout ``.raptor_lint_cache/`` of earlier versions); the directories removed.
    Only what raptor-lint makes is removed, never through a symlink: a symlink, another
    user's directory or one without a ``CACHEDIR.TAG`` in the cache's place is left alone."""
    import shutil

    removed: list[Path] = []
    try:
        location: CacheLocation | None = locate(config)
    except (CacheRefused, CacheUnavailable):
        location = None
    if location is not None and _remove_cache_contents(location):
        removed.append(location.directory)
    legacy = config.root / LEGACY_DIR_NAME
    try:
        st = os.lstat(legacy)
        ours = stat.S_ISDIR(st.st_mode) and (not hasattr(os, "geteuid") or st.st_uid == os.geteuid()) \
            and (legacy / TAG_NAME).is_file()
    except OSError:
        ours = False
    if ours and legacy != (location.directory if location is not None else None):
        shutil.rmtree(legacy, ignore_errors=True)  # fd-based: never follows a symlink
        removed.append(legacy)
    return removed


def _remove_cache_contents(location: CacheLocation) -> bool:
    """Remove the tool directories and raptor-lint's own files from the cache directory,
    then the directory itself if that emptied it.  False when it is not a cache."""
    import shutil

    from raptor_lint.cache_location import TOOL_DIR_PATTERN
    from raptor_lint.cache_prune import STAMP, TEMPORARY_SUFFIX

    try:
        fd = open_location(location, create=False)
    except (CacheRefused, CacheUnavailable, OSError):
        return False
    try:
        try:
            os.stat(TAG_NAME, dir_fd=fd, follow_symlinks=False)
        except OSError:
            return False
        own_files = {".gitignore", KEY_NAME, STAMP}
        for name in os.listdir(fd):
            try:
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode) and TOOL_DIR_PATTERN.fullmatch(name):
                    shutil.rmtree(os.path.join(location.directory, name), ignore_errors=True)
                elif name in own_files or name.endswith(TEMPORARY_SUFFIX):
                    os.unlink(name, dir_fd=fd)
            except OSError:
                continue
        try:
            os.unlink(TAG_NAME, dir_fd=fd)  # last: an interrupted clean leaves a cache, not a stranger
        except OSError:
            pass
    finally:
        os.close(fd)
    try:
        os.rmdir(location.directory)
    except OSError:
        pass
    return True
