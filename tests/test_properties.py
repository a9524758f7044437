"""Property tests over generated and mutated code (hypothesis + hypothesmith).

1. Modules generated from Python's grammar (hypothesmith) never make any rule
   family or ``--fix`` raise an internal error (RPT000).
2. The rules fire rarely on random code, so the same properties also run on the
   realistic Raptor code of every fixture project and the example app, mutated:
   generated statements spliced in, blank and comment lines inserted, CRLF.
3. Metamorphic: inserting blank or comment lines before a statement shifts every
   later finding by exactly that many lines and changes nothing else.
4. ``# noqa: CODE`` added on a finding's line removes exactly that finding.
5. ``--fix`` leaves code that parses, has no RPT000, and is idempotent.

The example count is modest in ``make test`` (profile ``raptor-ci``, well under a
minute on 2 cores); ``make fuzz`` selects the ``raptor-fuzz`` profile with
``RAPTOR_LINT_HYPOTHESIS_PROFILE=raptor-fuzz`` and runs 50 times more (600 generated
modules, 1,800 examples of each other property: about 5 minutes on 2 cores).  Every
family in the registry runs here, so families that land later are covered unchanged.
"""

from __future__ import annotations

import functools
import io
import os
import re
import tokenize
from pathlib import Path

import hypothesmith
import pytest
from hypothesis import HealthCheck, Phase, assume, given, note, settings
from hypothesis import strategies as st

from conftest import EXAMPLES, FIXTURES, fixture_config
from raptor_lint.discovery import PYTHON, file_kind
from raptor_lint.engine import Engine
from raptor_lint.findings import INTERNAL_ERROR
from raptor_lint.source import SourceError, parse_python

settings.register_profile(
    "raptor-ci", max_examples=12, deadline=None, derandomize=True, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
# No target phase in make fuzz: hypothesis would hill-climb hypothesmith's targets
# (module size, bytecode length) from the largest modules of earlier runs (kept in
# .hypothesis/), so examples got slower as a run went on and runs slower than the last:
# 900 spliced examples took 50-67 s in a fresh clone, 450 took 577 s in a checkout that
# had fuzzed before, 1,800 took 29 and 37 minutes (2 cores).  Without it: 1,800 in 137 s.
settings.register_profile(
    "raptor-fuzz", max_examples=600, deadline=None, print_blob=True,
    phases=[phase for phase in Phase if phase is not Phase.target],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
# hypothesmith checks its modules with compile(code, "<string>", ...): CPython's
# SyntaxWarnings about them ("'str' object is not callable") are noise here.
pytestmark = pytest.mark.filterwarnings("ignore::SyntaxWarning:<string>")

PROFILE = settings.get_profile(os.environ.get("RAPTOR_LINT_HYPOTHESIS_PROFILE", "raptor-ci"))
# Realistic sources are cheap to draw: more of them in the same time.
CHEAP = settings(PROFILE, max_examples=PROFILE.max_examples * 3)

PROJECTS = sorted([p for p in FIXTURES.iterdir() if p.is_dir()] + [EXAMPLES])
SOURCES = sorted(
    (project, path) for project in PROJECTS for path in project.rglob("*")
    if path.is_file() and file_kind(path) is not None and ".raptor_lint_cache" not in path.parts
)
PY_SOURCES = [(project, path) for project, path in SOURCES if path.suffix == ".py"]


@functools.lru_cache(maxsize=None)
def engine_for(project: Path) -> Engine:
    return Engine(fixture_config(project))


def lint(project: Path, path: Path, text: str):
    kind = file_kind(path, explicit=True)
    return engine_for(project).lint_text(text, path, kind, path.relative_to(project).as_posix())


def assert_no_internal_error(findings) -> None:
    internal = [f"{f.line}:{f.column} {f.message}" for f in findings if f.code == INTERNAL_ERROR]
    assert not internal, internal


def statement_lines(text: str) -> list[int]:
    """Lines before which a blank or comment line can be inserted without changing the
    code: the first line of a statement, not after a comment (which may be a directive
    for the next line, e.g. a ``-- POSTGRES-ONLY`` sentinel) or a backslash continuation."""
    try:
        tree = parse_python(text, "mutated.py")
    except SourceError:
        return []
    import ast

    lines = split_lines(text)
    starts = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt):
            number = min([node.lineno, *(d.lineno for d in getattr(node, "decorator_list", []))])
            previous = lines[number - 2].strip() if number >= 2 else ""
            if not previous.startswith("#") and not previous.endswith("\\"):
                starts.add(number)
    return sorted(starts)


def split_lines(text: str) -> list[str]:
    """Lines as CPython numbers them (\\r, \\r\\n and \\n end a line; form feeds do not)."""
    return re.split(r"\r\n|\r|\n", text)


def insert_lines(text: str, before: int, new: list[str], eol: str = "\n") -> str:
    lines = split_lines(text)
    return eol.join(lines[:before - 1] + new + lines[before - 1:])


def shifted(findings, at: int, by: int) -> list[tuple]:
    """Findings as comparable tuples, as they must read after inserting ``by`` lines before ``at``."""
    move = lambda n: n + by if n >= at else n  # noqa: E731
    return sorted(
        (move(f.line), f.column, f.code, re.sub(r"\bline (\d+)", lambda m: f"line {move(int(m.group(1)))}", f.message))
        for f in findings
    )


def plain(findings) -> list[tuple]:
    return sorted((f.line, f.column, f.code, f.message) for f in findings)


# --------------------------------------------------------------- strategies

generated_modules = st.one_of(hypothesmith.from_grammar(), hypothesmith.from_node())
line_endings = st.sampled_from(["\n", "\r\n", "\r"])
comment_lines = st.lists(
    st.one_of(st.just(""), st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30)
              .filter(lambda t: "noqa" not in t.lower() and "expect" not in t).map(lambda t: "# " + t)),
    min_size=1, max_size=4,
)


@st.composite
def mutated_source(draw):
    """A realistic fixture file, with generated code and odd layout spliced in."""
    project, path = draw(st.sampled_from(SOURCES))
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py":
        # At most one hypothesmith module per example (it records hypothesis targets,
        # which may be set once per test case); other splices come from the fixtures.
        snippets = [draw(generated_modules)] if draw(st.booleans()) else []
        snippets += draw(st.lists(st.sampled_from([p for _, p in PY_SOURCES]), max_size=1))
        for snippet in snippets:
            snippet = snippet if isinstance(snippet, str) else snippet.read_text(encoding="utf-8")
            lines = split_lines(text)
            starts = [n for n in statement_lines(text) if not lines[n - 1][:1].isspace()]
            if not starts:
                break
            text = insert_lines(text, draw(st.sampled_from(starts)), split_lines(snippet))
    if draw(st.booleans()):
        starts = statement_lines(text) if path.suffix == ".py" else list(range(1, text.count("\n") + 2))
        if starts:
            text = insert_lines(text, draw(st.sampled_from(starts)), draw(comment_lines))
    if draw(st.integers(0, 4)) == 0:
        text = text.replace("\n", draw(st.sampled_from(["\r\n", "\r"])))
    note(f"{path.relative_to(project.parent)}:\n{text}")
    return project, path, text


# ------------------------------------------------------------ 1 and 2: no RPT000

@given(module=generated_modules)
@PROFILE
def test_generated_modules_never_cause_an_internal_error(module: str) -> None:
    from raptor_lint.fixes import fix_text

    project, path = EXAMPLES, EXAMPLES / "raptor_app" / "routes" / "generated.py"
    result = lint(project, path, module)
    assert_no_internal_error(result.findings)
    outcome = fix_text(engine_for(project), module, path, PYTHON, "generated.py")
    assert_no_internal_error(outcome.result.findings)


@given(case=mutated_source())
@CHEAP
def test_mutated_raptor_code_never_causes_an_internal_error(case) -> None:
    project, path, text = case
    assert_no_internal_error(lint(project, path, text).findings)


# ------------------------------------------------------------- 3: metamorphic

@st.composite
def insertion(draw):
    project, path = draw(st.sampled_from(PY_SOURCES))
    eol = draw(line_endings)
    text = path.read_text(encoding="utf-8").replace("\n", eol)
    starts = statement_lines(text)
    assume(starts)
    return project, path, text, eol, draw(st.sampled_from(starts)), draw(comment_lines)


@given(case=insertion())
@CHEAP
def test_inserted_blank_and_comment_lines_shift_findings_and_change_nothing_else(case) -> None:
    project, path, text, eol, before, new = case
    original = lint(project, path, text).findings
    changed = lint(project, path, insert_lines(text, before, new, eol)).findings
    assert plain(changed) == shifted(original, before, len(new))


# --------------------------------------------------------------------- 4: noqa

def _noqa_target(text: str, line: int) -> tuple[int, list[int]] | None:
    """(physical line to put ``# noqa`` on, lines that comment then covers) for a
    finding on ``line``, or None where a comment cannot go (inside a string)."""
    try:
        # tokenize reads lines split at \n only: number CR and CRLF lines as CPython does.
        tokens = list(tokenize.generate_tokens(io.StringIO("\n".join(split_lines(text))).readline))
    except (tokenize.TokenError, SyntaxError):
        return None
    target, covered = line, [line]
    for tok in tokens:
        if tok.type == tokenize.STRING and tok.start[0] < tok.end[0] and tok.start[0] <= line <= tok.end[0]:
            target, covered = tok.end[0], list(range(tok.start[0], tok.end[0] + 1))
            break
    if any(tok.start[0] <= target < tok.end[0] for tok in tokens if tok.type == tokenize.STRING):
        return None  # another string continues past the end of that line
    return target, covered


@st.composite
def finding_to_silence(draw):
    """A finding of a fixture file, laid out differently (comment lines, line endings):
    the unmutated space is only ~150 cases, which ``make fuzz`` would exhaust."""
    project, path = draw(st.sampled_from(PY_SOURCES))
    text = path.read_text(encoding="utf-8")
    if draw(st.booleans()):
        starts = statement_lines(text)
        if starts:
            text = insert_lines(text, draw(st.sampled_from(starts)), draw(comment_lines))
    text = text.replace("\n", draw(line_endings))
    findings = [f for f in lint(project, path, text).findings if f.code.startswith("RPT") and f.code != INTERNAL_ERROR]
    assume(findings)
    return project, path, text, findings, draw(st.sampled_from(findings))


@given(case=finding_to_silence())
@CHEAP
def test_noqa_on_a_findings_line_removes_exactly_that_finding(case) -> None:
    project, path, text, before, finding = case
    target = _noqa_target(text, finding.line)
    assume(target is not None)
    line, covered = target
    lines = split_lines(text)
    assume("noqa" not in lines[line - 1] and not lines[line - 1].endswith("\\"))
    lines[line - 1] += f"  # noqa: {finding.code}"
    eol = "\r\n" if "\r\n" in text else "\r" if "\r" in text else "\n"
    after = lint(project, path, eol.join(lines)).findings
    expected = [f for f in before if not (f.code == finding.code and f.line in covered)]
    assert plain(after) == plain(expected)
    assert finding not in after


# ---------------------------------------------------------------------- 5: fix

@functools.lru_cache(maxsize=None)
def fixable_sources() -> list[tuple[Path, Path]]:
    # Fixes of the file itself (RPT502/RPT503 edit the runbook or manifest: tests/test_fix_properties.py).
    return [(project, path) for project, path in SOURCES
            if any(f.fix is not None and not f.fix.edits_other_files
                   for f in lint(project, path, path.read_text(encoding="utf-8")).findings)]


@st.composite
def fixable_case(draw):
    sources = fixable_sources()
    if not sources:
        pytest.skip("no rule with a fix fires in the fixtures yet")
    project, path = draw(st.sampled_from(sources))
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".py" and draw(st.booleans()):
        starts = statement_lines(text)
        if starts:
            text = insert_lines(text, draw(st.sampled_from(starts)), draw(comment_lines))
    text = text.replace("\n", draw(line_endings))
    return project, path, text


@given(case=fixable_case())
@CHEAP
def test_fix_is_idempotent_and_leaves_parseable_code(case) -> None:
    from raptor_lint.fixes import fix_text

    project, path, text = case
    kind = file_kind(path, explicit=True)
    display = path.relative_to(project).as_posix()
    engine = engine_for(project)
    outcome = fix_text(engine, text, path, kind, display, unsafe_fixes=True)  # both tiers
    assert outcome.changed and outcome.applied > 0
    assert_no_internal_error(outcome.result.findings)
    if kind == PYTHON:
        parse_python(outcome.fixed, display)  # raises SourceError if the fix broke the code
    line_breaks = lambda t: set(re.findall(r"\r\n|\r|\n", t))  # noqa: E731
    assert line_breaks(outcome.fixed) == line_breaks(text)  # line endings kept
    again = fix_text(engine, outcome.fixed, path, kind, display)
    assert again.fixed == outcome.fixed and again.applied == 0
