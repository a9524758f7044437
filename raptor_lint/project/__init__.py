"""Project facts, built lazily once per run and shared by every file.

``ProjectIndex.get(builder)`` memoises ``builder(index)``; each kind of fact
(migrations, runbook, manifest, blueprint registry) lives in its own module
here and is built the first time a rule asks for it, then reused for every
other file of the run (and, in the flake8 plugin, of the process).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Callable, TypeVar

from raptor_lint.config import Config
from raptor_lint.project.modules import ModuleIndex

T = TypeVar("T")


class ProjectIndex:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.root: Path = config.root
        self._facts: dict[Callable, object] = {}
        self._lock = threading.RLock()
        self._modules: ModuleIndex | None = None
        # (path, kind) of every lintable file of the project, when the run discovered
        # exactly those (a check of the root); None: a fact that needs them walks the tree.
        self.files: list[tuple[Path, str]] | None = None
        # Bumped on every look-up: the engine compares it before and after a file
        # to know whether that file's findings depend on other files (the cache
        # then also checks the project's state, see raptor_lint.cache).
        self.consulted = 0

    def get(self, builder: Callable[["ProjectIndex"], T]) -> T:
        """Build (once) and return the fact produced by ``builder``."""
        self.consulted += 1
        # Each fact is stored under its builder, so it is that builder's T: more than the
        # type of one dict for every builder can say (hence the two ignores; a cast would
        # cost a call on this hot path).
        try:
            return self._facts[builder]  # type: ignore[return-value]
        except KeyError:
            pass
        with self._lock:
            if builder not in self._facts:
                self._facts[builder] = builder(self)
            return self._facts[builder]  # type: ignore[return-value]

    @property
    def modules(self) -> ModuleIndex:
        self.consulted += 1
        return self._module_index()

    def real_path(self, path: Path) -> Path:
        """``path.resolve()``, each directory resolved once per run
        (``ModuleIndex.real_path_once``).  Not a look-up of project facts: ``consulted`` is
        left alone."""
        return self._module_index().real_path_once(path)

    @property
    def real_root(self) -> Path:
        """The project root, resolved (once)."""
        return self._module_index().root

    def _module_index(self) -> ModuleIndex:
        if self._modules is None:
            with self._lock:
                if self._modules is None:
                    self._modules = ModuleIndex(self.root)
        return self._modules
