"""A rule's declared fix tier (``Rule.fix_applicability``, shown by ``raptor-lint rule CODE``,
docs/rules.md and SARIF) is the tier of the fixes it really produces: each rule's bad example
is linted in its example project and every fix it carries must have the declared
applicability; a rule whose bad example carries a fix is declared fixable."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import lint_rule_example
from raptor_lint.docs import fix_line, render_markdown
from raptor_lint.findings import SAFE, UNSAFE
from raptor_lint.registry import all_rules

RULES = list(all_rules().values())


def _fixes_of_bad_example(rule, tmp_path: Path):
    return [f.fix for f in lint_rule_example(rule, rule.bad, tmp_path) if f.code == rule.code and f.fix is not None]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_declared_fix_tier_is_the_tier_of_the_fixes(rule, tmp_path: Path) -> None:
    assert rule.fix_applicability in (SAFE, UNSAFE)
    fixes = _fixes_of_bad_example(rule, tmp_path)
    if fixes:
        assert rule.fixable, f"{rule.code} produces fixes but is not declared fixable"
    tiers = {fix.applicability for fix in fixes}
    assert tiers <= {rule.fix_applicability}, (rule.code, tiers)


def test_rule_docs_show_the_tier() -> None:
    rules = all_rules()
    assert fix_line(rules["RPT502"]) == "Fix available: yes, unsafe (applied by `--fix --unsafe-fixes`; review it)"
    assert fix_line(rules["RPT601"]) == "Fix available: yes, safe (applied by `--fix`)"
    assert fix_line(rules["RPT501"]) == "Fix available: no"
    markdown = render_markdown()
    assert "| [RPT503](#rpt503) | env-var-not-in-manifest | unsafe |" in markdown
    assert "| [RPT601](#rpt601) | heroku-config-set-not-silenced | safe |" in markdown
