"""The findings model shared by every surface (CLI, flake8, LSP, pre-commit).

Positions are 1-based lines and 1-based columns counted in code points, the
convention of the SPEC (§2) and of Ruff's JSON; adapters convert (flake8 wants a
0-based column, LSP 0-based UTF-16 offsets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

SYNTAX_ERROR = "E999"
IO_ERROR = "E902"
INTERNAL_ERROR = "RPT000"
# Codes every run may report whatever is selected: they describe the run, not the code.
ALWAYS_REPORTED = (SYNTAX_ERROR, IO_ERROR, INTERNAL_ERROR)


@dataclass(frozen=True, order=True)
class Edit:
    """Replace the text between two positions (end exclusive) by ``content``.

    ``path``: None for the finding's own file; else the absolute path of another file of
    the project the edit changes (RPT502 adds a line to the runbook, RPT503 one to the
    config manifest).  JSON shows it relative to the working directory, with ``/``."""

    line: int
    column: int
    end_line: int
    end_column: int
    content: str
    path: str | None = None

    def to_json(self) -> dict:
        out: dict = {
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line,
            "end_column": self.end_column,
            "content": self.content,
        }
        if self.path is not None:
            from raptor_lint.config import relative_posix  # (config imports this module)

            out["path"] = relative_posix(Path(self.path))
        return out


SAFE = "safe"
UNSAFE = "unsafe"


@dataclass(frozen=True)
class Fix:
    """A machine-applicable correction carried by a finding.

    ``applicability`` is Ruff's: a ``safe`` fix keeps the program's meaning except for the
    bug it removes and is applied by ``--fix``; an ``unsafe`` one (it changes behaviour a
    person should confirm, or edits another file) needs ``--unsafe-fixes`` as well."""

    description: str
    edits: tuple[Edit, ...]
    applicability: str = SAFE

    @property
    def is_safe(self) -> bool:
        return self.applicability == SAFE

    @property
    def edits_other_files(self) -> bool:
        """Does the fix change a file other than the finding's own (``Edit.path``)?"""
        return any(edit.path is not None for edit in self.edits)

    def applies(self, unsafe_fixes: bool) -> bool:
        """Is the fix applied by ``--fix`` (``unsafe_fixes``: with ``--unsafe-fixes``)?"""
        return self.is_safe or unsafe_fixes

    def to_json(self) -> dict:
        return {"description": self.description, "applicability": self.applicability,
                "edits": [e.to_json() for e in self.edits]}


@dataclass(frozen=True)
class Related:
    """Another place a finding's story points at (LSP ``relatedInformation``, SARIF
    ``relatedLocations``, ``--format full``): e.g. the settings line RPT301's prefix comes
    from.  ``path`` is absolute; ``line``/``column`` 1-based, code points."""

    path: str
    line: int
    column: int
    message: str


@dataclass(frozen=True)
class Finding:
    """``message`` is the short line (≤ ~120 characters: what is wrong, what to do; SPEC §7).
    ``note`` is this finding's longer story (incident, PR, the why), shown by ``--format
    full``, the editor's hover and SARIF; the rule's general story lives in its docs.
    Neither ``note`` nor ``related`` takes part in equality (findings de-duplicate on the
    short form)."""

    path: str
    line: int
    column: int
    code: str
    message: str
    end_line: int | None = None
    end_column: int | None = None
    fix: Fix | None = field(default=None, compare=False)
    note: str | None = field(default=None, compare=False)
    related: tuple[Related, ...] = field(default=(), compare=False)

    @property
    def sort_key(self) -> tuple:
        return (self.path, self.line, self.column, self.code, self.message)

    def to_json(self, display_path: str | None = None) -> dict:
        return {
            "path": display_path if display_path is not None else self.path,
            "line": self.line,
            "column": self.column,
            "end_line": self.end_line if self.end_line is not None else self.line,
            "end_column": self.end_column if self.end_column is not None else self.column,
            "code": self.code,
            "message": self.message,
            "fix": self.fix.to_json() if self.fix else None,
        }
