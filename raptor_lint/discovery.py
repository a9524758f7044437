"""Which files to lint, and what kind each one is."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Iterator

from raptor_lint.config import Config

PYTHON = "python"
SHELL = "shell"
MAKEFILE = "makefile"
MARKDOWN = "markdown"
YAML = "yaml"
PROCFILE = "procfile"

_CI_YAML_DIRS = (".github/workflows", ".circleci", ".buildkite")
_CI_YAML_NAMES = {".gitlab-ci.yml", ".gitlab-ci.yaml", ".travis.yml", "bitbucket-pipelines.yml",
                  "azure-pipelines.yml", "app.json", "heroku.yml"}


def file_kind(path: Path | str, *, explicit: bool = False) -> str | None:
    """The kind of ``path`` by name, or None for files no rule reads."""
    posix = PurePosixPath(Path(path).as_posix())
    name = posix.name
    suffix = posix.suffix.lower()
    if suffix == ".py":
        return PYTHON
    if suffix in {".sh", ".bash"}:
        return SHELL
    if name == "Makefile" or name == "makefile" or name == "GNUmakefile" or suffix == ".mk":
        return MAKEFILE
    if suffix in {".md", ".markdown"}:
        return MARKDOWN
    if name == "Procfile" or name.startswith("Procfile."):
        return PROCFILE
    if suffix in {".yml", ".yaml"} and (
        name in _CI_YAML_NAMES or any(part in str(posix.parent) for part in _CI_YAML_DIRS)
    ):
        return YAML
    if explicit:
        if suffix in {".yml", ".yaml"}:
            return YAML
        return _kind_from_shebang(Path(path)) or PYTHON
    if not suffix and _kind_from_shebang(Path(path)) == SHELL:
        return SHELL
    return None


def _kind_from_shebang(path: Path) -> str | None:
    try:
        with open(path, "rb") as handle:
            first = handle.readline(200)
    except OSError:
        return None
    if first.startswith(b"#!"):
        if any(shell in first for shell in (b"/sh", b"bash", b"zsh", b"env sh")):
            return SHELL
        if b"python" in first:
            return PYTHON
    return None


def iter_files(paths: list[Path], config: Config) -> Iterator[tuple[Path, str]]:
    """Yield (path, kind) for every lintable file below ``paths``, each once.

    Directories are walked without following symlinks, so symlink loops cannot
    trap the walk; explicitly named files are always linted.
    """
    seen: set[str] = set()
    for root in paths:
        if root.is_dir():
            for directory, dirnames, filenames in os.walk(root, followlinks=False):
                base = Path(directory)
                dirnames[:] = sorted(d for d in dirnames if not config.is_excluded(base / d))
                for filename in sorted(filenames):
                    path = base / filename
                    kind = file_kind(path)
                    if kind is None or config.is_excluded(path):
                        continue
                    key = os.path.normcase(os.path.abspath(path))
                    if key not in seen:
                        seen.add(key)
                        yield path, kind
        else:
            key = os.path.normcase(os.path.abspath(root))
            if key not in seen:
                seen.add(key)
                yield root, file_kind(root, explicit=True) or PYTHON
