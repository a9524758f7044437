"""The config manifest (``docs/ops/required-config-vars.yaml``), built once per run.

Two shapes are accepted::

    vars:                 # the Raptor shape: mappings with a name
      - name: SECRET_KEY
        required: always
    ---
    - SECRET_KEY          # or a plain list of names
    - DATABASE_URL

Read with ``yaml.safe_load`` only.  Invalid YAML or another shape is a
``ConfigError`` (one line naming the file; the CLI exits 2): a manifest the
linter cannot read must not silently switch RPT503 off.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raptor_lint.config import ConfigError
from raptor_lint.project.migrations import project_relpath

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.project import ProjectIndex


@dataclass(frozen=True)
class Manifest:
    path: Path
    relpath: str
    names: frozenset[str]

    def declares(self, name: str) -> bool:
        return name in self.names


def build(project: "ProjectIndex") -> Manifest | None:
    """ProjectIndex fact: None when the default manifest is absent."""
    path = project.config.resolved_config_manifest()
    if path is None:
        return None
    return Manifest(path=path, relpath=project_relpath(path, project.config.root), names=frozenset(read_names(path)))


def read_names(path: Path) -> list[str]:
    import yaml

    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config manifest: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: config manifest is not valid UTF-8 (byte offset {exc.start})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML in the config manifest: {_yaml_problem(exc)}") from None
    return _names(data, path)


def _names(data: Any, path: Path) -> list[str]:
    if data is None:
        return []
    items = data.get("vars") if isinstance(data, dict) else data
    if isinstance(data, dict) and "vars" not in data:
        raise ConfigError(f"{path}: config manifest has no top-level 'vars:' list")
    if items is None:
        return []
    if not isinstance(items, list):
        raise ConfigError(f"{path}: config manifest: expected 'vars:' to be a list, got {type(items).__name__}")
    names: list[str] = []
    for number, item in enumerate(items, 1):
        if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"].strip():
            names.append(item["name"].strip())
        elif isinstance(item, str) and item.strip():
            names.append(item.strip())
        else:
            raise ConfigError(
                f"{path}: config manifest: entry {number} has no 'name:' string (expected '- name: VAR' or '- VAR')"
            )
    return names


def _yaml_problem(exc: Exception) -> str:
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    mark = getattr(exc, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{problem}{where}".replace("\n", " ")
