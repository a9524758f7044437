"""``--format github`` and ``--format sarif``: exact output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from raptor_lint import __version__
from raptor_lint.cli import main
from raptor_lint.config import Config
from raptor_lint.docs import render_rule
from raptor_lint.engine import FileResult
from raptor_lint.findings import Edit, Finding, Fix
from raptor_lint.formats import github, sarif
from raptor_lint.rules.base import Rule
from raptor_lint.runner import RunResult

RULE = Rule(
    code="RPT301",
    name="blueprint-prefix-under-api",
    summary="Blueprint url_prefix starts with the API prefix.",
    runbook="Blueprint authoring convention",
    why="The core loop already mounts every blueprint under /api.",
    bad='Blueprint("x", __name__, url_prefix="/api/x")',
    good='Blueprint("x", __name__, url_prefix="/x")',
    fixable=True,
)
OTHER = Rule(code="RPT302", name="route-under-api", summary="Route rule starts with /api/.",
             runbook="Blueprint authoring convention", why="Doubled prefix.", bad="b", good="g")

FIX = Fix("Drop the leading /api from url_prefix", (Edit(3, 43, 3, 47, ""),))
PREFIX = Finding("app/bp.py", 3, 42, "RPT301", "url_prefix '/api/x' doubles the /api mount: use '/x'",
                 end_line=3, end_column=50, fix=FIX)
BROKEN = Finding("app/new file.py", 2, 8, "E999", "SyntaxError: '(' was never closed")


def run_result(*findings: Finding) -> RunResult:
    result = RunResult()
    for path in sorted({f.path for f in findings}):
        result.files.append(FileResult(Path(path), path, "python", [f for f in findings if f.path == path]))
    return result


@pytest.fixture
def fake_rules(monkeypatch):
    """Pin the rule catalogue so the output does not depend on which families exist."""
    import raptor_lint.registry as registry

    rules = {"RPT301": RULE, "RPT302": OTHER}
    monkeypatch.setattr(registry, "all_rules", lambda: rules)
    monkeypatch.setattr(registry, "family_of", lambda code: "blueprints" if code in rules else "")


# ------------------------------------------------------------------ github

def test_github_annotations_exact() -> None:
    out = github.render(run_result(PREFIX, BROKEN), Config(root=Path(".")))
    assert out == (
        "::error file=app/bp.py,line=3,col=42,endLine=3,endColumn=50,title=RPT301::"
        "url_prefix '/api/x' doubles the /api mount: use '/x' (fix available: --fix)\n"
        "::error file=app/new file.py,line=2,col=8,endLine=2,endColumn=8,title=E999::"
        "SyntaxError: '(' was never closed\n"
    )


def test_github_escapes_data_and_properties() -> None:
    finding = Finding("odd,dir/a:b%.py", 1, 1, "RPT101", "100% broken\r\nsee: a, b")
    out = github.render(run_result(finding), Config(root=Path(".")))
    assert out == (
        "::error file=odd%2Cdir/a%3Ab%25.py,line=1,col=1,endLine=1,endColumn=1,title=RPT101::"
        "100%25 broken%0D%0Asee: a, b\n"
    )


def test_github_prints_nothing_without_findings() -> None:
    assert github.render(run_result(), Config(root=Path("."))) == ""


# ------------------------------------------------------------------- sarif

def test_sarif_exact(fake_rules) -> None:
    out = sarif.render(run_result(PREFIX, BROKEN), Config(root=Path("."), select=("RPT3",), ignore=("RPT302",)))
    assert out.endswith("}\n")
    assert json.loads(out) == {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "raptor-lint",
                "version": __version__,
                "informationUri": "https://github.com/raptor-lint/raptor-lint",
                "rules": [
                    {
                        "id": "E999",
                        "name": "syntax-error",
                        "shortDescription": {"text": "The file does not parse (or decode) as Python."},
                        "defaultConfiguration": {"level": "error"},
                    },
                    {
                        "id": "RPT301",
                        "name": "blueprint-prefix-under-api",
                        "shortDescription": {"text": "Blueprint url_prefix starts with the API prefix."},
                        "fullDescription": {"text": "The core loop already mounts every blueprint under /api."},
                        "help": {
                            "text": "The core loop already mounts every blueprint under /api.\n\n"
                                    "Runbook: Blueprint authoring convention",
                            "markdown": render_rule(RULE, level=2),
                        },
                        "defaultConfiguration": {"level": "error"},
                        "properties": {"tags": ["blueprints"], "runbook": "Blueprint authoring convention",
                                       "fixable": True, "fixApplicability": "safe"},
                    },
                ],
            }},
            "columnKind": "unicodeCodePoints",
            "results": [
                {
                    "ruleId": "RPT301",
                    "ruleIndex": 1,
                    "level": "error",
                    "message": {"text": "url_prefix '/api/x' doubles the /api mount: use '/x'"},
                    "locations": [{"physicalLocation": {
                        "artifactLocation": {"uri": "app/bp.py", "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": 3, "startColumn": 42, "endLine": 3, "endColumn": 50},
                    }}],
                    "fixes": [{
                        "description": {"text": "Drop the leading /api from url_prefix"},
                        "artifactChanges": [{
                            "artifactLocation": {"uri": "app/bp.py", "uriBaseId": "%SRCROOT%"},
                            "replacements": [{
                                "deletedRegion": {"startLine": 3, "startColumn": 43, "endLine": 3, "endColumn": 47},
                                "insertedContent": {"text": ""},
                            }],
                        }],
                        "properties": {"applicability": "safe"},
                    }],
                },
                {
                    "ruleId": "E999",
                    "ruleIndex": 0,
                    "level": "error",
                    "message": {"text": "SyntaxError: '(' was never closed"},
                    "locations": [{"physicalLocation": {
                        "artifactLocation": {"uri": "app/new%20file.py", "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": 2, "startColumn": 8, "endLine": 2, "endColumn": 8},
                    }}],
                },
            ],
        }],
    }


UNSAFE_RUNBOOK = Finding(
    "app/__init__.py", 7, 20, "RPT502", "FLAG_BETA is read in create_app() but the runbook never mentions it",
    end_line=7, end_column=31,
    fix=Fix("add '- [ ] FLAG_BETA=1 set' to the checklist in docs/ops/runbook.md",
            (Edit(9, 30, 9, 30, "\n- [ ] FLAG_BETA=1 set", str(Path("docs/ops/runbook.md").resolve())),), "unsafe"))


def test_github_says_which_fixes_are_unsafe() -> None:
    out = github.render(run_result(UNSAFE_RUNBOOK), Config(root=Path(".")))
    assert out == (
        "::error file=app/__init__.py,line=7,col=20,endLine=7,endColumn=31,title=RPT502::"
        "FLAG_BETA is read in create_app() but the runbook never mentions it"
        " (unsafe fix available: --fix --unsafe-fixes)\n"
    )


def test_sarif_fix_of_another_file_is_marked_unsafe_and_targets_that_file(fake_rules) -> None:
    document = json.loads(sarif.render(run_result(UNSAFE_RUNBOOK), Config(root=Path("."))))
    [result] = document["runs"][0]["results"]
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "app/__init__.py"
    assert result["fixes"] == [{
        "description": {"text": "(unsafe) add '- [ ] FLAG_BETA=1 set' to the checklist in docs/ops/runbook.md"},
        "artifactChanges": [{
            "artifactLocation": {"uri": "docs/ops/runbook.md", "uriBaseId": "%SRCROOT%"},
            "replacements": [{
                "deletedRegion": {"startLine": 9, "startColumn": 30, "endLine": 9, "endColumn": 30},
                "insertedContent": {"text": "\n- [ ] FLAG_BETA=1 set"},
            }],
        }],
        "properties": {"applicability": "unsafe"},
    }]


def test_json_edit_of_another_file_names_it_relative_to_the_working_directory() -> None:
    from raptor_lint.formats import json as json_format

    [row] = json.loads(json_format.render(run_result(UNSAFE_RUNBOOK), Config(root=Path("."))))
    assert row["fix"] == {
        "description": "add '- [ ] FLAG_BETA=1 set' to the checklist in docs/ops/runbook.md",
        "applicability": "unsafe",
        "edits": [{"line": 9, "column": 30, "end_line": 9, "end_column": 30,
                   "content": "\n- [ ] FLAG_BETA=1 set", "path": "docs/ops/runbook.md"}],
    }
    [own] = json.loads(json_format.render(run_result(PREFIX), Config(root=Path("."))))
    assert "path" not in own["fix"]["edits"][0]  # an edit of the finding's own file


def test_sarif_without_findings_still_lists_the_selected_rules(fake_rules) -> None:
    document = json.loads(sarif.render(run_result(), Config(root=Path("."))))
    run = document["runs"][0]
    assert run["results"] == []
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["RPT301", "RPT302"]


# ------------------------------------------------------------- through the CLI

@pytest.mark.parametrize("fmt", ["github", "sarif"])
def test_cli_formats_report_syntax_errors(fmt: str, tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "views.py").write_text("def index(:\n    pass\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["check", "--format", fmt, "app"])
    assert result.exit_code == 1, result.output
    if fmt == "github":
        assert result.output == (
            "::error file=app/views.py,line=1,col=11,endLine=1,endColumn=11,title=E999::"
            "SyntaxError: invalid syntax\n"
        )
    else:
        [found] = json.loads(result.output)["runs"][0]["results"]
        assert found["ruleId"] == "E999"
        assert found["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "app/views.py"
        assert found["locations"][0]["physicalLocation"]["region"]["startLine"] == 1
