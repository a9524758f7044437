"""RPT601/RPT602 details the fixture projects do not spell out: every silent and
non-silent redirection form, positions inside YAML scalars, noqa per file type."""

from __future__ import annotations

from pathlib import Path

import pytest

from raptor_lint.config import Config
from raptor_lint.engine import Engine
from raptor_lint.fixes import apply_fixes
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
        "heroku config:get A --app x\n"
        "heroku --version\n"
        "sudo heroku config:set C=3\n"
        "command heroku config:set D=4 --app x\n"
        "/usr/local/bin/heroku config:set E=5\n"
    )
    assert _lint(script, "s.sh", "shell") == [(5, 6, "RPT601"), (6, 9, "RPT601"), (7, 1, "RPT601")]


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


def _fixed(text: str, name: str, kind: str) -> str:
    findings = ENGINE.lint_text(text, Path(name), kind, name).findings
    return apply_fixes(text, [f.fix for f in findings if f.fix is not None])[0]


@pytest.mark.parametrize("prefix", [
    "sudo ", "sudo -E ", "sudo -u deploy ", "sudo -Eu deploy ", "sudo --user=deploy -H ", "sudo -- ",
    "env VAR=1 ", "env -i PATH=/usr/bin ", "env -u HEROKU_DEBUG ", "/usr/bin/env ", "command ",
    "command -p ", "exec ", "exec -a heroku-cli ", "time ", "time -p ", "nice ", "nice -n 5 ", "nice -10 ",
    "nohup ", "npx ", "npx --yes ", "npx -p heroku ", "VAR=x ", "A=1 B=2 sudo -E env C=3 time ",
    "if ", "! ", "/usr/local/bin/",
])
def test_the_command_behind_a_wrapper_is_checked_and_fixed(prefix: str) -> None:
    """Reported at the `heroku` word; the fix appends the redirect to the whole command."""
    line = f"{prefix}heroku config:set SECRET_KEY=abc --app x"
    column = len(prefix) + 1
    if prefix == "/usr/local/bin/":
        column = 1
    assert _lint(line + "\n", "s.sh", "shell") == [(1, column, "RPT601")]
    assert _fixed(line + "\n", "s.sh", "shell") == line + " >/dev/null 2>&1\n"
    assert _lint(line + " >/dev/null 2>&1\n", "s.sh", "shell") == []


@pytest.mark.parametrize("line", [
    "command -v heroku config:set X=1",  # only looks the command up
    "sudo -l heroku config:set X=1",  # lists what may run
    "env -S 'heroku config:set X=1'",  # a string the linter does not split
    "npx -c 'heroku config:set X=1'",
    "sudo heroku config:get X",
    "echo sudo heroku config:set X=1",
    "time npx heroku@8 config:unset X",
])
def test_wrappers_that_run_no_config_set(line: str) -> None:
    assert _lint(line + "\n", "s.sh", "shell") == []


def test_config_add_is_the_alias_of_config_set() -> None:
    script = (
        "heroku config:add A=1 --app x\n"
        "npx heroku@8.1.0 config:add B=2 --app x\n"
        "heroku config:add C=3 --app x >/dev/null 2>&1\n"
        "heroku config:add D=4 --app x  # noqa: RPT601\n"
    )
    findings = ENGINE.lint_text(script, Path("s.sh"), "shell", "s.sh").findings
    assert [(f.line, f.column) for f in findings] == [(1, 1), (2, 5)]
    assert findings[0].message.startswith("heroku config:add ")


def test_substitutions_are_commands_reported_at_the_heroku_word() -> None:
    script = (
        'KEY=$(heroku config:set A=1 --app x)\n'
        'echo "now: $(date) $(sudo -E heroku config:set B=2)"\n'
        'old=`heroku config:add C=3`\n'
        'nested=$(echo "$(heroku config:set D=4 --app x)")\n'
        'many=$(heroku config:set \\\n'
        '  E=5 --app x; echo done)\n'
    )
    assert _lint(script, "s.sh", "shell") == [
        (1, 7, "RPT601"), (2, 30, "RPT601"), (3, 6, "RPT601"), (4, 18, "RPT601"), (5, 8, "RPT601"),
    ]
    # The redirect goes inside the substitution, before its closing `)` or backtick.
    assert _fixed(script, "s.sh", "shell") == (
        'KEY=$(heroku config:set A=1 --app x >/dev/null 2>&1)\n'
        'echo "now: $(date) $(sudo -E heroku config:set B=2 >/dev/null 2>&1)"\n'
        'old=`heroku config:add C=3 >/dev/null 2>&1`\n'
        'nested=$(echo "$(heroku config:set D=4 --app x >/dev/null 2>&1)")\n'
        'many=$(heroku config:set \\\n'
        '  E=5 --app x >/dev/null 2>&1; echo done)\n'
    )
    assert _lint(_fixed(script, "s.sh", "shell"), "s.sh", "shell") == []


def test_substitution_streams_follow_the_shell() -> None:
    """The substitution's stdout is captured (not silent); its stderr is the shell's under the
    enclosing groups' redirections, not the command's own (they come after the expansion)."""
    assert _lint("x=$(heroku config:set A=1 2>/dev/null)\n", "s.sh", "shell") == [(1, 5, "RPT601")]
    assert _lint("x=$(heroku config:set A=1 >/dev/null) 2>/dev/null\n", "s.sh", "shell") == [(1, 5, "RPT601")]
    assert _lint("{ x=$(heroku config:set A=1 >/dev/null); } 2>/dev/null\n", "s.sh", "shell") == []
    assert _lint("exec 2>/dev/null\nx=$(heroku config:set A=1 >/dev/null)\n", "s.sh", "shell") == []
    # An `exec` inside a substitution redirects only that subshell.
    assert _lint("x=$(exec >/dev/null 2>&1; true)\nheroku config:set A=1\n", "s.sh", "shell") == [(2, 1, "RPT601")]
    (finding,) = ENGINE.lint_text("x=$(heroku config:set A=1)\n", Path("s.sh"), "shell", "s.sh").findings
    assert "captured output and stderr" in finding.message and len(finding.message) <= 120


@pytest.mark.parametrize("text", [
    "echo '$(heroku config:set A=1)'\n",  # single quotes: literal
    'echo "\\$(heroku config:set A=1)"\n',  # escaped
    "echo $((1 + 2))\n",  # arithmetic
    "# x=$(heroku config:set A=1)\n",  # a comment
    "cat <<EOF\nheroku config:set A=1\nEOF\n",  # here-document text
])
def test_text_that_only_looks_like_a_substitution(text: str) -> None:
    assert _lint(text, "s.sh", "shell") == []


def test_no_fix_when_the_substitution_text_is_not_what_runs() -> None:
    """An unclosed `$(`, or backticks whose escapes the shell resolves first: reported, not fixed."""
    for script in ("x=$(heroku config:set A=1\n", "x=`heroku config:set A=\\$B`\n"):
        (finding,) = ENGINE.lint_text(script, Path("s.sh"), "shell", "s.sh").findings
        assert (finding.line, finding.column, finding.fix) == (1, 4 if "`" in script else 5, None)


def test_markdown_inline_code_with_wrappers_and_substitutions_is_prose() -> None:
    doc = (
        "Run `sudo -E heroku config:set A=1` or `X=$(heroku config:add B=2)` by hand.\n"
        "\n"
        "```console\n"
        "$ sudo -E heroku config:add C=3 --app x\n"
        "C: 3\n"
        "```\n"
    )
    assert _lint(doc, "README.md", "markdown") == [(4, 11, "RPT601")]
    fixed_line = _fixed(doc, "README.md", "markdown").splitlines()[3]
    assert fixed_line == "$ sudo -E heroku config:add C=3 --app x >/dev/null 2>&1"


# --------------------------------------------------------------------------- RPT602 fix
@pytest.mark.parametrize("procfile, fixed", [
    ("web: gunicorn 'raptor_app:create_app()' --workers 3\n",
     "web: gunicorn --preload 'raptor_app:create_app()' --workers 3\n"),
    ("release: flask db upgrade\r\nweb: gunicorn app:app -w 2  # keep 2 workers\r\nworker: rq worker\r\n",
     "release: flask db upgrade\r\nweb: gunicorn --preload app:app -w 2  # keep 2 workers\r\nworker: rq worker\r\n"),
    ("web: python -m gunicorn app:app", "web: python -m gunicorn --preload app:app"),
    ("web: newrelic-admin run-program gunicorn app:app\n",
     "web: newrelic-admin run-program gunicorn --preload app:app\n"),
    ("web: bin/boot && exec gunicorn --bind 0.0.0.0:$PORT app:app\n",
     "web: bin/boot && exec gunicorn --preload --bind 0.0.0.0:$PORT app:app\n"),
    ('web: GUNICORN_CMD_ARGS="--workers 3" gunicorn app:app\n',
     'web: GUNICORN_CMD_ARGS="--workers 3" gunicorn --preload app:app\n'),
])
def test_rpt602_fix_adds_preload_right_after_gunicorn(tmp_path: Path, procfile: str, fixed: str) -> None:
    engine = Engine(Config(root=tmp_path))
    path = tmp_path / "Procfile"
    first = engine.lint_text(procfile, path, "procfile", "Procfile").findings
    assert [f.code for f in first] == ["RPT602"] and first[0].fix is not None
    assert len(first[0].message) <= 120
    result = apply_fixes(procfile, [first[0].fix])[0]
    assert result == fixed
    assert engine.lint_text(result, path, "procfile", "Procfile").findings == []  # applied once


def test_rpt602_no_fix_when_a_config_file_is_passed(tmp_path: Path) -> None:
    """`-c`/`--config`: preload belongs in that file; the finding says so and offers no fix."""
    (tmp_path / "conf.py").write_text("workers = 3\n")
    engine = Engine(Config(root=tmp_path))
    for procfile in ("web: gunicorn -c conf.py app:app\n", "web: gunicorn --config=conf.py app:app\n",
                     "web: gunicorn -cconf.py app:app\n"):
        (finding,) = engine.lint_text(procfile, tmp_path / "Procfile", "procfile", "Procfile").findings
        assert finding.fix is None and "conf.py lacks preload_app = True: set it there" in finding.message
    # The default gunicorn.conf.py is not passed: --preload on the command line works, so fix.
    (tmp_path / "gunicorn.conf.py").write_text("workers = 3\n")
    (finding,) = engine.lint_text("web: gunicorn app:app\n", tmp_path / "Procfile", "procfile", "Procfile").findings
    assert finding.fix is not None and "add --preload" in finding.message


def test_rpt602_says_when_the_config_file_cannot_be_read(tmp_path: Path) -> None:
    """A `-c` file that is a FIFO, a device or missing was said to lack preload_app: it was
    never read (issue 18's bounded reader refuses it), so the finding says that instead."""
    import os

    os.mkfifo(tmp_path / "fifo.py")
    os.symlink("/dev/zero", tmp_path / "zero.py")
    engine = Engine(Config(root=tmp_path))
    messages = [engine.lint_text(f"web: gunicorn -c {name} app:app\n", tmp_path / "Procfile", "procfile",
                                 "Procfile").findings[0].message for name in ("fifo.py", "zero.py", "gone.py")]
    assert messages == [f"gunicorn runs without --preload and {name} cannot be read to check preload_app: "
                        "fix the file" for name in ("fifo.py", "zero.py", "gone.py")]


def test_rpt602_check_fix_end_to_end(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from raptor_lint.cli import main

    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n")
    procfile = tmp_path / "Procfile"
    procfile.write_bytes(b"web: gunicorn 'raptor_app:create_app()' --workers 3\r\nworker: rq worker\r\n")
    runner = CliRunner()
    result = runner.invoke(main, ["check", "--no-cache", "--fix", "--select", "RPT6", str(procfile)])
    assert result.exit_code == 0, result.output
    assert procfile.read_bytes() == (
        b"web: gunicorn --preload 'raptor_app:create_app()' --workers 3\r\nworker: rq worker\r\n")
    again = runner.invoke(main, ["check", "--no-cache", "--diff", "--select", "RPT6", str(procfile)])
    assert again.exit_code == 0 and again.output.strip() == ""


def test_pathological_substitutions_do_not_crash() -> None:
    """Nesting beyond MAX_SUBSTITUTION_DEPTH is not read (real scripts nest two or three)."""
    deep = "x=" + "$(" * 2000 + "heroku config:set A=1" + ")" * 2000 + "\n"
    unbalanced = "heroku config:set " + "'\"$(" * 1000 + "\n"
    shallow = "x=" + "$(echo " * 10 + "$(heroku config:set A=1)" + ")" * 10 + "\n"
    assert _lint(deep, "s.sh", "shell") == []
    assert [code for _, _, code in _lint(unbalanced, "s.sh", "shell")] == ["RPT601"]
    assert _lint(shallow, "s.sh", "shell") == [(1, 75, "RPT601")]
