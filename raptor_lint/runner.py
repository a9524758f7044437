"""One ``check`` run over many paths: discovery, the engine per file, totals.

Kept apart from the click layer so later features (cache, parallel jobs,
``--base`` filtering, fixes) slot in here without touching argument parsing.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from raptor_lint.config import Config
from raptor_lint.discovery import file_kind, is_excluded_path, iter_files, unreadable_result, PYTHON
from raptor_lint.engine import Engine, FileResult
from raptor_lint.findings import INTERNAL_ERROR, Finding
from raptor_lint.parallel import lint_many

if TYPE_CHECKING:
    from raptor_lint.add_noqa import NoqaReport


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
    # --add-noqa: suppress every finding in place (raptor_lint.add_noqa).
    add_noqa: bool = False


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
    # --fix / --diff: "Fixed 3 findings in 2 files." (stderr; --quiet leaves it out).
    fix_summaries: list[str] = field(default_factory=list)
    # --fix: {display path: {code: findings fixed}} (--show-fixes lists them).
    applied_fixes: dict[str, Counter] = field(default_factory=dict)
    # Named files no rule reads (data.csv): skipped, with a warning on stderr.
    skipped: list[str] = field(default_factory=list)
    # --add-noqa: what it added (None without --add-noqa).
    noqa_report: "NoqaReport | None" = None

    def merge(self, other: "RunResult") -> None:
        """Add another run's results (one run per project of a multi-project invocation)."""
        self.files.extend(other.files)
        self.notes.extend(other.notes)
        self.fix_summaries.extend(other.fix_summaries)
        self.applied_fixes.update(other.applied_fixes)
        self.skipped.extend(other.skipped)
        if other.noqa_report is not None:
            if self.noqa_report is None:
                from raptor_lint.add_noqa import NoqaReport

                self.noqa_report = NoqaReport()
            self.noqa_report.added += other.noqa_report.added
            self.noqa_report.files += other.noqa_report.files
            self.noqa_report.failed += other.noqa_report.failed
            self.noqa_report.notes.extend(other.noqa_report.notes)
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
    check_paths_exist(options.paths)
    paths = options.paths
    if options.force_exclude:
        # Named files are treated like discovered ones: excluded paths and files no rule
        # reads (pre-commit hands over every staged text file) are skipped.
        paths = [p for p in paths if not is_excluded_path(p, config) and (p.is_dir() or file_kind(p) is not None)]
    else:
        skipped = [p for p in paths if no_rule_reads(p)]  # (it stats and may read each file: once)
        result.skipped.extend(str(p) for p in skipped)
        paths = [p for p in paths if p not in skipped]
    unreadable: list[FileResult] = []  # directories discovery could not list: E902 each
    discovered = iter_files(paths, config, on_error=lambda path, why: unreadable.append(unreadable_result(path, why)))
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
    result.files.extend(unreadable)
    if changes is not None:
        changes.apply(result.files)
    result = _apply_fixes(engine, _with_notes(result, options), options)
    if options.add_noqa:
        from raptor_lint.add_noqa import add_noqa_comments

        def relint(text: str, path: Path, kind: str, display: str) -> list[Finding]:
            return engine.lint_text(text, path, kind, display).findings

        result.noqa_report = add_noqa_comments(result.files, relint)
    if changes is not None and options.fix:
        changes.apply(result.files)  # what remains after --fix, still only on changed lines
    return result


def may_exist(path: Path) -> bool:
    """False only when ``path`` is known not to exist.  A path that cannot be looked at
    (a file inside a directory the user cannot search: EACCES) may exist: it goes on to be
    read and becomes one E902 naming it, as in Ruff, not a usage error or a traceback."""
    try:
        os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except (OSError, ValueError):  # EACCES, ENAMETOOLONG, ELOOP; ValueError: a NUL byte
        return True
    return True


def check_paths_exist(paths: list[Path]) -> None:
    """A UsageError naming every path that does not exist (not only the first)."""
    missing = [str(p) for p in paths if str(p) != "-" and not may_exist(p)]
    if len(missing) == 1:
        raise UsageError(f"path does not exist: {missing[0]}")
    if missing:
        raise UsageError(f"paths do not exist: {', '.join(missing)}")


# Named on the command line, these are Python whatever discovery's walk does with them.
_PYTHON_SUFFIXES = {".pyi", ".pyw"}


def no_rule_reads(path: Path) -> bool:
    """Is ``path`` a file named on the command line that no rule reads (``data.csv``)?

    Such a file is skipped with a warning, as Ruff warns about paths it does not check,
    instead of being parsed as Python (``All checks passed`` about a CSV).  A named file is
    read when discovery would pick it up, when its suffix is a YAML or Python one, or when
    it has no suffix (a script: its shebang or Python decides)."""
    if path.suffix == "" or path.suffix.lower() in _PYTHON_SUFFIXES | {".yml", ".yaml"}:
        return False
    try:
        if path.is_dir():
            return False
    except OSError:
        return False
    return file_kind(path) is None and file_kind(path, explicit=True) == PYTHON and not _python_shebang(path)


def _python_shebang(path: Path) -> bool:
    from raptor_lint.discovery import _kind_from_shebang

    return _kind_from_shebang(path) == PYTHON


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

    before = _fixable_counts(result)
    report = fixes.fix_results(engine, result.files, write=not options.diff, notes=result.notes, stdin=stdin,
                               unsafe_fixes=result.unsafe_fixes)
    if options.fix:
        result.applied_fixes = _applied(before, result)
    if options.diff:
        result.diff = report.diff
    elif stdin:
        result.fixed_stdin = report.stdin_text if report.stdin_text is not None else (result.files[0].text or "")
    if report.fixed_files or options.fix:
        result.fix_summaries.append(fixes.summary(report, write=not options.diff))
    return result


def _fixable_counts(result: RunResult) -> dict[str, Counter]:
    """{display path: {code: findings with a fix --fix applies}} before fixing."""
    counts: dict[str, Counter] = {}
    for file_result in result.files:
        for finding in file_result.findings:
            if finding.fix is not None and finding.fix.applies(result.unsafe_fixes):
                counts.setdefault(file_result.display_path, Counter())[finding.code] += 1
    return counts


def _applied(before: dict[str, Counter], result: RunResult) -> dict[str, Counter]:
    """What --fix fixed: per file and code, the fixable findings that are gone."""
    after: dict[str, Counter] = {}
    for file_result in result.files:
        after[file_result.display_path] = Counter(f.code for f in file_result.findings)
    applied = {}
    for path, counts in before.items():
        gone = counts - after.get(path, Counter())
        if gone:
            applied[path] = gone
    return applied


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
