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
    # ``respect-gitignore``: skip what ``.gitignore`` (inside a git repository), ``.ignore`` and
    # ``.git/info/exclude`` exclude while walking directories (raptor_lint.ignorefiles).
    respect_gitignore: bool = True
    # Where each setting came from, ``(key, origin, how the user named it)``: e.g.
    # ``("migrations-dir", ".flake8", ".flake8: [flake8] option 'raptor-migrations-dir'")``
    # (``render_settings`` shows the origin; an error about a configured path names it).
    # Provenance only: equal configurations compare equal and share a cache fingerprint.
    origins: tuple[tuple[str, str, str], ...] = dataclasses.field(default=(), compare=False)

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

    def origin_of(self, key: str) -> str:
        """Where setting ``key`` (spelled as in the file: ``migrations-dir``) came from:
        the last source that set it, else "default"."""
        for name, origin, _named in reversed(self.origins):
            if name == key:
                return origin
        return "default"

    def named_where(self, key: str) -> str | None:
        """How the user named setting ``key`` where it was set (``{file}: [tool.raptor-lint]
        key 'runbook'``), for an error about its value; None for a default."""
        for name, _origin, named in reversed(self.origins):
            if name == key:
                return named
        return None

    # ---- project files
    def resolved_migrations_dir(self) -> Path | None:
        """Configured directory (must exist) or the first default that exists."""
        if self.migrations_dir is not None:
            path = _must_exist(self.root / self.migrations_dir, self, "migrations-dir", directory=True)
            return _inside_project(path, self, "migrations-dir")
        for candidate in DEFAULT_MIGRATIONS_DIRS:
            if (self.root / candidate).is_dir():
                return _inside_project(self.root / candidate, self, None)
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
        del data["origins"]  # where the values came from, not what they are
        data["root"] = str(self.root)
        data["source"] = str(self.source) if self.source else None
        return repr(sorted(data.items()))


def _inside_project(path: Path, config: Config, key: str | None) -> Path:
    """``path`` when its real location is inside the project's.  Every file below a
    migrations directory is read and parsed: one that is a symlink to ``/usr`` (a checkout
    can commit that) would have the run walk and parse a whole system tree."""
    real, root = os.path.realpath(path), os.path.realpath(config.root)
    if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
        return path
    if key is None:  # a default location nobody configured: name the path itself
        raise ConfigError(f"{path}: the migrations directory leads outside the project (to {real}); "
                          "keep it inside the project")
    named = config.named_where(key) or f"{config.source or config.root}: {key}"
    raise ConfigError(f"{named} = {path} leads outside the project (to {real}); keep it inside the project")


def _must_exist(path: Path, config: Config, key: str, *, directory: bool) -> Path:
    # The error names where and how the path was configured: a flake8 option is not in
    # pyproject.toml.
    named = config.named_where(key) or f"{config.source or config.root}: {key}"
    if directory and not os.path.isdir(path):
        kind = "is not a directory" if os.path.exists(path) else "does not exist"
        raise ConfigError(f"{named} = {path} {kind}")
    if not directory and not os.path.isfile(path):
        kind = "is not a file" if os.path.exists(path) else "does not exist"
        raise ConfigError(f"{named} = {path} {kind}")
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
BOOL_KEYS = {"unsafe-fixes", "respect-gitignore"}
KNOWN_KEYS = LIST_KEYS | PATH_KEYS | BOOL_KEYS | {"per-file-ignores", "api-prefix"}
# setup.cfg values are strings: configparser's spellings of a boolean.
_BOOLEAN_WORDS = {"true": True, "yes": True, "on": True, "1": True,
                  "false": False, "no": False, "off": False, "0": False}


PROJECT_MARKERS = ("pyproject.toml", "setup.cfg", ".git")


def find_project_root(start: Path, fallback: Path | None = None) -> Path:
    """The project root of ``start`` (a file or directory): the first directory, from
    ``start``'s own upwards, holding pyproject.toml, setup.cfg or .git.

    Without a marker the root is ``fallback`` (default: the working directory) when
    ``start`` lies inside it, else ``start``'s directory.  Every surface uses this one
    rule, so the CLI, the flake8 plugin (which sees one file at a time) and the language
    server agree on the root, and so on the findings, of a tree that has no marker."""
    try:
        start = start.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop
        start = start.absolute()
    # os.path's tests, not pathlib's: False on any OSError (permission denied on a parent, a
    # name too long), where Path.is_dir() raises before Python 3.14.
    directory = start if os.path.isdir(start) else start.parent
    for candidate in (directory, *directory.parents):
        if any(os.path.exists(candidate / name) for name in PROJECT_MARKERS):
            return candidate
    try:
        base = (fallback if fallback is not None else Path.cwd()).resolve()
    except (OSError, RuntimeError):  # the working directory was removed
        return directory
    return base if directory == base or base in directory.parents else directory


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


# A configuration file is a few KB; 1 MB is far past any real one and keeps a planted
# multi-GB (sparse) pyproject.toml from being read whole.
CONFIG_FILE_LIMIT = 1024 * 1024


def _read_table(path: Path) -> dict[str, Any] | None:
    from raptor_lint.safe_read import read_regular_file  # (safe_read is a leaf: no cycle)

    try:
        # Bounded and never a FIFO or a device, as every other file the linter reads.
        text = read_regular_file(path, limit=CONFIG_FILE_LIMIT).decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read configuration: {exc}") from None
    if path.suffix == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: invalid TOML: {exc}") from None
        except RecursionError:  # arrays or inline tables nested thousands deep
            raise ConfigError(f"{path}: invalid TOML: nested too deeply to read") from None
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
    section = "[tool.raptor-lint]" if source.suffix == ".toml" else "[raptor-lint]"
    return with_settings(Config(root=root, source=source), table, f"{source}: {section}", known_code,
                         origin=str(source))


def with_settings(config: Config, settings: Mapping[str, Any], where: str,
                  known_code: KnownCode | None = None, *, origin: str | None = None,
                  key_prefix: str = "", label: str = "key") -> Config:
    """``config`` with ``settings`` validated exactly as the config file's keys are.

    Every surface goes through here: pyproject.toml/setup.cfg, flake8's options, the
    editor's settings, command-line overrides.  A key is spelled with ``-`` or ``_`` and,
    with a ``key_prefix`` (flake8's ``raptor-``), carries it.  A ``ConfigError`` reads
    ``{where} {label} '{the key as spelled}': what is wrong``, e.g. ``setup.cfg: [flake8]
    option 'raptor-api-prefix': expected a URL path like '/api', got 'api'``.  Each key set
    is recorded with ``origin`` (default: ``where``): ``render_settings`` shows it, and an
    error about a configured path names it."""
    values: dict[str, Any] = {}
    origins: list[tuple[str, str, str]] = []
    for raw_key, value in settings.items():
        spelled = raw_key.replace("_", "-")
        key = spelled[len(key_prefix):] if spelled.startswith(key_prefix) else ""
        named = f"{where} {label} '{raw_key}'"
        if key not in KNOWN_KEYS:
            known = ", ".join(key_prefix + name for name in sorted(KNOWN_KEYS))
            raise ConfigError(f"{named}: unknown {label} (known {label}s: {known})")
        values.update(_convert(key, value, named, known_code))
        origins.append((key, where if origin is None else origin, named))
    if not values:
        return config
    return config.replace(**values, origins=(*config.origins, *origins))


def validate_configured_paths(config: Config) -> None:
    """Raise the ``ConfigError`` of a configured runbook, manifest or migrations directory
    that is missing (a missing default is no error).  A surface calls this once, before
    any file, so the user reads one line instead of one finding per file."""
    config.resolved_migrations_dir()
    config.resolved_runbook()
    config.resolved_config_manifest()


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
    if isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
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
    """``check --show-settings``: every setting with its resolved value and where that value
    came from (``default``, the config file's path, ``command line``, an editor setting), as
    ``ruff check --show-settings`` shows them, in TOML spelling so a line can be pasted
    into ``[tool.raptor-lint]``."""
    lines = [f"# project root: {config.root}",
             f"# configuration file: {config.source if config.source else 'none'}"]
    rows = []
    for item in dataclasses.fields(config):
        key = item.name.replace("_", "-")
        if key not in KNOWN_KEYS:
            continue  # root, source, and what is not a setting (base, apply-noqa, origins)
        value, origin = getattr(config, item.name), config.origin_of(key)
        if value is None:  # an unset path: say what is used instead
            value, origin = _unset_path(config, key)
        rows.append((f"{key} = {_toml_value(value, table=key == 'per-file-ignores')}", origin))
    width = min(max(len(text) for text, _origin in rows), 48)
    lines.extend(f"{text.ljust(width)}  # {origin}" for text, origin in rows)
    return "\n".join(lines) + "\n"


def _unset_path(config: Config, key: str) -> tuple[str, str]:
    """The value and the origin ``render_settings`` shows for a path setting left unset."""
    if key == "cache-dir":
        return "", "default (unset: RAPTOR_LINT_CACHE_DIR, else the cache's own default)"
    defaults = {"migrations-dir": DEFAULT_MIGRATIONS_DIRS, "runbook": (DEFAULT_RUNBOOK,),
                "config-manifest": (DEFAULT_CONFIG_MANIFEST,)}[key]
    for candidate in defaults:
        if (config.root / candidate).exists():
            return candidate, "default"
    return defaults[0], "default (missing: the rules that read it are off)"


def _toml_value(value: Any, *, table: bool = False) -> str:
    """``value`` as TOML would spell it (``per-file-ignores`` as an inline table)."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if table:
        if not value:
            return "{}"
        pairs = ", ".join(f"{json.dumps(pattern)} = {json.dumps(list(codes))}" for pattern, codes in value)
        return "{ " + pairs + " }"
    if isinstance(value, tuple):
        return json.dumps(list(value))
    return json.dumps(value)
