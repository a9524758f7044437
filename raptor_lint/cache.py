"""Findings cache in ``<project root>/.raptor_lint_cache/`` (``--no-cache`` turns it off).

One small JSON entry per linted file, at
``.raptor_lint_cache/<tool>/<xx>/<key>.json`` where ``<tool>`` fingerprints the
tool (version, the source of every raptor_lint module, the versions of the
libraries that shape findings, the Python version) and ``<key>`` hashes the
file's path and the configuration fingerprint (``Config.fingerprint()``).  An
entry is used only when all of these still match:

- the file's content (sha1 of its bytes);
- the project facts fingerprint: size and mtime of the runbook, the config
  manifest and every file of the migrations directory (project rules read them);
- for files whose findings consulted the project index (cross-module constants,
  project facts), also the project state: size and mtime of every lintable file
  of the project.  Such entries go stale whenever any file changes; the others
  depend only on their own content.  Non-Python files always count as such
  (a Procfile's RPT602 reads the gunicorn config file it names).

Speed (the warm run is all look-ups): an entry also records the file's size and
mtime when it was read, so an unchanged file is not even read — its content is
hashed only when its stat differs (then a matching hash is still a hit), and a
file modified within the last two seconds never trusts its stat (mtime
granularity).  When a run covers the whole project, the project state is taken
from the stats the look-ups made anyway instead of a second walk.

A run over the whole project also leaves a *snapshot*: every file's findings in one
entry (``.raptor_lint_cache/<tool>/runs/<config key>.json``), valid only while the
project state (every lintable file's size and mtime, and the facts fingerprint) is
exactly the one it was taken at, with every file older than two seconds then.  A warm
run over an unchanged project reads that one entry instead of one per file (3,678
opens and JSON parses on the bench corpus, ~40 % of the warm run); any difference
falls back to the per-file entries.

Entries are written by whoever linted the file (a worker process included), as
a temporary file renamed over the entry (``os.replace``): concurrent runs never
see half an entry.  Anything unreadable, truncated, of another shape or deleted
mid-run is a miss, and a cache that cannot be written is silently skipped: the
cache can make a run faster, never wrong or failing.  The directory ignores
itself (``.gitignore`` holding ``*``) and carries a ``CACHEDIR.TAG``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Callable, TypeGuard

from raptor_lint.atomic import replace_file
from raptor_lint.config import Config
from raptor_lint.findings import SAFE, UNSAFE, INTERNAL_ERROR, IO_ERROR, Edit, Finding, Fix
from raptor_lint.source import MTIME_TICK_NS

CACHE_DIR_NAME = ".raptor_lint_cache"
FORMAT = 1
CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by raptor-lint.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)
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
    return f"{path}:{st.st_size}:{st.st_mtime_ns}"


def _relative(root: str, path: Path | str) -> str:
    """``path`` relative to the project root, with ``/``: the same whatever the working
    directory (the project state and the snapshot name files so)."""
    absolute = os.path.abspath(path)
    prefix = root.rstrip(os.sep) + os.sep
    rel = absolute[len(prefix):] if absolute.startswith(prefix) else os.path.relpath(absolute, root)
    return rel.replace(os.sep, "/")


def _file_token(root: str, path: Path | str, st: "os.stat_result | None") -> str:
    """One project file in the project state: its relative path, size and mtime."""
    rel = _relative(root, path)
    return f"{rel}:missing" if st is None else f"{rel}:{st.st_size}:{st.st_mtime_ns}"


def _trusted(st: "os.stat_result | None", now_ns: int) -> "TypeGuard[os.stat_result]":
    """May this stat stand for the file's content later?  Not when the file changed within
    ``RECENT_NS``: a second change in the same mtime tick would keep size and mtime."""
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


def facts_fingerprint(config: Config) -> str:
    """Size and mtime of the files project rules read (runbook, manifest, migrations)."""
    from raptor_lint.config import ConfigError

    tokens = []
    for resolve in (config.resolved_migrations_dir, config.resolved_runbook, config.resolved_config_manifest):
        try:
            target = resolve()
        except ConfigError as exc:  # the run reports it; here it only has to differ
            tokens.append(f"error:{exc}")
            continue
        if target is None:
            tokens.append("none")
        elif target.is_dir():
            for directory, dirnames, filenames in os.walk(target):
                dirnames.sort()
                tokens.extend(_stat_token(Path(directory) / name) for name in sorted(filenames))
        else:
            tokens.append(_stat_token(target))
    return hashlib.sha1("\n".join(tokens).encode(), usedforsecurity=False).hexdigest()


def project_state_fingerprint(config: Config, stats: "dict[str, os.stat_result | None] | None" = None) -> str:
    """Size and mtime of every file a run over the project root would lint.

    ``stats``: path -> stat of exactly those files, when the caller already has them
    (a run over the whole project); otherwise the project is walked."""
    root = os.path.abspath(config.root)
    if stats is None:
        from raptor_lint.discovery import iter_files

        stats = {str(path): stat_or_none(path) for path, _kind in iter_files([config.root], config)}
    tokens = sorted(_file_token(root, path, st) for path, st in stats.items())
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update("\n".join(tokens).encode())
    digest.update(facts_fingerprint(config).encode())
    return digest.hexdigest()


class FindingsCache:
    """Read and write entries for one configuration.  Picklable (sent to workers)."""

    def __init__(self, config: Config, facts: str | None = None, project_state: str | None = None) -> None:
        self.config = config
        self.directory = config.root / CACHE_DIR_NAME
        self.tool_dir = self.directory / tool_fingerprint()[:20]
        self._tool_dir = str(self.tool_dir)
        self._root = os.path.abspath(config.root)  # as the project state names files from
        self.config_key = hashlib.sha1(config.fingerprint().encode(), usedforsecurity=False).hexdigest()
        self.facts = facts if facts is not None else facts_fingerprint(config)
        # Computed on first need (only entries that consulted the project need it).
        self._project_state = project_state

    # ------------------------------------------------------------- state
    def project_state(self) -> str:
        if self._project_state is None:
            self._project_state = project_state_fingerprint(self.config)
        return self._project_state

    def set_project_stats(self, stats: "dict[str, os.stat_result | None]") -> None:
        """The stats of every project file, taken by a run over the whole project before
        it linted anything: the project state without walking the project again."""
        if self._project_state is None:
            self._project_state = project_state_fingerprint(self.config, stats)

    def entry_path(self, path: Path) -> str:
        identity = f"{self.config_key}\0{os.path.abspath(path)}"
        key = hashlib.sha1(identity.encode(), usedforsecurity=False).hexdigest()
        return os.path.join(self._tool_dir, key[:2], f"{key[2:]}.json")

    # -------------------------------------------------------------- read
    def lookup(self, path: Path, data: "bytes | Callable[[], bytes | None]", display: str,
               st: "os.stat_result | None" = None) -> list[Finding] | None:
        """The cached findings for ``path`` with content ``data``, or None (a miss).

        ``data`` may be a function reading the file: it is called only when the
        entry's recorded stat does not match ``st`` (the file's stat before reading)."""
        try:
            with open(self.entry_path(path), "rb") as handle:
                entry = json.loads(handle.read())
            if entry["v"] != FORMAT or entry["path"] != os.path.abspath(path) or entry["facts"] != self.facts:
                return None
            recorded = entry.get("stat")
            if not (st is not None and recorded is not None
                    and recorded == [st.st_size, st.st_mtime_ns]):
                content = data() if callable(data) else data
                if content is None or entry["content"] != content_hash(content):
                    return None
            if entry["project"] is not None and entry["project"] != self.project_state():
                return None
            return [_decode(item, display) for item in entry["findings"]]
        except Exception:  # noqa: BLE001 - missing, truncated, corrupt, foreign: all misses
            return None

    # --------------------------------------------------------- snapshot
    def snapshot_path(self) -> str:
        return os.path.join(self._tool_dir, "runs", f"{self.config_key}.json")

    def load_snapshot(self) -> "dict[str, list] | None":
        """{path relative to the root: encoded findings} of the last whole-project run,
        when the project state is still the one it was taken at; else None."""
        try:
            with open(self.snapshot_path(), "rb") as handle:
                entry = json.loads(handle.read())
            if entry["v"] != FORMAT or entry["root"] != self._root \
                    or entry["project"] != self.project_state():
                return None
            files = entry["files"]
            return files if isinstance(files, dict) else None
        except Exception:  # noqa: BLE001 - missing, truncated, corrupt, foreign: a miss
            return None

    def snapshot_findings(self, snapshot: "dict[str, list]", path: Path, display: str) -> list[Finding] | None:
        try:
            return [_decode(item, display) for item in snapshot[_relative(self._root, path)]]
        except Exception:  # noqa: BLE001 - not in it, or of another shape: a miss
            return None

    def store_snapshot(self, results: "list[tuple[Path, str, list[Finding], os.stat_result | None]]") -> None:
        """Record a whole-project run (every file: path, display path, findings, its stat
        before it was read).  Skipped, like ``store``, when a file's stat is missing or
        recent (its content may still change within the same mtime) or a finding is an
        internal or I/O error or about another path."""
        now = time.time_ns()
        files: dict[str, list] = {}
        for path, display, findings, st in results:
            if not (_trusted(st, now) and _storable(findings, display)):
                return
            files[_relative(self._root, path)] = [_encode(f) for f in findings]
        try:
            entry = {"v": FORMAT, "root": self._root,
                     "project": self.project_state(), "files": files}
            target = Path(self.snapshot_path())
            self._ensure_directory(target.parent)
            _atomic_write(target, json.dumps(entry, separators=(",", ":")).encode())
        except Exception:  # noqa: BLE001 - read-only tree, disk full, deleted mid-run...
            pass

    # ------------------------------------------------------------- write
    def store(self, path: Path, data: bytes, findings: list[Finding], display: str,
              used_project: bool, st: "os.stat_result | None" = None) -> None:
        """Record ``findings`` for ``path`` as it was linted (``data``, read after taking
        the stat ``st``).  Never raises."""
        if not _storable(findings, display):
            return
        try:
            entry = {
                "v": FORMAT,
                "path": os.path.abspath(path),
                "stat": [st.st_size, st.st_mtime_ns] if _trusted(st, time.time_ns()) else None,
                "content": content_hash(data),
                "facts": self.facts,
                "project": self.project_state() if used_project else None,
                "findings": [_encode(f) for f in findings],
            }
            target = Path(self.entry_path(path))
            self._ensure_directory(target.parent)
            _atomic_write(target, json.dumps(entry, separators=(",", ":")).encode())
        except Exception:  # noqa: BLE001 - read-only tree, disk full, deleted mid-run...
            pass

    def _ensure_directory(self, shard: Path) -> None:
        if shard.is_dir():
            return
        if not self.directory.is_dir():
            self.directory.mkdir(parents=True, exist_ok=True)
        for name, text in ((".gitignore", "# Created by raptor-lint.\n*\n"), ("CACHEDIR.TAG", CACHEDIR_TAG)):
            if not (self.directory / name).exists():
                _atomic_write(self.directory / name, text.encode())
        shard.mkdir(parents=True, exist_ok=True)


def _atomic_write(target: Path, payload: bytes) -> None:
    replace_file(target, payload, keep_mode=False, durable=False)  # a lost entry is a miss


def _encode(finding: Finding) -> list:
    fix = None
    if finding.fix is not None:
        fix = [finding.fix.description,
               [[e.line, e.column, e.end_line, e.end_column, e.content] + ([] if e.path is None else [e.path])
                for e in finding.fix.edits],
               finding.fix.applicability]
    return [finding.line, finding.column, finding.end_line, finding.end_column,
            finding.code, finding.message, fix]


def _decode(item: list, display: str) -> Finding:
    line, column, end_line, end_column, code, message, fix = item
    decoded_fix = None
    if fix is not None:
        description, edits, applicability = fix
        # An edit of another file carries its absolute path (an entry is only ever read back
        # for the same absolute file and root, so it still names the same file).
        decoded_fix = Fix(str(description), tuple(Edit(int(a), int(b), int(c), int(d), str(e),
                                                       str(rest[0]) if rest else None)
                                                  for a, b, c, d, e, *rest in edits),
                          UNSAFE if applicability == UNSAFE else SAFE)
    return Finding(display, int(line), int(column), str(code), str(message),
                   None if end_line is None else int(end_line),
                   None if end_column is None else int(end_column), decoded_fix)


def make_cache(config: Config) -> FindingsCache | None:
    """The cache for this configuration, or None when the project root is not writable."""
    if not os.access(config.root, os.W_OK):
        return None
    return FindingsCache(config)


def clear_cache(config: Config) -> list[Path]:
    """``raptor-lint clean``: remove this project's cache; the directories removed."""
    import shutil

    directory = config.root / CACHE_DIR_NAME
    if directory.is_dir() and not directory.is_symlink():
        shutil.rmtree(directory, ignore_errors=True)
        return [directory]
    return []
