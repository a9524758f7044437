"""Ops hygiene in non-Python files (RPT601–RPT602) — runbook: "Env-bootstrap checklist",
"Why --preload is on".

Each file kind is read into shell ``Snippet``s (``raptor_lint.shell``) that keep
every character's file position:

* shell scripts: the whole file;
* Makefiles: recipe lines (tab-indented lines after a rule, ``target: ; cmd``),
  without their ``@``/``-``/``+`` prefixes; make's ``$(VAR)`` references are
  opaque words and ``$$`` is the shell's ``$``;
* Markdown: fenced blocks labelled ``sh``, ``bash``, ``shell``, ``zsh``,
  ``console``, ``shell-session``, ``terminal`` — and unlabeled blocks, because
  runbooks paste commands without a label.  When a block has ``$ `` prompts
  only the prompt lines (and their ``\\`` continuations) are commands; the rest
  is output.  Inline code spans and prose are never commands;
* CI YAML: string values (or lists of strings) under ``run``, ``script``,
  ``before_script``, ``after_script``, ``command``, ``commands``, ``install``,
  ``before_install``, ``after_success``, ``after_failure``, ``before_deploy``,
  ``after_deploy``, ``bash``, ``sh``, ``postdeploy``, ``pr-predestroy``, at any
  depth, located with ``yaml.compose`` marks;
* Procfile: the command of each ``name: command`` line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from raptor_lint.discovery import MAKEFILE, MARKDOWN, PROCFILE, SHELL, YAML
from raptor_lint.findings import Edit, Fix
from raptor_lint.rules.base import Checker, Rule, with_story
from raptor_lint.safe_read import read_regular_file
from raptor_lint.shell import (
    CAPTURED, SILENT_TARGETS, Command, Snippet, fenced_blocks, is_exec_redirect_only, is_silenced,
    output_streams, parse, substitution_streams, substitutions,
)
from raptor_lint.source import split_lines
from raptor_lint.strings import shorten

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.context import FileContext
    from raptor_lint.findings import Finding
    from raptor_lint.safe_yaml import YAMLRefused

REDIRECT = ">/dev/null 2>&1"
SHELL_LANGUAGES = frozenset({
    "", "sh", "bash", "shell", "zsh", "console", "shell-session", "shellsession", "terminal",
})
YAML_SHELL_KEYS = frozenset({
    "run", "script", "before_script", "after_script", "command", "commands", "install",
    "before_install", "after_success", "after_failure", "before_deploy", "after_deploy",
    "bash", "sh", "postdeploy", "pr-predestroy",
})
_PROMPT = re.compile(r"^(\s*)\$ ")
# The command ends at its last non-blank character: ``(?:.*[^ \t])?``, not ``.*?`` before
# ``[ \t]*$``, which retries the trailing blanks from every position (20 KB of them: 2 s).
_PROCFILE_LINE = re.compile(r"^(?P<name>[A-Za-z0-9_-]+)[ \t]*:[ \t]*(?P<command>(?:.*[^ \t])?)[ \t]*$")
_MAKE_RULE = re.compile(r"^[^\s:#=][^:#=]*?::?(?!=)")
_MAKE_REFERENCE = re.compile(r"\$\$|\$\([^()]*(?:\([^()]*\)[^()]*)*\)|\$\{[^{}]*\}|\$.")

RULES = (
    Rule(
        code="RPT601",
        name="heroku-config-set-not-silenced",
        summary="`heroku config:set` (or `config:add`) without `>/dev/null 2>&1` (the CLI echoes "
                "secrets), in shell scripts, Makefiles, Markdown code blocks, CI YAML and Procfiles.",
        runbook="Env-bootstrap checklist",
        why=(
            "`heroku config:set VAR=value` prints every variable it set, value included, so a "
            "secret lands in terminal scrollback, screen shares and CI logs "
            "(#feedback_heroku_config_set_echoes_secrets). The runbook's safe pattern appends "
            "`>/dev/null 2>&1`. Silent forms: `>/dev/null 2>&1`, `> /dev/null 2>&1`, "
            "`&>/dev/null`, `>&/dev/null`, optionally followed by `|| true` or `;`; a group's "
            "redirection (`{ …; } >/dev/null 2>&1`) and an earlier `exec >/dev/null 2>&1` count. "
            "Not silent: `2>&1 >/dev/null` (stderr still goes to the terminal), `>/dev/null` "
            "alone, a pipe (`| tee`). `heroku config:add` (the CLI's alias) counts, and so does the "
            "command behind `VAR=x`, `sudo [-E] [-u user]`, `env [-i] VAR=x`, `command`, `exec`, "
            "`time`, `nice`, `nohup` and `npx`, and inside `$(…)` or backticks (its output captured "
            "in a variable is the secret too). `--fix` appends ` >/dev/null 2>&1` to the command "
            "(inside a substitution: before its closing `)` or backtick)."
        ),
        bad=(
            "#!/usr/bin/env bash\n"
            "heroku config:set SECRET_KEY=\"$SECRET_KEY\" --app raxx-api-staging\n"
        ),
        good=(
            "#!/usr/bin/env bash\n"
            "heroku config:set SECRET_KEY=\"$SECRET_KEY\" --app raxx-api-staging >/dev/null 2>&1\n"
        ),
        fixable=True,
        example_path="scripts/provision_staging.sh",
        example_language="sh",
    ),
    Rule(
        code="RPT602",
        name="procfile-gunicorn-without-preload",
        summary="A Procfile `web:` process running gunicorn without `--preload` "
                "(`preload_app = True` in its `-c`/`--config` file counts).",
        runbook="Why --preload is on",
        why=(
            "`--preload` imports the app once in the master before forking: faster dyno wake "
            "and restart, less memory per worker. The runbook is explicit: do not remove "
            "`--preload` to \"fix\" a mutable-state bug — fix the state (RPT101–RPT104). "
            "`preload_app = True` in the gunicorn config file the command passes with "
            "`-c`/`--config` (or in `gunicorn.conf.py` beside the Procfile, which gunicorn "
            "reads by default) and `GUNICORN_CMD_ARGS=\"--preload\"` count. `--fix` inserts "
            "` --preload` right after the `gunicorn` word (before its options and the app), except "
            "when the command passes a `-c` file: preload then belongs in that file."
        ),
        bad="web: gunicorn 'raptor_app:create_app()' --workers 3\n",
        good="web: gunicorn --preload 'raptor_app:create_app()' --workers 3\n",
        fixable=True,
        example_path="Procfile",
        example_language="text",
    ),
)


class OpsHygieneChecker(Checker):
    family = "Ops hygiene (non-Python files)"
    rules = RULES
    file_kinds = frozenset({SHELL, MAKEFILE, MARKDOWN, YAML, PROCFILE})

    prefilter_rules = frozenset({"RPT601", "RPT602"})

    def prefilter(self, text: str) -> bool:
        return "config:set" in text or "config:add" in text or "gunicorn" in text

    def check(self, ctx: "FileContext") -> Iterable["Finding"]:
        lines = split_lines(ctx.text)
        findings: list[Finding] = []
        try:
            snippets = list(_snippets(ctx.kind, ctx.text, lines))
        except _yaml_refused() as exc:  # an alias bomb or a recursive alias: said, as yamllint does
            return [ctx.finding("E902", (exc.line, exc.column),
                                f"YAML not read, its commands are not checked: {exc.problem}")]
        for snippet, fixable, process in snippets:
            commands = parse(snippet)
            findings.extend(_unsilenced_config_set(ctx, snippet, commands, fixable))
            if process == "web":
                findings.extend(_gunicorn_without_preload(ctx, snippet, commands))
        return findings


# --------------------------------------------------------------------------- RPT601
CONFIG_SET = frozenset({"config:set", "config:add"})  # config:add is the CLI's alias


def _unsilenced_config_set(ctx: "FileContext", snippet: Snippet, commands: list[Command],
                           fixable: bool) -> Iterator["Finding"]:
    for where, command, base, can_fix in _commands_that_run(snippet, commands, ("tty", "tty"), fixable):
        argv = command.argv()
        if not argv or not _is_heroku(argv[0].value):
            continue
        subcommand = next((w.value for w in argv[1:] if not w.value.startswith("-")), None)
        if subcommand not in CONFIG_SET or is_silenced(command, base):
            continue
        line, column = where.position(argv[0].start)
        end_line, end_column = where.end_position(command.end)
        fix = None
        if can_fix:  # after the command's last word or redirection: inside a `$( … )`, before the `)`
            fix = Fix(f"append ` {REDIRECT}`",
                      (Edit(end_line, end_column, end_line, end_column, f" {REDIRECT}"),))
        yield with_story(ctx.finding(
            "RPT601", (line, column, end_line, end_column),  # the whole command
            f"heroku {subcommand} echoes the secrets it sets{_leak(*output_streams(command, base))}: "
            f"append `{REDIRECT}`",
            fix=fix,
        ), "The Heroku CLI prints every variable it sets, value included: in a CI log, shell history "
           "or terminal scrollback that is the secret in clear. The runbook's safe pattern ends every "
           "config:set with >/dev/null 2>&1 (feedback_heroku_config_set_echoes_secrets).")


MAX_SUBSTITUTION_DEPTH = 16  # real scripts nest two or three; pathological input stays linear


def _commands_that_run(snippet: Snippet, commands: list[Command], base: tuple[str, str], fixable: bool,
                       depth: int = 0) -> Iterator[tuple[Snippet, Command, tuple[str, str], bool]]:
    """Every simple command with the streams it starts from (an ``exec >/dev/null 2>&1``
    redirects the rest of its script), then the commands of its ``$( … )``/backtick
    substitutions (their own script, their stdout captured), depth first.  Substitutions
    are parsed only when their text names heroku (``$(date)`` costs nothing)."""
    for command in commands:
        if is_exec_redirect_only(command):
            base = output_streams(command, base)
            continue
        yield snippet, command, base, fixable
        if depth >= MAX_SUBSTITUTION_DEPTH or "heroku" not in snippet.text[command.start:command.end]:
            continue
        for substitution in substitutions(snippet, command):
            inner = substitution.snippet
            if "heroku" in inner.text:
                yield from _commands_that_run(inner, parse(inner), substitution_streams(command, base),
                                              fixable and substitution.exact, depth + 1)


def _leak(out: str, err: str) -> str:
    """Where the values go, for the message: nothing to say when it is the terminal's
    stdout and stderr (the usual case), else `` to stderr``, `` to the captured output``…"""
    if out not in SILENT_TARGETS and out != CAPTURED and err not in SILENT_TARGETS:
        return ""
    streams = []
    if out not in SILENT_TARGETS:
        streams.append("the captured output" if out == CAPTURED else "stdout")
    if err not in SILENT_TARGETS:
        streams.append("stderr")
    return " to " + " and ".join(streams)


def _is_heroku(program: str) -> bool:
    """``heroku``, a path to it, or the ``heroku@8`` that ``npx`` runs."""
    name = program.rsplit("/", 1)[-1]
    return name == "heroku" or name.startswith("heroku@")


# --------------------------------------------------------------------------- RPT602
def _gunicorn_without_preload(ctx: "FileContext", snippet: Snippet,
                              commands: list[Command]) -> Iterator["Finding"]:
    for command in commands:
        words = command.words
        for index, word in enumerate(words):
            if word.value == "gunicorn" or word.value.endswith("/gunicorn"):
                break
        else:
            continue
        args = [w.value for w in words[index + 1:]]
        env = [w.value for w in words[:index] if w.value.startswith("GUNICORN_CMD_ARGS=")]
        if "--preload" in args or any("--preload" in value for value in env):
            continue
        config = _config_argument(args)
        passed = config is not None
        directory = ctx.path.parent
        if config is None and (directory / "gunicorn.conf.py").is_file():
            config = "gunicorn.conf.py"
        preload = _config_preloads(directory, config) if config else False
        if preload is not False and preload is not UNREADABLE:
            continue  # True, or a value we cannot read statically
        line, column = snippet.position(word.start)
        end_line, end_column = snippet.end_position(word.end)
        fix = None
        if not passed:
            # Right after the `gunicorn` word, before its options and the app.  Not when a
            # `-c` file is passed: preload belongs in that file, next to the other settings.
            fix = Fix("add `--preload` after `gunicorn`",
                      (Edit(end_line, end_column, end_line, end_column, " --preload"),))
        if config is None:
            message = "gunicorn runs without --preload: add it (the runbook keeps preload on)"
        elif preload is UNREADABLE:
            # A FIFO, a device, a missing or oversized file: say so, not that it lacks the line.
            message = (f"gunicorn runs without --preload and {shorten(config, 40)} cannot be read to check "
                       f"preload_app: {'fix the file' if passed else 'add --preload'}")
        else:
            message = (f"gunicorn runs without --preload and {shorten(config, 40)} lacks preload_app = True: "
                       f"{'set it there' if passed else 'add --preload'}")
        yield with_story(  # at the gunicorn word
            ctx.finding("RPT602", (line, column, end_line, end_column), message, fix=fix),
            "The runbook runs gunicorn with --preload: the app is imported once in the master and the "
            "workers are forked from it (less memory, an import error stops the deploy). Module state "
            "that breaks under it is an RPT1xx finding to fix, not a reason to turn preload off.")
        break


def _config_argument(args: list[str]) -> str | None:
    for index, arg in enumerate(args):
        if arg in {"-c", "--config"} and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--config="):
            return arg.split("=", 1)[1]
        if arg.startswith("-c") and len(arg) > 2 and not arg.startswith("--"):
            return arg[2:]
    return None


UNREADABLE = "unreadable"


def _config_preloads(directory: Path, config: str) -> bool | None | str:
    """True/False when the config file sets preload_app to a literal; None when unknown;
    ``UNREADABLE`` when the file cannot be read (missing, not a regular file, too large)."""
    if config.startswith("python:"):
        path = directory.joinpath(*config[len("python:"):].split(".")).with_suffix(".py")
    elif config.startswith("file:"):
        path = directory / config[len("file:"):]
    else:
        path = directory / config
    try:
        data = read_regular_file(path)  # never a FIFO or a device (an OSError)
    except (OSError, ValueError):
        return UNREADABLE
    try:
        tree = ast.parse(data)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    value: bool | None = False
    for node in tree.body:
        targets: list[ast.expr]
        literal: ast.expr | None  # None: an annotation alone (`preload_app: bool`)
        if isinstance(node, ast.Assign):
            targets, literal = node.targets, node.value
        elif isinstance(node, ast.AnnAssign):
            targets, literal = [node.target], node.value
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "preload_app" for t in targets):
            value = literal.value if isinstance(literal, ast.Constant) and isinstance(
                literal.value, bool) else None
    return value


# --------------------------------------------------------------------------- readers
def _snippets(kind: str, text: str, lines: list[str]) -> Iterator[tuple[Snippet, bool, str | None]]:
    """(snippet, fixable, Procfile process name) for every piece of shell in the file."""
    if kind == SHELL:
        yield _from_lines(lines, range(1, len(lines) + 1)), True, None
    elif kind == MAKEFILE:
        for snippet in _makefile(lines):
            yield snippet, True, None
    elif kind == MARKDOWN:
        for snippet in _markdown(lines):
            yield snippet, True, None
    elif kind == YAML:
        yield from ((snippet, fixable, None) for snippet, fixable in _yaml(text, lines))
    elif kind == PROCFILE:
        for number, line in enumerate(lines, 1):
            match = _PROCFILE_LINE.match(line)
            if match and not line.lstrip().startswith("#"):
                snippet = Snippet()
                snippet.add(match.group("command"), number, match.start("command") + 1)
                yield snippet, True, match.group("name")


def _from_lines(lines: list[str], numbers: Iterable[int], strip: int = 0) -> Snippet:
    snippet = Snippet()
    for number in numbers:
        line = lines[number - 1]
        cut = min(strip, len(line) - len(line.lstrip(" \t")))
        snippet.add(line[cut:], number, cut + 1)
        snippet.add_separator("\n", number, len(line) + 1)
    return snippet


def _makefile(lines: list[str]) -> Iterator[Snippet]:
    in_rule = False
    in_define = False
    continuing_other = False
    current: Snippet | None = None
    for number, line in enumerate(lines, 1):
        if current is not None:  # a recipe line continued with a backslash
            cut = 1 if line.startswith("\t") else 0
            current.add(_mask_make(line[cut:]), number, cut + 1)
            current.add_separator("\n", number, len(line) + 1)
            if not line.endswith("\\"):
                yield current
                current = None
            continue
        if continuing_other:
            continuing_other = line.endswith("\\")
            continue
        if in_define:
            in_define = line.strip() != "endef"
            continue
        if line.startswith("\t") and in_rule:
            body = line[1:]
            prefix = len(body) - len(body.lstrip("@-+ \t"))
            current = Snippet()
            current.add(_mask_make(body[prefix:]), number, 2 + prefix)
            current.add_separator("\n", number, len(line) + 1)
            if not line.endswith("\\"):
                yield current
                current = None
            continue
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("define ") or stripped == "define":
            in_define = True
            continue
        rule = _MAKE_RULE.match(line)
        in_rule = rule is not None
        if rule is not None and ";" in line[rule.end():]:
            offset = line.index(";", rule.end()) + 1
            snippet = Snippet()
            snippet.add(_mask_make(line[offset:]), number, offset + 1)
            snippet.add_separator("\n", number, len(line) + 1)
            if line.endswith("\\"):
                current = snippet
            else:
                yield snippet
            continue
        continuing_other = line.endswith("\\")
    if current is not None:
        yield current


def _mask_make(text: str) -> str:
    """Same-length text where make's own references cannot look like shell syntax."""
    def replace(match: re.Match) -> str:
        token = match.group(0)
        if token == "$$":
            return "\x00$"
        return "\x00" * len(token)
    return _MAKE_REFERENCE.sub(replace, text)


def _markdown(lines: list[str]) -> Iterator[Snippet]:
    for block in fenced_blocks(lines):
        if block.info not in SHELL_LANGUAGES or block.first > block.last:
            continue
        numbers = range(block.first, block.last + 1)
        console = block.info in {"console", "shell-session", "shellsession", "terminal"} or any(
            _PROMPT.match(lines[n - 1]) for n in numbers)
        if not console:
            yield _from_lines(lines, numbers, strip=block.indent)
            continue
        snippet = Snippet()
        continued = False
        for number in numbers:
            line = lines[number - 1]
            prompt = _PROMPT.match(line)
            if prompt or continued:
                start = prompt.end() if prompt and not continued else 0
                snippet.add(line[start:], number, start + 1)
                snippet.add_separator("\n", number, len(line) + 1)
                continued = line.endswith("\\")
        yield snippet


def _yaml_refused() -> "type[YAMLRefused]":
    """``safe_yaml.YAMLRefused``, imported only once an exception is being handled (an
    ``except`` clause's class is evaluated then): PyYAML stays out of runs without YAML."""
    from raptor_lint.safe_yaml import YAMLRefused

    return YAMLRefused


def _yaml(text: str, lines: list[str]) -> Iterator[tuple[Snippet, bool]]:
    import yaml

    from raptor_lint.safe_yaml import YAMLRefused, compose_all

    try:
        documents = compose_all(text)  # no cycle, bounded expansion (safe_yaml)
    except YAMLRefused:
        raise
    except yaml.YAMLError:
        return
    stack = [node for node in documents if node is not None]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.value in YAML_SHELL_KEYS:
                    items = value.value if isinstance(value, yaml.SequenceNode) else [value]
                    for item in items:
                        if isinstance(item, yaml.ScalarNode):
                            yield _yaml_scalar(item, text, lines)
                stack.append(value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)


def _yaml_scalar(node, text: str, lines: list[str]) -> tuple[Snippet, bool]:
    start, end = node.start_mark, node.end_mark
    style = node.style
    snippet = Snippet()
    if style in ("|", ">"):
        first = start.line + 1  # 0-based index of the first content line
        last = end.line if end.column == 0 else end.line + 1
        content = [i for i in range(first, min(last, len(lines))) if lines[i].strip()]
        if not content:
            return snippet, False
        indent = len(lines[content[0]]) - len(lines[content[0]].lstrip(" "))
        for index in range(first, min(last, len(lines))):
            line = lines[index]
            if line.strip() and len(line) - len(line.lstrip(" ")) < indent:
                break
            snippet.add(line[indent:], index + 1, indent + 1)
            snippet.add_separator("\n" if style == "|" or not line.strip() else " ", index + 1, len(line) + 1)
        return snippet, True
    raw = text[start.index:end.index]
    if style is None:
        physical = raw.split("\n")
        line_number, column = start.line + 1, start.column + 1
        for offset, piece in enumerate(physical):
            piece = piece.rstrip("\r")
            lead = len(piece) - len(piece.lstrip(" \t")) if offset else 0
            snippet.add(piece[lead:].rstrip(" \t"), line_number + offset, (column if not offset else 1) + lead)
            snippet.add_separator(" ", line_number + offset, (column if not offset else 1) + len(piece))
        return snippet, True
    if "\n" not in raw and len(raw) >= 2 and raw[1:-1] == node.value:
        snippet.add(node.value, start.line + 1, start.column + 2)
        return snippet, True
    # Escapes or folded quoted lines: find the command, report at the scalar, do not fix.
    for char in node.value:
        snippet.add(char, start.line + 1, start.column + 1)
    return snippet, False
