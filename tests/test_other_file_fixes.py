"""Fixes that edit another file (issue 16 item 4): RPT502 adds the checklist line to the
runbook, RPT503 the ``- name:`` entry to the config manifest.  Both are unsafe: only
``--fix --unsafe-fixes`` writes them (``--diff --unsafe-fixes`` shows them); the target
must stay inside the project root, the YAML must still load, the write is atomic, several
findings adding to one file all land once, and a second run changes nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from raptor_lint.cli import main
from raptor_lint.config import Config
from raptor_lint.engine import Engine, FileResult
from raptor_lint.findings import UNSAFE, Edit, Finding, Fix
from raptor_lint.fixes import fix_results, merge_edits
from raptor_lint.project.manifest import declaration
from raptor_lint.project.runbook import checklist_addition

RUNBOOK = (
    "# Raptor service — Operations Runbook\n"
    "\n"
    "## Env-bootstrap checklist\n"
    "\n"
    "### Sentry (FLAG_SENTRY_BACKEND)\n"
    "\n"
    "- [ ] `SENTRY_DSN_BACKEND` provisioned\n"
    "- [ ] `FLAG_SENTRY_BACKEND=1` set after DSN is confirmed\n"
    "\n"
    "### Beta walkthrough\n"
    "\n"
    "- [ ] `FLAG_BETA_WALKTHROUGH=1` set\n"
    "\n"
    "<!-- TODO: FLAG_STATUS_3P_POLLER, once the CF Worker exists -->\n"
    "\n"
    "## Rollback\n"
    "\n"
    "Nothing to see.\n"
)
# CRLF, comments, a nested mapping: all kept.
MANIFEST = (
    "# Variables every environment must provision.\r\n"
    "vars:\r\n"
    "    - name: SECRET_KEY   # always\r\n"
    "      required: always\r\n"
    "    - name: SENTRY_DSN_BACKEND\r\n"
    "# retired: OLD_VAR\r\n"
    "owner: sre\r\n"
)
FACTORY = (
    "import os\n\nfrom flask import Flask\n\n\n"
    "def create_app() -> Flask:\n"
    "    app = Flask(__name__)\n"
    '    if os.environ.get("FLAG_SENTRY_ALERTS") == "1":\n'
    '        app.config["ALERTS"] = os.environ["ALERTS_DSN"]\n'
    '    if os.environ.get("FLAG_BETA_DIGEST") == "1":\n'
    '        app.config["DIGEST"] = True\n'
    "    return app\n"
)
# A second module reading the same variable: one manifest line, not two.
WORKER = 'import os\n\nDSN = os.environ.get("ALERTS_DSN")\n'

RUNBOOK_FIXED = RUNBOOK.replace(
    "- [ ] `FLAG_SENTRY_BACKEND=1` set after DSN is confirmed\n",
    "- [ ] `FLAG_SENTRY_BACKEND=1` set after DSN is confirmed\n- [ ] FLAG_SENTRY_ALERTS=1 set\n",
).replace(
    "<!-- TODO: FLAG_STATUS_3P_POLLER, once the CF Worker exists -->\n",
    "<!-- TODO: FLAG_STATUS_3P_POLLER, once the CF Worker exists -->\n"
    "\n### FLAG_BETA_DIGEST\n\n- [ ] FLAG_BETA_DIGEST=1 set\n",
)
# The flags are environment variables too (RPT503), in the order the findings come.
MANIFEST_FIXED = MANIFEST.replace(
    "    - name: SENTRY_DSN_BACKEND\r\n",
    "    - name: SENTRY_DSN_BACKEND\r\n    - name: FLAG_SENTRY_ALERTS\r\n    - name: ALERTS_DSN\r\n"
    "    - name: FLAG_BETA_DIGEST\r\n",
)


def _project(tmp_path: Path, runbook: str = RUNBOOK, manifest: str = MANIFEST) -> Path:
    files = {
        "pyproject.toml": '[tool.raptor-lint]\nselect = ["RPT502", "RPT503"]\n',
        "docs/ops/runbook.md": runbook,
        "docs/ops/required-config-vars.yaml": manifest,
        "svc/__init__.py": FACTORY,
        "svc/worker.py": WORKER,
    }
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())
    return tmp_path


def _cli(root: Path, *args: str):
    cwd = os.getcwd()
    os.chdir(root)
    try:
        return CliRunner().invoke(main, ["check", "--no-cache", *args, "."], catch_exceptions=False)
    finally:
        os.chdir(cwd)


def _docs(root: Path) -> tuple[bytes, bytes]:
    return ((root / "docs/ops/runbook.md").read_bytes(), (root / "docs/ops/required-config-vars.yaml").read_bytes())


# ------------------------------------------------------------------ the CLI

def test_fix_alone_leaves_the_runbook_and_manifest_and_says_how(tmp_path: Path) -> None:
    root = _project(tmp_path)
    result = _cli(root, "--fix")
    assert _docs(root) == (RUNBOOK.encode(), MANIFEST.encode())
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == (
        "Found 6 findings in 3 files checked (6 fixable with --fix --unsafe-fixes).")
    assert "Fixed 0 findings in 0 files." in result.stderr


def test_diff_with_unsafe_fixes_shows_the_other_files_and_writes_nothing(tmp_path: Path) -> None:
    root = _project(tmp_path)
    result = _cli(root, "--diff", "--unsafe-fixes")
    assert result.exit_code == 1
    assert "--- a/docs/ops/runbook.md\n+++ b/docs/ops/runbook.md\n" in result.stdout
    assert "+- [ ] FLAG_SENTRY_ALERTS=1 set\n" in result.stdout
    assert "--- a/docs/ops/required-config-vars.yaml\n" in result.stdout
    assert "+    - name: ALERTS_DSN" in result.stdout
    assert "svc/" not in result.stdout  # the Python files are not edited
    assert "Would fix 6 findings in 2 files." in result.stderr
    assert _docs(root) == (RUNBOOK.encode(), MANIFEST.encode())


def test_unsafe_fix_writes_exact_bytes_once_and_a_second_run_changes_nothing(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "docs/ops/required-config-vars.yaml").chmod(0o640)
    result = _cli(root, "--fix", "--unsafe-fixes")
    # Two flags in one runbook, one variable read in two modules: every line lands, once.
    assert _docs(root) == (RUNBOOK_FIXED.encode(), MANIFEST_FIXED.encode())
    assert "Fixed 6 findings in 2 files." in result.stderr
    assert (result.exit_code, result.stdout) == (0, "All checks passed (3 files checked).\n")
    assert oct((root / "docs/ops/required-config-vars.yaml").stat().st_mode & 0o777) == "0o640"
    assert "ALERTS_DSN" in {entry["name"] for entry in yaml.safe_load(MANIFEST_FIXED)["vars"]}
    again = _cli(root, "--fix", "--unsafe-fixes")
    assert "Fixed 0 findings in 0 files." in again.stderr
    assert _docs(root) == (RUNBOOK_FIXED.encode(), MANIFEST_FIXED.encode())


def test_noqa_keeps_a_finding_and_its_fix_out(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "svc/worker.py").write_text(WORKER.replace('DSN")', 'DSN")  # noqa: RPT503'))
    (root / "svc/__init__.py").write_text(FACTORY.replace('["ALERTS_DSN"]', '["ALERTS_DSN"]  # noqa: RPT503'))
    _cli(root, "--fix", "--unsafe-fixes")
    assert b"ALERTS_DSN" not in _docs(root)[1] and b"FLAG_BETA_DIGEST" in _docs(root)[1]


def test_a_runbook_outside_the_project_root_is_not_written(tmp_path: Path) -> None:
    root = _project(tmp_path / "svc_root")
    outside = tmp_path / "shared" / "runbook.md"
    outside.parent.mkdir()
    outside.write_text(RUNBOOK)
    (root / "docs/ops/runbook.md").unlink()
    (root / "docs/ops/runbook.md").symlink_to(outside)
    result = _cli(root, "--fix", "--unsafe-fixes", "--select", "RPT502")
    assert outside.read_text() == RUNBOOK
    assert "raptor-lint: not fixing docs/ops/runbook.md: it is outside the project root" in result.stderr
    assert "Fixed 0 findings in 0 files." in result.stderr
    assert result.exit_code == 1


def test_a_read_only_manifest_is_named_and_kept(tmp_path: Path) -> None:
    root = _project(tmp_path)
    manifest = root / "docs/ops/required-config-vars.yaml"
    manifest.chmod(0o444)
    result = _cli(root, "--fix", "--unsafe-fixes")
    assert manifest.read_bytes() == MANIFEST.encode()
    assert "raptor-lint: not fixing docs/ops/required-config-vars.yaml: the file is read-only" in result.stderr
    assert "RPT503" in result.stdout and "RPT502" not in result.stdout  # the runbook was fixed


def test_a_manifest_the_fix_cannot_extend_has_no_fix(tmp_path: Path) -> None:
    root = _project(tmp_path, manifest="vars: []  # flow style\n")
    result = _cli(root, "--fix", "--unsafe-fixes", "--select", "RPT503")
    assert _docs(root)[1] == b"vars: []  # flow style\n"
    assert result.stdout.splitlines()[-1] == "Found 4 findings in 3 files checked."


# ------------------------------------------------------------------ fixes.py's gates

def _run_fix(root: Path, edit: Edit, *, write: bool = True) -> tuple[list[str], list[FileResult]]:
    engine = Engine(Config(root=root))
    finding = Finding("svc/worker.py", 3, 7, "RPT503", "m", fix=Fix("declare", (edit,), UNSAFE))
    files = [FileResult(root / "svc/worker.py", "svc/worker.py", "python", [finding], WORKER)]
    notes: list[str] = []
    fix_results(engine, files, write=write, notes=notes, unsafe_fixes=True)
    return notes, files


def test_an_edit_that_breaks_the_yaml_writes_nothing(tmp_path: Path, monkeypatch) -> None:
    root = _project(tmp_path)
    monkeypatch.chdir(root)
    manifest = root / "docs/ops/required-config-vars.yaml"
    notes, files = _run_fix(root, Edit(2, 6, 2, 6, " [unclosed", str(manifest)))
    assert manifest.read_bytes() == MANIFEST.encode()
    assert notes == ["raptor-lint: not fixing docs/ops/required-config-vars.yaml: "
                     "the edited file would not load as YAML"]
    assert [f.code for f in files[0].findings] == ["RPT503"]


def test_unsafe_other_file_edits_need_unsafe_fixes(tmp_path: Path) -> None:
    root = _project(tmp_path)
    engine = Engine(Config(root=root))
    edit = Edit(5, 31, 5, 31, "\r\n    - name: X", str(root / "docs/ops/required-config-vars.yaml"))
    finding = Finding("svc/worker.py", 3, 7, "RPT503", "m", fix=Fix("declare", (edit,), UNSAFE))
    files = [FileResult(root / "svc/worker.py", "svc/worker.py", "python", [finding], WORKER)]
    report = fix_results(engine, files, write=True, notes=[], unsafe_fixes=False)
    assert (report.fixed_findings, report.fixed_files) == (0, 0)
    assert _docs(root)[1] == MANIFEST.encode()


def test_merge_edits_dedupes_joins_insertions_and_keeps_lines_before_new_blocks() -> None:
    line = Fix("a", (Edit(3, 5, 3, 5, "\n- [ ] A", "/r"),))
    block = Fix("b", (Edit(3, 5, 3, 5, "\n\n### FLAG_B\n\n- [ ] B", "/r"),))
    same_line = Fix("a again", (Edit(3, 5, 3, 5, "\n- [ ] A", "/r"),))
    clash = Fix("c", (Edit(3, 1, 3, 9, "x", "/r"),))
    edits, accepted = merge_edits([block, line, same_line, clash])
    assert edits == [Edit(3, 5, 3, 5, "\n- [ ] A\n\n### FLAG_B\n\n- [ ] B", "/r")]
    assert accepted == [block, line, same_line]


# ------------------------------------------------------------------ where the lines go

@pytest.mark.parametrize("flag, after", [
    ("FLAG_SENTRY_ALERTS", "- [ ] `FLAG_SENTRY_BACKEND=1` set after DSN is confirmed\n"),  # "Sentry" names it
    ("FLAG_BETA_WALKTHROUGH_V2", "- [ ] `FLAG_BETA_WALKTHROUGH=1` set\n"),  # every heading word is the flag's
])
def test_runbook_line_goes_under_the_section_naming_the_subsystem(flag: str, after: str) -> None:
    edit = checklist_addition(RUNBOOK, flag, "/r")
    assert edit.content == f"\n- [ ] {flag}=1 set"
    assert RUNBOOK.split("\n")[edit.line - 1] + "\n" == after


def test_runbook_line_without_a_matching_section_opens_one_at_the_end_of_the_checklist() -> None:
    # "Beta walkthrough" names another subsystem than FLAG_BETA_DIGEST; the new subsection goes
    # after the checklist's last line (its comment), before the next top-level section.
    edit = checklist_addition(RUNBOOK, "FLAG_BETA_DIGEST", "/r")
    assert RUNBOOK.split("\n")[edit.line - 1].startswith("<!-- TODO")
    assert edit.content == "\n\n### FLAG_BETA_DIGEST\n\n- [ ] FLAG_BETA_DIGEST=1 set"


def test_flat_checklist_gets_the_line_after_its_last_item_with_the_files_line_breaks() -> None:
    runbook = "# Runbook\r\n\r\n## Env-bootstrap checklist\r\n\r\n* [x] `SECRET_KEY` set\r\n\r\n## Other\r\n"
    edit = checklist_addition(runbook, "FLAG_X", "/r")
    assert (edit.line, edit.column, edit.content) == (5, 23, "\r\n* [ ] FLAG_X=1 set")


def test_runbook_without_a_checklist_heading_gets_the_line_at_its_end() -> None:
    edit = checklist_addition("Provision things.\n- [ ] A set", "FLAG_X", "/r")
    assert (edit.line, edit.column, edit.content) == (2, 12, "\n- [ ] FLAG_X=1 set")


@pytest.mark.parametrize("manifest, name, fixed", [
    ("vars:\n  - name: A\n", "B", "vars:\n  - name: A\n  - name: B\n"),
    ("vars:\n- A\n- B  # c\n# tail\nother: 1\n", "C", "vars:\n- A\n- B  # c\n- C\n# tail\nother: 1\n"),
    ("# names\n- A\n- B", "C", "# names\n- A\n- B\n- C"),
    ("vars:\n", "B", "vars:\n  - name: B\n"),
    ("vars:\n  - name: A\n", "ON", 'vars:\n  - name: A\n  - name: "ON"\n'),  # not the boolean
    ("vars:\n  - name: A\n    aliases:\n      - AA\n\n# end\n", "B",
     "vars:\n  - name: A\n    aliases:\n      - AA\n  - name: B\n\n# end\n"),
])
def test_manifest_entry_keeps_indentation_comments_and_loads(manifest: str, name: str, fixed: str) -> None:
    from raptor_lint.fixes import apply_fixes

    edit = declaration(manifest, name, "/m.yaml")
    assert edit is not None
    assert apply_fixes(manifest, [Fix("", (edit,))])[0] == fixed
    data = yaml.safe_load(fixed)
    entries = data["vars"] if isinstance(data, dict) else data
    assert name in [e["name"] if isinstance(e, dict) else e for e in entries]


@pytest.mark.parametrize("manifest", ["vars: []\n", "vars: [{name: A}]\n", "", "# nothing yet\n"])
def test_manifest_shapes_the_fix_cannot_extend(manifest: str) -> None:
    assert declaration(manifest, "B", "/m.yaml") is None
