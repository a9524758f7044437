"""The config manifest (``docs/ops/required-config-vars.yaml``), built once per run.

Two shapes are accepted::

    vars:                 # the Raptor shape: mappings with a name
      - name: SECRET_KEY
        required: always
    ---
    - SECRET_KEY          # or a plain list of names
    - DATABASE_URL

Read with ``safe_read.read_regular_file`` and ``safe_yaml.safe_load`` (``yaml.safe_load``
with recursive aliases, alias fan-out and deep nesting refused).  Invalid YAML, such YAML
or another shape is a
``ConfigError`` (one line naming the file; the CLI exits 2): a manifest the
linter cannot read must not silently switch RPT503 off.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raptor_lint.config import ConfigError
from raptor_lint.project.migrations import project_relpath
from raptor_lint.safe_read import UnreadableFile, read_regular_file

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.findings import Edit
    from raptor_lint.project import ProjectIndex


@dataclass(frozen=True)
class Manifest:
    path: Path
    relpath: str
    names: frozenset[str]
    text: str = ""
    # name -> RPT503's edit, computed once (``addition``); lives as long as this fact.
    _additions: "dict[str, Edit | None]" = field(default_factory=dict, compare=False, repr=False)

    def declares(self, name: str) -> bool:
        return name in self.names

    def addition(self, name: str) -> "Edit | None":
        """RPT503's fix: the edit declaring ``name`` (``declaration``), or None.

        Memoised: checking the edit parses the whole manifest again, and one variable read
        in thirty places is thirty findings (0.26 s each on a 40 KB manifest)."""
        if name not in self._additions:  # a race computes it twice: the same value
            self._additions[name] = declaration(self.text, name, os.path.abspath(self.path))
        return self._additions[name]


def build(project: "ProjectIndex") -> Manifest | None:
    """ProjectIndex fact: None when the default manifest is absent."""
    path = project.config.resolved_config_manifest()
    if path is None:
        return None
    text = read_text(path)
    return Manifest(path=path, relpath=project_relpath(path, project.config.root),
                    names=frozenset(names_of(text, path)), text=text)


def read_names(path: Path) -> list[str]:
    return names_of(read_text(path), path)


def read_text(path: Path) -> str:
    """The manifest's text, as --fix reads it (UTF-8, a BOM dropped)."""
    try:
        text = read_regular_file(path).decode("utf-8")
    except UnreadableFile as exc:
        raise ConfigError(f"{path}: cannot read the config manifest: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: config manifest is not valid UTF-8 (byte offset {exc.start})") from None
    return text[1:] if text.startswith("\ufeff") else text


def names_of(text: str, path: Path) -> list[str]:
    import yaml

    from raptor_lint.safe_yaml import YAMLRefused, safe_load

    try:
        data = safe_load(text)
    except YAMLRefused as exc:
        raise ConfigError(f"{path}: config manifest not read: {exc.describe()}") from None
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


# ------------------------------------------------------------- RPT503's fix

_VARS_KEY = re.compile(r"vars[ \t]*:[ \t]*(?:#.*)?$")
_ITEM = re.compile(r"([ \t]*)-(?:[ \t]+(.*))?$")


def _scalar(name: str) -> str:
    """``name`` as a YAML scalar that loads as that string: plain when it does, else quoted."""
    import yaml

    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", name):
        try:
            if yaml.safe_load(f"k: {name}") == {"k": name}:
                return name
        except yaml.YAMLError:
            pass
    return json.dumps(name)  # a JSON string is a YAML double-quoted scalar


def declaration(text: str, name: str, path: str) -> "Edit | None":
    """The edit that adds ``name`` to the manifest ``text``: a ``- name: X`` line (or
    ``- X`` when the entries are plain names) after the last entry of the top-level
    ``vars:`` block list (or of a top-level plain list), with the entries' indentation and
    the file's line break; comments and everything else stay.  None when the list is not a
    block list this can extend (``vars: []``, flow style, no list at all), or when the
    result would not load with ``name`` declared."""
    from raptor_lint.findings import Edit
    from raptor_lint.source import LINE_BREAK, split_lines

    lines = split_lines(text)
    first_break = LINE_BREAK.search(text)
    eol = first_break.group(0) if first_break else "\n"
    key = next((i for i, line in enumerate(lines) if _VARS_KEY.match(line)), None)
    if key is not None:
        start = key + 1
    else:  # a plain top-level list: its first entry opens the block
        first = next((i for i, line in enumerate(lines)
                      if line.strip() and not line.lstrip().startswith("#") and line.strip() != "---"), None)
        if first is None or not _ITEM.match(lines[first]) or lines[first][:1] in (" ", "\t"):
            return None
        start = first
    last: int | None = key
    items: list[re.Match[str]] = []
    for index in range(start, len(lines)):
        line = lines[index]
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        item = _ITEM.match(line)
        if line[:1] not in (" ", "\t") and item is None:
            break  # the next top-level key, or a document marker
        if item is not None and (not items or len(item.group(1)) == len(items[0].group(1))):
            items.append(item)
        last = index
    if last is None:
        return None
    indent = items[0].group(1) if items else "  "
    first_value = (items[0].group(2) or "") if items else "name:"
    entry = f"name: {_scalar(name)}" if not items or re.match(r"name[ \t]*:", first_value) else _scalar(name)
    column = len(lines[last]) + 1
    edit = Edit(last + 1, column, last + 1, column, f"{eol}{indent}- {entry}", path)
    if not _declares(text, edit, name):
        return None
    return edit


def _declares(text: str, edit: "Edit", name: str) -> bool:
    """Does ``text`` with ``edit`` applied load as a manifest that declares ``name``?"""
    import yaml

    from raptor_lint.findings import Fix
    from raptor_lint.fixes import apply_fixes

    fixed, _ = apply_fixes(text, [Fix("", (edit,))])
    try:
        return name in names_of(fixed, Path(edit.path or "manifest"))
    except (ConfigError, yaml.YAMLError):
        return False
