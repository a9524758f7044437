"""RPT205 redis-client-without-fallback: where a client that may be None is used unguarded.

The runbook's checklist: "Is there a local-dev fallback for when `REDIS_URL` is absent?".
A finding is reported at the first unguarded use of each binding: its range runs from the
receiver (the client's name, or the ``extensions.get(...)`` call) to the end of the
command's name (``redis.set``), once per binding.
"""

from __future__ import annotations

from pathlib import Path
from textwrap import dedent

import pytest

from conftest import REPO
from raptor_lint.config import Config
from raptor_lint.engine import Engine

RUNBOOK_AFTER = (REPO / "tests" / "fixtures" / "redis_state" / "raptor_svc" / "webauthn_after.py").read_text(
    encoding="utf-8")


def _lint(tmp_path: Path, source: str, name: str = "svc.py") -> list[tuple[int, int, int, int, str]]:
    engine = Engine(Config(root=tmp_path, select=("RPT205",)))
    path = tmp_path / name
    text = dedent(source).lstrip("\n")
    path.write_text(text, encoding="utf-8")
    result = engine.lint_text(text, path, "python", name)
    return [(f.line, f.column, f.end_line or 0, f.end_column or 0, f.message) for f in result.findings]


def test_runbook_after_is_silent_and_fires_without_its_if_redis(tmp_path: Path) -> None:
    assert _lint(tmp_path, RUNBOOK_AFTER) == []
    # The same module with both `if redis:` guards removed (the else branches dropped).
    lines = RUNBOOK_AFTER.splitlines()
    without: list[str] = []
    skip = False
    for line in lines:
        if line.strip() == "if redis:":
            skip = False
            continue
        if line.strip() == "else:" and line.startswith("    else"):
            skip = True  # the fallback branch goes with its guard
            continue
        if skip and line.startswith("        "):
            continue
        skip = False
        without.append(line[4:] if line.startswith("        ") else line)
    source = "\n".join(without) + "\n"
    findings = _lint(tmp_path, source)
    set_line = next(i for i, line in enumerate(without, 1) if "redis.set(" in line)
    getdel_line = next(i for i, line in enumerate(without, 1) if "redis.getdel(" in line)
    assert [(line, column, end_column) for line, column, _, end_column, _ in findings] == [
        (set_line, 5, 14), (getdel_line, 11, 23)]
    assert findings[0][4] == "redis may be None (no REDIS_URL): use it under `if redis:` with a local-dev fallback"


def test_position_and_message_of_a_direct_call(tmp_path: Path) -> None:
    findings = _lint(tmp_path, '''
        from flask import current_app


        def forget(token: str) -> None:
            current_app.extensions.get("redis_client").delete(f"session:{token}")
        ''')
    assert findings == [(5, 5, 5, 54, 'current_app.extensions.get("redis_client") may be None (no REDIS_URL): '
                                      'bind it, check it, add a local-dev fallback')]


def test_one_finding_per_binding_at_its_first_unguarded_use(tmp_path: Path) -> None:
    findings = _lint(tmp_path, '''
        from flask import current_app


        def count(user_id: int) -> int:
            redis = current_app.extensions.get("redis_client")
            n = redis.incr(f"n:{user_id}")
            redis.expire(f"n:{user_id}", 60)
            redis = current_app.extensions.get("redis_client")
            redis.expire(f"n:{user_id}", 60)
            return n
        ''')
    assert [(line, column) for line, column, *_ in findings] == [(6, 9), (9, 5)]


GUARDED = {
    "if redis": '''
        if redis:
            redis.set(key, 1, ex=60)
        ''',
    "is not None and": '''
        if redis is not None and key:
            redis.set(key, 1, ex=60)
        ''',
    "else of if not": '''
        if not redis:
            return None
        else:
            redis.set(key, 1, ex=60)
        ''',
    "early return": '''
        if redis is None:
            return None
        redis.set(key, 1, ex=60)
        ''',
    "early raise, or-ed test": '''
        if not key or redis is None:
            raise RuntimeError("Redis needed")
        redis.set(key, 1, ex=60)
        ''',
    "abort": '''
        if not redis:
            abort(503)
        redis.set(key, 1, ex=60)
        ''',
    "fallback bound": '''
        if redis is None:
            redis = FALLBACK
        redis.set(key, 1, ex=60)
        ''',
    "or fallback": '''
        redis = redis or FALLBACK
        redis.set(key, 1, ex=60)
        ''',
    "and chain": '''
        return redis and redis.get(key)
        ''',
    "conditional expression": '''
        return redis.get(key) if redis else None
        ''',
    "assert": '''
        assert redis is not None
        redis.set(key, 1, ex=60)
        ''',
}

UNGUARDED = {
    "no guard": '''
        redis.set(key, 1, ex=60)
        ''',
    "else of if redis": '''
        if redis:
            pass
        else:
            redis.set(key, 1, ex=60)
        ''',
    "after the guarded block": '''
        if redis:
            redis.set(key, 1, ex=60)
        redis.expire(key, 60)
        ''',
    "guard that does not leave": '''
        if redis is None:
            print("no redis")
        redis.set(key, 1, ex=60)
        ''',
    "and-ed early return": '''
        if redis is None and key:
            return None
        redis.set(key, 1, ex=60)
        ''',
    "guard on another name": '''
        other = None
        if other is None:
            return None
        redis.set(key, 1, ex=60)
        ''',
}

_TEMPLATE = '''
from flask import abort, current_app

FALLBACK = object()


def handler(key: str):
    redis = current_app.extensions.get("redis_client")
{body}
'''


def _source(body: str) -> str:
    return _TEMPLATE.format(body="\n".join("    " + line for line in dedent(body).strip("\n").splitlines()))


@pytest.mark.parametrize("body", GUARDED.values(), ids=GUARDED.keys())
def test_guards_keep_it_silent(tmp_path: Path, body: str) -> None:
    assert _lint(tmp_path, _source(body)) == []


@pytest.mark.parametrize("body", UNGUARDED.values(), ids=UNGUARDED.keys())
def test_unguarded_uses_fire(tmp_path: Path, body: str) -> None:
    assert len(_lint(tmp_path, _source(body))) == 1


@pytest.mark.parametrize("source", [
    # A default for the lookup is a fallback.
    'def f(k):\n    r = current_app.extensions.get("redis_client", FALLBACK)\n    r.set(k, 1, ex=5)\n',
    # The subscript raises instead (RPT204), it is never None.
    'def f(k):\n    r = current_app.extensions["redis_client"]\n    r.set(k, 1, ex=5)\n',
    # Another extension, and a dict's get.
    'def f(k):\n    s = current_app.extensions.get("sentry")\n    s.capture(k)\n',
    'def f(k, d):\n    r = d.get("redis_client")\n    r.set(k, 1)\n',
    # A helper that returns a client it always creates.
    'import redis\n\ndef client():\n    return redis.Redis()\n\ndef f(k):\n    client().set(k, 1, ex=5)\n',
    # Used in a nested function: not followed (another unit).
    'def f(k):\n    r = current_app.extensions.get("redis_client")\n'
    '    def inner():\n        r.set(k, 1, ex=5)\n    return inner\n',
    # Passed on, not used.
    'def f(k, g):\n    r = current_app.extensions.get("redis_client")\n    return g(r)\n',
])
def test_not_a_client_that_may_be_none(tmp_path: Path, source: str) -> None:
    assert _lint(tmp_path, "from flask import current_app\n\nFALLBACK = object()\n\n\n" + source) == []


def test_helper_that_may_return_none(tmp_path: Path) -> None:
    findings = _lint(tmp_path, '''
        from typing import Optional

        import redis
        from flask import current_app


        def annotated() -> Optional[redis.Redis]:
            return current_app.extensions.get("redis_client")


        def returns_none(url: str):
            if not url:
                return None
            return redis.from_url(url)


        def guarded_inside():
            client = current_app.extensions.get("redis_client")
            if client is None:
                client = redis.Redis()
            return client


        def use(key: str, url: str) -> None:
            annotated().set(key, 1, ex=5)
            returns_none(url).set(key, 1, ex=5)
            guarded_inside().set(key, 1, ex=5)
        ''')
    assert [(line, column, end_column) for line, column, _, end_column, _ in findings] == [
        (25, 5, 20), (26, 5, 26)]
