"""Done-when for issue 5, as a new user would try it, on a copy of the example app:
`--diff` shows the fixes (RPT301, RPT204, RPT601) and writes nothing; `--fix` applies
them; a re-check shows none of the fixed findings (what remains is exactly the findings
that had no fix, e.g. an RPT301 whose prefix comes from an imported constant); a second
`--fix` changes nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from conftest import EXAMPLES, run_cli
from raptor_lint.registry import all_rules

FIXABLE = {"RPT204", "RPT601"} | ({"RPT301"} if "RPT301" in all_rules() else set())


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _findings(root: Path) -> list[dict]:
    proc = run_cli("check", "--format", "json", "--no-cache", ".", cwd=root)
    assert proc.returncode in (0, 1), proc.stderr.decode()
    return json.loads(proc.stdout)


def test_diff_then_fix_on_a_copy_of_the_example_app(tmp_path: Path) -> None:
    app = tmp_path / "raptor_app"
    shutil.copytree(EXAMPLES, app, ignore=shutil.ignore_patterns("__pycache__", ".raptor_lint_cache"))
    before = _findings(app)
    fixable = [f for f in before if f["fix"] is not None]
    assert {f["code"] for f in fixable} == FIXABLE
    files_to_fix = {f["path"] for f in fixable}

    snapshot = _snapshot(app)
    diff = run_cli("check", "--diff", "--no-cache", ".", cwd=app)
    assert diff.returncode == 1, diff.stderr.decode()
    patch = diff.stdout.decode()
    assert {line[len("+++ b/"):] for line in patch.splitlines() if line.startswith("+++ b/")} == files_to_fix
    assert '+    redis = current_app.extensions.get("redis_client")' in patch
    assert '+heroku config:set SECRET_KEY="$(openssl rand -base64 48)" --app "$APP" >/dev/null 2>&1' in patch
    assert _snapshot(app) == snapshot  # --diff writes nothing

    fix = run_cli("check", "--fix", "--no-cache", ".", cwd=app)
    assert fix.returncode == 1  # unfixable findings (RPT201, RPT602, ...) remain
    assert f"Fixed {len(fixable)} findings in {len(files_to_fix)} files." in fix.stderr.decode()
    after = _findings(app)
    fixed_keys = {(f["path"], f["line"], f["code"]) for f in fixable}
    assert not [f for f in after if (f["path"], f["line"], f["code"]) in fixed_keys]
    assert not [f for f in after if f["fix"] is not None]
    unfixed = {(f["path"], f["line"], f["code"]) for f in before if f["fix"] is None}
    assert {(f["path"], f["line"], f["code"]) for f in after} == unfixed
    changed = {rel for rel, data in _snapshot(app).items() if snapshot.get(rel) != data}
    assert changed == files_to_fix

    fixed = _snapshot(app)
    again = run_cli("check", "--fix", "--no-cache", ".", cwd=app)
    assert "Fixed 0 findings in 0 files." in again.stderr.decode()
    assert _snapshot(app) == fixed
