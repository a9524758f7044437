"""What a lint worker keeps between checks: one ``Engine`` per project root, the ``ast``
tree of each document's last check (for ``reparse``), and the editor's settings.

It runs inside a worker process (``raptor_lint.lsp.worker``), never in the server's
process: a check that hangs there can be killed without taking the server with it.
Tests drive it in-process.
"""

from __future__ import annotations

import ast
import gc
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from raptor_lint.config import Config, ConfigError, find_project_root, load_config, with_settings
from raptor_lint.discovery import PYTHON
from raptor_lint.engine import MAX_FILE_CHARS, Engine
from raptor_lint.findings import Finding
from raptor_lint.lsp import incremental
from raptor_lint.lsp.reparse import reparse
from raptor_lint.registry import known_code_prefix
from raptor_lint.source import SourceError, parse_python

# A check allocates ~10^5 short-lived objects (trees, findings): collect the
# youngest generation less often than CPython's default of every 700.
GC_THRESHOLD = (20_000, 20, 20)
SETTINGS_WHERE = "editor settings (initializationOptions.settings)"


@dataclass
class RootState:
    """Configuration and engine of one project root (or the configuration error)."""

    config: Config | None
    engine: Engine | None
    error: str | None = None
    # Set after the first check: its objects were moved out of the collector's reach.
    frozen: bool = False


@dataclass
class CheckResult:
    findings: list[Finding]
    error: str | None = None  # a configuration error, shown once to the user
    # False when only the functions an edit touched were checked again (``incremental``).
    exact: bool = True
    seconds: float = 0.0
    # Python: the top-level functions of the checked text, for the next incremental check.
    outline: incremental.Outline = ()


@dataclass
class LintSession:
    manage_gc: bool = False
    settings: Mapping[str, Any] = field(default_factory=dict)
    roots: dict[Path, RootState] = field(default_factory=dict)
    trees: dict[Path, tuple[str, ast.Module]] = field(default_factory=dict)
    freeze_pending: bool = False

    def __post_init__(self) -> None:
        if self.manage_gc:
            gc.set_threshold(*GC_THRESHOLD)

    def settle(self) -> None:
        """Between checks (the worker calls it once a result is sent, so no check waits for
        it): after a root's first check, which built its project facts (and imported the
        rule families' libraries), make what is alive permanent, so that a full collection
        during later checks only walks what those checks allocate.  Unfreeze first: a root
        dropped since the last freeze may hold reference cycles."""
        if self.freeze_pending:
            self.freeze_pending = False
            gc.unfreeze()
            gc.collect()
            gc.freeze()

    def configure(self, settings: Mapping[str, Any]) -> None:
        """New editor settings: every root's configuration is read again."""
        if dict(settings) != dict(self.settings):
            self.settings = dict(settings)
            self.roots.clear()

    def forget(self, roots: list[Path] | None = None) -> None:
        """Files changed on disk: the next check of these roots (None: all) re-reads the
        configuration and rebuilds the project facts (both cheap next to linting)."""
        if roots is None:
            self.roots.clear()
        else:
            for root in roots:
                self.roots.pop(root, None)

    def drop_document(self, path: Path) -> None:
        self.trees.pop(path, None)

    def state_for(self, path: Path) -> RootState:
        root = find_project_root(path)
        state = self.roots.get(root)
        if state is None:
            state = self.roots[root] = load_root(path, self.settings)
        return state

    def check(self, path: Path, text: str, kind: str, cancelled: Callable[[], bool] | None = None,
              previous: tuple[str, list[Finding], incremental.Outline] | None = None) -> CheckResult:
        """Lint ``text`` as the file ``path``.  Raises ``Cancelled`` when ``cancelled()``
        turns true before the last rule family has run.  ``previous`` (the text and
        findings of the document's last check): with it, an edit to a large module may
        re-check only the functions it touched (``incremental``); ``previous[2]`` is the
        outline of ``previous[0]``."""
        state = self.state_for(path)
        if state.engine is None or state.config is None:  # both set, or neither (an error)
            return CheckResult([], state.error)
        if state.config.is_excluded(path) and inside(path, state.config.root):
            return CheckResult([])
        engine = state.engine
        if kind == PYTHON and previous is not None:
            sliced = incremental.relint_changed(engine, path, *previous, text, cancelled)
            if sliced is not None:
                self.trees.pop(path, None)
                return CheckResult(sliced[0], exact=False, outline=sliced[1])
        tree = self._tree_for(path, text, kind)
        # (The check runs with the cyclic collector off: see Engine.lint_text.)
        result = engine.lint_text(text, path, kind, display_path=path.name, cancelled=cancelled, tree=tree)
        if self.manage_gc and not state.frozen:
            state.frozen = True
            self.freeze_pending = True  # done by ``settle``, after the result is sent
        return CheckResult(result.findings, outline=incremental.outline_of(tree) if tree is not None else ())

    def _tree_for(self, path: Path, text: str, kind: str) -> ast.Module | None:
        """The ``ast`` tree of ``text``: the previous check's, with only the statements the
        edit touched parsed again when ``reparse`` can (a keystroke: ~1 ms instead of
        ~25 ms on a 2,000-line module), else a full parse.  None when the text does not
        parse: the engine then reports the syntax error (E999)."""
        if kind != PYTHON or len(text) > MAX_FILE_CHARS:
            return None
        previous = self.trees.get(path)
        tree = reparse(previous[0], previous[1], text, str(path)) if previous is not None else None
        if tree is None:
            try:
                tree = parse_python(text, str(path))
            except SourceError:
                self.trees.pop(path, None)
                return None
        self.trees[path] = (text, tree)
        return tree


def load_root(path: Path, settings: Mapping[str, Any] | None = None) -> RootState:
    try:
        config = load_config(start=path, known_code=known_code_prefix)
        if settings:
            config = with_settings(config, settings, SETTINGS_WHERE, known_code_prefix)
        engine = Engine(config)
        # As `check` does: families build the facts that can fail on configuration (a
        # configured runbook that is missing...) up front, so that is one clear error.
        for checker in engine.checkers:
            prepare = getattr(checker, "prepare", None)
            if prepare is not None:
                prepare(engine.project)
    except ConfigError as exc:
        return RootState(None, None, str(exc))
    return RootState(config, engine)


def inside(path: Path, directory: Path) -> bool:
    """Is ``path`` (resolved) ``directory`` or below it?"""
    try:
        path.resolve().relative_to(directory.resolve())
        return True
    except ValueError:
        return False
