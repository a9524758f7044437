"""Done-when for issue 5 (and issue 16's fix tiers), as a new user would try it, on a copy
of the example app: `--diff` shows the safe fixes (RPT301, RPT601, ...) and writes
nothing; `--fix` applies them and leaves the unsafe ones (RPT204, RPT502, RPT503) for
`--fix --unsafe-fixes`, which also edits the runbook and the config manifest; a re-check
shows none of the fixed findings (what remains is exactly the findings that had no fix);
a second `--fix --unsafe-fixes` changes nothing."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import yaml

from conftest import EXAMPLES, run_cli

SAFE_AT_LEAST = {"RPT601"}
UNSAFE_AT_LEAST = {"RPT204", "RPT502", "RPT503"}


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".raptor_lint_cache" not in p.parts}


def _findings(root: Path) -> list[dict]:
    proc = run_cli("check", "--format", "json", "--no-cache", ".", cwd=root)
    assert proc.returncode in (0, 1), proc.stderr.decode()
    return json.loads(proc.stdout)


def _targets(findings: list[dict]) -> set[str]:
    """Every file the fixes of ``findings`` edit (an edit's own ``path``, else the finding's)."""
    return {edit.get("path", f["path"]) for f in findings for edit in f["fix"]["edits"]}


def _key(finding: dict) -> tuple:
    return finding["path"], finding["line"], finding["code"]


def test_diff_then_fix_then_unsafe_fix_on_a_copy_of_the_example_app(tmp_path: Path) -> None:
    app = tmp_path / "raptor_app"
    shutil.copytree(EXAMPLES, app, ignore=shutil.ignore_patterns("__pycache__", ".raptor_lint_cache"))
    before = _findings(app)
    safe = [f for f in before if f["fix"] is not None and f["fix"]["applicability"] == "safe"]
    unsafe = [f for f in before if f["fix"] is not None and f["fix"]["applicability"] == "unsafe"]
    assert {f["code"] for f in safe} >= SAFE_AT_LEAST
    assert {f["code"] for f in unsafe} >= UNSAFE_AT_LEAST

    snapshot = _snapshot(app)
    diff = run_cli("check", "--diff", "--no-cache", ".", cwd=app)
    assert diff.returncode == 1, diff.stderr.decode()
    patch = diff.stdout.decode()
    assert {line[len("+++ b/"):] for line in patch.splitlines() if line.startswith("+++ b/")} == _targets(safe)
    assert '+heroku config:set SECRET_KEY="$(openssl rand -base64 48)" --app "$APP" >/dev/null 2>&1' in patch
    assert 'extensions.get("redis_client")' not in patch  # RPT204 is unsafe
    assert _snapshot(app) == snapshot  # --diff writes nothing

    unsafe_diff = run_cli("check", "--diff", "--unsafe-fixes", "--no-cache", ".", cwd=app).stdout.decode()
    assert '+    redis = current_app.extensions.get("redis_client")' in unsafe_diff
    assert "+++ b/docs/ops/runbook.md" in unsafe_diff and "+++ b/docs/ops/required-config-vars.yaml" in unsafe_diff
    assert _snapshot(app) == snapshot

    fix = run_cli("check", "--fix", "--no-cache", ".", cwd=app)
    assert fix.returncode == 1  # unsafe and unfixable findings remain
    assert f"Fixed {len(safe)} findings in {len(_targets(safe))} files." in fix.stderr.decode()
    after = _findings(app)
    assert not {_key(f) for f in after} & {_key(f) for f in safe}
    assert {_key(f) for f in after if f["fix"] is not None} == {_key(f) for f in unsafe}
    changed = {rel for rel, data in _snapshot(app).items() if snapshot.get(rel) != data}
    assert changed == _targets(safe)

    safe_fixed = _snapshot(app)
    unsafe_fix = run_cli("check", "--fix", "--unsafe-fixes", "--no-cache", ".", cwd=app)
    assert unsafe_fix.returncode == 1  # unfixable findings (RPT201, ...) remain
    assert f"Fixed {len(unsafe)} findings in {len(_targets(unsafe))} files." in unsafe_fix.stderr.decode()
    after = _findings(app)
    assert not [f for f in after if f["fix"] is not None]
    unfixed = {_key(f) for f in before if f["fix"] is None}
    assert {_key(f) for f in after} >= unfixed
    # What RPT204's unsafe fix lets through (a None client used unguarded) is RPT205's: the reason it is unsafe.
    assert {f["code"] for f in after if _key(f) not in unfixed} <= {"RPT205"}
    changed = {rel for rel, data in _snapshot(app).items() if safe_fixed.get(rel) != data}
    assert changed == _targets(unsafe)
    manifest = yaml.safe_load((app / "docs/ops/required-config-vars.yaml").read_text())
    names = {entry["name"] for entry in manifest["vars"]}
    # The variable each RPT503 fix declares, from its description ("declare '- name: X' under ...").
    declared = {re.search(r"'- name: ([^']+)'", f["fix"]["description"]).group(1)
                for f in unsafe if f["code"] == "RPT503"}
    assert declared and declared <= names

    fixed = _snapshot(app)
    again = run_cli("check", "--fix", "--unsafe-fixes", "--no-cache", ".", cwd=app)
    assert "Fixed 0 findings in 0 files." in again.stderr.decode()
    assert _snapshot(app) == fixed
