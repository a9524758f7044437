"""--diff and --fix on standard input write bytes: a shell script's undecodable bytes
(kept as surrogates when it is read) come out as they went in, even on a strict UTF-8
stdout, where printing them as text raised UnicodeEncodeError."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
SCRIPT = b"# caf\xe9 (Latin-1)\nheroku config:set SECRET_KEY=x --app raxx-api-staging\n"


def _run(args: list[str], cwd: Path, data: bytes | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONIOENCODING="utf-8:strict", LC_ALL="C.UTF-8")
    return subprocess.run([str(BIN / "raptor-lint"), *args], cwd=cwd, input=data, capture_output=True,
                          env=env, timeout=120)


def test_diff_of_a_latin1_script_keeps_its_bytes(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n")
    (tmp_path / "deploy.sh").write_bytes(SCRIPT)
    proc = _run(["check", "--diff", "--no-cache", "deploy.sh"], tmp_path)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout == (
        b"--- a/deploy.sh\n+++ b/deploy.sh\n@@ -1,2 +1,2 @@\n"
        b" # caf\xe9 (Latin-1)\n"  # context line: the Latin-1 byte as it is on disk
        b"-heroku config:set SECRET_KEY=x --app raxx-api-staging\n"
        b"+heroku config:set SECRET_KEY=x --app raxx-api-staging >/dev/null 2>&1\n")
    assert (tmp_path / "deploy.sh").read_bytes() == SCRIPT


def test_fix_on_standard_input_writes_the_bytes_back(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n")
    proc = _run(["check", "--fix", "--no-cache", "--stdin-filename", "deploy.sh", "-"], tmp_path, SCRIPT)
    assert b"internal error" not in proc.stderr, proc.stderr
    assert proc.stdout.startswith(b"# caf\xe9 (Latin-1)\nheroku config:set SECRET_KEY=x --app raxx-api-staging")
    assert proc.stdout.rstrip(b"\n").endswith(b">/dev/null 2>&1")
    assert proc.stdout == SCRIPT.replace(b"staging\n", b"staging >/dev/null 2>&1\n")  # byte for byte
    assert proc.returncode == 0, proc.stderr  # nothing left to report
