"""`make bench-floor`'s probe: every .py file is read, and checked or parsed as CPython
would (a broken file counts as a failure, not as a crash)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO


def _probe() -> str:
    spec = importlib.util.spec_from_file_location("bench_floor", REPO / "bench" / "floor.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.PROBE


@pytest.mark.parametrize("mode, failures", [("read", 0), ("symtable", 1), ("parse", 1), ("gate", 1)])
@pytest.mark.parametrize("processes", [1, 2])
def test_probe_counts_files_and_syntax_errors(tmp_path: Path, mode: str, failures: int, processes: int) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "ok.py").write_text("def handler():\n    return {}\n")
    (tmp_path / "pkg" / "broken.py").write_text("def handler(:\n")
    (tmp_path / "notes.txt").write_text("not python\n")
    (tmp_path / ".venv").mkdir()
    (tmp_path / ".venv" / "skipped.py").write_text("def (\n")  # bench.run.SKIP_DIRS
    proc = subprocess.run([sys.executable, "-c", _probe(), mode, str(tmp_path), str(processes), str(REPO / "bench")],
                          capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.split() == ["2", str(failures)]
