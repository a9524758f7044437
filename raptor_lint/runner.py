"""One ``check`` run over many paths: discovery, the engine per file, totals.

Kept apart from the click layer so later features (cache, parallel jobs,
``--base`` filtering, fixes) slot in here without touching argument parsing.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from raptor_lint.config import Config
from raptor_lint.discovery import file_kind, iter_files, PYTHON
from raptor_lint.engine import Engine, FileResult
from raptor_lint.findings import INTERNAL_ERROR, Finding


@dataclass
class CheckOptions:
    paths: list[Path]
    stdin_filename: str | None = None
    fix: bool = False
    diff: bool = False
    base: str | None = None
    use_cache: bool = True
    jobs: int | None = None
    verbose: bool = False


@dataclass
class RunResult:
    files: list[FileResult] = field(default_factory=list)
    # Human-readable notes (e.g. --verbose explanations) printed to stderr.
    notes: list[str] = field(default_factory=list)

    @property
    def findings(self) -> list[Finding]:
        return sorted((f for r in self.files for f in r.findings), key=lambda f: f.sort_key)

    @property
    def has_internal_error(self) -> bool:
        return any(f.code == INTERNAL_ERROR for f in self.findings)


class UsageError(Exception):
    """A bad invocation; the CLI prints it and exits 2."""


def run_check(config: Config, options: CheckOptions) -> RunResult:
    engine = Engine(config)
    result = RunResult()
    if options.paths == [Path("-")]:
        name = options.stdin_filename or "stdin"
        data = sys.stdin.buffer.read()
        kind = file_kind(name, explicit=True) or PYTHON
        result.files.append(engine.lint_bytes(data, Path(name), kind, display_path=name))
        return _with_notes(result, options)
    for path in options.paths:
        if str(path) != "-" and not path.exists() and not path.is_symlink():
            raise UsageError(f"path does not exist: {path}")
    for path, kind in iter_files(options.paths, config):
        result.files.append(engine.lint_path(path, kind))
    return _with_notes(result, options)


def _with_notes(result: RunResult, options: CheckOptions) -> RunResult:
    """With --verbose, the per-file notes the rule families left become run notes (stderr)."""
    if options.verbose:
        result.notes.extend(note for file_result in result.files for note in file_result.notes)
    return result
