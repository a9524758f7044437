"""`raptor-lint check --base REF` on git repositories the tests build (commits made here).

File rules report only on lines changed since REF (committed, staged, unstaged, and
untracked files as wholly new); RPT501 asks a flag that is new since REF for a migration
that is also new since REF.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from pathlib import Path

import pytest

from click.testing import CliRunner

from conftest import run_cli
from raptor_lint.cli import main
from raptor_lint.config import Config
from raptor_lint.gitdiff import GitError, compute, parse_diff
from raptor_lint.runner import CheckOptions, UsageError, run_check

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Raptor Test", "GIT_AUTHOR_EMAIL": "test@raxx.invalid",
    "GIT_COMMITTER_NAME": "Raptor Test", "GIT_COMMITTER_EMAIL": "test@raxx.invalid",
    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
}

FACTORY = '''\
"""App factory."""

import os

from flask import Flask


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY", "dev")
    if os.environ.get("FLAG_SENTRY_BACKEND") == "1":
        app.config["SENTRY"] = True
    if os.environ.get("FLAG_LEGACY_EXPORT") == "1":
        app.config["LEGACY_EXPORT"] = True
    return app
'''

INITIAL_MIGRATION = '''\
"""Initial schema and flag seeds."""

from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    op.execute("INSERT INTO feature_flags (key) VALUES ('sentry_backend')")
'''

RUNBOOK = """\
# Raptor — Operations Runbook

## Env-bootstrap checklist

- [ ] `SENTRY_DSN_BACKEND` provisioned
- [ ] `FLAG_SENTRY_BACKEND=1` set after DSN is confirmed
- [ ] `FLAG_LEGACY_EXPORT=1` set
"""


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    proc = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=True)
    return proc.stdout


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A service on `main`: FLAG_LEGACY_EXPORT already lacks its migration (an old finding)."""
    root = tmp_path / "svc"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root, {
        "pyproject.toml": '[project]\nname = "svc"\nversion = "0"\n',
        "svc/__init__.py": FACTORY,
        "migrations/versions/0001_initial.py": INITIAL_MIGRATION,
        "docs/ops/runbook.md": RUNBOOK,
    })
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "service")
    return root


def run(repo: Path, *args: str) -> tuple[int, str, str]:
    """The CLI in-process (click's runner): exit status, stdout, stderr."""
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        result = CliRunner().invoke(main, ["check", "--no-cache", *args], catch_exceptions=False)
    finally:
        os.chdir(cwd)
    return result.exit_code, result.stdout, result.stderr


def check(repo: Path, *args: str) -> tuple[int, list[str], str]:
    """Exit status, ['path:line CODE'], stderr."""
    status, stdout, stderr = run(repo, *args)
    out = stdout.splitlines()
    findings = [line.split(": ", 1)[0].rsplit(":", 1)[0] + " " + line.split(": ", 1)[1].split()[0]
                for line in out if ": RPT" in line or ": E9" in line]
    return status, findings, stderr


def test_without_base_the_old_finding_is_reported(repo: Path) -> None:
    status, findings, _ = check(repo, ".")
    assert status == 1 and findings == ["svc/__init__.py:13 RPT501"]


def test_new_user_scenario_flag_in_branch_needs_migration_and_checklist(repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "beta-digest")
    factory = (repo / "svc/__init__.py").read_text().replace(
        "    return app\n",
        '    if os.environ.get("FLAG_BETA_DIGEST") == "1":\n'
        '        app.config["BETA_DIGEST"] = True\n'
        "    return app\n")
    write(repo, {"svc/__init__.py": factory})
    git(repo, "commit", "-q", "-am", "beta digest behind a flag")

    status, findings, stderr = check(repo, "--base", "main")
    assert stderr == ""
    assert (status, findings) == (1, ["svc/__init__.py:15 RPT501", "svc/__init__.py:15 RPT502"])
    proc = run_cli("check", "--no-cache", "--base", "main", cwd=repo)
    assert "FLAG_BETA_DIGEST is new since main" in proc.stdout.decode()

    # The migration (not committed yet: untracked files are new) and the checklist line.
    write(repo, {
        "migrations/versions/0002_beta_digest.py": textwrap.dedent('''\
            """Beta digest tables and flag seed."""
            from alembic import op
            import sqlalchemy as sa

            revision = "0002"
            down_revision = "0001"


            def upgrade():
                op.create_table("beta_digest", sa.Column("user_id", sa.Integer, primary_key=True))
                op.execute("INSERT INTO feature_flags (key) VALUES ('beta_digest')")
            '''),
        "docs/ops/runbook.md": RUNBOOK + "- [ ] `FLAG_BETA_DIGEST=1` set\n",
    })
    status, findings, stderr = check(repo, "--base", "main")
    assert (status, findings, stderr) == (0, [], "")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "migration and checklist")
    assert check(repo, "--base", "main")[:2] == (0, [])
    # Without --base the old, unrelated finding is still there.
    assert check(repo, ".")[1] == ["svc/__init__.py:13 RPT501"]


def test_same_pr_policy_old_migration_does_not_cover_a_new_flag(repo: Path) -> None:
    # A migration already on main mentions 'beta_digest'; the flag read is new in this branch.
    write(repo, {"migrations/versions/0002_digest.py":
                 'revision = "0002"\ndown_revision = "0001"\nKEY = "beta_digest"\n'})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "digest migration")
    git(repo, "checkout", "-q", "-b", "flag")
    write(repo, {"svc/__init__.py": FACTORY.replace("FLAG_LEGACY_EXPORT", "FLAG_BETA_DIGEST"),
                 "docs/ops/runbook.md": RUNBOOK + "- [ ] `FLAG_BETA_DIGEST=1` set\n"})
    status, out, _ = run(repo, "--base", "main")
    assert status == 1 and out.count("RPT501") == 1 and "svc/__init__.py:13:" in out
    assert ("FLAG_BETA_DIGEST is new since main but no new migration mentions it: add one "
            "(down_revision = '0002')") in out
    # Without --base the old migration is enough.
    assert check(repo, ".")[:2] == (0, [])


def test_changed_line_of_an_existing_flag_needs_no_new_migration(repo: Path) -> None:
    write(repo, {
        "svc/__init__.py": FACTORY.replace('os.environ.get("FLAG_SENTRY_BACKEND") == "1"',
                                           'os.environ.get("FLAG_SENTRY_BACKEND", "0") == "1"'),
        "migrations/versions/0001_initial.py": INITIAL_MIGRATION,
    })
    assert check(repo, "--base", "HEAD")[:2] == (0, [])
    # Now read through a module constant: still the same flag read, not new.
    write(repo, {"svc/__init__.py": FACTORY.replace('"FLAG_SENTRY_BACKEND"', "SENTRY_FLAG")
              .replace("from flask import Flask\n", "from flask import Flask\n\nSENTRY_FLAG = \"FLAG_SENTRY_BACKEND\"\n")})
    assert check(repo, "--base", "HEAD")[:2] == (0, [])


def test_a_flag_only_mentioned_at_ref_is_new_when_the_factory_starts_reading_it(repo: Path) -> None:
    # At main, FLAG_BETA_DIGEST appears in a docstring and a test, but create_app() does not read it.
    write(repo, {"svc/digest.py": '"""Beta digest, to be gated by FLAG_BETA_DIGEST."""\n',
                 "migrations/versions/0002_digest.py": 'revision = "0002"\ndown_revision = "0001"\n'
                                                        'KEY = "beta_digest"\n'})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "digest")
    write(repo, {"svc/__init__.py": FACTORY.replace("FLAG_LEGACY_EXPORT", "FLAG_BETA_DIGEST"),
                 "docs/ops/runbook.md": RUNBOOK + "- [ ] `FLAG_BETA_DIGEST=1` set\n"})
    assert check(repo, "--base", "HEAD")[:2] == (1, ["svc/__init__.py:13 RPT501"])


def test_only_changed_lines_and_changed_files_are_linted(repo: Path) -> None:
    write(repo, {
        "docs/ops/required-config-vars.yaml": "vars:\n  - name: SECRET_KEY\n",
        "svc/status.py": 'import os\n\nURL = os.environ.get("STATUS_WORKER_URL")\n',
    })
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "manifest and status")
    # Staged edit in one file, unstaged in another, an untracked new file; an untouched file.
    write(repo, {"svc/status.py": 'import os\n\nURL = os.environ.get("STATUS_WORKER_URL")\n'
                                   'TOKEN = os.environ.get("POSTMARK_SERVER_TOKEN")\n'})
    git(repo, "add", "svc/status.py")
    write(repo, {"svc/__init__.py": FACTORY.replace('"SECRET_KEY", "dev"', '"SECRET_KEY", "dev-key"')
                 .replace("    return app\n", '    app.config["REGION"] = os.environ["REGION"]\n    return app\n'),
                 "svc/new_module.py": 'import os\nA = os.getenv("ALPHA")\nB = os.getenv("BETA")\n'})
    status, findings, _ = check(repo, "--base", "HEAD")
    assert status == 1
    assert findings == [
        "svc/__init__.py:15 RPT503",
        "svc/new_module.py:2 RPT503",
        "svc/new_module.py:3 RPT503",
        "svc/status.py:4 RPT503",
    ]
    # The summary counts the files actually linted (changed ones only).
    assert "in 3 files checked" in run(repo, "--base", "HEAD")[1]


def test_syntax_error_in_a_changed_file_is_reported_wherever_it_is(repo: Path) -> None:
    write(repo, {"svc/broken.py": "def f(:\n    pass\n"})
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "broken")
    write(repo, {"svc/broken.py": "def f(:\n    pass\n\n\nX = 1\n"})
    status, findings, _ = check(repo, "--base", "HEAD")
    assert (status, findings) == (1, ["svc/broken.py:1 E999"])


def test_paths_and_subdirectory_project_in_a_larger_repository(tmp_path: Path) -> None:
    top = tmp_path / "mono"
    svc = top / "services" / "svc"
    svc.mkdir(parents=True)
    git(top, "init", "-q", "-b", "main")
    write(svc, {"pyproject.toml": "[tool.raptor-lint]\n", "docs/ops/required-config-vars.yaml": "- SECRET_KEY\n",
                "app.py": "import os\n"})
    git(top, "add", "-A")
    git(top, "commit", "-q", "-m", "init")
    write(svc, {"app.py": 'import os\nKEY = os.environ["SECRET_KEY"]\nURL = os.environ["NEW_URL"]\n'})
    status, findings, _ = check(svc, "--base", "main", ".")
    assert (status, findings) == (1, ["app.py:3 RPT503"])


# ------------------------------------------------------------------- errors

def test_not_a_git_repository_is_exit_2_one_line(tmp_path: Path) -> None:
    (tmp_path / "app.py").write_text("import os\n")
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n")
    proc = run_cli("check", "--base", "main", ".", cwd=tmp_path)
    lines = proc.stderr.decode().splitlines()
    assert proc.returncode == 2 and proc.stdout == b""
    assert len(lines) == 1 and lines[0].startswith("raptor-lint: error: --base main: ")
    assert "not inside a git repository" in lines[0]


@pytest.mark.parametrize("ref", ["no-such-branch", "main~5", "--output=injected.txt"])
def test_unknown_ref_is_exit_2_one_line(repo: Path, ref: str) -> None:
    status, stdout, stderr = run(repo, f"--base={ref}", ".")
    lines = stderr.splitlines()
    assert status == 2 and stdout == "" and len(lines) == 1, lines
    assert lines[0].startswith(f"raptor-lint: error: --base {ref!r}" if ref.startswith("-")
                               else f"raptor-lint: error: --base {ref}: unknown git revision")
    # An option-looking REF never reaches git as an option (git runs in the repo).
    assert not (repo / "injected.txt").exists()


def test_base_with_stdin_is_a_usage_error(repo: Path, monkeypatch) -> None:
    monkeypatch.chdir(repo)
    with pytest.raises(UsageError):
        run_check(Config(root=repo), CheckOptions(paths=[Path("-")], base="main"))


def test_compute_raises_git_error_outside_a_repository(tmp_path: Path) -> None:
    with pytest.raises(GitError):
        compute(tmp_path, "HEAD")


# --------------------------------------------------------------- diff parsing

def test_parse_diff_added_lines_new_files_quoted_paths(tmp_path: Path) -> None:
    diff = b"\n".join([
        b"diff --git a/app.py b/app.py",
        b"index 1..2 100644",
        b"--- a/app.py",
        b"+++ b/app.py",
        b"@@ -3 +3,2 @@ def f():",
        b"--- x = 1  # a removed line that starts with two dashes",
        b"+++ y = 2  # an added line that starts with two pluses",
        b"+z = 3",
        b"@@ -10,2 +11,0 @@",
        b"-gone",
        b"-gone too",
        b"@@ -20 +20 @@",
        b"+changed",
        b'diff --git "a/caf\\303\\251 \\"x\\".py" "b/caf\\303\\251 \\"x\\".py"',
        b"new file mode 100644",
        b"--- /dev/null",
        b'+++ "b/caf\\303\\251 \\"x\\".py"',
        b"@@ -0,0 +1 @@",
        b"+print()",
        b"diff --git a/old.py b/old.py",
        b"deleted file mode 100644",
        b"--- a/old.py",
        b"+++ /dev/null",
        b"@@ -1 +0,0 @@",
        b"-print()",
    ])
    lines, new_files = parse_diff(diff, tmp_path)
    app = Path(os.path.realpath(tmp_path / "app.py"))
    cafe = Path(os.path.realpath(tmp_path / 'café "x".py'))
    assert lines == {app: {3, 4, 20}, cafe: {1}}
    assert new_files == {cafe}
