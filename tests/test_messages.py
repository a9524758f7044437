"""Short messages, the story beside them (issue 17, SPEC §7).

The default text line is ``path:line:col: CODE message`` with the message at most ~120
characters: what is wrong and what to do.  The incident, the PR and the why move to the
finding's ``note``, and the other places the story names to ``related``, which
``--format full``, SARIF and the editor's hover show.  These tests hold every rule to it:
every bad example of the rule docs, every fixture project and the example app.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conftest import EXAMPLES, FIXTURES, lint_project, lint_rule_example, run_cli
from raptor_lint.config import Config
from raptor_lint.engine import Engine
from raptor_lint.registry import all_rules
from raptor_lint.strings import MESSAGE_LIMIT, fit_message, shorten, with_first_fitting

RULES = list(all_rules().values())
PROJECTS = {p.name: p for p in sorted(FIXTURES.iterdir()) if p.is_dir()}
PROJECTS["example_app"] = EXAMPLES


def too_long(findings) -> list[str]:
    return [f"{f.code} ({len(f.message)}): {f.message}" for f in findings
            if len(f.message) > MESSAGE_LIMIT or "\n" in f.message]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_bad_example_message_is_short_and_has_a_story(rule, tmp_path: Path) -> None:
    findings = lint_rule_example(rule, rule.bad, tmp_path)
    own = [f for f in findings if f.code == rule.code]
    assert own, [f.code for f in findings]
    assert not too_long(findings)
    assert all(f.note for f in own), f"{rule.code} findings without a note"


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_fixture_project_messages_are_short(name: str) -> None:
    findings = [f for found in lint_project(PROJECTS[name]).values() for f in found]
    assert findings
    assert not too_long(findings)


def test_example_app_text_lines_fit_in_140_columns() -> None:
    """The issue's acceptance: linted from the app's own root (its pyproject.toml), as its
    CI and pre-commit do, no line of the default text output passes 140 characters."""
    result = run_cli("check", ".", "--no-cache", cwd=EXAMPLES)
    lines = result.stdout.decode().splitlines()
    assert result.returncode == 1 and len(lines) == 23, result.stdout
    assert [line for line in lines if len(line) > 140] == []


def lint(source: str, tmp_path: Path, relpath: str = "app/service.py") -> list:
    engine = Engine(Config(root=tmp_path))
    return engine.lint_text(textwrap.dedent(source), tmp_path / relpath, "python", relpath).findings


def test_long_names_are_shortened_to_keep_the_message_short(tmp_path: Path) -> None:
    name = "_" + "challenge_store_" * 20
    findings = lint(f"""
        {name} = {{}}

        def remember(user_id, value):
            {name}[user_id] = value
        """, tmp_path)
    assert [(f.code, f.line) for f in findings] == [("RPT101", 5)]
    assert findings[0].message == ("dict '_challenge_store_challenge_store_challenge_store_chal…' mutated after "
                                   "the fork: use Redis (with a TTL) or Postgres")
    assert name in findings[0].note or "remember()" in findings[0].note


def test_shorten_and_first_fitting_suffix() -> None:
    assert shorten("a  b\n c", 40) == "a b c"
    assert shorten("x" * 50, 10) == "x" * 9 + "…"
    assert with_first_fitting("m" * 100, "-" * 30, "-" * 20, "-" * 5) == "m" * 100 + "-" * 20
    assert with_first_fitting("m" * 119, "--") == "m" * 119
    assert fit_message("{a} and {b}: do it", limit=40, a="x" * 30, b="y" * 15) == "x" * 12 + "… and " + "y" * 15 + ": do it"
    assert fit_message("{a} and {b}: do it", limit=30, a="x" * 20, b="y" * 15) == "x" * 11 + "… and " + "y" * 11 + "…: do it"
    assert fit_message("{a}: do it", limit=30, a="short") == "short: do it"


def test_a_long_module_name_and_a_long_container_name_still_fit(tmp_path: Path) -> None:
    """Seen on real code (mlflow): another module's memo named by its dotted module and a long
    container name made a 146-character message; the names give way, the advice stays."""
    (tmp_path / "app" / "tracking_service_registry_utils").mkdir(parents=True)
    (tmp_path / "app" / "tracking_service_registry_utils" / "__init__.py").write_text(
        "_artifact_repositories_by_tracking_uri_cache = {}\n", encoding="utf-8")
    findings = lint("""
        from app.tracking_service_registry_utils import _artifact_repositories_by_tracking_uri_cache

        def remember(uri, make):
            _artifact_repositories_by_tracking_uri_cache[uri] = make(uri)
        """, tmp_path)
    assert [(f.code, f.line) for f in findings] == [("RPT101", 5)]
    assert findings[0].message == ("app.tracking_service_registry_utils's dict '_artifact_reposit…' is a "
                                   "per-process memo: make it functools.cache/lru_cache")
    assert len(findings[0].message) == MESSAGE_LIMIT


# ---------------------------------------------------------------- the stories of the example app
@pytest.fixture(scope="module")
def example_findings() -> dict:
    by_code: dict = {}
    for path, found in lint_project(EXAMPLES).items():
        for finding in found:
            by_code.setdefault(finding.code, []).append((path, finding))
    return by_code


def test_rpt301_story_names_the_settings_line_the_prefix_comes_from(example_findings) -> None:
    (path, imported), (_, literal) = sorted(example_findings["RPT301"], key=lambda pf: pf[1].line)
    assert path == "raptor_app/routes/beta_digest.py"
    assert imported.message == "url_prefix starts with '/api': the core loop makes it /api/api/internal/beta-digest"
    assert [(Path(r.path), r.line, r.column, r.message) for r in imported.related] == [
        (EXAMPLES / "raptor_app" / "settings.py", 6, 1, "BETA_DIGEST_PREFIX is defined here: drop its leading '/api'")]
    assert "2026-06-13 beta-digest 404" in imported.note
    assert literal.related == ()  # the fix drops it in place


def test_rpt505_story_points_at_the_loader(example_findings) -> None:
    [(path, finding)] = example_findings["RPT505"]
    assert finding.message == ("app.config['WEBAUTHN_ORIGIN'] can be overwritten by from_pyfile() on line 26: "
                               "re-pin it after")
    assert [(Path(r.path), r.line, r.column) for r in finding.related] == [(EXAMPLES / path, 26, 5)]
    assert "2026-05-20 staging boot failure" in finding.note


def test_rpt501_and_rpt502_stories_point_at_the_head_migration_and_the_runbook(example_findings) -> None:
    [(_, missing_migration)] = example_findings["RPT501"]
    assert missing_migration.message == ("no migration mentions FLAG_BETA_DIGEST or 'beta_digest': add one "
                                         "(down_revision = '3558f1a95eed')")
    assert [(Path(r.path).name, r.line, r.message) for r in missing_migration.related] == [
        ("20260613_3558_feature_flags.py", 1, "the head migration: down_revision = '3558f1a95eed'")]
    assert "PR #3454, PR #3517" in missing_migration.note
    [(_, not_in_runbook)] = example_findings["RPT502"]
    assert not_in_runbook.message == ("docs/ops/runbook.md never mentions FLAG_BETA_DIGEST: add it to the "
                                      "env-bootstrap checklist")
    [related] = not_in_runbook.related
    assert Path(related.path) == EXAMPLES / "docs" / "ops" / "runbook.md"
    assert related.line == not_in_runbook.fix.edits[0].line
    assert related.message == "the checklist: add '- [ ] FLAG_BETA_DIGEST=1 set'"


def test_rpt401_story_keeps_the_incident(example_findings) -> None:
    [(_, finding)] = example_findings["RPT401"]
    assert finding.message == "two-argument MAX(a, b) is SQLite-only: compute max() in Python and bind it"
    assert "PR #3540: POST /screen/1 returned 500" in finding.note
    assert "function max(integer, integer) does not exist" in finding.note


def test_rpt202_story_points_at_the_delete(tmp_path: Path) -> None:
    findings = lint("""
        from flask import current_app

        def pop_nonce(user_id):
            redis = current_app.extensions.get("redis_client")
            if redis is None:
                return None
            value = redis.get(f"nonce:{user_id}")
            redis.delete(f"nonce:{user_id}")
            return value
        """, tmp_path)
    [finding] = [f for f in findings if f.code == "RPT202"]
    assert finding.message == 'get then delete of f"nonce:{user_id}" (line 9) is not atomic: use getdel(key)'
    assert [(r.line, r.column, r.message) for r in finding.related] == [(9, 5, "the delete of the same key")]
    assert Path(finding.related[0].path).is_absolute()
