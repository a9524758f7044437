"""Rule declarations are complete, their examples behave, and docs/rules.md is current."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import REPO, lint_rule_example
from raptor_lint.docs import render_markdown
from raptor_lint.registry import all_rules

RULES = list(all_rules().values())


def test_docs_rules_md_is_current() -> None:
    on_disk = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    assert on_disk == render_markdown(), "docs/rules.md is stale: run `make docs`"


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_rule_declaration_is_complete(rule) -> None:
    assert re.fullmatch(r"RPT\d{3}", rule.code)
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rule.name), rule.name
    for text in (rule.summary, rule.runbook, rule.why, rule.bad, rule.good):
        assert text.strip()


def _lint_example(rule, source: str, tmp_path: Path):
    return [f.code for f in lint_rule_example(rule, source, tmp_path)]


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_bad_example_fires(rule, tmp_path: Path) -> None:
    codes = _lint_example(rule, rule.bad, tmp_path)
    assert rule.code in codes, codes


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_good_example_is_silent(rule, tmp_path: Path) -> None:
    codes = _lint_example(rule, rule.good, tmp_path)
    assert rule.code not in codes and "RPT000" not in codes and "E999" not in codes, codes


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_bad_example_passes_its_familys_gates(rule) -> None:
    """A pre-filter may skip only what cannot hold a finding of its family: a new rule whose
    bad example its family's pre-filter rejects would be hidden everywhere (the engine runs
    the family only when the pre-filter passes).  The full path, gates included, is
    test_bad_example_fires."""
    from raptor_lint.registry import checker_classes

    families = [cls for cls in checker_classes() if rule.code in cls.codes()]
    assert families and all(cls().prefilter(rule.bad) for cls in families)


def test_every_pre_filter_names_the_rules_it_may_skip() -> None:
    """A family with a pre-filter lists exactly its rules in ``prefilter_rules``: a rule
    added to the family without thinking about the gate fails here (and, until listed,
    switches the pre-filter off rather than being hidden by it)."""
    from raptor_lint.registry import checker_classes
    from raptor_lint.rules.base import Checker

    for cls in checker_classes():
        if cls.prefilter is not Checker.prefilter:
            assert cls.prefilter_rules == frozenset(cls.codes()), cls.family


def test_a_rule_the_pre_filter_does_not_know_turns_it_off(tmp_path: Path) -> None:
    from raptor_lint.config import Config
    from raptor_lint.engine import Engine
    from raptor_lint.rules.base import Checker
    from raptor_lint.rules.base import Rule as RuleDeclaration

    new_rule = RuleDeclaration(code="RPT109", name="n", summary="s", runbook="r", why="w", bad="b", good="g")

    class Gated(Checker):
        family = "test"
        rules = (new_rule,)
        prefilter_rules = frozenset({"RPT108"})  # written before RPT109 existed

        def prefilter(self, text: str) -> bool:
            return False

        def check(self, ctx):
            return [ctx.finding("RPT109", (1, 1), "seen")]

    engine = Engine(Config(root=tmp_path))
    engine.checkers = [Gated()]
    result = engine.lint_text("x = 1\n", tmp_path / "a.py", "python", "a.py")
    assert [f.code for f in result.findings] == ["RPT109"]
