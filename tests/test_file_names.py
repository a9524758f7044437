"""Issue 18: file names are data.  Real files named ``caf\\xe9.py`` (not UTF-8) and
``x\\n::warning ::pwned.py`` (a newline and a workflow command) go through every format: no
format fails, no name starts a second line (or a GitHub Actions command), and the machine
formats keep the exact name."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import BIN

MUTATION = b"_store = {}\n\n\ndef remember(key):\n    _store[key] = 1\n"
LATIN1 = b"caf\xe9.py"
INJECTION = b"x\n::warning ::pwned.py"


def _project(tmp_path: Path, name: bytes) -> bytes:
    root = os.fsencode(tmp_path)
    with open(os.path.join(root, b"pyproject.toml"), "wb") as handle:
        handle.write(b"[tool.raptor-lint]\n")
    with open(os.path.join(root, name), "wb") as handle:
        handle.write(MUTATION)
    return root


def _check(root: bytes, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONIOENCODING="utf-8:strict", LC_ALL="C.UTF-8")
    return subprocess.run([str(BIN / "raptor-lint"), "check", "--no-cache", *args, "."], cwd=root,
                          capture_output=True, env=env, timeout=300)


@pytest.mark.parametrize(("name", "shown"), [(LATIN1, b"caf\\xe9.py"), (INJECTION, b"x\\n::warning ::pwned.py")])
def test_text_and_full_show_the_name_escaped_on_one_line(tmp_path: Path, name: bytes, shown: bytes) -> None:
    root = _project(tmp_path, name)
    text = _check(root)
    assert (text.returncode, text.stderr) == (1, b"")
    assert text.stdout.splitlines() == [
        shown + b":5:5: RPT101 " + text.stdout.split(b" RPT101 ", 1)[1].split(b"\n", 1)[0],
        b"Found 1 finding in 1 file checked.",
    ]
    full = _check(root, "--format", "full")
    assert (full.returncode, full.stderr) == (1, b"")
    assert full.stdout.startswith(shown + b":5:5: RPT101 ")
    assert b"\n5 |     _store[key] = 1\n" in full.stdout  # the file was read again for its source


def test_github_annotations_cannot_be_injected(tmp_path: Path) -> None:
    root = _project(tmp_path, LATIN1)
    _project(tmp_path, INJECTION)
    proc = _check(root, "--format", "github")
    assert (proc.returncode, proc.stderr) == (1, b"")
    lines = proc.stdout.decode("utf-8").splitlines()
    assert [line.split("::", 2)[1] for line in lines] == [
        f"error file={prop},line=5,col=5,endLine=5,endColumn=16,title=RPT101"
        for prop in ("caf\\xe9.py", "x%0A%3A%3Awarning %3A%3Apwned.py")]


def test_sarif_and_json_keep_the_exact_names(tmp_path: Path) -> None:
    root = _project(tmp_path, LATIN1)
    _project(tmp_path, INJECTION)
    sarif = _check(root, "--format", "sarif")
    assert (sarif.returncode, sarif.stderr) == (1, b"")
    results = json.loads(sarif.stdout)["runs"][0]["results"]
    assert sorted(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in results) == [
        "caf%E9.py", "x%0A%3A%3Awarning%20%3A%3Apwned.py"]
    listing = _check(root, "--format", "json")
    assert (listing.returncode, listing.stderr) == (1, b"")
    # \udcXX escapes (Python's surrogateescape) give the bytes back.
    assert sorted(os.fsencode(finding["path"]) for finding in json.loads(listing.stdout)) == [LATIN1, INJECTION]


def test_terminal_escapes_and_bidi_overrides_are_shown_not_obeyed() -> None:
    """A name that retitles the terminal (OSC) or shows itself reversed (U+202E, Trojan Source)."""
    from raptor_lint.config import Config
    from raptor_lint.engine import FileResult
    from raptor_lint.findings import Finding
    from raptor_lint.formats import github, text
    from raptor_lint.runner import RunResult

    name = "a\x1b]0;pwned\x07\u202eyp.py"
    result = RunResult(files=[FileResult(Path(name), name, "python",
                                         [Finding(name, 1, 1, "RPT101", "m\x1b[2J")])])
    assert text.render(result, Config(root=Path("."))).splitlines()[0] == (
        "a\\x1b]0;pwned\\x07\\u202eyp.py:1:1: RPT101 m\\x1b[2J")
    assert github.render(result, Config(root=Path("."))) == (
        "::error file=a\\x1b]0;pwned\\x07\\u202eyp.py,line=1,col=1,endLine=1,endColumn=1,title=RPT101::m\\x1b[2J\n")
