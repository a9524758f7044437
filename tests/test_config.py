"""Configuration discovery, parsing and validation (SPEC §3)."""

from __future__ import annotations

from pathlib import Path

import subprocess
import sys

import pytest

from raptor_lint.config import Config, ConfigError, find_project_root, load_config
from raptor_lint.registry import known_code_prefix


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_discovery_walks_up_to_the_first_config_file(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.raptor-lint]\nignore = ['RPT104']\n")
    nested = tmp_path / "raptor_app" / "routes"
    nested.mkdir(parents=True)
    assert find_project_root(nested) == tmp_path
    config = load_config(start=nested)
    assert config.root == tmp_path and config.ignore == ("RPT104",)
    assert config.source == tmp_path / "pyproject.toml"


def test_setup_cfg_section_is_read(tmp_path: Path) -> None:
    write(tmp_path / "setup.cfg", "[raptor-lint]\nselect = RPT1, RPT3\napp-factory = make_app\n"
          "per-file-ignores =\n    tests/*:RPT101,RPT102\n    scripts/*.py:RPT3\n")
    config = load_config(start=tmp_path)
    assert config.select == ("RPT1", "RPT3")
    assert config.app_factory == ("make_app",)
    assert config.per_file_ignores == (("tests/*", ("RPT101", "RPT102")), ("scripts/*.py", ("RPT3",)))


def test_pyproject_without_section_gives_defaults_rooted_there(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[project]\nname = 'x'\n")
    config = load_config(start=tmp_path)
    assert config == Config(root=tmp_path)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("selectt = ['RPT1']", "key 'selectt': unknown key"),
        ("select = ['XYZ9']", "key 'select': unknown rule code 'XYZ9'"),
        ("select = 'RPT1, RPT999'", "unknown rule code 'RPT999'"),
        ("api-prefix = 'api'", "key 'api-prefix': expected a URL path"),
        ("app-factory = ['create-app']", "'create-app' is not a Python identifier"),
        ("exclude = 3", "key 'exclude': expected a list of strings"),
        ("per-file-ignores = ['x']", "key 'per-file-ignores': expected a table"),
        ("runbook = 5", "key 'runbook': expected a path string"),
        ("unsafe-fixes = 'sometimes'", "key 'unsafe-fixes': expected true or false"),
        ("unsafe-fixes = 1", "key 'unsafe-fixes': expected true or false"),
    ],
)
def test_bad_values_are_one_line_errors_naming_file_and_key(tmp_path: Path, body: str, fragment: str) -> None:
    path = write(tmp_path / "pyproject.toml", f"[tool.raptor-lint]\n{body}\n")
    with pytest.raises(ConfigError) as info:
        load_config(start=tmp_path, known_code=known_code_prefix)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path)) and fragment in message


def test_without_known_code_only_the_spelling_of_codes_is_checked(tmp_path: Path) -> None:
    # config does not know the rules (the registry does): a caller that passes no
    # ``known_code`` still gets badly spelled codes rejected, with file and key.
    path = write(tmp_path / "pyproject.toml", "[tool.raptor-lint]\nselect = ['RPT999']\n")
    assert load_config(start=tmp_path).select == ("RPT999",)
    write(path, "[tool.raptor-lint]\nper-file-ignores = { 'tests/*' = ['RPT-1'] }\n")
    with pytest.raises(ConfigError, match=r"pyproject.toml: .* key 'per-file-ignores': unknown rule code 'RPT-1'"):
        load_config(start=tmp_path)
    with pytest.raises(ConfigError, match=r"key 'per-file-ignores': unknown rule code 'RPT999'"):
        write(path, "[tool.raptor-lint]\nper-file-ignores = 'tests/*:RPT999'\n")
        load_config(start=tmp_path, known_code=known_code_prefix)


def test_config_does_not_import_the_registry_or_the_rules() -> None:
    # The rule families import config (through context): config importing the registry,
    # which imports every family, would be a cycle.
    probe = ("import sys, raptor_lint.config\n"
             "print(sorted(m for m in sys.modules if m == 'raptor_lint.registry'"
             " or m.startswith('raptor_lint.rules')))")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    write(tmp_path / "pyproject.toml", "[tool.raptor-lint\nselect = \n")
    with pytest.raises(ConfigError, match=r"pyproject.toml: invalid TOML"):
        load_config(start=tmp_path)


def test_selection_uses_longest_prefix_like_flake8(tmp_path: Path) -> None:
    config = Config(root=tmp_path, select=("RPT",), ignore=("RPT1",))
    assert not config.is_selected("RPT101")
    assert config.is_selected("RPT301")
    config = Config(root=tmp_path, select=("RPT101",), ignore=("RPT1",))
    assert config.is_selected("RPT101") and not config.is_selected("RPT102")
    assert config.is_selected("E999")  # always reported


def test_configured_files_must_exist_defaults_may_be_missing(tmp_path: Path) -> None:
    assert Config(root=tmp_path).resolved_runbook() is None
    assert Config(root=tmp_path).resolved_migrations_dir() is None
    with pytest.raises(ConfigError, match="runbook = .* does not exist"):
        Config(root=tmp_path, runbook="docs/ops/runbook.md").resolved_runbook()
    write(tmp_path / "migrations" / "versions", "not a directory")
    with pytest.raises(ConfigError, match="migrations-dir = .* is not a directory"):
        Config(root=tmp_path, migrations_dir="migrations/versions").resolved_migrations_dir()
    (tmp_path / "alembic" / "versions").mkdir(parents=True)
    assert Config(root=tmp_path).resolved_migrations_dir() == tmp_path / "alembic" / "versions"


def test_per_file_ignores_and_exclude_match_relative_paths(tmp_path: Path) -> None:
    config = Config(root=tmp_path, per_file_ignores=(("tests/*", ("RPT1",)),), extend_exclude=("legacy",))
    assert config.is_ignored_for_path("RPT101", "tests/test_app.py")
    assert not config.is_ignored_for_path("RPT301", "tests/test_app.py")
    assert not config.is_ignored_for_path("RPT101", "app/tests.py")
    assert config.is_excluded(tmp_path / "legacy" / "old.py")
    assert config.is_excluded(tmp_path / ".venv")
    assert not config.is_excluded(tmp_path / "raptor_app" / "routes.py")


def test_unsafe_fixes_setting_in_pyproject_and_setup_cfg(tmp_path: Path) -> None:
    write(tmp_path / "a" / "pyproject.toml", "[tool.raptor-lint]\nunsafe-fixes = true\n")
    write(tmp_path / "b" / "setup.cfg", "[raptor-lint]\nunsafe_fixes = yes\n")
    write(tmp_path / "c" / "setup.cfg", "[raptor-lint]\nunsafe-fixes = off\n")
    assert load_config(start=tmp_path / "a").unsafe_fixes is True
    assert load_config(start=tmp_path / "b").unsafe_fixes is True
    assert load_config(start=tmp_path / "c").unsafe_fixes is False
    assert Config(root=tmp_path).unsafe_fixes is False
    # It decides which fixes --fix applies, not the findings: the cache key does not change.
    assert Config(root=tmp_path, unsafe_fixes=True).fingerprint() == Config(root=tmp_path).fingerprint()


def test_show_settings_names_where_each_value_came_from(tmp_path: Path) -> None:
    """Like `ruff check --show-settings`: every key, its value in TOML spelling, and its
    origin — the default, the file, the command line (area 2's overrides), an editor."""
    from raptor_lint.config import render_settings, with_settings

    write(tmp_path / "pyproject.toml", "[tool.raptor-lint]\nignore = ['RPT104']\nextend-exclude = ['gen']\n")
    (tmp_path / "alembic" / "versions").mkdir(parents=True)
    config = with_settings(load_config(start=tmp_path), {"api_prefix": "/v1"}, "command line")
    lines = render_settings(config).splitlines()
    source = str(tmp_path / "pyproject.toml")
    assert lines[:2] == [f"# project root: {tmp_path}", f"# configuration file: {source}"]
    rows = {}
    for line in lines[2:]:
        key, rest = line.split(" = ", 1)
        value, origin = rest.rsplit("  # ", 1)
        rows[key] = (value.rstrip(), origin)
    assert rows["ignore"] == ('["RPT104"]', source)
    assert rows["extend-exclude"] == ('["gen"]', source)
    assert rows["api-prefix"] == ('"/v1"', "command line")
    assert rows["select"] == ('["RPT"]', "default")
    assert rows["per-file-ignores"] == ("{}", "default")
    assert rows["migrations-dir"] == ('"alembic/versions"', "default")
    assert rows["runbook"] == ('"docs/ops/runbook.md"', "default (missing: the rules that read it are off)")
    assert rows["respect-gitignore"] == ("true", "default")
    assert set(rows) == {"select", "ignore", "per-file-ignores", "exclude", "extend-exclude", "migrations-dir",
                         "runbook", "config-manifest", "app-factory", "core-blueprints", "api-prefix",
                         "cache-dir", "unsafe-fixes", "respect-gitignore"}


def test_where_a_value_came_from_changes_neither_equality_nor_the_cache_key(tmp_path: Path) -> None:
    from raptor_lint.config import with_settings

    from_file = load_config(start=write(tmp_path / "pyproject.toml", "[tool.raptor-lint]\napi-prefix = '/v1'\n").parent)
    from_editor = with_settings(Config(root=tmp_path, source=tmp_path / "pyproject.toml"),
                                {"apiPrefix".replace("P", "-p"): "/v1"}, "editor setting raptorLint.apiPrefix")
    assert from_file.origin_of("api-prefix") == str(tmp_path / "pyproject.toml")
    assert from_editor.origin_of("api-prefix") == "editor setting raptorLint.apiPrefix"
    assert from_file == from_editor and from_file.fingerprint() == from_editor.fingerprint()


def test_a_missing_configured_path_names_where_it_was_configured(tmp_path: Path) -> None:
    """A flake8 option or command-line override is not blamed on pyproject.toml."""
    from raptor_lint.config import validate_configured_paths, with_settings

    write(tmp_path / "pyproject.toml", "[tool.raptor-lint]\n")
    config = with_settings(load_config(start=tmp_path), {"raptor-migrations-dir": "nope"}, "setup.cfg: [flake8]",
                           origin="setup.cfg", key_prefix="raptor-", label="option")
    with pytest.raises(ConfigError) as info:
        validate_configured_paths(config)
    assert str(info.value) == f"setup.cfg: [flake8] option 'raptor-migrations-dir' = {tmp_path / 'nope'} does not exist"
    with pytest.raises(ConfigError, match=r"^setup.cfg: \[flake8\] option 'raptor-runbok': unknown option \(known "
                                          r"options: raptor-api-prefix, "):
        with_settings(config, {"raptor-runbok": "x"}, "setup.cfg: [flake8]", key_prefix="raptor-", label="option")


def test_a_planted_huge_pyproject_is_one_line_not_read_whole(tmp_path: Path) -> None:
    """A 2 GB sparse pyproject.toml was read whole (read_text): now refused at 1 MB, one line."""
    with open(tmp_path / "pyproject.toml", "wb") as handle:
        handle.truncate(2 << 30)
    with pytest.raises(ConfigError) as caught:
        load_config(start=tmp_path)
    assert str(caught.value) == (f"{tmp_path / 'pyproject.toml'}: cannot read configuration: "
                                 "larger than 1 MB (2048.0 MB)")


@pytest.mark.parametrize("configured", [False, True])
def test_a_migrations_directory_leading_outside_the_project_is_refused(tmp_path: Path, configured: bool) -> None:
    """A committed `migrations/versions -> /usr` had every run walk and parse a system tree."""
    project = tmp_path / "app"
    (project / "migrations").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    (project / "migrations" / "versions").symlink_to(tmp_path / "elsewhere")
    setting = 'migrations-dir = "migrations/versions"\n' if configured else ""
    (project / "pyproject.toml").write_text("[tool.raptor-lint]\n" + setting)
    with pytest.raises(ConfigError) as caught:
        load_config(start=project).resolved_migrations_dir()
    where = (f"{project / 'pyproject.toml'}: [tool.raptor-lint] key 'migrations-dir' = "
             if configured else "")
    assert str(caught.value).endswith(f"leads outside the project (to {tmp_path / 'elsewhere'}); "
                                      "keep it inside the project")
    assert str(caught.value).startswith(where or f"{project / 'migrations' / 'versions'}: the migrations directory")


def test_a_symlinked_directory_inside_the_migrations_is_not_walked(tmp_path: Path) -> None:
    """rglob followed `versions/x -> elsewhere` (before Python 3.13): only real migrations count."""
    from raptor_lint.project import ProjectIndex
    from raptor_lint.project.migrations import build

    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "0001_first.py").write_text("revision = '0001'\ndown_revision = None\n")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "0002_not_ours.py").write_text("revision = '0002'\ndown_revision = '0001'\n")
    (versions / "linked").symlink_to(tmp_path / "elsewhere")
    migrations = ProjectIndex(Config(root=tmp_path)).get(build)
    assert migrations is not None
    assert [m.relpath for m in migrations.migrations] == ["migrations/versions/0001_first.py"]
