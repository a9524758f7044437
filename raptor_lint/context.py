"""What a rule family sees of one file: text, trees (parsed once, lazily), config, project."""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raptor_lint.config import Config
from raptor_lint.findings import Finding, Fix
from raptor_lint.source import split_lines

if TYPE_CHECKING:  # pragma: no cover
    import libcst as cst
    from libcst.metadata import MetadataWrapper

    from raptor_lint.project import ProjectIndex
    from raptor_lint.source import Nesting


class FileContext:
    def __init__(
        self,
        *,
        path: Path,
        display_path: str,
        kind: str,
        text: str,
        config: Config,
        project: "ProjectIndex",
        ast_tree: ast.Module | None = None,
    ) -> None:
        self.path = path
        self.display_path = display_path
        self.kind = kind
        self.text = text
        self.config = config
        self.project = project
        self.ast_tree = ast_tree
        # Explanations for --verbose (e.g. "SQL string skipped: not parsable"); never findings.
        self.notes: list[str] = []

    @functools.cached_property
    def lines(self) -> list[str]:
        # Lines as the tokenizer counts them: str.splitlines() also breaks at form
        # feeds, \v, \x1c-\x1e, \x85, \u2028 and \u2029, shifting every later line.
        lines = split_lines(self.text)
        if lines[-1] == "":
            lines.pop()
        return lines

    @functools.cached_property
    def relpath(self) -> str:
        """Path relative to the project root, with ``/`` (or as given when outside it)."""
        try:
            # The project's memo resolves each directory once: most files' only resolve.
            return self.project.real_path(self.path).relative_to(self.project.real_root).as_posix()
        except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop
            return self.path.as_posix()

    @functools.cached_property
    def is_migration(self) -> bool:
        directory = self.config.resolved_migrations_dir()
        if directory is not None:
            try:
                real = self.project.real_path
                real(self.path).relative_to(real(directory))
                return True
            except (ValueError, OSError, RuntimeError):
                return False
        parts = Path(self.relpath).parts
        return len(parts) >= 2 and parts[-2] == "versions" and (
            "migrations" in parts or "alembic" in parts
        )

    # -------------------------------------------------------------- libcst
    @functools.cached_property
    def cst_nesting(self) -> "Nesting":
        """How deep the libcst tree would nest (see ``raptor_lint.source.cst_nesting``)."""
        from raptor_lint.source import Nesting, cst_nesting

        return cst_nesting(self.ast_tree, self.text) if self.ast_tree is not None else Nesting(0, 1, "")

    @functools.cached_property
    def module(self) -> "cst.Module":
        # Guarded: raises CSTUnavailable / NeedsDeepStack instead of letting a
        # pathological tree crash the process (the engine handles both).
        from raptor_lint.source import parse_cst

        return parse_cst(self.text, self.cst_nesting)

    @functools.cached_property
    def wrapper(self) -> "MetadataWrapper":
        from libcst.metadata import MetadataWrapper

        # unsafe_skip_copy: the tree is never mutated, and the deep copy costs more than the parse.
        return MetadataWrapper(self.module, unsafe_skip_copy=True)

    def metadata(self, provider: Any) -> Any:
        """Resolve one metadata provider (cached by libcst for this wrapper)."""
        return self.wrapper.resolve(provider)

    def position(self, node: "cst.CSTNode") -> tuple[int, int, int, int]:
        """(line, column, end_line, end_column), 1-based columns."""
        from libcst.metadata import PositionProvider

        code_range = self.metadata(PositionProvider)[node]
        return (
            code_range.start.line,
            code_range.start.column + 1,
            code_range.end.line,
            code_range.end.column + 1,
        )

    # ------------------------------------------------------------ findings
    def finding(
        self,
        code: str,
        where: "cst.CSTNode | tuple[int, int] | tuple[int, int, int, int]",
        message: str,
        fix: Fix | None = None,
    ) -> Finding:
        if isinstance(where, tuple):
            line, column = where[0], where[1]
            end_line, end_column = (where[2], where[3]) if len(where) == 4 else (line, column)
        else:
            line, column, end_line, end_column = self.position(where)
        return Finding(
            path=self.display_path,
            line=line,
            column=column,
            code=code,
            message=message,
            end_line=end_line,
            end_column=end_column,
            fix=fix,
        )
