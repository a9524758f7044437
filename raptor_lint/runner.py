"""One ``check`` run over many paths: discovery, the engine per file, totals.

Kept apart from the click layer so later features (cache, parallel jobs,
``--base`` filtering, fixes) slot in here without touching argument parsing.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from raptor_lint.config import Config
from raptor_lint.discovery import file_kind, iter_files, PYTHON
from raptor_lint.engine import Engine, FileResult
from raptor_lint.findings import INTERNAL_ERROR, Finding
from raptor_lint.parallel import lint_many


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
    # Skip explicitly named files that the configuration excludes (pre-commit names every file).
    force_exclude: bool = False
    # --unsafe-fixes / --no-unsafe-fixes; None: the configuration's ``unsafe-fixes``.
    unsafe_fixes: bool | None = None


@dataclass
class RunResult:
    files: list[FileResult] = field(default_factory=list)
    # Human-readable notes (e.g. --verbose explanations) printed to stderr.
    notes: list[str] = field(default_factory=list)
    # --diff: the unified diff of the available fixes (None when --diff was not given).
    diff: str | None = None
    # --fix on standard input: the fixed source, printed to stdout.
    fixed_stdin: str | None = None
    # Unsafe fixes enabled (--unsafe-fixes or the configuration): the summary counts them
    # as fixable with --fix instead of naming --unsafe-fixes.
    unsafe_fixes: bool = False

    def merge(self, other: "RunResult") -> None:
        """Add another run's results (one run per project of a multi-project invocation)."""
        self.files.extend(other.files)
        self.notes.extend(other.notes)
        self.unsafe_fixes = self.unsafe_fixes or other.unsafe_fixes
        if other.diff is not None:
            self.diff = (self.diff or "") + other.diff
        if other.fixed_stdin is not None:
            self.fixed_stdin = other.fixed_stdin

    @property
    def findings(self) -> list[Finding]:
        return sorted((f for r in self.files for f in r.findings), key=lambda f: f.sort_key)

    @property
    def has_internal_error(self) -> bool:
        return any(f.code == INTERNAL_ERROR for f in self.findings)


class UsageError(Exception):
    """A bad invocation; the CLI prints it and exits 2."""


def run_check(config: Config, options: CheckOptions) -> RunResult:
    if options.base is not None:
        config = config.replace(base=options.base)
    engine = Engine(config)
    _prepare(engine)
    result = RunResult(unsafe_fixes=unsafe_fixes(config, options))
    if options.paths == [Path("-")]:
        if options.base is not None:
            raise UsageError("--base cannot be combined with standard input ('-')")
        name = options.stdin_filename or "stdin"
        data = sys.stdin.buffer.read()
        kind = file_kind(name, explicit=True, content=data) or PYTHON
        result.files.append(engine.lint_bytes(data, Path(name), kind, display_path=name))
        return _apply_fixes(engine, _with_notes(result, options), options, stdin=True)
    for path in options.paths:
        if str(path) != "-" and not path.exists() and not path.is_symlink():
            raise UsageError(f"path does not exist: {path}")
    paths = options.paths
    if options.force_exclude:
        # Named files are treated like discovered ones: excluded paths and files no rule
        # reads (pre-commit hands over every staged text file) are skipped.
        paths = [p for p in paths if not config.is_excluded(p) and (p.is_dir() or file_kind(p) is not None)]
    discovered = iter_files(paths, config)
    changes = _changes_since_base(engine, options)
    if changes is not None:
        discovered = changes.select(discovered)
    # Cache look-ups, worker processes and their ordering live in raptor_lint.parallel.
    # No cache with --base (RPT501 compares with git history, which the key does not
    # cover) nor with --fix/--diff (they write only the fixed files, or nothing).
    fixing = options.fix or options.diff
    files = list(discovered)
    covers_project = changes is None and _is_project_root(paths, config)
    if covers_project and os.path.abspath(paths[0]) == os.path.abspath(config.root):
        # Every file of the project, as discovery names it under the root: facts that
        # read the whole project (the fork-safety word index) need not walk it again.
        engine.project.files = files
    result.files.extend(lint_many(
        engine, files, jobs=options.jobs, keep_text=fixing, read_cache=not options.verbose,
        use_cache=options.use_cache and changes is None and not fixing,
        covers_project=covers_project,
    ))
    if changes is not None:
        changes.apply(result.files)
    result = _apply_fixes(engine, _with_notes(result, options), options)
    if changes is not None and options.fix:
        changes.apply(result.files)  # what remains after --fix, still only on changed lines
    return result


def _is_project_root(paths: list[Path], config: Config) -> bool:
    """Is the run exactly a walk of the project root (``raptor-lint check`` at the root)?"""
    try:
        return len(paths) == 1 and paths[0].is_dir() and paths[0].resolve() == config.root.resolve()
    except OSError:
        return False


def _with_notes(result: RunResult, options: CheckOptions) -> RunResult:
    """With --verbose, the per-file notes the rule families left become run notes (stderr)."""
    if options.verbose:
        result.notes.extend(note for file_result in result.files for note in file_result.notes)
    return result


def unsafe_fixes(config: Config, options: CheckOptions) -> bool:
    """--unsafe-fixes / --no-unsafe-fixes, else the configuration's ``unsafe-fixes``."""
    return config.unsafe_fixes if options.unsafe_fixes is None else options.unsafe_fixes


def _apply_fixes(engine: Engine, result: RunResult, options: CheckOptions, stdin: bool = False) -> RunResult:
    """--fix rewrites files (the result then holds what remains); --diff only renders.
    Safe fixes only, unless unsafe fixes are enabled."""
    if not (options.fix or options.diff):
        return result
    from raptor_lint import fixes

    report = fixes.fix_results(engine, result.files, write=not options.diff, notes=result.notes, stdin=stdin,
                               unsafe_fixes=result.unsafe_fixes)
    if options.diff:
        result.diff = report.diff
    elif stdin:
        result.fixed_stdin = report.stdin_text if report.stdin_text is not None else (result.files[0].text or "")
    if report.fixed_files or options.fix:
        result.notes.append(fixes.summary(report, write=not options.diff))
    return result


def _prepare(engine: Engine) -> None:
    """Let rule families build project facts that can fail on configuration (a configured
    runbook that is missing, a manifest that is not YAML) before any file: ConfigError, exit 2."""
    for checker in engine.checkers:
        prepare = getattr(checker, "prepare", None)
        if prepare is not None:
            prepare(engine.project)


def _changes_since_base(engine: Engine, options: CheckOptions):
    """--base REF: the changed files/lines (raptor_lint.gitdiff), or None without --base."""
    if options.base is None:
        return None
    from raptor_lint import gitdiff

    try:
        return engine.project.get(gitdiff.changes)
    except gitdiff.GitError as exc:
        raise UsageError(str(exc)) from None
