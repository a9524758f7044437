"""Configuration: discovery, parsing and validation (SPEC §3).

Sources, lowest precedence first: defaults, ``[tool.raptor-lint]`` in
pyproject.toml or ``[raptor-lint]`` in setup.cfg, then CLI flags / flake8
options.  Every problem is a ``ConfigError`` whose text is one line naming the
file and the key, so the CLI can print it and exit 2.

Which rule codes exist is the registry's knowledge, and the registry imports every
rule family (which import this module): so this module never imports it.  A caller
that wants codes checked against the rules passes ``known_code`` (the adapters pass
``raptor_lint.registry.known_code_prefix``); without it only a code's spelling is
checked.
"""

from __future__ import annotations

import configparser
import dataclasses
import fnmatch
import functools
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from raptor_lint.findings import ALWAYS_REPORTED

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    # mypy checks this branch (python_version = 3.10) in a venv that may be 3.11+, where
    # tomli (a 3.10-only dependency) is not installed: then there is nothing to check it against.
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

DEFAULT_EXCLUDE = (
    ".git", ".hg", ".svn", ".bzr", "_darcs", ".venv", "venv", ".env", "env",
    "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".tox", ".nox",
    ".eggs", "*.egg-info", "build", "dist", "node_modules", "site-packages",
    ".raptor_lint_cache",
)
DEFAULT_MIGRATIONS_DIRS = ("migrations/versions", "alembic/versions")
DEFAULT_RUNBOOK = "docs/ops/runbook.md"
DEFAULT_CONFIG_MANIFEST = "docs/ops/required-config-vars.yaml"
CODE_PATTERN = re.compile(r"^[A-Z]{1,3}[0-9]{0,3}$")

# Whether a code prefix selects at least one rule (``registry.known_code_prefix``).
KnownCode = Callable[[str], bool]


class ConfigError(Exception):
    """A configuration problem; ``str()`` is the one-line message for the user."""


@dataclass(frozen=True)
class Config:
    root: Path
    source: Path | None = None
    select: tuple[str, ...] = ("RPT",)
    ignore: tuple[str, ...] = ()
    per_file_ignores: tuple[tuple[str, tuple[str, ...]], ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: tuple[str, ...] = ()
    migrations_dir: str | None = None
    runbook: str | None = None
    config_manifest: str | None = None
    app_factory: tuple[str, ...] = ("create_app", "init_app")
    core_blueprints: tuple[str, ...] = ("_core_blueprints",)
    api_prefix: str = "/api"
    # ``cache-dir``: where the findings cache lives (``RAPTOR_LINT_CACHE_DIR`` overrides it;
    # ``raptor_lint.cache`` decides the default).  Relative to the project root.
    cache_dir: str | None = None
    # ``unsafe-fixes = true``: ``check --fix``/``--diff`` also apply unsafe fixes (as
    # ``--unsafe-fixes``; ``--no-unsafe-fixes`` overrides it).  Findings do not depend on it.
    unsafe_fixes: bool = False
    # `check --base REF` (not a file setting): the git revision findings are filtered against.
    base: str | None = None
    # Not a file setting either: False where the host applies ``# noqa`` itself (the flake8
    # plugin: flake8 filters every plugin's findings, and honours its --disable-noqa).
    apply_noqa: bool = True

    # ---- code selection (flake8 semantics: the longest matching prefix wins)
    def is_selected(self, code: str) -> bool:
        if code in ALWAYS_REPORTED:
            return True
        return _decide(code, self.select, self.ignore)

    def is_ignored_for_path(self, code: str, relpath: str) -> bool:
        for pattern, codes in self.per_file_ignores:
            if _path_matches(relpath, pattern) and any(code.startswith(c) for c in codes):
                return True
        return False

    def is_excluded(self, path: Path) -> bool:
        """True when ``path`` (a file or directory) matches an exclude pattern."""
        try:
            rel = path.resolve().relative_to(self.root.resolve()).as_posix()
        except (ValueError, OSError, RuntimeError):  # RuntimeError: a symlink loop
            rel = path.as_posix()
        return self.excluded_name_rel(path.name, rel)

    def excluded_name_rel(self, name: str, rel: str) -> bool:
        """``is_excluded`` for a path already split into its name and its path
        relative to the root (discovery computes ``rel`` without resolving each file)."""
        return _exclude_matcher((*self.exclude, *self.extend_exclude))(name, rel)

    # ---- project files
    def resolved_migrations_dir(self) -> Path | None:
        """Configured directory (must exist) or the first default that exists."""
        if self.migrations_dir is not None:
            return _must_exist(self.root / self.migrations_dir, self, "migrations-dir", directory=True)
        for candidate in DEFAULT_MIGRATIONS_DIRS:
            if (self.root / candidate).is_dir():
                return self.root / candidate
        return None

    def resolved_runbook(self) -> Path | None:
        if self.runbook is not None:
            return _must_exist(self.root / self.runbook, self, "runbook", directory=False)
        path = self.root / DEFAULT_RUNBOOK
        return path if path.is_file() else None

    def resolved_config_manifest(self) -> Path | None:
        if self.config_manifest is not None:
            return _must_exist(self.root / self.config_manifest, self, "config-manifest", directory=False)
        path = self.root / DEFAULT_CONFIG_MANIFEST
        return path if path.is_file() else None

    def replace(self, **changes: Any) -> "Config":
        return dataclasses.replace(self, **changes)

    def fingerprint(self) -> str:
        """Stable text that changes whenever a setting that affects findings changes."""
        data = dataclasses.asdict(self)
        del data["unsafe_fixes"]  # decides which fixes --fix applies, not the findings
        del data["cache_dir"]  # where findings are kept, not what they are
        data["root"] = str(self.root)
        data["source"] = str(self.source) if self.source else None
        return repr(sorted(data.items()))


def _must_exist(path: Path, config: Config, key: str, *, directory: bool) -> Path:
    where = config.source or config.root
    if directory and not path.is_dir():
        kind = "is not a directory" if path.exists() else "does not exist"
        raise ConfigError(f"{where}: {key} = {path} {kind}")
    if not directory and not path.is_file():
        kind = "is not a file" if path.exists() else "does not exist"
        raise ConfigError(f"{where}: {key} = {path} {kind}")
    return path


def _decide(code: str, select: Iterable[str], ignore: Iterable[str]) -> bool:
    selected = max((len(p) for p in select if code.startswith(p)), default=-1)
    ignored = max((len(p) for p in ignore if code.startswith(p)), default=-1)
    if selected < 0:
        return False
    return selected > ignored


@functools.lru_cache(maxsize=64)
def _exclude_matcher(patterns: tuple[str, ...]):
    """One compiled test for a list of exclude patterns, equivalent to trying each with
    ``fnmatch.fnmatch(name, pattern) or _path_matches(rel, pattern)`` (hundreds of
    times faster on big trees: one regex instead of ~200 fnmatch calls per file)."""
    norm = os.path.normcase
    stripped = [p.strip().rstrip("/") for p in patterns]
    stripped = [p for p in stripped if p]

    def union(parts: list[str]):
        if not parts:
            return lambda text: None
        return re.compile("|".join(f"(?:{part})" for part in parts)).match

    name_match = union([fnmatch.translate(norm(p)) for p in patterns])
    rel_match = union([fnmatch.translate(norm(p)) for p in stripped]
                      + [fnmatch.translate(norm(p + "/*")) for p in stripped])
    part_match = union([fnmatch.translate(norm(p)) for p in stripped if "/" not in p])

    def excluded(name: str, rel: str) -> bool:
        if name_match(norm(name)) or rel_match(norm(rel)):
            return True
        return any(part_match(norm(part)) for part in rel.split("/"))

    return excluded


def _path_matches(relpath: str, pattern: str) -> bool:
    """fnmatch on the relative path; a pattern also matches everything below it,
    and a pattern without ``/`` matches any path component (like flake8)."""
    pattern = pattern.strip().rstrip("/")
    if not pattern:
        return False
    if fnmatch.fnmatch(relpath, pattern) or fnmatch.fnmatch(relpath, pattern + "/*"):
        return True
    return "/" not in pattern and any(fnmatch.fnmatch(part, pattern) for part in relpath.split("/"))


# --------------------------------------------------------------------- loading

LIST_KEYS = {"select", "ignore", "exclude", "extend-exclude", "app-factory", "core-blueprints"}
PATH_KEYS = {"migrations-dir", "runbook", "config-manifest", "cache-dir"}
BOOL_KEYS = {"unsafe-fixes"}
KNOWN_KEYS = LIST_KEYS | PATH_KEYS | BOOL_KEYS | {"per-file-ignores", "api-prefix"}
# setup.cfg values are strings: configparser's spellings of a boolean.
_BOOLEAN_WORDS = {"true": True, "yes": True, "on": True, "1": True,
                  "false": False, "no": False, "off": False, "0": False}


def find_project_root(start: Path) -> Path:
    """Walk up from ``start`` to the first directory holding pyproject.toml, setup.cfg or .git."""
    try:
        start = start.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        start = start.absolute()
    directory = start if start.is_dir() else start.parent
    for candidate in (directory, *directory.parents):
        if any((candidate / name).exists() for name in ("pyproject.toml", "setup.cfg", ".git")):
            return candidate
    return directory


def load_config(start: Path | None = None, config_file: Path | None = None, *,
                known_code: KnownCode | None = None) -> Config:
    """Discover (or read ``config_file``) and validate the configuration.

    ``known_code`` tells whether a code in ``select``, ``ignore`` or
    ``per-file-ignores`` names a rule; without it only the codes' spelling is checked."""
    if config_file is not None:
        config_file = Path(config_file)
        if config_file.is_dir():
            raise ConfigError(f"{config_file}: is a directory; --config names a pyproject.toml or setup.cfg")
        if not config_file.is_file():
            raise ConfigError(f"{config_file}: configuration file does not exist")
        root = config_file.resolve().parent
        table = _read_table(config_file)
        if table is None:
            section = "[tool.raptor-lint]" if config_file.name.endswith(".toml") else "[raptor-lint]"
            raise ConfigError(f"{config_file}: no {section} section")
        return _build(root, config_file, table, known_code)
    root = find_project_root(start or Path.cwd())
    for name in ("pyproject.toml", "setup.cfg"):
        path = root / name
        if path.is_file():
            table = _read_table(path)
            if table is not None:
                return _build(root, path, table, known_code)
    return Config(root=root)


def _read_table(path: Path) -> dict[str, Any] | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}") from None
    if path.suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        tool = data.get("tool", {})
        if not isinstance(tool, dict):  # `tool = 1`: valid TOML, but no [tool.raptor-lint] table
            raise ConfigError(f"{path}: 'tool' must be a table")
        table = tool.get("raptor-lint")
        if table is not None and not isinstance(table, dict):
            raise ConfigError(f"{path}: [tool.raptor-lint] must be a table")
        return table
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as exc:
        first_line = str(exc).splitlines()[0]
        raise ConfigError(f"{path}: invalid setup.cfg: {first_line}") from None
    if not parser.has_section("raptor-lint"):
        return None
    return {key: value for key, value in parser.items("raptor-lint")}


def _build(root: Path, source: Path, table: Mapping[str, Any], known_code: KnownCode | None) -> Config:
    values: dict[str, Any] = {}
    section = "[tool.raptor-lint]" if source.suffix == ".toml" else "[raptor-lint]"
    for raw_key, value in table.items():
        key = raw_key.replace("_", "-")
        where = f"{source}: {section} key '{raw_key}'"
        if key not in KNOWN_KEYS:
            known = ", ".join(sorted(KNOWN_KEYS))
            raise ConfigError(f"{where}: unknown key (known keys: {known})")
        values.update(_convert(key, value, where, known_code))
    return Config(root=root, source=source, **values)


def with_settings(config: Config, settings: Mapping[str, Any], where: str,
                  known_code: KnownCode | None = None) -> Config:
    """``config`` with ``settings`` (file keys, ``-`` or ``_`` spelled: flake8 options, the
    editor's settings) validated exactly as the config file's keys are; a ``ConfigError``
    names ``where`` (e.g. ``.flake8: option 'raptor-api-prefix'``) and the key."""
    values: dict[str, Any] = {}
    for raw_key, value in settings.items():
        key = raw_key.replace("_", "-")
        if key not in KNOWN_KEYS:
            known = ", ".join(sorted(KNOWN_KEYS))
            raise ConfigError(f"{where}: unknown key {raw_key!r} (known keys: {known})")
        values.update(_convert(key, value, f"{where} key '{raw_key}'", known_code))
    return config.replace(**values) if values else config


def _convert(key: str, value: Any, where: str, known_code: KnownCode | None) -> dict[str, Any]:
    attr = key.replace("-", "_")
    if key in LIST_KEYS:
        items = _as_list(value, where)
        if key == "select" and not items:
            raise ConfigError(f"{where}: selects no rule (remove the key to select every rule)")
        if key in {"select", "ignore"}:
            items = [validate_code(item, where, known_code) for item in items]
        if key == "core-blueprints" or key == "app-factory":
            for item in items:
                if not item.isidentifier():
                    raise ConfigError(f"{where}: {item!r} is not a Python identifier")
        return {attr: tuple(items)}
    if key in PATH_KEYS:
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: expected a path string, got {value!r}")
        return {attr: value.strip()}
    if key in BOOL_KEYS:
        if isinstance(value, bool):
            return {attr: value}
        if isinstance(value, str) and value.strip().lower() in _BOOLEAN_WORDS:
            return {attr: _BOOLEAN_WORDS[value.strip().lower()]}
        raise ConfigError(f"{where}: expected true or false, got {value!r}")
    if key == "api-prefix":
        if not isinstance(value, str) or not re.fullmatch(r"/[^\s/]+(/[^\s/]+)*", value.strip()):
            raise ConfigError(f"{where}: expected a URL path like '/api', got {value!r}")
        return {attr: value.strip()}
    if key == "per-file-ignores":
        return {attr: parse_per_file_ignores(value, where, known_code)}
    raise AssertionError(key)  # pragma: no cover


def _as_list(value: Any, where: str) -> list[str]:
    if isinstance(value, str):
        return [item for item in re.split(r"[,\s]+", value) if item]
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return [item.strip() for item in value if item.strip()]
    raise ConfigError(f"{where}: expected a list of strings, got {value!r}")


def validate_code(item: str, where: str, known_code: KnownCode | None = None) -> str:
    """``item`` as a code prefix (upper case), or a ``ConfigError`` naming ``where``:
    a code is spelled like ``RPT1`` and, when ``known_code`` is given, selects a rule."""
    code = item.strip().upper()
    if not CODE_PATTERN.match(code) or (known_code is not None and not known_code(code)):
        raise ConfigError(f"{where}: unknown rule code {item!r} (see `raptor-lint rules`)")
    return code


def parse_per_file_ignores(value: Any, where: str, known_code: KnownCode | None = None,
                           ) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """Accept a TOML table ``{glob = [codes]}`` or flake8's ``glob:CODE,CODE`` lines."""
    pairs: list[tuple[str, tuple[str, ...]]] = []
    if isinstance(value, dict):
        for pattern, codes in value.items():
            items = _as_list(codes, where)
            pairs.append((pattern, tuple(validate_code(c, where, known_code) for c in items)))
        return tuple(pairs)
    if isinstance(value, str):
        for chunk in re.split(r"\n|\s(?=[^\s:,]+:)", value):
            chunk = chunk.strip()
            if not chunk:
                continue
            if ":" not in chunk:
                raise ConfigError(f"{where}: expected 'glob:CODE,...', got {chunk!r}")
            pattern, codes = chunk.split(":", 1)
            items = _as_list(codes, where)
            pairs.append((pattern.strip(), tuple(validate_code(c, where, known_code) for c in items)))
        return tuple(pairs)
    raise ConfigError(f"{where}: expected a table of glob = [codes], got {value!r}")


def relative_posix(path: Path, base: Path | None = None) -> str:
    """``path`` relative to ``base`` (default: the working directory), with ``/``."""
    base = base or Path.cwd()
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # pragma: no cover - different drive on Windows
        return path.as_posix()


def render_settings(config: Config) -> str:
    """``check --show-settings``: the resolved configuration, one ``key = value`` line each,
    and where each value came from (a default, the config file, a command-line flag)."""
    origin = str(config.source) if config.source else "default"
    lines = [f"root = {config.root}", f"source = {origin}"]
    for item in dataclasses.fields(config):
        if item.name in {"root", "source"}:
            continue
        lines.append(f"{item.name.replace('_', '-')} = {getattr(config, item.name)!r}")
    return "\n".join(lines) + "\n"
