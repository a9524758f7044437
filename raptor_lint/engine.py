"""The one engine behind every surface: decode, gate, parse once, run families, filter.

The CLI, the flake8 plugin, pre-commit and the LSP server all call
``Engine.lint_bytes``/``lint_text`` so the same code and configuration give
the same findings everywhere.
"""

from __future__ import annotations

import ast
import fnmatch
import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from raptor_lint import noqa
from raptor_lint.astwalk import no_gc
from raptor_lint.config import Config, ConfigError, relative_posix
from raptor_lint.context import FileContext
from raptor_lint.discovery import PYTHON
from raptor_lint.findings import INTERNAL_ERROR, IO_ERROR, SYNTAX_ERROR, Finding
from raptor_lint.project import ProjectIndex
from raptor_lint.registry import checker_classes
from raptor_lint.rules.base import Checker
from raptor_lint.source import (
    DeepStackUnavailable, SourceError, compiles_quickly, decode_python, decode_text, parse_python, read_source,
    run_with_deep_stack,
)

REPORT_URL = "https://github.com/raptor-lint/raptor-lint/issues"
# Rule families do not run on files larger than this (characters): such files are
# generated (protobuf, data tables), and CPython's parser alone takes gigabytes of
# memory on them.  The largest files of the stdlib (pydoc_data/topics.py,
# 0.76 MB) and of the benchmark corpus (0.55 MB) are well below it.
MAX_FILE_CHARS = 2_000_000
# Fault injection for testing fault isolation across process boundaries (flake8, LSP,
# pre-commit): RAPTOR_LINT_INJECT_FAULT=RPT1 makes every rule family with a code
# starting with RPT1 raise inside its check (optionally only on files whose path
# matches the glob in RAPTOR_LINT_INJECT_FAULT_PATHS).  It can only turn a family's
# findings into an RPT000 finding; it is documented in the README.
FAULT_ENV = "RAPTOR_LINT_INJECT_FAULT"
FAULT_PATHS_ENV = "RAPTOR_LINT_INJECT_FAULT_PATHS"


@dataclass
class FileResult:
    path: Path
    display_path: str
    kind: str
    findings: list[Finding] = field(default_factory=list)
    # Decoded text (None when the file could not be read or decoded).
    text: str | None = None
    # --verbose explanations the rule families left on the FileContext.
    notes: list[str] = field(default_factory=list)
    # True when a family consulted project facts (other files) for this file.
    used_project: bool = False


class Cancelled(Exception):
    """``lint_text(cancelled=...)`` said stop: the caller no longer wants this result."""


class Engine:
    def __init__(self, config: Config, project: ProjectIndex | None = None,
                 use_prefilter: bool = True) -> None:
        self.config = config
        self.project = project or ProjectIndex(config)
        self.use_prefilter = use_prefilter
        self.checkers: list[Checker] = [
            cls() for cls in checker_classes()
            if any(config.is_selected(code) for code in cls.codes())
        ]
        self._faults = tuple(
            item.strip().upper() for item in os.environ.get(FAULT_ENV, "").split(",") if item.strip()
        )
        self._fault_paths = os.environ.get(FAULT_PATHS_ENV, "").strip() or "*"

    # ----------------------------------------------------------------- entry
    def lint_path(self, path: Path, kind: str, display_path: str | None = None) -> FileResult:
        display = display_path or relative_posix(path)
        try:
            data = read_source(path)
        except SourceError as exc:
            return FileResult(path, display, kind, [Finding(display, 1, 1, IO_ERROR, exc.message)])
        return self.lint_bytes(data, path, kind, display)

    def lint_bytes(self, data: bytes, path: Path, kind: str, display_path: str | None = None) -> FileResult:
        display = display_path or relative_posix(path)
        try:
            text = decode_python(data) if kind == PYTHON else decode_text(data)
        except SourceError as exc:
            return FileResult(path, display, kind, [
                Finding(display, exc.line, exc.column, SYNTAX_ERROR, exc.message)
            ])
        return self.lint_text(text, path, kind, display)

    def lint_text(self, text: str, path: Path, kind: str, display_path: str | None = None, *,
                  tree: ast.Module | None = None, cancelled: Callable[[], bool] | None = None) -> FileResult:
        """Lint decoded ``text``.  ``tree``: the caller's ``ast`` tree of exactly ``text``, parsed
        as ``parse_python`` does (``ast.parse``: no type comments; flake8's), used instead of
        parsing again.  ``cancelled``: polled before each rule family; True raises ``Cancelled``
        (the language server stops a check whose buffer has moved on).

        Runs with the cyclic collector off (``astwalk.no_gc``), on every surface: a check
        leaves no reference cycles (tests/test_lsp_scheduling.py keeps it so), and the
        collections its allocations would trigger only promote its short-lived trees and
        scopes into older generations.  In a long-lived process (language server, flake8
        worker) that made the host's full collections come sooner and walk more: one edit in
        five spent ~190 ms collecting in the server; flake8's collector spent 2.2 s instead of
        1.2 s above flake8 alone on the bench corpus."""
        with no_gc():
            return self._lint_text(text, path, kind, display_path, tree, cancelled)

    def _lint_text(self, text: str, path: Path, kind: str, display_path: str | None,
                   tree: ast.Module | None, cancelled: Callable[[], bool] | None) -> FileResult:
        display = display_path or relative_posix(path)
        result = FileResult(path, display, kind, text=text)
        if len(text) > MAX_FILE_CHARS:
            # Not even syntax-checked: CPython's parser alone takes gigabytes on such a file.
            result.findings.append(too_large(display, len(text)))
            return result
        # The families that may report here: right file kind and, unless disabled, a
        # pre-filter that says a finding is possible.  Decided before parsing: a Python
        # file no family wants is only syntax-checked (E999), never turned into a tree.
        checkers = [checker for checker in self.checkers
                    if kind in checker.file_kinds and (not self.use_prefilter or _passes(checker, text)
                                                       or self._faults and self._fault_matches(checker))]
        if kind != PYTHON:
            tree = None
        elif tree is None and (checkers or not compiles_quickly(text, str(path))):
            try:
                tree = parse_python(text, str(path))
            except SourceError as exc:
                result.findings.append(Finding(display, exc.line, exc.column, SYNTAX_ERROR, exc.message))
                return result
        if not checkers:
            return result
        ctx = FileContext(path=path, display_path=display, kind=kind, text=text,
                          config=self.config, project=self.project, ast_tree=tree)
        consulted = self.project.consulted
        try:
            raw = self._run_families(checkers, ctx, cancelled)
            result.notes = ctx.notes
            result.findings = sorted(self._filter(raw, ctx), key=lambda f: f.sort_key)
        except Cancelled:
            raise
        except Exception as exc:  # noqa: BLE001 - the engine's own steps (noqa, filters): this file only
            result.findings = [internal_error(display, "engine", _short_reason(exc))]
        result.used_project = self.project.consulted != consulted
        return result

    # --------------------------------------------------------------- helpers
    def _run_families(self, checkers: list[Checker], ctx: FileContext,
                      cancelled: Callable[[], bool] | None = None) -> list[Finding]:
        raw: list[Finding] = []
        for checker in checkers:
            if cancelled is not None and cancelled():
                raise Cancelled()
            raw.extend(self._run_checker(checker, ctx))
        return raw

    def _run_checker(self, checker: Checker, ctx: FileContext, deep: bool = False) -> list[Finding]:
        """One family on one file: its findings, or RPT000 for whatever went wrong inside it."""
        try:
            if self._faults:
                self._inject_fault(checker, ctx)
            return _valid_findings(checker, ctx, checker.check(ctx))
        except RecursionError as exc:
            if not deep:
                # A deep tree (CPython's parser accepts ~200 nested brackets, and flat-looking
                # code such as a long ``elif`` chain nests one level an element): run the
                # family's recursive ast walk again on a large stack with a higher
                # recursion limit.
                try:
                    return run_with_deep_stack(lambda: self._run_checker(checker, ctx, deep=True))
                except DeepStackUnavailable as unavailable:
                    reason = f"the file nests too deeply for this rule family ({unavailable})"
                    return [internal_error(ctx.display_path, checker, reason)]
            reason = f"the file nests too deeply for this rule family ({_short_reason(exc)})"
            return [internal_error(ctx.display_path, checker, reason)]
        except ConfigError as exc:
            # The CLI reports these up front (exit 2); surfaces without an exit
            # status (flake8, LSP) see them here, per file.
            return [config_error(ctx.display_path, checker, exc)]
        except Exception as exc:  # noqa: BLE001 - fault isolation is the point
            return [internal_error(ctx.display_path, checker, _short_reason(exc))]

    def _fault_matches(self, checker: Checker) -> bool:
        names = (checker.family.upper(), *checker.codes())
        return any(name.startswith(fault) for fault in self._faults for name in names)

    def _inject_fault(self, checker: Checker, ctx: FileContext) -> None:
        if self._fault_matches(checker) and (
            fnmatch.fnmatch(ctx.display_path, self._fault_paths)
            or fnmatch.fnmatch(ctx.relpath, self._fault_paths)
        ):
            raise RuntimeError(f"fault injected by {FAULT_ENV} (testing only)")

    def _filter(self, findings: Iterable[Finding], ctx: FileContext) -> Iterable[Finding]:
        config = self.config
        findings = list(findings)
        if not findings:
            return
        apply_noqa = config.apply_noqa
        if apply_noqa:
            lookup = noqa.python_noqa_lines(ctx.text) if ctx.kind == PYTHON \
                else noqa.plain_noqa_lines(ctx.text, ctx.kind)
            disabled = ctx.kind == PYTHON and noqa.file_is_disabled(ctx.lines)
        seen: set[tuple] = set()
        for finding in findings:
            if not config.is_selected(finding.code):
                continue
            if finding.code != INTERNAL_ERROR:
                if config.is_ignored_for_path(finding.code, ctx.relpath):
                    continue
                if apply_noqa and (disabled or noqa.line_is_suppressed(lookup(finding.line), finding.code)):
                    continue
            key = (finding.line, finding.column, finding.code, finding.message)
            if key in seen:
                continue
            seen.add(key)
            yield finding


def _passes(checker: Checker, text: str) -> bool:
    if not checker.prefilter_applies():
        return True  # a rule the pre-filter does not know: it may not skip the file
    try:
        return bool(checker.prefilter(text))
    except Exception:  # noqa: BLE001 - a broken pre-filter must not hide findings: run the family
        return True


def internal_error(display_path: str, checker: Checker | str, reason: str) -> Finding:
    family = checker if isinstance(checker, str) else f"{checker.family} ({', '.join(checker.codes())})"
    return Finding(
        display_path, 1, 1, INTERNAL_ERROR,
        f"internal error in rule family {family} on this file: {reason}; "
        f"other rules still ran — please report this at {REPORT_URL}",
    )


def too_large(display_path: str, size: int) -> Finding:
    return Finding(
        display_path, 1, 1, INTERNAL_ERROR,
        f"file not checked: it has {size / 1e6:.1f} million characters, more than raptor-lint's "
        f"limit of {MAX_FILE_CHARS / 1e6:.0f} million for one file (a file this large is generated, "
        f"and parsing it takes gigabytes of memory) — exclude it from linting",
    )


def _valid_findings(checker: Checker, ctx: FileContext, produced: Iterable[Finding]) -> list[Finding]:
    """Materialise a family's findings; a malformed one is the family's internal error."""
    findings = list(produced)
    for finding in findings:
        if not (
            isinstance(finding, Finding)
            and type(finding.line) is int and finding.line >= 1
            and type(finding.column) is int and finding.column >= 1
            and isinstance(finding.code, str) and isinstance(finding.message, str)
        ):
            return [internal_error(ctx.display_path, checker, f"returned a malformed finding {finding!r:.120}")]
    return findings


def config_error(display_path: str, checker: Checker | str, exc: Exception) -> Finding:
    family = checker if isinstance(checker, str) else f"{checker.family} ({', '.join(checker.codes())})"
    return Finding(
        display_path, 1, 1, INTERNAL_ERROR,
        f"configuration error, rule family {family} skipped: {exc}",
    )


def _short_reason(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = ""
    if frames:
        last = frames[-1]
        where = f" at {Path(last.filename).name}:{last.lineno}"
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}{': ' + text[:120] if text else ''}{where}"
