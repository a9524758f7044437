"""Shared test helpers: run the engine on fixture projects and read ``# expect:`` markers."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "tests" / "fixtures"
EXAMPLES = REPO / "examples" / "raptor_app"
BIN = Path(sys.executable).parent

# `# expect: RPT101` (this line), `# expect-next-line: RPT401,RPT402` (the line below).
# Markdown uses `<!-- expect: RPT601 -->`.
EXPECT = re.compile(r"(?:#|<!--)\s*expect(?P<next>-next-line)?:\s*(?P<codes>[A-Z0-9, ]+)")


def expectations(path: Path) -> set[tuple[int, str]]:
    """(line, code) pairs declared in a fixture file."""
    found: set[tuple[int, str]] = set()
    for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        for match in EXPECT.finditer(line):
            target = number + 1 if match.group("next") else number
            for code in re.split(r"[,\s]+", match.group("codes").strip()):
                if code:
                    found.add((target, code))
    return found


def fixture_config(project: Path):
    from raptor_lint.config import Config, load_config

    for name in ("pyproject.toml", "setup.cfg"):
        if (project / name).is_file():
            return load_config(config_file=project / name)
    return Config(root=project)


def lint_project(project: Path, **config_changes):
    """Lint every file of a fixture project; returns {relative path: [findings]}."""
    from raptor_lint.config import Config
    from raptor_lint.runner import CheckOptions, run_check

    config = fixture_config(project)
    if config_changes:
        config = config.replace(**config_changes)
    cwd = os.getcwd()
    os.chdir(project)
    try:
        result = run_check(config, CheckOptions(paths=[Path(".")], use_cache=False))
    finally:
        os.chdir(cwd)
    by_file: dict[str, list] = {}
    for file_result in result.files:
        by_file[file_result.display_path] = file_result.findings
    return by_file


def run_cli(*args: str, cwd: Path | None = None, input: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "raptor-lint"), *args], cwd=cwd or REPO, input=input,
        capture_output=True, timeout=300,
    )


@pytest.fixture
def cli():
    return run_cli
