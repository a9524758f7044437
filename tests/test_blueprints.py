"""Blueprints (RPT301/RPT302): fixes that apply cleanly, config variants, the registry.

The fixture project tests/fixtures/blueprints carries the positive and near-miss
cases as `# expect:` markers (tests/test_fixtures.py); this file checks what the
markers cannot: the Fix edits, messages, configuration and the prefilter.
"""

from __future__ import annotations

import ast
import os
import re
import textwrap
from pathlib import Path

import pytest

from conftest import EXAMPLES, FIXTURES, fixture_config
from raptor_lint.config import Config
from raptor_lint.engine import Engine
from raptor_lint.findings import Edit, Finding
from raptor_lint.project import ProjectIndex
from raptor_lint.rules.blueprints.registry import blueprint_registry
from raptor_lint.rules.blueprints import BlueprintChecker

FIXTURE = FIXTURES / "blueprints"


def split_lines(text: str) -> list[str]:
    return re.split(r"(?<=\r\n)|(?<=\r)(?!\n)|(?<=\n)", text)


def apply_edits(text: str, edits: tuple[Edit, ...] | list[Edit]) -> str:
    """Apply non-overlapping edits (1-based line/column in code points, end exclusive)."""
    lines = split_lines(text)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(line: int, column: int) -> int:
        return starts[line - 1] + column - 1

    spans = sorted(((offset(e.line, e.column), offset(e.end_line, e.end_column), e.content) for e in edits),
                   reverse=True)
    previous_start = len(text) + 1
    for start, end, content in spans:
        assert start <= end <= previous_start, "edits overlap"
        text = text[:start] + content + text[end:]
        previous_start = start
    return text


def untouched_equal(before: str, after: str, edits) -> bool:
    """Every byte outside the edited ranges is unchanged."""
    lines = split_lines(before)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    spans = sorted((starts[e.line - 1] + e.column - 1, starts[e.end_line - 1] + e.end_column - 1, e.content)
                   for e in edits)
    position = 0
    rebuilt = ""
    for start, end, content in spans:
        rebuilt += before[position:start] + content
        position = end
    rebuilt += before[position:]
    return rebuilt == after


def lint_file(root: Path, rel: str, text: str | None = None, **config_changes) -> list[Finding]:
    config = fixture_config(root) if (root / "pyproject.toml").is_file() else Config(root=root)
    if config_changes:
        config = config.replace(**config_changes)
    engine = Engine(config)
    path = root / rel
    cwd = os.getcwd()
    os.chdir(root)
    try:
        if text is None:
            return engine.lint_path(path, "python", rel).findings
        return engine.lint_text(text, path, "python", rel).findings
    finally:
        os.chdir(cwd)


def write_project(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text), encoding="utf-8")


def codes(findings: list[Finding]) -> list[tuple[int, str]]:
    return sorted((f.line, f.code) for f in findings)


# ----------------------------------------------------------------- fixes

FIXTURE_FIXABLE = [
    "hub/routes/literal.py",
    "hub/routes/module_const.py",
    "hub/routes/fstring.py",
    "hub/routes/assigned.py",
    "hub/routes/aliased.py",
    "hub/routes/factory_made.py",
]


@pytest.mark.parametrize("rel", FIXTURE_FIXABLE)
def test_fixture_fixes_apply_parse_and_recheck_clean(rel: str) -> None:
    before = (FIXTURE / rel).read_text(encoding="utf-8")
    findings = [f for f in lint_file(FIXTURE, rel) if f.code == "RPT301"]
    assert findings and all(f.fix is not None and f.fix.edits for f in findings)
    for finding in findings:
        after = apply_edits(before, finding.fix.edits)
        ast.parse(after)
        assert untouched_equal(before, after, finding.fix.edits)
        assert after.count("\n") == before.count("\n")
        rechecked = lint_file(FIXTURE, rel, after)
        assert not [f for f in rechecked if f.code == "RPT301" and f.line == finding.line], rechecked
        assert not [f for f in rechecked if f.code in ("RPT000", "E999")]


def test_fix_for_imported_constant_names_the_definition_and_edits_nothing() -> None:
    for rel, where in [("hub/routes/imported_abs.py", ("hub/settings.py", 4, "INTERNAL")),
                       ("hub/routes/imported_rel.py", ("hub/blueprints/paths.py", 3, "SURVEY_PREFIX"))]:
        [finding] = lint_file(FIXTURE, rel)
        assert finding.fix is None
        # The definition is the finding's related place (SPEC §7), not part of the short message.
        assert [(Path(r.path).relative_to(FIXTURE).as_posix(), r.line, r.message) for r in finding.related] == [
            (where[0], where[1], f"{where[2]} is defined here: drop its leading '/api'")]


def test_literal_message_and_fix_exactly() -> None:
    [finding] = lint_file(FIXTURE, "hub/routes/literal.py")
    assert (finding.line, finding.column) == (5, 64)
    assert finding.message == "url_prefix starts with '/api': the core loop makes it /api/api/internal/waf-events"
    assert finding.fix.edits == (Edit(5, 65, 5, 69, ""),)
    after = apply_edits((FIXTURE / "hub/routes/literal.py").read_text(), finding.fix.edits)
    assert 'url_prefix="/internal/waf-events")' in after


FIX_CASES = {
    "literal": ('bp = Blueprint("a", __name__, url_prefix="/api/internal/foo")\n',
                'bp = Blueprint("a", __name__, url_prefix="/internal/foo")\n'),
    "exactly-api": ("bp = Blueprint('a', __name__, url_prefix='/api')\n",
                    "bp = Blueprint('a', __name__, url_prefix='')\n"),
    "raw-triple": ('bp = Blueprint("a", __name__, url_prefix=r"""/api/x""")\n',
                   'bp = Blueprint("a", __name__, url_prefix=r"""/x""")\n'),
    "implicit-concat": ('bp = Blueprint(\n    "a",\n    __name__,\n    url_prefix=("/api"\n                "/internal/foo"),\n)\n',
                        'bp = Blueprint(\n    "a",\n    __name__,\n    url_prefix=(""\n                "/internal/foo"),\n)\n'),
    "unicode-before": ('bp = Blueprint("résumé→", __name__, url_prefix="/api/cv")  # ünïcode\n',
                       'bp = Blueprint("résumé→", __name__, url_prefix="/cv")  # ünïcode\n'),
    "fstring-literal-head": ('NAME = "x"\nbp = Blueprint("a", __name__, url_prefix=f"/api/internal/{NAME}")\n',
                             'NAME = "x"\nbp = Blueprint("a", __name__, url_prefix=f"/internal/{NAME}")\n'),
    "fstring-field-only": ('API = "/api"\nbp = Blueprint("a", __name__, url_prefix=f"{API}/internal")\n',
                           'API = "/api"\nbp = Blueprint("a", __name__, url_prefix="/internal")\n'),
    "fstring-field-keeps-f": ('API = "/api"\nN = "n"\nbp = Blueprint("a", __name__, url_prefix=F"{ API }/x/{N}")\n',
                              'API = "/api"\nN = "n"\nbp = Blueprint("a", __name__, url_prefix=F"/x/{N}")\n'),
    "concat-name-head": ('API = "/api"\nbp = Blueprint("a", __name__, url_prefix=API + "/internal")\n',
                         'API = "/api"\nbp = Blueprint("a", __name__, url_prefix="/internal")\n'),
    "name-exactly-api": ('API = "/api"\nbp = Blueprint("a", __name__, url_prefix=API)\n',
                         'API = "/api"\nbp = Blueprint("a", __name__, url_prefix="")\n'),
    "module-constant": ('PREFIX = "/api/internal/x"\n\nbp = Blueprint("a", __name__, url_prefix=PREFIX)\n',
                        'PREFIX = "/internal/x"\n\nbp = Blueprint("a", __name__, url_prefix=PREFIX)\n'),
    "constant-of-constant": ('API = "/api"\nPREFIX = f"{API}/internal"\nbp = Blueprint("a", __name__, url_prefix=PREFIX)\n',
                             'API = "/api"\nPREFIX = "/internal"\nbp = Blueprint("a", __name__, url_prefix=PREFIX)\n'),
    "attribute-assignment": ('bp = Blueprint("a", __name__)\nbp.url_prefix = "/api/late"\n',
                             'bp = Blueprint("a", __name__)\nbp.url_prefix = "/late"\n'),
    "function-local": ('def make():\n    prefix = "/api/dyn"\n    return Blueprint("a", __name__, url_prefix=prefix)\n',
                       'def make():\n    prefix = "/dyn"\n    return Blueprint("a", __name__, url_prefix=prefix)\n'),
}


@pytest.mark.parametrize("case", sorted(FIX_CASES))
def test_fix_variants(case: str, tmp_path: Path) -> None:
    source, expected = FIX_CASES[case]
    source = "from flask import Blueprint\n" + source
    expected = "from flask import Blueprint\n" + expected
    write_project(tmp_path, {"app/__init__.py": "", "app/views.py": source})
    findings = [f for f in lint_file(tmp_path, "app/views.py") if f.code == "RPT301"]
    assert len(findings) == 1, findings
    fix = findings[0].fix
    assert fix is not None
    after = apply_edits(source, fix.edits)
    assert after == expected
    assert untouched_equal(source, after, fix.edits)
    ast.parse(after)
    assert not [f for f in lint_file(tmp_path, "app/views.py", after) if f.code.startswith(("RPT3", "RPT0", "E9"))]


def test_fix_on_crlf_file(tmp_path: Path) -> None:
    source = 'from flask import Blueprint\r\n\r\nbp = Blueprint("a", __name__, url_prefix="/api/x")\r\n'
    (tmp_path / "views.py").write_bytes(source.encode())
    [finding] = lint_file(tmp_path, "views.py")
    after = apply_edits(source, finding.fix.edits)
    assert after == source.replace('"/api/x"', '"/x"')


@pytest.mark.parametrize("value", [
    'f"{SUFFIX}/api"',          # head unknown
    '"/api" + suffix()',        # "/api" + unknown could be "/apiary"
    'f"/api{suffix()}"',
    '"/API/x"',
    '"api/x"',
    'None',
    '""',
])
def test_unestablished_or_different_prefixes_are_silent(value: str, tmp_path: Path) -> None:
    write_project(tmp_path, {"views.py": f"""
        from flask import Blueprint
        from somewhere import SUFFIX, suffix

        bp = Blueprint("a", __name__, url_prefix={value})
    """})
    assert lint_file(tmp_path, "views.py") == []


# ---------------------------------------------------------------- config

def test_api_prefix_config(tmp_path: Path) -> None:
    write_project(tmp_path, {"views.py": """
        from flask import Blueprint

        old = Blueprint("old", __name__, url_prefix="/api/old")
        new = Blueprint("new", __name__, url_prefix="/v2/new")


        @old.get("/v2/x")
        def x():
            return ""
    """})
    assert codes(lint_file(tmp_path, "views.py")) == [(4, "RPT301")]
    findings = lint_file(tmp_path, "views.py", api_prefix="/v2")
    assert codes(findings) == [(5, "RPT301"), (8, "RPT302")]
    fixed = apply_edits((tmp_path / "views.py").read_text(), findings[0].fix.edits)
    assert 'url_prefix="/new")' in fixed
    assert findings[0].message == "url_prefix starts with '/v2': the core loop makes it /v2/v2/new"


REGISTRATION = {
    "app/__init__.py": """
        from flask import Flask

        from app.views import bp

        _blueprints = [bp]


        def create_app():
            app = Flask(__name__)
            for blueprint in _blueprints:
                app.register_blueprint(blueprint)
            return app
    """,
    "app/views.py": """
        from flask import Blueprint

        bp = Blueprint("views", __name__, url_prefix="/api/views")


        @bp.get("/api/x")
        def x():
            return ""
    """,
}


def test_core_blueprints_config_decides_which_loop_is_core(tmp_path: Path) -> None:
    write_project(tmp_path, REGISTRATION)
    # `_blueprints` is not the configured core list and its loop adds no prefix:
    # registered outside the core loop, so both rules stay silent.
    assert lint_file(tmp_path, "app/views.py") == []
    assert codes(lint_file(tmp_path, "app/views.py", core_blueprints=("_blueprints",))) == [
        (4, "RPT301"), (7, "RPT302")]


def test_any_loop_that_re_adds_the_prefix_counts_as_core(tmp_path: Path) -> None:
    files = dict(REGISTRATION)
    files["app/__init__.py"] = files["app/__init__.py"].replace(
        "app.register_blueprint(blueprint)",
        'app.register_blueprint(blueprint, url_prefix=f"/api{blueprint.url_prefix}")')
    write_project(tmp_path, files)
    assert codes(lint_file(tmp_path, "app/views.py")) == [(4, "RPT301"), (7, "RPT302")]


def test_core_wins_over_a_second_direct_registration(tmp_path: Path) -> None:
    files = dict(REGISTRATION)
    files["app/__init__.py"] = files["app/__init__.py"].replace("_blueprints", "_core_blueprints").replace(
        "    return app", "    app.register_blueprint(bp, name='views_again')\n            return app")
    write_project(tmp_path, files)
    assert codes(lint_file(tmp_path, "app/views.py")) == [(4, "RPT301"), (7, "RPT302")]


def test_nested_registration_on_a_blueprint_is_not_outside_the_loop(tmp_path: Path) -> None:
    write_project(tmp_path, {
        "app/__init__.py": """
            from flask import Blueprint, Flask

            from app.views import bp

            parent_bp = Blueprint("parent", __name__, url_prefix="/parent")
            parent_bp.register_blueprint(bp)
            _core_blueprints = [parent_bp]
        """,
        "app/views.py": 'from flask import Blueprint\n\nbp = Blueprint("v", __name__, url_prefix="/api/v")\n',
    })
    assert codes(lint_file(tmp_path, "app/views.py")) == [(3, "RPT301")]


def test_registry_of_the_fixture_project() -> None:
    registry = ProjectIndex(fixture_config(FIXTURE)).get(blueprint_registry)
    hub = FIXTURE.resolve() / "hub"
    assert registry.status((hub / "routes/literal.py", "waf_bp")) == "core"
    assert registry.status((hub / "routes/assigned.py", "reports_bp")) == "core"
    assert registry.status((hub / "routes/imported_rel.py", "survey_bp")) == "core"
    assert registry.status((hub / "admin.py", "admin_bp")) == "outside"
    assert registry.status((hub / "admin.py", "legacy_bp")) == "outside"
    assert registry.status((hub / "admin.py", "metrics_bp")) == "outside"
    assert registry.status((hub / "routes/near_misses.py", "env_bp")) == "unknown"
    assert registry.status(None) == "unknown"
    assert [(p.name, line) for p, line in registry.core_lists] == [("__init__.py", 19), ("__init__.py", 31)]


# ------------------------------------------------------------- prefilter

def _python_files() -> list[Path]:
    return [p for root in (FIXTURES, EXAMPLES) for p in root.rglob("*.py")]


def test_prefilter_is_safe_on_fixtures_and_examples() -> None:
    checker = BlueprintChecker()
    for path in _python_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        if checker.prefilter(text):
            continue
        root = next(p for p in path.parents if (p / "pyproject.toml").is_file())
        config = Config(root=root, select=("RPT3",))
        result = Engine(config, use_prefilter=False).lint_text(text, path, "python", str(path))
        assert not [f for f in result.findings if f.code.startswith("RPT3")], path


def test_prefilter_passes_files_whose_value_is_imported() -> None:
    checker = BlueprintChecker()
    assert checker.prefilter("from x import P\nbp.url_prefix = P\n")
    assert checker.prefilter("from .views import bp\n\n@bp.get(RULE)\ndef f(): ...\n")
    assert checker.prefilter("bp.add_url_rule(RULE, view_func=f)\n")
    assert not checker.prefilter("import os\nvalue = cache.get('/api/x')\n")


def test_prefilter_decorator_forms() -> None:
    checker = BlueprintChecker()
    assert checker.prefilter("from .views import bp\n\n    @ bp . post ('/x')\ndef f(): ...\n")
    assert checker.prefilter("from .views import bp\r@bp.delete(RULE)\rdef f(): ...\r")
    assert not checker.prefilter("x = a @ b.get(1)\n")
    assert not checker.prefilter("def f():\n    return {'@': cache.get(1)}\n")


def test_linting_the_example_app_never_wakes_astroid() -> None:
    # The core loop's f"/api{bp.url_prefix}" and every prefix in the demo resolve
    # cheaply; astroid (~1 s to start) is only for names the cheap resolver cannot settle.
    from raptor_lint.discovery import iter_files

    engine = Engine(fixture_config(EXAMPLES))
    cwd = os.getcwd()
    os.chdir(EXAMPLES)
    try:
        findings = [f for path, kind in iter_files([Path(".")], engine.config)
                    for f in engine.lint_path(path, kind).findings]
    finally:
        os.chdir(cwd)
    assert [f.code for f in findings].count("RPT301") == 2
    assert engine.project.modules._astroid_inferences == 0


def test_a_local_blueprint_is_not_the_module_level_one_of_the_same_name(tmp_path: Path) -> None:
    write_project(tmp_path, {
        "app/__init__.py": """
            from flask import Flask

            from app.views import bp


            def create_app():
                app = Flask(__name__)
                app.register_blueprint(bp)
                return app
        """,
        "app/views.py": """
            from flask import Blueprint

            bp = Blueprint("views", __name__, url_prefix="/api/views")


            def make():
                bp = Blueprint("dyn", __name__, url_prefix="/dyn")

                @bp.get("/api/x")
                def x():
                    return ""

                return bp
        """,
    })
    # The module-level bp is registered outside the core loop (silent); the local
    # one is unknown to the index, so its /api route rule is reported.
    assert codes(lint_file(tmp_path, "app/views.py")) == [(10, "RPT302")]
