"""Issue 17 (SPEC §7, output a person reads): ``--format full``, colour, and the story of a
finding (note, related places) in SARIF."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import run_cli
from raptor_lint.config import Config
from raptor_lint.engine import FileResult
from raptor_lint.findings import Edit, Finding, Fix, Related
from raptor_lint.formats import RenderOptions, full, sarif
from raptor_lint.rules.base import Rule
from raptor_lint.runner import RunResult

RULE = Rule(
    code="RPT301",
    name="blueprint-prefix-under-api",
    summary="Blueprint url_prefix starts with the API prefix.",
    runbook="Blueprint authoring convention",
    why="The core loop mounts every blueprint under `/api` again. Every request to it is a 404, e.g. the "
        "survey outage. A third sentence that does not fit in the why line because the line would be far "
        "too long for a reader in a terminal, who wants the short story first and the long one only when "
        "asking for it, so it is left to `raptor-lint rule`.\n\nA second paragraph.",
    bad='Blueprint("x", __name__, url_prefix="/api/x")',
    good='Blueprint("x", __name__, url_prefix="/x")',
    fixable=True,
)
SOURCE = '''from flask import Blueprint

from settings import PREFIX

bp = Blueprint("x", __name__, url_prefix="/api/x")


def index():
    return "ok"
'''


@pytest.fixture
def fake_rules(monkeypatch):
    import raptor_lint.registry as registry

    monkeypatch.setattr(registry, "all_rules", lambda: {"RPT301": RULE})
    monkeypatch.setattr(registry, "family_of", lambda code: "blueprints")


@pytest.fixture
def blueprint(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app").mkdir()
    path = tmp_path / "app" / "bp.py"
    path.write_text(SOURCE)
    (tmp_path / "settings.py").write_text('PREFIX = "/api"\n')
    return path


def _result(path: Path, *findings: Finding) -> RunResult:
    result = RunResult()
    result.files.append(FileResult(path, "app/bp.py", "python", list(findings)))
    return result


def _prefix_finding(tmp_path: Path) -> Finding:
    return Finding(
        "app/bp.py", 5, 42, "RPT301", "url_prefix '/api/x' doubles the /api mount: use '/x'",
        end_line=5, end_column=50,
        fix=Fix("drop the leading /api", (Edit(5, 43, 5, 47, ""),)),
        note="The core loop registers it at /api/api/x: every request 404s.",
        related=(Related(str(tmp_path / "settings.py"), 1, 10, "the API prefix is set here"),),
    )


def test_full_shows_source_caret_story_fix_and_where_the_docs_are(fake_rules, blueprint: Path) -> None:
    finding = _prefix_finding(blueprint.parent.parent)
    out = full.render(_result(blueprint, finding), Config(root=Path(".")))
    assert out == (
        "app/bp.py:5:42: RPT301 [*] url_prefix '/api/x' doubles the /api mount: use '/x'\n"
        "  |\n"
        "3 | from settings import PREFIX\n"
        "4 |\n"
        '5 | bp = Blueprint("x", __name__, url_prefix="/api/x")\n'
        "  |                                          ^^^^^^^^ RPT301\n"
        "  |\n"
        "  = note: The core loop registers it at /api/api/x: every request 404s.\n"
        "  = related: settings.py:1:10: the API prefix is set here\n"
        "  = why: The core loop mounts every blueprint under `/api` again. Every request to it is a 404, e.g. the\n"
        "      survey outage.\n"
        "  = fix (safe, --fix): drop the leading /api\n"
        "  = docs: raptor-lint rule RPT301\n"
        "\n"
        "Found 1 finding in 1 file checked (1 fixable with --fix).\n"
    )


def test_full_places_the_caret_by_display_width_and_escapes_the_source(
        fake_rules, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "app").mkdir()
    path = tmp_path / "app" / "bp.py"
    path.write_text('\tx = "日本\x1b[2J"; bp.url_prefix = "/api"\n')
    finding = Finding("app/bp.py", 1, 32, "RPT301", "m", end_line=1, end_column=38)
    out = full.render(_result(path, finding), Config(root=Path(".")), RenderOptions(quiet=True))
    assert out.splitlines()[2:4] == [
        '1 |     x = "日本\\x1b[2J"; bp.url_prefix = "/api"',
        # tab: 4 cells, each CJK character 2, the escape \x1b 4
        "  | " + " " * 39 + "^^^^^^ RPT301",
    ]


def test_full_without_the_file_shows_the_finding_and_its_story(fake_rules, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    finding = Finding("app/bp.py", 5, 42, "RPT301", "m")
    out = full.render(_result(tmp_path / "gone.py", finding), Config(root=Path(".")), RenderOptions(quiet=True))
    assert out.splitlines()[:2] == ["app/bp.py:5:42: RPT301 m", " = why: The core loop mounts every blueprint "
                                    "under `/api` again. Every request to it is a 404, e.g. the"]


def test_colour_on_request_only(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n")
    (tmp_path / "app.py").write_text("_store = {}\n\n\ndef remember(key):\n    _store[key] = 1\n")
    plain = run_cli("check", "--no-cache", "--format", "full", ".", cwd=tmp_path)
    assert b"\x1b[" not in plain.stdout  # a pipe is not a terminal
    env = {"FORCE_COLOR": "1"}
    forced = _run_with_env(tmp_path, env, "check", "--no-cache", ".")
    assert forced.stdout.startswith(b"\x1b[1mapp.py\x1b[0m\x1b[36m:\x1b[0m5\x1b[36m:\x1b[0m5\x1b[36m:\x1b[0m "
                                    b"\x1b[1;31mRPT101\x1b[0m ")
    assert b"\x1b[" not in _run_with_env(tmp_path, env, "check", "--no-cache", "--no-color", ".").stdout
    assert b"\x1b[" not in _run_with_env(tmp_path, {**env, "NO_COLOR": "1"}, "check", "--no-cache", ".").stdout
    assert b"\x1b[" not in _run_with_env(tmp_path, env, "check", "--no-cache", "--format", "json", ".").stdout
    report = tmp_path / "report.txt"
    _run_with_env(tmp_path, env, "check", "--no-cache", "-o", str(report), ".")
    assert report.read_bytes().startswith(b"app.py:5:5: RPT101 ")  # a file gets no colour


def _run_with_env(cwd: Path, env: dict[str, str], *args: str):
    import subprocess

    from conftest import BIN

    clean = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE")}
    return subprocess.run([str(BIN / "raptor-lint"), *args], cwd=cwd, capture_output=True,
                          env={**clean, **env}, timeout=300)


def test_sarif_carries_the_note_and_the_related_places(fake_rules, blueprint: Path) -> None:
    finding = _prefix_finding(blueprint.parent.parent)
    [result] = json.loads(sarif.render(_result(blueprint, finding), Config(root=Path("."))))["runs"][0]["results"]
    assert result["message"] == {
        "text": "url_prefix '/api/x' doubles the /api mount: use '/x'",
        "markdown": "url_prefix '/api/x' doubles the /api mount: use '/x'\n\n"
                    "The core loop registers it at /api/api/x: every request 404s.",
    }
    assert result["relatedLocations"] == [{
        "id": 1,
        "physicalLocation": {
            "artifactLocation": {"uri": "settings.py", "uriBaseId": "%SRCROOT%"},
            "region": {"startLine": 1, "startColumn": 10, "endLine": 1, "endColumn": 10},
        },
        "message": {"text": "the API prefix is set here"},
    }]


def test_sarif_links_a_rule_only_to_docs_the_team_hosts(fake_rules, blueprint: Path, monkeypatch) -> None:
    """A pip install has no page of its own: no helpUri pointing at a repository's main
    branch; the help text is in the report, and RAPTOR_LINT_DOCS_URL names a hosted copy."""
    monkeypatch.delenv("RAPTOR_LINT_DOCS_URL", raising=False)
    [rule] = json.loads(sarif.render(_result(blueprint), Config(root=Path("."))))["runs"][0]["tool"]["driver"]["rules"]
    assert "helpUri" not in rule and rule["help"]["markdown"].startswith("## RPT301 ")
    monkeypatch.setenv("RAPTOR_LINT_DOCS_URL", "https://docs.example/raptor/rules.html")
    [rule] = json.loads(sarif.render(_result(blueprint), Config(root=Path("."))))["runs"][0]["tool"]["driver"]["rules"]
    assert rule["helpUri"] == "https://docs.example/raptor/rules.html#rpt301"


def test_a_terminal_gets_colour_unless_told_otherwise(tmp_path: Path) -> None:
    """stdout is a real pseudo-terminal here: colour by default, none with NO_COLOR, --no-color
    or TERM=dumb."""
    import pty
    import subprocess

    from conftest import BIN

    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n")
    (tmp_path / "app.py").write_text("_store = {}\n\n\ndef remember(key):\n    _store[key] = 1\n")

    def on_a_terminal(*args: str, **env: str) -> bytes:
        controller, terminal = pty.openpty()
        base = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR", "CLICOLOR_FORCE")}
        try:
            proc = subprocess.run([str(BIN / "raptor-lint"), "check", "--no-cache", *args, "."], cwd=tmp_path,
                                  stdout=terminal, stderr=subprocess.PIPE,
                                  env={**base, "TERM": "xterm", **env}, timeout=300)
            assert proc.returncode == 1, proc.stderr
            os.close(terminal)
            terminal = -1
            chunks = []
            while True:
                try:
                    chunk = os.read(controller, 65536)
                except OSError:  # EIO: the terminal's other end is closed and drained
                    break
                if not chunk:
                    break
                chunks.append(chunk)
            return b"".join(chunks)
        finally:
            os.close(controller)
            if terminal != -1:
                os.close(terminal)

    assert b"\x1b[1;31mRPT101\x1b[0m" in on_a_terminal()
    assert b"\x1b[" not in on_a_terminal(NO_COLOR="1")
    assert b"\x1b[" not in on_a_terminal("--no-color")
    assert b"\x1b[" not in on_a_terminal(TERM="dumb")


def test_show_fixes_adds_the_change_to_this_file_under_the_fix(fake_rules, blueprint: Path) -> None:
    finding = _prefix_finding(blueprint.parent.parent)
    out = full.render(_result(blueprint, finding), Config(root=Path(".")), RenderOptions(show_fixes=True))
    assert out.splitlines()[11:15] == [
        "  = fix (safe, --fix): drop the leading /api",
        '      -bp = Blueprint("x", __name__, url_prefix="/api/x")',
        '      +bp = Blueprint("x", __name__, url_prefix="/x")',
        "  = docs: raptor-lint rule RPT301",
    ]


def test_an_unsafe_fix_names_its_tier_and_what_applies_it(fake_rules, blueprint: Path) -> None:
    from raptor_lint.formats import text

    finding = Finding("app/bp.py", 5, 42, "RPT301", "m", fix=Fix("rewrite it", (Edit(5, 43, 5, 47, ""),), "unsafe"))
    options = RenderOptions(quiet=True, show_fixes=True)
    assert "  = fix (unsafe, --fix --unsafe-fixes): rewrite it" in full.render(
        _result(blueprint, finding), Config(root=Path(".")), options).splitlines()
    assert text.render(_result(blueprint, finding), Config(root=Path(".")), options) == (
        "app/bp.py:5:42: RPT301 m\n    fix (unsafe, --fix --unsafe-fixes): rewrite it\n")
    result = _result(blueprint, finding)
    result.unsafe_fixes = True  # --unsafe-fixes: plain --fix applies it
    assert text.render(result, Config(root=Path(".")), options).splitlines()[1] == "    fix (unsafe, --fix): rewrite it"
