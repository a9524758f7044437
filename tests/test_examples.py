"""The bundled example app: markers, CLI output and flake8 agree line by line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from conftest import BIN, EXAMPLES, REPO, expectations, run_cli


def _cli_findings() -> list[dict]:
    proc = run_cli("check", "--format", "json", ".", cwd=EXAMPLES)
    assert proc.returncode == 1, proc.stderr.decode()
    assert proc.stderr == b""
    return json.loads(proc.stdout)


def test_example_findings_match_markers() -> None:
    findings = _cli_findings()
    actual = {(f["path"], f["line"], f["code"]) for f in findings}
    expected = {
        (p.relative_to(EXAMPLES).as_posix(), line, code)
        for p in EXAMPLES.rglob("*") if p.is_file()
        for line, code in expectations(p)
    }
    assert actual == expected


def test_flake8_agrees_with_cli_line_by_line() -> None:
    cli = sorted(
        f"{f['path']}:{f['line']}:{f['column']}: {f['code']} {f['message']}"
        for f in _cli_findings() if f["path"].endswith(".py")
    )
    proc = subprocess.run(
        [str(BIN / "flake8"), "--select", "RPT", "--format", "%(path)s:%(row)d:%(col)d: %(code)s %(text)s", "."],
        cwd=EXAMPLES, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    flake8 = sorted(line.removeprefix("./") for line in proc.stdout.splitlines())
    assert cli and flake8 == cli


def test_make_demo_target_shows_findings_and_exits_1() -> None:
    """What `make demo` runs (from the app's root, as the Makefile says)."""
    makefile = (REPO / "Makefile").read_text()
    assert "@cd examples/raptor_app && ../../$(BIN)/raptor-lint check .;" in makefile
    proc = run_cli("check", ".", cwd=EXAMPLES)
    assert proc.returncode == 1
    out = proc.stdout.decode()
    assert "RPT101" in out and "RPT301" in out
    assert out.rstrip().splitlines()[-1].startswith("Found ")
