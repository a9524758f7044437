"""RPT601/RPT602 details the fixture projects do not spell out: every silent and
non-silent redirection form, positions inside YAML scalars, noqa per file type."""

from __future__ import annotations

from pathlib import Path

import pytest

from raptor_lint.config import Config
from raptor_lint.engine import Engine
from raptor_lint.shell import Snippet, is_silenced, parse

ENGINE = Engine(Config(root=Path(__file__).resolve().parent))


def _lint(text: str, name: str, kind: str):
    return [(f.line, f.column, f.code) for f in ENGINE.lint_text(text, Path(name), kind, name).findings]


def _commands(text: str):
    snippet = Snippet()
    snippet.add(text, 1, 1)
    return parse(snippet)


@pytest.mark.parametrize("suffix", [
    ">/dev/null 2>&1", "> /dev/null 2>&1", "1>/dev/null 2>&1", "&>/dev/null", "&> /dev/null",
    ">&/dev/null", "&>>/dev/null", ">/dev/null 2>/dev/null", "2>/dev/null >/dev/null",
    ">/dev/null 2>&1 || true", ">/dev/null 2>&1;", ">/dev/null 2>&1 ; echo done",
    ">/dev/null 2>&1 && echo done", ">/dev/null 2>&1 | cat",
])
def test_silent_forms(suffix: str) -> None:
    commands = _commands(f"heroku config:set SECRET_KEY=abc --app x {suffix}")
    assert is_silenced(commands[0])


@pytest.mark.parametrize("suffix", [
    "", "2>&1 >/dev/null", ">/dev/null", "2>/dev/null", ">log.txt 2>&1", "| tee log",
    "2>&1 | grep -v Setting", "|| true", "; true >/dev/null 2>&1", ">/dev/null 2>&1 &&",
    "'>/dev/null 2>&1'", "\\>/dev/null 2>&1",
])
def test_forms_that_still_echo(suffix: str) -> None:
    commands = _commands(f"heroku config:set SECRET_KEY=abc --app x {suffix}")
    if suffix == ">/dev/null 2>&1 &&":
        assert is_silenced(commands[0])  # the `&&` only starts the next command
        return
    assert not is_silenced(commands[0])


def test_groups_and_exec_silence_the_commands_inside() -> None:
    script = (
        "{ heroku config:set A=1; heroku config:set B=2; } >/dev/null 2>&1\n"
        "( heroku config:set C=3 ) 2>/dev/null\n"
        "exec >/dev/null 2>&1\n"
        "heroku config:set D=4\n"
    )
    assert _lint(script, "s.sh", "shell") == [(2, 3, "RPT601")]


def test_words_that_are_not_the_command_position() -> None:
    script = (
        "echo heroku config:set A=1\n"
        "grep 'heroku config:set' README.md\n"
        "x=\"$(heroku config:set B=2)\"\n"  # inside a substitution: not inspected
        "heroku config:get A --app x\n"
        "heroku --version\n"
        "sudo heroku config:set C=3\n"
        "command heroku config:set D=4 --app x\n"
        "/usr/local/bin/heroku config:set E=5\n"
    )
    assert _lint(script, "s.sh", "shell") == [(6, 6, "RPT601"), (7, 9, "RPT601"), (8, 1, "RPT601")]


def test_yaml_positions_in_block_folded_and_quoted_scalars() -> None:
    workflow = (
        "jobs:\n"
        "  a:\n"
        "    steps:\n"
        "      - run: >\n"
        "          heroku config:set A=1\n"
        "          --app x\n"
        "      - run: 'heroku config:set B=2'\n"
        "      - run: \"heroku config:set \\\"C=3\\\"\"\n"
        "    script:\n"
        "      - heroku config:set D=4\n"
        "broken: [\n"
    )
    # Unparsable YAML: no findings rather than a guess.
    assert _lint(workflow, ".github/workflows/ci.yml", "yaml") == []
    workflow = workflow.replace("broken: [\n", "")
    findings = ENGINE.lint_text(workflow, Path("ci.yml"), "yaml", "ci.yml").findings
    assert [(f.line, f.column) for f in findings] == [(5, 11), (7, 15), (8, 14), (10, 9)]
    # The escaped double-quoted scalar cannot be mapped byte for byte: reported, not fixed.
    assert [f.fix is not None for f in findings] == [True, True, False, True]
    assert findings[0].fix.edits[0].line == 6  # folded: the command ends on the next line


def test_markdown_noqa_before_the_fence_covers_the_block_and_only_it() -> None:
    doc = (
        "<!-- noqa: RPT601 -->\n"
        "\n"
        "```sh\n"
        "heroku config:set A=1\n"
        "```\n"
        "\n"
        "```sh\n"
        "heroku config:set B=2\n"
        "```\n"
        "<!-- noqa: RPT602 -->\n"
        "```bash\n"
        "heroku config:set C=3\n"
        "```\n"
    )
    assert _lint(doc, "README.md", "markdown") == [(8, 1, "RPT601"), (12, 1, "RPT601")]


def test_procfile_only_the_web_process_needs_preload(tmp_path: Path) -> None:
    (tmp_path / "gunicorn.conf.py").write_text("import os\npreload_app = os.environ.get('X') == '1'\n")
    procfile = "web: gunicorn app:app\nworker: gunicorn app:worker\n"
    # A preload_app the linter cannot evaluate: not reported (no guessing).
    assert _lint_file(tmp_path, "Procfile", procfile) == []
    (tmp_path / "gunicorn.conf.py").unlink()
    assert _lint_file(tmp_path, "Procfile", procfile) == [(1, 6, "RPT602")]
    assert _lint_file(tmp_path, "Procfile", "web: python -m gunicorn --preload app:app\n") == []
    assert _lint_file(tmp_path, "Procfile", "web: gunicorn -c missing.py app:app\n") == [(1, 6, "RPT602")]


def _lint_file(root: Path, name: str, text: str):
    path = root / name
    path.write_text(text)
    engine = Engine(Config(root=root))
    return [(f.line, f.column, f.code) for f in engine.lint_path(path, "procfile").findings]


def test_findings_span_the_command_and_the_gunicorn_word() -> None:
    """Editors underline something: RPT601 the whole `heroku config:set …` command (where
    the fix appends), RPT602 the `gunicorn` word."""
    script = "set -e\n  heroku config:set SECRET_KEY=\"$KEY\" --app raptor  # rotate\n"
    (finding,) = ENGINE.lint_text(script, Path("rotate.sh"), "shell", "rotate.sh").findings
    assert (finding.line, finding.column, finding.end_line, finding.end_column) == (2, 3, 2, 51)
    assert script.splitlines()[1][finding.column - 1:finding.end_column - 1] == \
        'heroku config:set SECRET_KEY="$KEY" --app raptor'
    procfile = "web: gunicorn 'raptor_app:create_app()' --workers 3\n"
    (finding,) = ENGINE.lint_text(procfile, Path("Procfile"), "procfile", "Procfile").findings
    assert (finding.code, finding.line, finding.column, finding.end_line, finding.end_column) == \
        ("RPT602", 1, 6, 1, 14)
