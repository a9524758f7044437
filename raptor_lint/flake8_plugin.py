"""flake8 adapter: entry point ``RPT`` in ``flake8.extension``.

flake8 owns selection, ``# noqa`` and per-file-ignores; this adapter only maps
flake8's options onto raptor-lint's configuration and runs the shared engine.
Project facts are cached per process (flake8 has no end-of-run hook and may
spread files over worker processes).  Nothing here may raise: an exception in
``run()`` aborts the whole flake8 run for every file.

Garbage collection: what the plugin imports and builds once per process (the
rule families' libraries, astroid's model of ``builtins``, ~10^5 objects) lives
until the process ends, and every full collection that flake8's own checks
trigger would walk it again: that doubled the collector's time in a flake8
worker (2.8 -> 6.8 s over 358 files).  So after a file during which the process
imported modules, the plugin collects once and freezes what is alive
(``gc.freeze``, CPython's documented tool for long-lived heaps): later
collections skip it.  That happens a handful of times per process (3 on the
bench corpus); nothing is unfrozen.  A collection before each freeze keeps garbage
out of it; what is frozen alive with it and later dies inside a reference cycle
(flake8's state for the file being checked then: pyflakes links its tree's nodes
to their parents) is never reclaimed, one file's worth per freeze.  Each check itself
runs with the collector off (``Engine.lint_text``).
"""

from __future__ import annotations

import ast
import functools
import gc
import os
import sys
from pathlib import Path
from typing import Any, Iterator

from raptor_lint import __version__

_OPTIONS: dict[str, str] = {
    "migrations_dir": "--raptor-migrations-dir",
    "runbook": "--raptor-runbook",
    "config_manifest": "--raptor-config-manifest",
    "app_factory": "--raptor-app-factory",
    "core_blueprints": "--raptor-core-blueprints",
    "api_prefix": "--raptor-api-prefix",
}
_LIST_OPTIONS = {"app_factory", "core_blueprints"}


class Plugin:
    name = "raptor-lint"
    version = __version__
    _options: Any = None
    # False when flake8's --select/--ignore leave no RPT code to report: flake8 runs every
    # installed plugin whatever --select says, so `flake8 --select E,F,W` would otherwise
    # pay for raptor-lint's whole analysis and discard it.
    _enabled: bool = True
    # raptor-lint's flake8 options, validated once by parse_options (see _overrides).
    _settings: "tuple[Override, ...]" = ()

    def __init__(self, tree: ast.AST, filename: str, lines: list[str]) -> None:
        # flake8's tree is ``ast.parse("".join(lines))``: the same tree the engine's gate
        # (``compile(..., PyCF_ONLY_AST)``, no type comments) builds from the same text, so
        # it is linted as is instead of being parsed a second time.  Rules only read it.
        self.tree = tree if isinstance(tree, ast.Module) else None
        self.filename = filename
        self.lines = lines

    @classmethod
    def add_options(cls, parser: Any) -> None:
        for attr, flag in _OPTIONS.items():
            parser.add_option(
                flag,
                default=None,
                parse_from_config=True,
                comma_separated_list=attr in _LIST_OPTIONS,
                help=f"raptor-lint: {flag[len('--raptor-'):]} (see raptor-lint's README)",
            )
        parser.add_option(
            "--raptor-project-root", default=None, parse_from_config=True,
            help="raptor-lint: project root (default: walk up from each file)",
        )

    @classmethod
    def parse_options(cls, options: Any) -> None:
        """Validate raptor-lint's options, and the configuration of the projects named on
        the command line, once, before any file: an error is one line naming the file it
        came from and exit 2, as in the CLI (flake8 lets ``SystemExit`` through), instead
        of a finding on every file or an option silently switching rules off."""
        cls._options = options
        cls._enabled = _any_code_selected(options)
        _named_roots.cache_clear()
        _cached_root.cache_clear()
        _engine_for.cache_clear()
        _config_for.cache_clear()
        from raptor_lint.config import ConfigError

        try:
            cls._settings = _overrides(options)
            if cls._enabled:
                _check_projects(options, cls._settings)
        except ConfigError as exc:
            print(f"flake8: raptor-lint: error: {exc}", file=sys.stderr)
            raise SystemExit(2) from None

    def run(self) -> Iterator[tuple[int, int, str, type]]:
        from raptor_lint.config import ConfigError
        from raptor_lint.engine import config_error, internal_error

        if not self._enabled:
            return
        display = self.filename
        try:
            if self.filename in ("-", "stdin"):
                display = getattr(self._options, "stdin_display_name", None) or "stdin"
            path = Path(display)
            engine = _engine_for(_root_for(path, self._options), self._settings)
            result = engine.lint_text("".join(self.lines), path, "python", display_path=display, tree=self.tree)
            findings = result.findings
        except ConfigError as exc:
            findings = [config_error(display, "raptor-lint", exc)]
        except Exception as exc:  # noqa: BLE001 - never abort the flake8 run
            findings = [internal_error(display, "flake8 adapter", f"{type(exc).__name__}: {exc}")]
        _freeze_new_imports()
        for finding in findings:
            yield finding.line, max(finding.column - 1, 0), f"{finding.code} {finding.message}", type(self)


# False keeps the heap unfrozen: the test suite runs the plugin inside pytest's own
# process, whose collections its tests rely on (tests/conftest.py).
FREEZE_LONG_LIVED = True
_modules_at_last_freeze = 0


def _freeze_new_imports() -> None:
    """Freeze the heap when this file made the process import modules (see the module
    docstring): imports, and what is built alongside them, live until the end."""
    global _modules_at_last_freeze
    if FREEZE_LONG_LIVED and len(sys.modules) != _modules_at_last_freeze:
        _modules_at_last_freeze = len(sys.modules)  # noqa: RPT102 - per process, by design
        gc.collect()
        gc.freeze()


def _any_code_selected(options: Any) -> bool:
    """Would flake8 report any RPT code (or RPT000) with these options?"""
    try:
        # flake8 ships no type information (typeshed's types-flake8 is not installed).
        from flake8.style_guide import Decision, DecisionEngine  # type: ignore[import-untyped]

        decider = DecisionEngine(options)
        # Every possible code, not the registry: importing the rule families (sqlglot...)
        # would cost `flake8 --select E` more than the question is worth.
        return any(decider.decision_for(f"RPT{number:03d}") is Decision.Selected for number in range(1000))
    except Exception:  # noqa: BLE001 - another flake8 version, odd options: just run
        return True


# One flake8 option as (its name with the ``raptor-`` prefix, its value, where it was set:
# a config file's path or "flake8 command line").
Override = tuple[str, Any, str]


def _overrides(options: Any) -> tuple[Override, ...]:
    """flake8's raptor options, each validated now (exactly as a config file's key, named
    by the file flake8 read it from): a ``ConfigError`` before any file is linted."""
    from raptor_lint.config import Config

    found: list[Override] = []
    spelled = _spelled_in_config_files(options)
    for attr, flag in _OPTIONS.items():
        value = getattr(options, f"raptor_{attr}", None) if options is not None else None
        if value is None or value == [] or value == "":
            continue
        if attr in _LIST_OPTIONS and not isinstance(value, str):
            value = tuple(value)
        source, name = spelled.get(flag[2:], ("flake8 command line", flag[2:]))
        found.append((name, value, source))
    _apply(Config(root=Path.cwd()), tuple(found))
    return tuple(found)


def _apply(config: Any, overrides: tuple[Override, ...]) -> Any:
    from raptor_lint.config import with_settings

    for name, value, source in overrides:
        where = source if source == "flake8 command line" else f"{source}: [flake8]"
        config = with_settings(config, {name: value}, where, origin=source,
                               key_prefix="raptor-", label="option")
    return config


def _spelled_in_config_files(options: Any) -> dict[str, tuple[str, str]]:
    """``{option: (config file, the key as written there)}`` for the raptor options set in
    the ``[flake8]`` section of the files flake8 read (its ``--config`` or the first
    setup.cfg/tox.ini/.flake8 with a ``[flake8]`` section from the working directory up,
    then ``--append-config``): an error names the file and the key the user wrote."""
    import configparser

    if options is None or getattr(options, "isolated", False):
        return {}
    files = []
    config = getattr(options, "config", None)
    if config:
        files.append(config)
    else:
        try:
            from flake8.options.config import _find_config_file  # type: ignore[import-untyped]

            found = _find_config_file(os.getcwd())
        except Exception:  # noqa: BLE001 - another flake8 version: the command line is named
            found = None
        if found:
            files.append(found)
    files.extend(getattr(options, "append_config", None) or ())
    spelled: dict[str, tuple[str, str]] = {}
    for name in files:
        parser = configparser.RawConfigParser()
        try:
            parser.read(name, encoding="utf-8")
        except (configparser.Error, UnicodeDecodeError, OSError):
            continue
        if parser.has_section("flake8"):
            for key in parser.options("flake8"):
                option = key.replace("_", "-")
                if option.startswith("raptor-"):
                    spelled[option] = (os.path.relpath(name) if os.path.isabs(name) else name, key)
    return spelled


def _check_projects(options: Any, overrides: tuple[Override, ...]) -> None:
    """Load, validate and check the configured paths of the project of every path flake8
    was given (a project met deeper in the tree is checked when its first file is)."""
    from raptor_lint.config import validate_configured_paths

    for named in getattr(options, "filenames", None) or ["."]:
        if named in ("-", "stdin"):
            named = getattr(options, "stdin_display_name", None) or "."
        try:
            path = Path(named)
            root = _root_for(path / "x.py" if path.is_dir() else path, options)
        except (OSError, RuntimeError):  # unreachable or looping: flake8 reports the path itself
            continue
        validate_configured_paths(_config_for(root, overrides))


def _root_for(path: Path, options: Any) -> Path:
    explicit = getattr(options, "raptor_project_root", None) if options is not None else None
    if explicit:
        return Path(explicit).resolve()
    # The root is found from the file's resolved directory.  Resolving every file costs a
    # ``stat`` per path component (~0.1 ms a file); the directory's answer is memoised
    # instead, and only a file that is itself a symlink (or a path through "..", which
    # must be resolved after the symlinks before it) is resolved the exact way.
    text = str(path)
    directory, name = os.path.split(os.path.abspath(text))
    if ".." in text or not name or os.path.islink(text):
        return _cached_root(str(path.resolve().parent))
    return _cached_root(directory)


@functools.lru_cache(maxsize=256)
def _cached_root(directory: str) -> Path:
    """``find_project_root``, with the CLI's answer for a tree without a marker: the
    working directory when the path named on flake8's command line that holds the file is
    inside it, else that named path (flake8 hands over one file at a time; rooting each
    file at its own directory made tests look like app code and lost the migrations
    directory)."""
    from raptor_lint.config import find_project_root

    return find_project_root(Path(directory), fallback=_named_fallback(directory))


def _named_fallback(directory: str) -> Path | None:
    """The CLI's fallback root for a file of ``directory``: the deepest path named on
    flake8's command line that holds it, unless that path is inside the working directory
    (None: the working directory, as for the CLI)."""
    cwd = os.getcwd()
    for named in _named_roots():
        if _inside(directory, named):
            return None if _inside(named, cwd) else Path(named)
    return None


def _inside(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip(os.sep) + os.sep)


@functools.lru_cache(maxsize=1)
def _named_roots() -> tuple[str, ...]:
    """The directories named on flake8's command line (a named file: its directory),
    resolved, deepest first."""
    options = Plugin._options
    names = (getattr(options, "filenames", None) or []) if options is not None else []
    named = []
    for name in names:
        if name in ("-", "stdin"):
            continue
        try:
            path = Path(name).resolve()
            named.append(str(path if path.is_dir() else path.parent))
        except (OSError, RuntimeError):
            continue
    return tuple(sorted(set(named), key=len, reverse=True))


@functools.lru_cache(maxsize=16)
def _config_for(root: Path, overrides: tuple[Override, ...]) -> Any:
    """The project's configuration with the flake8 options applied: read once, by
    ``parse_options``'s check and then for the project's engine."""
    from raptor_lint.config import load_config
    from raptor_lint.registry import known_code_prefix

    return _apply(load_config(start=root, known_code=known_code_prefix), overrides)


@functools.lru_cache(maxsize=16)
def _engine_for(root: Path, overrides: tuple[Override, ...]):
    from raptor_lint.engine import Engine

    # flake8 does selection, noqa and per-file-ignores itself (and honours --disable-noqa).
    config = _config_for(root, overrides).replace(select=("RPT",), ignore=(), per_file_ignores=(),
                                                  apply_noqa=False)
    return Engine(config)
