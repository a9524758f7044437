"""Properties of --fix, over generated shell scripts, Python modules and whole projects.

Each generated file is built from pieces whose fixed form is known, so the
expected output is exact: after the fix the text equals the expectation (every
unrelated byte — comments, quotes, strings, CRLF/LF, a missing final newline —
is untouched), a re-check has none of the fixed findings, and a second fix
changes nothing.
"""

from __future__ import annotations

import ast
import os
import re
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from raptor_lint.config import Config, load_config
from raptor_lint.engine import Engine
from raptor_lint.fixes import fix_text
from raptor_lint.registry import known_code_prefix
from raptor_lint.runner import CheckOptions, RunResult, run_check

ENGINE = Engine(Config(root=Path(__file__).resolve().parent))
REDIRECT = " >/dev/null 2>&1"
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

names = st.from_regex(r"[A-Z][A-Z0-9_]{0,8}", fullmatch=True)
values = st.sampled_from(['abc', '"$SECRET"', "'two words'", '"$(openssl rand -hex 8)"', '${TOKEN}',
                          'https://raxx.app'])
apps = st.sampled_from(["--app raxx-api-staging", '-a "$APP"', "", "--app=raxx-api-prod"])
comment_text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
silent = st.sampled_from([">/dev/null 2>&1", "> /dev/null 2>&1", "&>/dev/null", ">&/dev/null",
                          ">/dev/null 2>&1 || true", ">/dev/null 2>&1;"])


@st.composite
def shell_piece(draw, eol: str) -> tuple[str, str]:
    """(original, fixed) for one or more lines of a script, without the final line break."""
    name, value, app = draw(names), draw(values), draw(apps)
    command = f"heroku config:set {name}={value} {app}".rstrip()
    kind = draw(st.sampled_from(["plain", "comment", "continued", "chain", "wrong-order", "silent",
                                 "echo", "shell-comment", "blank", "pipe"]))
    if kind == "plain":
        return command, command + REDIRECT
    if kind == "comment":
        text = draw(comment_text)
        return f"{command}  # {text}", f"{command}{REDIRECT}  # {text}"
    if kind == "continued":
        head = f"heroku config:set \\{eol}  {name}={value} \\{eol}  --app raxx-api-staging"
        return head, head + REDIRECT
    if kind == "chain":
        return f"heroku apps:info && {command}; echo done", f"heroku apps:info && {command}{REDIRECT}; echo done"
    if kind == "wrong-order":
        return f"{command} 2>&1 >/dev/null", f"{command} 2>&1 >/dev/null{REDIRECT}"
    if kind == "pipe":
        return f"{command} | tee -a log", f"{command}{REDIRECT} | tee -a log"
    if kind == "silent":
        line = f"{command} {draw(silent)}"
        return line, line
    if kind == "echo":
        line = f'echo "{command}"'
        return line, line
    if kind == "shell-comment":
        line = f"# {command} {draw(comment_text)}"
        return line, line
    return "", ""


@st.composite
def shell_script(draw) -> tuple[str, str]:
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    pieces = draw(st.lists(shell_piece(eol), min_size=1, max_size=8))
    final = draw(st.sampled_from([eol, ""]))
    original = "#!/usr/bin/env bash" + eol + eol.join(p[0] for p in pieces) + final
    fixed = "#!/usr/bin/env bash" + eol + eol.join(p[1] for p in pieces) + final
    return original, fixed


@given(shell_script())
@SETTINGS
def test_shell_fix_is_exact_complete_and_idempotent(case) -> None:
    original, expected = case
    outcome = fix_text(ENGINE, original, Path("scripts/provision.sh"), "shell", "scripts/provision.sh")
    assert outcome.fixed == expected
    assert [f for f in outcome.result.findings if f.code == "RPT601"] == []
    again = fix_text(ENGINE, outcome.fixed, Path("scripts/provision.sh"), "shell", "scripts/provision.sh")
    assert again.fixed == outcome.fixed and again.applied == 0


receivers = st.sampled_from(["current_app", "app", "self.app", "flask.current_app"])
quotes = st.sampled_from(['"', "'"])


@st.composite
def python_piece(draw) -> tuple[str, str]:
    receiver, q = draw(receivers), draw(quotes)
    subscript = f"{receiver}.extensions[{q}redis_client{q}]"
    getter = f"{receiver}.extensions.get({q}redis_client{q})"
    comment = draw(st.one_of(st.just(""), comment_text.map(lambda t: f"  # {t}")))
    kind = draw(st.sampled_from(["assign", "call", "spaced", "string", "other-key", "store", "comment"]))
    if kind == "assign":
        return f"    r = {subscript}{comment}", f"    r = {getter}{comment}"
    if kind == "call":
        return (f"    {subscript}.setex(key, 60, value){comment}",
                f"    {getter}.setex(key, 60, value){comment}")
    if kind == "spaced":
        return (f"    r = {receiver}.extensions[ {q}redis_client{q} ]{comment}",
                f"    r = {receiver}.extensions.get({q}redis_client{q}){comment}")
    if kind == "string":
        line = f"    note = {q}{subscript.replace(q, '')}{q}{comment}"
        return line, line
    if kind == "other-key":
        line = f"    sentry = {receiver}.extensions[{q}sentry{q}]{comment}"
        return line, line
    if kind == "store":
        line = f"    {receiver}.extensions[{q}redis_client{q}] = value{comment}"
        return line, line
    line = f"    # {subscript}{comment}"
    return line, line


@st.composite
def python_module(draw) -> tuple[str, str]:
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    pieces = draw(st.lists(python_piece(), min_size=1, max_size=8))
    head = f"import flask{eol}from flask import current_app{eol}{eol}{eol}def handler(self, app, key, value):{eol}"
    final = draw(st.sampled_from([eol, ""]))
    original = head + eol.join([*(p[0] for p in pieces), "    pass"]) + final
    fixed = head + eol.join([*(p[1] for p in pieces), "    pass"]) + final
    return original, fixed


@given(python_module())
@SETTINGS
def test_python_fix_is_exact_complete_and_idempotent(case) -> None:
    original, expected = case
    # RPT204's fix is unsafe: --fix alone leaves the module as it is.
    assert fix_text(ENGINE, original, Path("app/handlers.py"), "python", "app/handlers.py").fixed == original
    outcome = fix_text(ENGINE, original, Path("app/handlers.py"), "python", "app/handlers.py", unsafe_fixes=True)
    assert outcome.fixed == expected
    ast.parse(outcome.fixed)
    assert [f for f in outcome.result.findings if f.code == "RPT204"] == []
    again = fix_text(ENGINE, outcome.fixed, Path("app/handlers.py"), "python", "app/handlers.py",
                     unsafe_fixes=True)
    assert again.fixed == outcome.fixed and again.applied == 0


# ============================================================ whole projects, every fix
#
# One property over every fix, safe and unsafe, on small generated projects:
#   * ``--fix`` applies the safe fixes only: no finding with a safe fix remains, and a file
#     only unsafe fixes would touch is unchanged;
#   * ``--fix --unsafe-fixes`` leaves no finding with a fix;
#   * after either, ``--fix`` (same tier) again changes no byte;
#   * every Python file still parses, every YAML file loads (the manifest with the variables
#     it was given), and a file a fix of *another* file edits (runbook, manifest) only gains
#     lines: each original line is still there, in order.
#
# ``FIX_CASES`` maps a rule code to a strategy drawing {relative path: text} for a few files
# that give that rule fixable findings (and some that must stay alone).  Paths of different
# rules do not collide except the shared project files (runbook, manifest), which a strategy
# draws only for its own rule.  A project combines one to three rules.  A new fix adds its
# strategy here (``FIX_CASES["RPT202"] = ...``): the property covers it with no other change.

RUNBOOK_PATH = "docs/ops/runbook.md"
MANIFEST_PATH = "docs/ops/required-config-vars.yaml"
PROJECT_SETTINGS = settings(max_examples=25, deadline=None, derandomize=True,
                            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

FIX_CASES: dict[str, SearchStrategy[dict[str, str]]] = {}

FIX_CASES["RPT601"] = shell_script().map(lambda case: {"scripts/provision.sh": case[0]})
FIX_CASES["RPT204"] = python_module().map(lambda case: {"svc/handlers.py": case[0]})

# ---- RPT202: get then delete of one key (the getdel rewrite), with noise between and around
redis_keys = st.sampled_from(['f"webauthn:reg:challenge:{user_id}"', "key", '"csrf:" + token'])
between = st.sampled_from(["", "    # the challenge is single-use\n", "    logger.info('popping')\n",
                           "    other = 1\n"])


@st.composite
def getdel_module(draw) -> dict[str, str]:
    functions = []
    for index in range(draw(st.integers(1, 3))):
        key = draw(redis_keys)
        awaited = draw(st.booleans())
        prefix, call = ("async def", "await redis.") if awaited else ("def", "redis.")
        functions.append(
            f"{prefix} pop_{index}(app, user_id, key, token):\n"
            f"    redis = app.extensions[\"redis_client\"]\n"
            f"    val = {call}get({key})\n"
            f"{draw(between)}"
            f"    {call}delete({key})\n"
            f"    if val is None:\n"
            f"        logger.warning(\"webauthn.challenge_miss\")\n"
            f"    return val\n")
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    text = "import logging\n\nlogger = logging.getLogger(__name__)\n\n\n" + "\n\n".join(functions)
    return {"svc/challenges.py": text.replace("\n", eol)}


FIX_CASES["RPT202"] = getdel_module()


# ---- RPT602: a Procfile whose web process runs gunicorn without --preload
@st.composite
def procfile_project(draw) -> dict[str, str]:
    options = draw(st.sampled_from(["", " --workers 3", " -w 4 --timeout 30", " --bind 0.0.0.0:$PORT"]))
    app = draw(st.sampled_from(["raptor_app:create_app()", "'raptor_app:create_app()'", "wsgi:app"]))
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    lines = [f"web: gunicorn{options} {app}", "release: alembic upgrade head"]
    if draw(st.booleans()):
        lines.append("worker: python -m raptor_app.worker")
    return {"Procfile": eol.join(lines) + eol}


FIX_CASES["RPT602"] = procfile_project()

# ---- RPT502: a runbook and an app factory reading flags (some already in the checklist)
subsystems = st.sampled_from(["Sentry", "Beta walkthrough", "Demo session", "WebAuthn", "Postmark",
                              "Session auth middleware", "Rate limit", "Alpaca"])
flag_names = st.sampled_from(["FLAG_SENTRY_BACKEND", "FLAG_SENTRY_ALERTS", "FLAG_BETA_DIGEST",
                              "FLAG_DEMO_SESSION_V2", "FLAG_WEBAUTHN_REGISTRATION", "FLAG_POSTMARK_INBOUND",
                              "FLAG_RATE_LIMIT_REDIS", "FLAG_ALPACA_TRADING", "FLAG_STATUS_3P_POLLER"])
markdown_noise = st.sampled_from(["Provision these in order.", "<!-- TODO: FLAG_LATER -->",
                                  "| Var | Required |\n|---|---|\n| X | always |", "```sh\n# ## not a heading\n```",
                                  "- [x] `SECRET_KEY` set", "* [ ] `DATABASE_URL` present", ""])


@st.composite
def runbook_project(draw) -> dict[str, str]:
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    lines = ["# Raptor — Operations Runbook", ""]
    if draw(st.booleans()):
        lines += ["## Env-bootstrap checklist", ""]
    for _ in range(draw(st.integers(0, 4))):
        subsystem, flag = draw(subsystems), draw(flag_names)
        lines += [f"### {subsystem} ({flag})" if draw(st.booleans()) else f"### {subsystem}", ""]
        lines += [draw(markdown_noise) for _ in range(draw(st.integers(0, 2)))]
        if draw(st.booleans()):
            lines.append(f"- [ ] `{flag}=1` set")
        lines.append("")
    if draw(st.booleans()):
        lines += ["## Rollback", "", "Nothing to see."]
    final = draw(st.sampled_from([eol, ""]))
    runbook = eol.join(line.replace("\n", eol) for line in lines).rstrip("\r\n") + final
    flags = draw(st.lists(flag_names, min_size=1, max_size=3))
    reads = "".join(f'    if os.environ.get("{flag}") == "1":\n        app.config["{flag}"] = True\n'
                    for flag in flags)
    factory = ("import os\n\nfrom flask import Flask\n\n\ndef create_app() -> Flask:\n"
               f"    app = Flask(__name__)\n{reads}    return app\n")
    return {RUNBOOK_PATH: runbook, "svc/__init__.py": factory}


FIX_CASES["RPT502"] = runbook_project()

# ---- RPT503: a manifest and a module reading environment variables (some declared)
var_names = st.sampled_from(["SECRET_KEY", "DATABASE_URL", "STATUS_WORKER_URL", "SENTRY_DSN_BACKEND",
                             "ON", "NULL", "REDIS_URL", "X_1"])


@st.composite
def manifest_project(draw) -> dict[str, str]:
    eol = draw(st.sampled_from(["\n", "\r\n"]))
    indent = draw(st.sampled_from(["", "  ", "    "]))
    mappings = draw(st.booleans())
    declared = draw(st.lists(var_names.filter(lambda n: n not in ("ON", "NULL")), max_size=3, unique=True))
    lines = []
    if draw(st.booleans()):
        lines.append("# Variables every environment must provision.")
    lines.append("vars:" + draw(st.sampled_from(["", "  # the list"])))
    for name in declared:
        lines.append(f"{indent}- name: {name}" if mappings else f"{indent}- {name}")
        if mappings and draw(st.booleans()):
            lines.append(f"{indent}  required: always")
        if draw(st.booleans()):
            lines.append(f"{indent}# note about {name}")
    if not declared and not draw(st.booleans()):
        lines.append(f"{indent}- name: SECRET_KEY")  # never an empty list half the time
    if draw(st.booleans()):
        lines += ["", "owner: sre"]
    final = draw(st.sampled_from([eol, ""]))
    manifest = eol.join(lines) + final
    reads = draw(st.lists(var_names, min_size=1, max_size=3))
    body = "".join(f'    values.append(os.environ.get("{name}"))\n' for name in reads)
    module = f"import os\n\n\ndef settings():\n    values = []\n{body}    return values\n"
    return {MANIFEST_PATH: manifest, "svc/config_reads.py": module}


FIX_CASES["RPT503"] = manifest_project()


@st.composite
def fix_project(draw) -> dict[str, str]:
    codes = draw(st.lists(st.sampled_from(sorted(FIX_CASES)), min_size=1, max_size=3, unique=True))
    files = {"pyproject.toml": "[tool.raptor-lint]\n"}
    for code in codes:
        files.update(draw(FIX_CASES[code]))
    return files


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))


def _snapshot(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _check(root: Path, *, fix: bool, unsafe_fixes: bool) -> RunResult:
    cwd = os.getcwd()
    os.chdir(root)
    try:
        config = load_config(start=root, known_code=known_code_prefix)
        return run_check(config, CheckOptions(paths=[Path(".")], fix=fix, unsafe_fixes=unsafe_fixes,
                                              use_cache=False, jobs=1))
    finally:
        os.chdir(cwd)


def _only_lines_added(before: str, after: str) -> bool:
    old, new = re.split(r"\r\n|\r|\n", before), re.split(r"\r\n|\r|\n", after)
    position = 0
    for line in old:
        while position < len(new) and new[position] != line:
            position += 1
        if position == len(new):
            return False
        position += 1
    return True


def _assert_well_formed(root: Path, files: dict[str, str]) -> None:
    for rel in files:
        text = (root / rel).read_bytes().decode("utf-8")
        if rel.endswith(".py"):
            ast.parse(text)
        elif rel.endswith((".yaml", ".yml")):
            yaml.safe_load(text)
        if rel in (RUNBOOK_PATH, MANIFEST_PATH):
            assert _only_lines_added(files[rel], text), (rel, files[rel], text)
            assert not _new_duplicates(files[rel], text), text  # several findings, one line each


def _new_duplicates(before: str, after: str) -> bool:
    """Does ``after`` repeat a list line (``- [ ] FLAG_X=1 set``, ``- name: X``) more often than ``before``?"""
    def counts(text: str) -> dict[str, int]:
        found: dict[str, int] = {}
        for line in re.split(r"\r\n|\r|\n", text):
            if line.strip().startswith("-"):
                found[line.strip()] = found.get(line.strip(), 0) + 1
        return found
    old = counts(before)
    return any(n > max(old.get(line, 0), 1) for line, n in counts(after).items())


@given(fix_project())
@PROJECT_SETTINGS
def test_fix_then_fix_again_changes_nothing_and_keeps_files_well_formed(files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory).resolve()
        _write(root, files)
        before = _check(root, fix=False, unsafe_fixes=False).findings
        unsafe_only = {f.path for f in before if f.fix is not None and not f.fix.is_safe} - {
            f.path for f in before if f.fix is not None and f.fix.is_safe}
        unsafe_targets = {Path(e.path).relative_to(root).as_posix() for f in before if f.fix is not None
                          for e in f.fix.edits if e.path is not None}

        safe = _check(root, fix=True, unsafe_fixes=False)
        assert not [f for f in safe.findings if f.fix is not None and f.fix.is_safe]
        after_safe = _snapshot(root)
        for rel in unsafe_only | unsafe_targets:
            assert after_safe[rel] == files[rel].encode("utf-8"), rel  # unsafe fixes wait for --unsafe-fixes
        _assert_well_formed(root, files)
        _check(root, fix=True, unsafe_fixes=False)
        assert _snapshot(root) == after_safe

        unsafe = _check(root, fix=True, unsafe_fixes=True)
        assert not [f for f in unsafe.findings if f.fix is not None], [
            (f.path, f.line, f.code) for f in unsafe.findings if f.fix is not None]
        after_unsafe = _snapshot(root)
        _assert_well_formed(root, files)
        if MANIFEST_PATH in files:
            still_read = {f.message.split()[2] for f in unsafe.findings if f.code == "RPT503"}
            assert not still_read  # every read variable is declared now
        _check(root, fix=True, unsafe_fixes=True)
        assert _snapshot(root) == after_unsafe
