"""The one engine behind every surface: decode, gate, parse once, run families, filter.

The CLI, the flake8 plugin, pre-commit and the LSP server all call
``Engine.lint_bytes``/``lint_text`` so the same code and configuration give
the same findings everywhere.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from raptor_lint import noqa
from raptor_lint.config import Config, ConfigError, relative_posix
from raptor_lint.context import FileContext
from raptor_lint.discovery import PYTHON
from raptor_lint.findings import INTERNAL_ERROR, IO_ERROR, SYNTAX_ERROR, Finding
from raptor_lint.project import ProjectIndex
from raptor_lint.registry import checker_classes
from raptor_lint.rules.base import Checker
from raptor_lint.source import SourceError, compiles_quickly, decode_python, decode_text, parse_python

REPORT_URL = "https://github.com/raptor-lint/raptor-lint/issues"


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

    # ----------------------------------------------------------------- entry
    def lint_path(self, path: Path, kind: str, display_path: str | None = None) -> FileResult:
        display = display_path or relative_posix(path)
        try:
            data = path.read_bytes()
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            return FileResult(path, display, kind, [
                Finding(display, 1, 1, IO_ERROR, f"cannot read file: {reason} ({type(exc).__name__})")
            ])
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

    def lint_text(self, text: str, path: Path, kind: str, display_path: str | None = None) -> FileResult:
        display = display_path or relative_posix(path)
        result = FileResult(path, display, kind, text=text)
        # The families that may report here: right file kind and, unless disabled, a
        # pre-filter that says a finding is possible.  Decided before parsing: a Python
        # file no family wants is only syntax-checked (E999), never turned into a tree.
        checkers = [checker for checker in self.checkers
                    if kind in checker.file_kinds and (not self.use_prefilter or _passes(checker, text))]
        tree = None
        if kind == PYTHON and (checkers or not compiles_quickly(text, str(path))):
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
        raw: list[Finding] = []
        for checker in checkers:
            raw.extend(self._run_checker(checker, ctx))
        result.notes = ctx.notes
        result.used_project = self.project.consulted != consulted
        result.findings = sorted(self._filter(raw, ctx), key=lambda f: f.sort_key)
        return result

    # --------------------------------------------------------------- helpers
    def _run_checker(self, checker: Checker, ctx: FileContext) -> list[Finding]:
        try:
            if checker.needs_cst:
                self._ensure_cst(ctx)
            return list(checker.check(ctx))
        except _CSTUnavailable as exc:
            return [internal_error(ctx.display_path, checker, exc.reason)]
        except ConfigError as exc:
            # The CLI reports these up front (exit 2); surfaces without an exit
            # status (flake8, LSP) see them here, per file.
            return [config_error(ctx.display_path, checker, exc)]
        except Exception as exc:  # noqa: BLE001 - fault isolation is the point
            return [internal_error(ctx.display_path, checker, _short_reason(exc))]

    def _ensure_cst(self, ctx: FileContext) -> None:
        if "module" in ctx.__dict__:
            return
        import libcst

        try:
            ctx.module  # noqa: B018 - parse once, cached on the context
        except libcst.ParserSyntaxError as exc:
            raise _CSTUnavailable(f"libcst cannot parse this file: {str(exc).splitlines()[0]}") from None
        except RecursionError:
            raise _CSTUnavailable("libcst cannot parse this file: nesting too deep") from None

    def _filter(self, findings: Iterable[Finding], ctx: FileContext) -> Iterable[Finding]:
        config = self.config
        findings = list(findings)
        if not findings:
            return
        lookup = noqa.python_noqa_lines(ctx.text) if ctx.kind == PYTHON else noqa.plain_noqa_lines(ctx.text, ctx.kind)
        disabled = ctx.kind == PYTHON and noqa.file_is_disabled(ctx.lines)
        seen: set[tuple] = set()
        for finding in findings:
            if not config.is_selected(finding.code):
                continue
            if finding.code != INTERNAL_ERROR:
                if config.is_ignored_for_path(finding.code, ctx.relpath):
                    continue
                if disabled or noqa.line_is_suppressed(lookup(finding.line), finding.code):
                    continue
            key = (finding.line, finding.column, finding.code, finding.message)
            if key in seen:
                continue
            seen.add(key)
            yield finding


def _passes(checker: Checker, text: str) -> bool:
    try:
        return bool(checker.prefilter(text))
    except Exception:  # noqa: BLE001 - a broken pre-filter must not hide findings: run the family
        return True


class _CSTUnavailable(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def internal_error(display_path: str, checker: Checker | str, reason: str) -> Finding:
    family = checker if isinstance(checker, str) else f"{checker.family} ({', '.join(checker.codes())})"
    return Finding(
        display_path, 1, 1, INTERNAL_ERROR,
        f"internal error in rule family {family} on this file: {reason}; "
        f"other rules still ran — please report this at {REPORT_URL}",
    )


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
