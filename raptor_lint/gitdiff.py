"""``check --base REF``: what changed since a git revision.

The runner asks for ``changes(project)`` once per run and uses it twice:
files with no change are not linted, and findings outside the changed lines
are dropped.  RPT501 asks the same fact whether a migration is new since REF,
and for the factory module's text at REF (is the flag read new?).

"Changed" is the diff of REF against the working tree (``git diff REF``:
committed, staged and unstaged edits alike); untracked, not ignored files are
wholly new.  Only added/modified lines count (a pure deletion leaves nothing to
report on).  git always runs with an argument list, never through a shell.
"""

from __future__ import annotations

import codecs
import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from raptor_lint.findings import INTERNAL_ERROR, IO_ERROR, SYNTAX_ERROR, Finding

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.engine import FileResult
    from raptor_lint.project import ProjectIndex

# Findings that describe the file rather than a line: kept for any changed file.
_FILE_LEVEL = {SYNTAX_ERROR, IO_ERROR, INTERNAL_ERROR}
_HUNK = re.compile(rb"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")


class GitError(Exception):
    """``--base`` cannot be honoured (no git, not a repository, unknown REF); one line."""


@dataclass
class Changes:
    ref: str
    commit: str
    toplevel: Path
    # Resolved path -> changed line numbers (1-based, in the working-tree file).
    lines: dict[Path, frozenset[int]] = field(default_factory=dict)
    # Resolved paths that did not exist at REF (added since, or untracked).
    new_files: frozenset[Path] = frozenset()
    _at_ref: dict[Path, str | None] = field(default_factory=dict, repr=False)

    # ------------------------------------------------------------ files/lines
    def touches(self, path: Path) -> bool:
        key = _key(path)
        return key in self.new_files or bool(self.lines.get(key))

    def is_new(self, path: Path) -> bool:
        return _key(path) in self.new_files

    def keeps(self, path: Path, finding: Finding) -> bool:
        key = _key(path)
        if key in self.new_files:
            return True
        changed = self.lines.get(key)
        if not changed:
            return False
        if finding.code in _FILE_LEVEL:
            return True
        end = max(finding.end_line or finding.line, finding.line)
        return any(line in changed for line in range(finding.line, end + 1))

    def select(self, files: Iterable[tuple[Path, str]]) -> Iterator[tuple[Path, str]]:
        return ((path, kind) for path, kind in files if self.touches(path))

    def apply(self, results: Iterable["FileResult"]) -> None:
        for result in results:
            result.findings = [f for f in result.findings if self.keeps(result.path, f)]

    # ----------------------------------------------------------- REF content
    def text_at_ref(self, path: Path) -> str | None:
        """The file's text at REF (None when it did not exist there or is not text)."""
        key = _key(path)
        if key not in self._at_ref:
            text = None
            try:
                rel = key.relative_to(self.toplevel).as_posix()
            except ValueError:
                rel = None
            if rel is not None and key not in self.new_files:
                proc = _git(["show", f"{self.commit}:{rel}"], self.toplevel)
                if proc.returncode == 0:
                    text = proc.stdout.decode("utf-8", "replace")
            self._at_ref[key] = text
        return self._at_ref[key]


def changes(project: "ProjectIndex") -> Changes | None:
    """ProjectIndex fact: the changes since ``config.base`` (None without ``--base``)."""
    ref = getattr(project.config, "base", None)
    if not ref:
        return None
    return compute(project.config.root, ref)


def compute(directory: Path, ref: str) -> Changes:
    """Changed lines and new files since ``ref``, for the repository holding ``directory``."""
    if ref.startswith("-") or not ref.strip():
        raise GitError(f"--base {ref!r}: not a git revision")
    proc = _git(["rev-parse", "--show-toplevel"], directory)
    if proc.returncode != 0:
        raise GitError(f"--base {ref}: {directory} is not inside a git repository ({_stderr(proc)})")
    toplevel = Path(os.fsdecode(proc.stdout.strip())).resolve()
    proc = _git(["rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"], toplevel)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise GitError(f"--base {ref}: unknown git revision in {toplevel}")
    commit = proc.stdout.decode().strip()

    proc = _git(["-c", "core.quotePath=false", "diff", "--no-color", "--no-ext-diff", "--no-textconv",
                 "--unified=0", "--find-renames", "--ignore-submodules", "--no-relative",
                 "--src-prefix=a/", "--dst-prefix=b/", commit, "--"], toplevel)
    if proc.returncode != 0:
        raise GitError(f"--base {ref}: git diff failed: {_stderr(proc)}")
    lines, new_files = parse_diff(proc.stdout, toplevel)

    proc = _git(["ls-files", "-z", "--others", "--exclude-standard", "--full-name"], toplevel)
    if proc.returncode != 0:
        raise GitError(f"--base {ref}: git ls-files failed: {_stderr(proc)}")
    for raw in proc.stdout.split(b"\0"):
        if raw:
            new_files.add(_key(toplevel / os.fsdecode(raw)))
    return Changes(ref=ref, commit=commit, toplevel=toplevel,
                   lines={k: frozenset(v) for k, v in lines.items()}, new_files=frozenset(new_files))


def parse_diff(output: bytes, toplevel: Path) -> tuple[dict[Path, set[int]], set[Path]]:
    """Added lines per file and added files, from ``git diff --unified=0`` output."""
    lines: dict[Path, set[int]] = {}
    new_files: set[Path] = set()
    current: set[int] | None = None
    in_header = False
    created = False
    for line in output.split(b"\n"):
        if line.startswith(b"diff --git "):
            in_header, created, current = True, False, None
        elif in_header and line.startswith(b"new file mode"):
            created = True
        elif in_header and line.startswith(b"+++ "):
            name = _diff_path(line[4:])
            if name is None:  # deleted file
                current = None
                continue
            key = _key(toplevel / name)
            current = lines.setdefault(key, set())
            if created:
                new_files.add(key)
        elif line.startswith(b"@@"):
            in_header = False
            match = _HUNK.match(line)
            if match and current is not None:
                start = int(match.group(1))
                count = int(match.group(2)) if match.group(2) is not None else 1
                current.update(range(start, start + count))
    return lines, new_files


def _diff_path(raw: bytes) -> str | None:
    raw = raw.rstrip(b"\r")
    if raw.startswith(b"\""):  # C-style quoted by git (tabs, quotes, backslashes ...)
        raw = codecs.escape_decode(raw[1:-1])[0]
    if raw == b"/dev/null":
        return None
    if raw.startswith(b"b/"):
        raw = raw[2:]
    return os.fsdecode(raw)


def _key(path: Path) -> Path:
    try:
        return Path(os.path.realpath(path))
    except OSError:  # pragma: no cover
        return Path(os.path.abspath(path))


def _git(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise GitError("--base needs git, and git is not installed (not found on PATH)") from None
    except OSError as exc:
        raise GitError(f"--base: cannot run git: {exc}") from None


def _stderr(proc: subprocess.CompletedProcess) -> str:
    text = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    return text[0] if text else f"exit status {proc.returncode}"
