"""The pre-commit hook: real ``pre-commit`` in a throw-away git repository.

pre-commit clones this checkout at HEAD and pip-installs it into a hook
environment (~12 s, PyPI must be reachable), so the hook tested is the one in
the last commit.  PRE_COMMIT_HOME lives in tmp_path: nothing is shared with
the user's cache.  Two commits: the first, with violations staged, is refused
with the findings printed; the second, with the file fixed, goes through.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from conftest import BIN, REPO
from raptor_lint.cli import main
from raptor_lint.discovery import file_kind
from raptor_lint.registry import all_rules

HOOKS = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
[HOOK] = [h for h in HOOKS if h["id"] == "raptor-lint"]


def test_hook_definition() -> None:
    assert HOOK["language"] == "python"
    assert HOOK["entry"].split()[:2] == ["raptor-lint", "check"]
    assert HOOK["require_serial"] is True


KNOWN = ["app/views.py", "scripts/deploy.sh", "bin/setup.bash", "Makefile", "ops/makefile",
         "GNUmakefile", "mk/rules.mk", "README.md", "docs/ops/runbook.markdown", "Procfile",
         "svc/Procfile.worker", ".gitlab-ci.yml", ".github/workflows/deploy.yml",
         ".github/workflows/ci.yaml", ".circleci/config.yml", ".buildkite/pipeline.yml",
         "heroku.yml", ".travis.yml", "azure-pipelines.yml", "bitbucket-pipelines.yml"]
UNKNOWN = ["setup.cfg", "pyproject.toml", "docker-compose.yml", ".github/dependabot.yml",
           "app/views.pyc", "notes.txt", "package.json", "Procfile.d/web", "docs/ops/required-config-vars.yaml"]


def test_hook_hands_over_every_text_file() -> None:
    """No `files` regex: raptor-lint picks the files its rules read (shebang scripts too)."""
    assert HOOK["types"] == ["text"] and "files" not in HOOK
    assert "--force-exclude" in HOOK["entry"].split()


@pytest.mark.parametrize("path", KNOWN + UNKNOWN + ["scripts/provision"])
def test_force_exclude_lints_a_named_file_iff_a_rule_reads_its_kind(
        path: str, tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / path
    target.parent.mkdir(parents=True, exist_ok=True)
    shebang = "#!/usr/bin/env bash\n" if path == "scripts/provision" else "# placeholder\n"
    target.write_text(shebang + "[section]\n", encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text("[project]\nname = 'x'\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "--force-exclude", path])
    read = path in KNOWN or path == "scripts/provision"
    assert read == (file_kind(target) is not None)
    assert result.output.endswith(f"({1 if read else 0} file{'' if read else 's'} checked).\n"), result.output


def test_force_exclude_keeps_configured_excludes_for_named_files(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.raptor-lint]\nexclude = ["vendor"]\n', encoding="utf-8")
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "broken.py").write_text("def f(:\n", encoding="utf-8")
    (tmp_path / "app.py").write_text("import os\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    named = CliRunner().invoke(main, ["check", "vendor/broken.py", "app.py"])
    assert named.exit_code == 1 and "vendor/broken.py:1:7: E999" in named.output
    forced = CliRunner().invoke(main, ["check", "--force-exclude", "vendor/broken.py", "app.py"])
    assert forced.exit_code == 0, forced.output
    assert forced.output == "All checks passed (1 file checked).\n"


def _git(repo: Path, *args: str, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True,
                          timeout=600, check=check)


def _violations() -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Files to stage (bad, then fixed) and the findings the hook must print.

    A blueprint doubling /api (RPT301) and a `heroku config:set` echoing a secret
    (RPT601) once those rules exist; a syntax error (E999) is always reported."""
    bad = {"app/__init__.py": "", "app/views.py": "def index(:\n    return 'ok'\n"}
    good = {"app/views.py": "def index():\n    return 'ok'\n"}
    expected = ["app/views.py:1:11: E999"]
    if "RPT301" in all_rules():
        bad["app/orders.py"] = ('from flask import Blueprint\n\n'
                                'bp = Blueprint("orders", __name__, url_prefix="/api/orders")\n')
        good["app/orders.py"] = bad["app/orders.py"].replace("/api/orders", "/orders")
        expected.append("app/orders.py:3:")
    if "RPT601" in all_rules():
        bad["scripts/bootstrap.sh"] = '#!/bin/sh\nheroku config:set SECRET_KEY="$KEY" --app raxx-api-staging\n'
        good["scripts/bootstrap.sh"] = bad["scripts/bootstrap.sh"].replace("staging\n", "staging >/dev/null 2>&1\n")
        expected.append("scripts/bootstrap.sh:2:")
    return bad, good, expected


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_commit_is_refused_until_the_findings_are_fixed(tmp_path: Path) -> None:
    if not (REPO / ".git").exists():
        pytest.skip("this checkout is not a git repository (pre-commit clones it)")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
           "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
           "GIT_CONFIG_NOSYSTEM": "1", "PRE_COMMIT_COLOR": "never"}
    env.pop("VIRTUAL_ENV", None)
    rev = _git(REPO, "rev-parse", "HEAD", env=env).stdout.strip()
    repo = tmp_path / "service"
    repo.mkdir()
    _git(repo, "init", "-q", env=env)
    (repo / "pyproject.toml").write_text('[project]\nname = "svc"\n\n[tool.raptor-lint]\n', encoding="utf-8")
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {REPO}\n    rev: {rev}\n    hooks:\n      - id: raptor-lint\n", encoding="utf-8")
    subprocess.run([str(BIN / "pre-commit"), "install"], cwd=repo, env=env, check=True,
                   capture_output=True, timeout=120)
    bad, good, expected = _violations()
    for rel, text in bad.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text, encoding="utf-8")
    _git(repo, "add", "-A", env=env)

    refused = _git(repo, "commit", "-q", "-m", "add orders", env=env, check=False)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0, output
    assert "raptor-lint" in output and "Failed" in output, output
    for prefix in expected:
        assert prefix in output, output
    assert _git(repo, "rev-list", "--all", env=env).stdout == ""  # nothing was committed

    for rel, text in good.items():
        (repo / rel).write_text(text, encoding="utf-8")
    _git(repo, "add", "-A", env=env)
    accepted = _git(repo, "commit", "-q", "-m", "add orders", env=env, check=False)
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "Passed" in accepted.stdout + accepted.stderr
