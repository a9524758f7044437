"""Golden files: every finding of every fixture project and of the example app, pinned.

The ``# expect:`` markers (tests/test_fixtures.py) say *which* code fires on *which*
line; these files pin everything else a user sees — the column, the end of the range,
the exact message, the fix, the note and the related places — so a refactor of the analysis underneath cannot change
any of it by accident.  A change that means to change output regenerates them with

    RAPTOR_LINT_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py

and the commit names what changed and why (``git diff tests/golden`` shows it).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import EXAMPLES, FIXTURES, REPO, lint_project

GOLDEN = REPO / "tests" / "golden"
UPDATE = os.environ.get("RAPTOR_LINT_UPDATE_GOLDEN") == "1"

PROJECTS = {p.name: p for p in sorted(FIXTURES.iterdir()) if p.is_dir()}
PROJECTS["example_app"] = EXAMPLES


def _render(project: Path) -> str:
    by_file = lint_project(project)
    rows = []
    for path in sorted(by_file):
        for finding in by_file[path]:
            row = finding.to_json(path)
            # The story beside the short message (SPEC §7): pinned too, with the related
            # places relative to the project so the files do not depend on the checkout.
            row["note"] = finding.note
            row["related"] = [
                {"path": Path(os.path.relpath(related.path, project)).as_posix(), "line": related.line,
                 "column": related.column, "message": related.message}
                for related in finding.related]
            rows.append(row)
    rows.sort(key=lambda row: (row["path"], row["line"], row["column"], row["code"], row["message"]))
    return json.dumps(rows, indent=1, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_findings_match_golden_file(name: str) -> None:
    golden = GOLDEN / f"{name}.json"
    actual = _render(PROJECTS[name])
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        golden.write_text(actual, encoding="utf-8")
    assert golden.is_file(), f"no golden file {golden.name}: run with RAPTOR_LINT_UPDATE_GOLDEN=1"
    expected = golden.read_text(encoding="utf-8")
    if actual != expected:
        # Name the first rows that differ, not a 2,000-line diff.
        want, got = json.loads(expected), json.loads(actual)
        missing = [row for row in want if row not in got]
        extra = [row for row in got if row not in want]
        lines = [f"- {json.dumps(row, ensure_ascii=False)}" for row in missing[:10]]
        lines += [f"+ {json.dumps(row, ensure_ascii=False)}" for row in extra[:10]]
        pytest.fail(f"{name}: findings differ from tests/golden/{name}.json "
                    f"({len(missing)} gone, {len(extra)} new):\n" + "\n".join(lines))


def test_every_fixture_project_has_a_golden_file() -> None:
    """A new fixture project without a golden file would be pinned by nothing."""
    stale = sorted(p.stem for p in GOLDEN.glob("*.json") if p.stem not in PROJECTS)
    assert not stale, f"golden files of projects that no longer exist: {stale}"
