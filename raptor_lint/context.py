"""What a rule family sees of one file: its text, its `ast` tree (parsed once), config, project."""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import TYPE_CHECKING

from raptor_lint.config import Config
from raptor_lint.findings import Finding, Fix
from raptor_lint.source import column_of, split_lines

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.semantic import SemanticModel
    from raptor_lint.project import ProjectIndex


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
    def semantic(self) -> "SemanticModel":
        """The file's semantic model (scopes, bindings, qualified names, positions), built
        the first time a family asks and shared by every family after it.  Python files
        with a tree only: the engine hands families a tree for every Python file it lints."""
        from raptor_lint.semantic import SemanticModel

        if self.ast_tree is None:
            raise ValueError("no ast tree: the semantic model is for Python files")
        # A partial, not a closure over self: the model is cached on this context, and a
        # closure would make the two a reference cycle (no cyclic collection during checks).
        return SemanticModel(self.ast_tree, self.text, functools.partial(_package_of, self.project, self.path))

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

    # ------------------------------------------------------------ findings
    def finding(
        self,
        code: str,
        where: "ast.AST | tuple[int, int] | tuple[int, int, int, int]",
        message: str,
        fix: Fix | None = None,
    ) -> Finding:
        """A finding at ``where``: ``(line, column)`` or ``(line, column, end_line, end_column)``
        (1-based code-point columns), or a node of ``ast_tree`` (its UTF-8 byte offsets
        converted to code-point columns)."""
        if isinstance(where, tuple):
            line, column = where[0], where[1]
            end_line, end_column = (where[2], where[3]) if len(where) == 4 else (line, column)
        else:
            line, column, end_line, end_column = self._span(where)
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

    def _span(self, node: ast.AST) -> tuple[int, int, int, int]:
        """``node``'s (line, column, end_line, end_column), 1-based code-point columns."""
        line: int = getattr(node, "lineno")
        end_line: int = getattr(node, "end_lineno", None) or line
        end_offset = getattr(node, "end_col_offset", None)
        column = column_of(self._line(line), getattr(node, "col_offset"))
        end_column = column if end_offset is None else column_of(self._line(end_line), end_offset)
        return line, column, end_line, end_column

    def _line(self, number: int) -> str:
        lines = self.lines
        return lines[number - 1] if 0 < number <= len(lines) else ""


def _package_of(project: "ProjectIndex | None", path: Path) -> list[str]:
    """The dotted package ``path`` imports relative to ([] when it cannot be told)."""
    try:
        return project.modules.package(path) if project is not None else []
    except (OSError, ValueError, RuntimeError):
        return []
