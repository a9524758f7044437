"""Properties of --fix, over generated shell scripts and Python modules.

Each generated file is built from pieces whose fixed form is known, so the
expected output is exact: after the fix the text equals the expectation (every
unrelated byte — comments, quotes, strings, CRLF/LF, a missing final newline —
is untouched), a re-check has none of the fixed findings, and a second fix
changes nothing.
"""

from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from raptor_lint.config import Config
from raptor_lint.engine import Engine
from raptor_lint.fixes import fix_text

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
