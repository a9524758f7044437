"""The command-line contract (SPEC §4): output, formats, exit codes, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, run_cli
from raptor_lint import __version__

WEBAUTHN_BEFORE = '''\
"""WebAuthn challenge store, as it was before the 2026-05-25 fix."""

_challenge_store: dict[int, str] = {}


def _store_challenge(user_id: int, challenge: str) -> None:
    _challenge_store[user_id] = challenge


def _pop_challenge(user_id: int) -> str | None:
    return _challenge_store.pop(user_id, None)
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'svc'\n")
    package = tmp_path / "svc"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "webauthn_service.py").write_text(WEBAUTHN_BEFORE)
    (package / "clean.py").write_text("PAGE_SIZES = (10, 50, 100)\n")
    return tmp_path


def test_text_output_and_exit_1(project: Path) -> None:
    proc = run_cli("check", "--select", "RPT101", cwd=project)
    lines = proc.stdout.decode().splitlines()
    assert proc.returncode == 1, proc.stderr
    assert [line.split(" ", 2)[:2] for line in lines[:-1]] == [
        ["svc/webauthn_service.py:7:5:", "RPT101"],
        ["svc/webauthn_service.py:11:12:", "RPT101"],
    ]
    assert lines[-1] == "Found 2 findings in 3 files checked."
    assert proc.stderr == b""


def test_json_output_fields(project: Path) -> None:
    proc = run_cli("check", "--format", "json", "svc", cwd=project)
    assert proc.returncode == 1
    findings = json.loads(proc.stdout)
    assert [(f["path"], f["line"], f["column"], f["code"]) for f in findings] == [
        ("svc/webauthn_service.py", 7, 5, "RPT101"),
        ("svc/webauthn_service.py", 11, 12, "RPT101"),
    ]
    assert set(findings[0]) == {"path", "line", "column", "end_line", "end_column", "code", "message", "fix"}
    assert findings[0]["fix"] is None and "_challenge_store" in findings[0]["message"]


def test_clean_tree_exits_0_and_exit_zero_flag(project: Path) -> None:
    clean = run_cli("check", "svc/clean.py", cwd=project)
    assert clean.returncode == 0 and clean.stdout.decode() == "All checks passed (1 file checked).\n"
    forced = run_cli("check", "--exit-zero", cwd=project)
    assert forced.returncode == 0 and b"RPT101" in forced.stdout


def test_ignore_on_command_line_replaces_config(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.raptor-lint]\nselect = ['RPT4']\n")
    assert run_cli("check", cwd=project).returncode == 0
    assert run_cli("check", "--select", "RPT", "--ignore", "RPT4", cwd=project).returncode == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "--select", "RPT9"], "raptor-lint: error: --select: unknown rule code 'RPT9' (see `raptor-lint rules`)\n"),
        (["check", "does/not/exist"], "raptor-lint: error: path does not exist: does/not/exist\n"),
        (["rule", "RPT999"], "raptor-lint: error: unknown rule code 'RPT999' (see `raptor-lint rules`)\n"),
    ],
)
def test_usage_errors_are_one_line_exit_2(project: Path, args: list[str], message: str) -> None:
    proc = run_cli(*args, cwd=project)
    assert proc.returncode == 2
    assert proc.stderr.decode() == message
    assert proc.stdout == b""


def test_bad_config_is_one_line_exit_2(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.raptor-lint]\nmigrations_dirr = 'x'\n")
    proc = run_cli("check", cwd=project)
    assert proc.returncode == 2
    err = proc.stderr.decode()
    assert err.count("\n") == 1 and "pyproject.toml" in err and "'migrations_dirr': unknown key" in err
    assert "Traceback" not in err


def test_version_and_module_entry_point() -> None:
    assert run_cli("--version").stdout.decode() == f"raptor-lint, version {__version__}\n"
    proc = subprocess.run([sys.executable, "-m", "raptor_lint", "--version"], capture_output=True, cwd=REPO)
    assert proc.returncode == 0 and __version__ in proc.stdout.decode()


def test_rules_table_and_rule_docs() -> None:
    table = run_cli("rules").stdout.decode()
    assert table.splitlines()[0].split() == ["code", "name", "fix", "summary"]
    assert any(line.startswith("RPT101 ") for line in table.splitlines())
    doc = run_cli("rule", "rpt101").stdout.decode()
    assert doc.startswith("# RPT101 ") and "## Why" in doc and "## Bad" in doc and "## Good" in doc
    assert "Runbook: " in doc


def test_rules_markdown_is_docs_rules_md() -> None:
    proc = run_cli("rules", "--format", "markdown")
    assert proc.stdout.decode() == (REPO / "docs" / "rules.md").read_text(encoding="utf-8")


def test_flake8_reports_a_config_error_as_such_not_as_a_bug(tmp_path: Path) -> None:
    from conftest import BIN

    (tmp_path / "setup.cfg").write_text("[flake8]\nraptor-runbook = docs/ops/missing.md\n")
    (tmp_path / "app.py").write_text(
        "import os\n\n\ndef create_app():\n    return os.environ.get('FLAG_BETA')\n"
    )
    proc = subprocess.run([str(BIN / "flake8"), "--select", "RPT", "app.py"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr
    # Issue 17: one line naming the file and the option, exit 2 — not RPT000 on every file.
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr == ("flake8: raptor-lint: error: setup.cfg: [flake8] option 'raptor-runbook' = "
                           f"{tmp_path.resolve() / 'docs/ops/missing.md'} does not exist\n")


def test_each_path_uses_the_configuration_of_its_own_project(tmp_path: Path) -> None:
    """pre-commit passes files of several projects of a monorepo in one call."""
    for name, select in (("billing", "RPT3"), ("webauthn", "RPT1")):
        service = tmp_path / name
        (service / "svc").mkdir(parents=True)
        (service / "pyproject.toml").write_text(f"[tool.raptor-lint]\nselect = ['{select}']\n")
        (service / "svc" / "webauthn_service.py").write_text(WEBAUTHN_BEFORE)
    proc = run_cli("check", "--format", "json", "billing/svc/webauthn_service.py",
                   "webauthn/svc/webauthn_service.py", cwd=tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert {(f["path"], f["code"]) for f in json.loads(proc.stdout)} == {
        ("webauthn/svc/webauthn_service.py", "RPT101"),
    }


def test_stdin_shebang_is_read_from_the_buffer_not_the_disk(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n")
    script = b"#!/usr/bin/env bash\nheroku config:set SECRET_KEY=abc --app raxx-api-staging\n"
    proc = run_cli("check", "-", "--stdin-filename", "bin/provision", cwd=tmp_path, input=script)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.decode().startswith("bin/provision:2:1: RPT601 ")


def test_run_codes_are_documented() -> None:
    proc = run_cli("rule", "E999")
    assert proc.returncode == 0 and proc.stdout.decode().startswith("# E999\n\nThe file does not parse")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "--select", ""], "raptor-lint: error: --select: no rule codes given"),
        (["check", "--diff", "--format", "json"],
         "raptor-lint: error: --diff prints a unified diff; it cannot be combined with --format json"),
        (["check", "--config", "svc"], "raptor-lint: error: svc: is a directory; --config names a pyproject.toml"),
    ],
)
def test_more_usage_errors(project: Path, args: list[str], message: str) -> None:
    proc = run_cli(*args, cwd=project)
    assert proc.returncode == 2 and proc.stderr.decode().startswith(message), proc.stderr


def test_empty_select_in_config_is_an_error(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.raptor-lint]\nselect = []\n")
    proc = run_cli("check", cwd=project)
    assert proc.returncode == 2 and "key 'select': selects no rule" in proc.stderr.decode()


BLUEPRINT = 'from flask import Blueprint\n\nbp = Blueprint("foo", __name__, url_prefix="/api/internal/foo")\n'


def test_fix_on_stdin_prints_the_fixed_source_like_ruff(project: Path) -> None:
    proc = run_cli("check", "--fix", "-", "--stdin-filename", "svc/foo.py", cwd=project,
                   input=BLUEPRINT.encode())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.decode() == BLUEPRINT.replace('"/api/internal/foo"', '"/internal/foo"')
    assert proc.stderr.decode().endswith("All checks passed (1 file checked).\n")


def test_fix_leaves_a_read_only_file_alone(project: Path) -> None:
    target = project / "svc" / "foo.py"
    target.write_text(BLUEPRINT)
    target.chmod(0o444)
    proc = run_cli("check", "--fix", "svc/foo.py", cwd=project)
    assert proc.returncode == 1
    assert target.read_text() == BLUEPRINT and (target.stat().st_mode & 0o777) == 0o444
    assert "not fixing svc/foo.py: the file is read-only" in proc.stderr.decode()
    assert "svc/foo.py:3:" in proc.stdout.decode() and "RPT301" in proc.stdout.decode()


def test_raptor_lints_own_code_is_clean_under_flake8_and_its_own_plugin() -> None:
    """Dogfooding: flake8 (setup.cfg's configuration) with the RPT plugin finds nothing in
    raptor_lint/, tools/ and bench/; per-process caches carry a reasoned `# noqa: RPT101`."""
    proc = subprocess.run([sys.executable, "-m", "flake8", "raptor_lint", "tools", "bench"],
                          cwd=REPO, capture_output=True, text=True)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "", "")
