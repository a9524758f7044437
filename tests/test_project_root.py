"""Every surface finds the same project (issue 18): on a tree with no pyproject.toml,
setup.cfg or .git, the CLI and flake8 agree on the project root and so on the findings.

flake8 hands the plugin one file at a time; it used to root each file at its own
directory, so tests/ became app code (RPT101 on test helpers the CLI skips) and
migrations/versions/ was no longer the migrations directory (RPT403 lost)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from raptor_lint.config import find_project_root

from conftest import REPO

STATE = "_seen = {}\n\n\ndef hit(key):\n    _seen[key] = 1\n"
DO_BLOCK = '''from alembic import op

revision = "0001"
down_revision = None


def upgrade():
    op.execute("""
        DO $$ BEGIN
            ALTER TABLE users ADD COLUMN screen integer;
        EXCEPTION WHEN duplicate_column THEN NULL;
        END $$;
    """)
'''
TREE = {
    "app/state.py": STATE,
    "tests/helpers.py": STATE,
    "migrations/versions/0001_add_screen.py": DO_BLOCK,
}


@pytest.fixture
def markerless(tmp_path: Path) -> Path:
    root = tmp_path / "service"
    for relative, text in TREE.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert find_project_root(root, fallback=root) == root
    assert not any((parent / marker).exists() for parent in (root, *root.parents)
                   for marker in ("pyproject.toml", "setup.cfg", ".git")), "the test needs a tree without markers"
    return root


def _cli(cwd: Path, target: str) -> set[tuple[str, int, int, str]]:
    proc = subprocess.run([sys.executable, "-m", "raptor_lint", "check", "--no-cache", "--select", "RPT",
                           "--format", "json", target], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    return {(os.path.normpath(os.path.join(cwd, f["path"])), f["line"], f["column"], f["code"])
            for f in json.loads(proc.stdout)}


def _flake8(cwd: Path, target: str) -> set[tuple[str, int, int, str]]:
    proc = subprocess.run([sys.executable, "-m", "flake8", "--isolated", "--select", "RPT", "--format",
                           "%(path)s:%(row)d:%(col)d:%(code)s", target], cwd=cwd, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode in (0, 1) and proc.stderr == "", proc.stderr
    found = set()
    for line in proc.stdout.splitlines():
        path, row, column, code = line.rsplit(":", 3)
        found.add((os.path.normpath(os.path.join(cwd, path)), int(row), int(column), code))
    return found


EXPECTED = {("app/state.py", 5, 5, "RPT101"), ("migrations/versions/0001_add_screen.py", 8, 16, "RPT403")}


@pytest.mark.parametrize("where", ["inside", "outside", "below"])
def test_cli_and_flake8_agree_on_a_tree_without_markers(markerless: Path, where: str) -> None:
    """Run from the tree's top (the working directory is the root), from elsewhere and from
    one of its subdirectories (the path named on the command line is): the same findings,
    and test code stays test code."""
    cwd, target = {"inside": (markerless, "."), "outside": (REPO, str(markerless)),
                   "below": (markerless / "tests", str(markerless))}[where]
    expected = {(str(markerless / path), line, column, code) for path, line, column, code in EXPECTED}
    assert _cli(cwd, target) == expected
    assert _flake8(cwd, target) == expected


def test_without_a_marker_the_root_is_the_working_directory_or_the_named_path(tmp_path: Path, monkeypatch) -> None:
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert find_project_root(deep) == tmp_path.resolve()  # inside the working directory
    assert find_project_root(deep / "x.py") == tmp_path.resolve()
    assert find_project_root(deep, fallback=tmp_path / "a") == (tmp_path / "a").resolve()
    monkeypatch.chdir(REPO)
    assert find_project_root(deep) == deep.resolve()  # outside it: the path itself
    (tmp_path / "a" / "setup.cfg").write_text("")
    assert find_project_root(deep) == (tmp_path / "a").resolve()  # a marker always wins


def test_a_path_the_os_refuses_to_look_at_has_the_fallback_root(tmp_path: Path) -> None:
    """A name too long for the file system (ENAMETOOLONG): pathlib's ``is_dir`` raises it
    (before Python 3.14); the root search answers as for a missing file instead."""
    too_long = tmp_path / ("x" * 300) / "app.py"
    assert find_project_root(too_long, fallback=tmp_path) == tmp_path
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    assert find_project_root(too_long, fallback=tmp_path.parent) == tmp_path
