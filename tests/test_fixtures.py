"""Every fixture project lints to exactly the findings its `# expect:` markers declare.

A fixture project is a directory directly under tests/fixtures/ (its own
pyproject.toml, if any, configures it).  Lines without a marker must stay
silent: that is how near-misses are tested.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import FIXTURES, expectations, lint_project

PROJECTS = sorted(p for p in FIXTURES.iterdir() if p.is_dir()) if FIXTURES.is_dir() else []


@pytest.mark.parametrize("project", PROJECTS, ids=lambda p: p.name)
def test_fixture_project_findings_match_markers(project: Path) -> None:
    by_file = lint_project(project)
    problems = []
    files = sorted(set(by_file) | {
        p.relative_to(project).as_posix() for p in project.rglob("*")
        if p.is_file() and expectations(p)
    })
    for rel in files:
        expected = expectations(project / rel)
        actual = {(f.line, f.code) for f in by_file.get(rel, [])}
        messages = {(f.line, f.code): f.message for f in by_file.get(rel, [])}
        for line, code in sorted(actual - expected):
            problems.append(f"{rel}:{line}: unexpected {code} {messages[(line, code)]}")
        for line, code in sorted(expected - actual):
            problems.append(f"{rel}:{line}: expected {code}, not reported")
    assert not problems, "\n".join(problems)
