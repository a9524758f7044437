"""The pre-commit hook: real ``pre-commit`` in a throw-away git repository.

pre-commit clones this checkout at HEAD and pip-installs it into a hook
environment (~12 s, PyPI must be reachable), so the hook tested is the one in
the last commit.  PRE_COMMIT_HOME is a temporary directory of this module (the
environment is built once): nothing is shared with the user's cache.  A commit
with violations staged is refused with the findings printed, and goes through
once they are fixed; files named like options (`--exit-zero`, `--fix`,
`--ignore=RPT`, `-`) cannot turn the hook off or make it write.
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

# The hook repository pre-commit clones: this checkout's last commit, or another repository
# (RAPTOR_LINT_HOOK_REPO) — e.g. a scratch commit of the working tree while HEAD is mid-change.
HOOK_REPO = Path(os.environ.get("RAPTOR_LINT_HOOK_REPO", REPO))
HOOKS = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
[HOOK] = [h for h in HOOKS if h["id"] == "raptor-lint"]


def test_hook_definition() -> None:
    assert HOOK["language"] == "python"
    assert HOOK["entry"].split()[:2] == ["raptor-lint", "check"]
    assert HOOK["require_serial"] is True
    # pre-commit appends the file names: they must come after the end of the options.
    assert HOOK["entry"].split()[-1] == "--" and "args" not in HOOK


FILES_NAMED_LIKE_OPTIONS = {
    "--ignore=RPT": "a note\n",
    "--exit-zero": "a note\n",
    "--fix": '#!/bin/sh\nheroku config:set SECRET_KEY="$KEY" --app raxx-api-staging\n',
    "-": '#!/bin/sh\nheroku config:set API_TOKEN="$TOKEN" --app raxx-api-staging\n',
}


def test_after_double_dash_every_name_is_a_file(tmp_path: Path, monkeypatch) -> None:
    """The hook's command line with files named like options: they are checked as files,
    nothing is fixed, the findings still fail the run; `-` there is the file `-`."""
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    for name, text in FILES_NAMED_LIKE_OPTIONS.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "--no-cache", "--force-exclude", "--", *FILES_NAMED_LIKE_OPTIONS],
                                input="")
    assert result.exit_code == 1, result.output
    lines = result.stdout.splitlines()
    assert [line.split(" ")[:2] for line in lines[:2]] == [["-:2:1:", "RPT601"], ["--fix:2:1:", "RPT601"]]
    assert lines[2:] == ["Found 2 findings in 2 files checked (2 fixable with --fix)."]
    for name, text in FILES_NAMED_LIKE_OPTIONS.items():
        assert (tmp_path / name).read_text(encoding="utf-8") == text


def test_dash_before_double_dash_is_still_standard_input(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "--no-cache", "--stdin-filename", "--", "-"],
                                input=FILES_NAMED_LIKE_OPTIONS["-"])
    assert result.exit_code == 1 and result.stdout.startswith("--:2:1: RPT601 "), result.output


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
    assert result.output.endswith("(1 file checked).\n" if read else "No files checked.\n"), result.output


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


@pytest.fixture(scope="module")
def pre_commit_env(tmp_path_factory) -> dict:
    """One PRE_COMMIT_HOME for the module: the hook environment (~12 s) is built once."""
    if shutil.which("git") is None:
        pytest.fail("git is not installed: the pre-commit tests need it")
    if not (HOOK_REPO / ".git").exists():
        pytest.skip("this checkout is not a git repository (pre-commit clones it)")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path_factory.mktemp("pre-commit-home")),
           "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
           "GIT_CONFIG_NOSYSTEM": "1", "PRE_COMMIT_COLOR": "never"}
    env.pop("VIRTUAL_ENV", None)
    return env


def _service(tmp_path: Path, env: dict) -> Path:
    """A git repository whose .pre-commit-config.yaml uses this checkout's hook at HEAD."""
    rev = _git(HOOK_REPO, "rev-parse", "HEAD", env=env).stdout.strip()
    repo = tmp_path / "service"
    repo.mkdir()
    _git(repo, "init", "-q", env=env)
    (repo / "pyproject.toml").write_text('[project]\nname = "svc"\n\n[tool.raptor-lint]\n', encoding="utf-8")
    (repo / ".pre-commit-config.yaml").write_text(
        f"repos:\n  - repo: {HOOK_REPO}\n    rev: {rev}\n    hooks:\n      - id: raptor-lint\n", encoding="utf-8")
    subprocess.run([str(BIN / "pre-commit"), "install"], cwd=repo, env=env, check=True,
                   capture_output=True, timeout=120)
    return repo


def _write(repo: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text, encoding="utf-8")


def _contents(repo: Path) -> dict[str, bytes]:
    return {str(p.relative_to(repo)): p.read_bytes() for p in repo.rglob("*")
            if p.is_file() and ".git" not in p.relative_to(repo).parts}


def test_files_named_like_options_cannot_turn_the_hook_off(tmp_path: Path, pre_commit_env: dict) -> None:
    """A committed `--ignore=RPT`, `--exit-zero` or `--fix` (and `-`) is a file to the hook:
    the commit is still refused, `pre-commit run --all-files` still fails, nothing is written."""
    env = pre_commit_env
    repo = _service(tmp_path, env)
    bad, _good, expected = _violations()
    _write(repo, {**bad, **FILES_NAMED_LIKE_OPTIONS})
    before = _contents(repo)
    _git(repo, "add", "-A", env=env)
    refused = _git(repo, "commit", "-q", "-m", "add orders", env=env, check=False)
    output = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "Failed" in output, output
    for prefix in [*expected, "--fix:2:1: RPT601", "-:2:1: RPT601"]:
        assert f"\n{prefix}" in output, output
    assert _git(repo, "rev-list", "--all", env=env).stdout == ""
    assert _contents(repo) == before

    _git(repo, "commit", "-q", "--no-verify", "-m", "committed anyway", env=env)
    run = subprocess.run([str(BIN / "pre-commit"), "run", "--all-files"], cwd=repo, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode != 0 and "Failed" in run.stdout, run.stdout + run.stderr
    assert "--fix:2:1: RPT601" in run.stdout and "files were modified by this hook" not in run.stdout
    assert _contents(repo) == before


def test_commit_is_refused_until_the_findings_are_fixed(tmp_path: Path, pre_commit_env: dict) -> None:
    env = pre_commit_env
    repo = _service(tmp_path, env)
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
