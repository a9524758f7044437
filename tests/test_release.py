"""Release hygiene (issue 17): the README's pre-commit snippet works as written.

Its ``rev:`` must be the tag ``make release`` creates for the version being released
(``v`` + ``raptor_lint.__version__``), and that version must be in CHANGELOG.md.  ``make
release`` itself is run in a scratch repository holding the files it reads.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO
from raptor_lint import __version__

README = (REPO / "README.md").read_text(encoding="utf-8")


def _pre_commit_snippet() -> dict:
    blocks = re.findall(r"```yaml\n(.*?)```", README, flags=re.S)
    [snippet] = [block for block in blocks if "id: raptor-lint" in block and "rev:" in block]
    return yaml.safe_load(snippet)


def test_the_readme_snippet_names_the_release_tag() -> None:
    [repo] = _pre_commit_snippet()["repos"]
    assert repo["rev"] == f"v{__version__}"
    assert [hook["id"] for hook in repo["hooks"]] == ["raptor-lint"]


def test_the_hook_file_comment_names_the_same_tag() -> None:
    text = (REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8")
    assert re.findall(r"rev: (\S+)", text) == [f"v{__version__}"]


def test_the_changelog_has_the_version() -> None:
    """Until the release is cut the entries sit under Unreleased and name the version; the
    ``## [version]`` section itself is what ``make release`` insists on (tested below)."""
    changelog = (REPO / "CHANGELOG.md").read_text(encoding="utf-8")
    assert re.search(r"(?<![\d.])" + re.escape(__version__) + r"(?!\.?\d)", changelog)  # not 10.2.0, 0.2.01


def test_the_version_is_the_package_version() -> None:
    """pyproject.toml reads the version from raptor_lint.__version__: one place to bump."""
    text = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert 'dynamic = ["version"]' in text and 'version = { attr = "raptor_lint.__version__" }' in text


# ------------------------------------------------------------------ make release
GIT_ENV = {"GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.invalid",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.invalid",
           "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}


def _run(repo: Path, *command: str) -> subprocess.CompletedProcess:
    # Not make's own variables: under `make test` a nested make would print "Entering/Leaving
    # directory" lines (MAKELEVEL) around the output the test reads.
    env = {k: v for k, v in os.environ.items() if k not in {"MAKELEVEL", "MAKEFLAGS", "MFLAGS"}}
    return subprocess.run(list(command), cwd=repo, env={**env, **GIT_ENV}, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture
def scratch(tmp_path: Path) -> Path:
    """A git repository with what `make release` reads: the Makefile, the version, the
    changelog with a section for the version, the README's snippet; all committed."""
    if shutil.which("make") is None or shutil.which("git") is None:
        pytest.fail("make and git are needed to test `make release`")
    (tmp_path / "raptor_lint").mkdir()
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    (tmp_path / "raptor_lint/__init__.py").write_text('"""x"""\n\n__version__ = "3.4.5"\n', encoding="utf-8")
    (tmp_path / "CHANGELOG.md").write_text("# Changelog\n\n## [Unreleased]\n\n## [3.4.5]\n\n- things\n",
                                           encoding="utf-8")
    (tmp_path / "README.md").write_text("```yaml\n    rev: v3.4.5          # the release tag\n```\n",
                                        encoding="utf-8")
    _run(tmp_path, "git", "init", "-q")
    _run(tmp_path, "git", "add", "-A")
    assert _run(tmp_path, "git", "commit", "-q", "-m", "release 3.4.5").returncode == 0
    return tmp_path


def _tags(repo: Path) -> list[str]:
    return _run(repo, "git", "tag", "--list").stdout.split()


def test_make_release_creates_the_annotated_tag(scratch: Path) -> None:
    made = _run(scratch, "make", "release")
    assert made.returncode == 0, made.stderr
    assert made.stdout.splitlines()[-1] == "Tagged v3.4.5. Publish it with: git push origin v3.4.5"
    assert _tags(scratch) == ["v3.4.5"]
    assert _run(scratch, "git", "cat-file", "-t", "v3.4.5").stdout == "tag\n"  # annotated
    again = _run(scratch, "make", "release")
    assert again.returncode != 0
    assert "make release: tag v3.4.5 exists; bump __version__ first" in again.stderr


@pytest.mark.parametrize("path, text, commit, message", [
    ("notes.txt", "forgot to add\n", False,
     "make release: uncommitted changes (see git status); commit them first"),
    ("CHANGELOG.md", "# Changelog\n\n## [Unreleased]\n- 3.4.5 things\n", True,
     "make release: CHANGELOG.md has no '## [3.4.5]' section; add it"),
    ("README.md", "    rev: v3.4.4\n", True,
     "make release: the README's pre-commit snippet does not say 'rev: v3.4.5'"),
], ids=["untracked-file", "no-changelog-section", "stale-readme-rev"])
def test_make_release_refuses_and_tags_nothing(scratch: Path, path: str, text: str, commit: bool,
                                               message: str) -> None:
    (scratch / path).write_text(text, encoding="utf-8")
    if commit:
        _run(scratch, "git", "commit", "-q", "-am", "the release is not ready")
    made = _run(scratch, "make", "release")
    assert made.returncode != 0 and message in made.stderr, made.stderr
    assert _tags(scratch) == []
