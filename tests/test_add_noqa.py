"""``check --add-noqa`` (issue 17): every current finding suppressed where it is, the bytes
around it kept, never a comment inside a string, and a second run adds nothing."""

from __future__ import annotations

import os
from pathlib import Path

from conftest import run_cli

PYTHON = (
    "\ufeff# -*- coding: utf-8 -*-\r\n"
    "_store = {}\r\n"
    "_items = []\r\n"
    "\r\n"
    "\r\n"
    "def remember(key):\r\n"
    '    _store[key] = """caf\u00e9\r\n'
    'b"""  # noqa: E501\r\n'
    "    _items.append(1); _store.clear()\r\n"
    "    _store[1] = 2  # a comment   \r\n"
).encode("utf-8")
FIXED = (
    "\ufeff# -*- coding: utf-8 -*-\r\n"
    "_store = {}\r\n"
    "_items = []\r\n"
    "\r\n"
    "\r\n"
    "def remember(key):\r\n"
    '    _store[key] = """caf\u00e9\r\n'
    'b"""  # noqa: E501, RPT101\r\n'
    "    _items.append(1); _store.clear()  # noqa: RPT101\r\n"
    "    _store[1] = 2  # a comment  # noqa: RPT101\r\n"
).encode("utf-8")


def _project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n")
    (tmp_path / "app.py").write_bytes(PYTHON)
    (tmp_path / "deploy.sh").write_bytes(b"heroku config:set A=1 \\\n  --app x\nheroku config:set B=2 # noqa: E1\n")
    return tmp_path


def test_add_noqa_suppresses_every_finding_where_flake8_reads_it(tmp_path: Path) -> None:
    project = _project(tmp_path)
    mode = (project / "app.py").stat().st_mode
    proc = run_cli("check", "--no-cache", "--add-noqa", ".", cwd=project)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, b"", b"Added 5 noqa directives in 2 files.\n")
    assert (project / "app.py").read_bytes() == FIXED  # BOM, CRLF and the string's bytes kept
    assert (project / "app.py").stat().st_mode == mode
    assert (project / "deploy.sh").read_bytes() == (
        b"heroku config:set A=1 \\\n  --app x  # noqa: RPT601\nheroku config:set B=2 # noqa: E1, RPT601\n")
    after = run_cli("check", "--no-cache", ".", cwd=project)
    assert after.returncode == 0, after.stdout
    again = run_cli("check", "--no-cache", "--add-noqa", ".", cwd=project)
    assert (again.returncode, again.stderr) == (0, b"Added 0 noqa directives in 0 files.\n")
    assert (project / "app.py").read_bytes() == FIXED


def test_a_line_whose_noqa_would_not_be_read_is_left_alone_and_named(tmp_path: Path) -> None:
    """flake8 reads the first ``# noqa`` of a line: one inside a string wins over a comment
    added after it, so no comment can suppress this finding."""
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n")
    source = b'_store = {}\n\n\ndef remember(key):\n    _store[key] = "# noqa: E501"\n'
    (tmp_path / "app.py").write_bytes(source)
    proc = run_cli("check", "--no-cache", "--add-noqa", ".", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines() == [
        "app.py: no noqa comment added: the file would not report what it should after the edit "
        "(a comment there is read otherwise)",
        "Added 0 noqa directives in 0 files.",
    ]
    assert (tmp_path / "app.py").read_bytes() == source


def test_a_read_only_file_is_not_rewritten(tmp_path: Path) -> None:
    project = _project(tmp_path)
    os.chmod(project / "app.py", 0o444)
    proc = run_cli("check", "--no-cache", "--add-noqa", "app.py", cwd=project)
    assert proc.returncode == 1
    assert proc.stderr.decode().splitlines()[0] == "app.py: no noqa comment added: the file is read-only"
    assert (project / "app.py").read_bytes() == PYTHON


def test_add_noqa_refuses_what_would_mix_it_with_fixes(tmp_path: Path) -> None:
    project = _project(tmp_path)
    proc = run_cli("check", "--add-noqa", "--fix", ".", cwd=project)
    assert proc.returncode == 2 and proc.stderr == (
        b"raptor-lint: error: --add-noqa edits the files on disk; it cannot be combined with --fix, --diff, "
        b"--base or '-'\n")
    assert (project / "app.py").read_bytes() == PYTHON


def test_a_file_that_does_not_parse_is_named_and_the_run_exits_1(tmp_path: Path) -> None:
    # No noqa comment can hide E999: the next check exits 1, so this run says so and does too.
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n")
    (tmp_path / "bad.py").write_bytes(b"def (:\n")
    proc = run_cli("check", "--no-cache", "--add-noqa", ".", cwd=tmp_path)
    assert (proc.returncode, proc.stdout, proc.stderr.decode().splitlines()) == (1, b"", [
        "bad.py: no noqa comment added: it has a syntax error (E999); fix it first",
        "Added 0 noqa directives in 0 files.",
    ])
    assert (tmp_path / "bad.py").read_bytes() == b"def (:\n"
    assert run_cli("check", "--no-cache", ".", cwd=tmp_path).returncode == 1
