"""``raptor-lint check - --stdin-filename NAME``: how editors and pipes lint a buffer.

The name decides the file kind (so which rules run), is the path reported, and
is where the configuration is discovered from, even when no such file exists yet.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from raptor_lint.cli import main
from raptor_lint.registry import all_rules

BLUEPRINT = 'from flask import Blueprint\n\nbp = Blueprint("orders", __name__, url_prefix="/api/orders")\n'
SHELL = '#!/bin/sh\nset -e\nheroku config:set SECRET_KEY="$KEY" --app raxx-api-staging\n'


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch) -> Path:
    """A repository holding two services; the working directory is the repository root."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "svc").mkdir()
    (tmp_path / "svc" / "pyproject.toml").write_text(
        '[tool.raptor-lint]\nper-file-ignores = { "legacy/*" = ["RPT3"] }\n', encoding="utf-8")
    (tmp_path / "svc" / "app").mkdir()
    (tmp_path / "svc" / "legacy").mkdir()
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "pyproject.toml").write_text("[tool.raptor-lint]\nselect = 7\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def check(*args: str, stdin: str):
    result = CliRunner().invoke(main, ["check", *args], input=stdin.encode("utf-8"))
    return result.exit_code, result.output


def test_the_name_is_the_reported_path(workspace: Path) -> None:
    status, out = check("-", "--stdin-filename", "svc/app/views.py", stdin="def index(:\n")
    assert status == 1
    assert out.splitlines()[0] == "svc/app/views.py:1:11: E999 SyntaxError: invalid syntax"


def test_without_a_name_stdin_is_python(workspace: Path) -> None:
    status, out = check("-", "--format", "json", stdin="def index(:\n")
    assert status == 1
    [finding] = json.loads(out)
    assert (finding["path"], finding["code"]) == ("stdin", "E999")


def test_the_name_picks_the_file_kind(workspace: Path) -> None:
    # A shell script is not Python: no E999, whatever the shell rules find.
    _, out = check("-", "--stdin-filename", "svc/scripts/bootstrap.sh", "--format", "json", stdin=SHELL)
    codes = [f["code"] for f in json.loads(out)]
    assert "E999" not in codes
    if "RPT601" in all_rules():
        assert codes == ["RPT601"]
    # The same text named as Python does not parse.
    _, out = check("-", "--stdin-filename", "svc/scripts/bootstrap.py", "--format", "json", stdin=SHELL)
    assert [f["code"] for f in json.loads(out)] == ["E999"]


def test_configuration_is_found_from_the_name_even_for_an_unsaved_file(workspace: Path) -> None:
    # broken/app/new.py does not exist; its project's bad configuration is still the one read.
    status, out = check("-", "--stdin-filename", "broken/app/new.py", stdin="import os\n")
    assert status == 2
    assert "broken/pyproject.toml" in out and "'select'" in out


@pytest.mark.skipif("RPT301" not in all_rules(), reason="RPT301 (blueprints family) has not landed yet")
def test_project_configuration_applies_relative_to_its_root(workspace: Path) -> None:
    status, out = check("-", "--stdin-filename", "svc/app/orders.py", "--format", "json", stdin=BLUEPRINT)
    assert status == 1
    assert [(f["path"], f["line"], f["code"]) for f in json.loads(out)] == [("svc/app/orders.py", 3, "RPT301")]
    # per-file-ignores "legacy/*" is relative to svc/, where the configuration lives.
    status, out = check("-", "--stdin-filename", "svc/legacy/orders.py", "--format", "json", stdin=BLUEPRINT)
    assert (status, json.loads(out)) == (0, [])
