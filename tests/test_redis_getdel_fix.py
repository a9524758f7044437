"""RPT202's safe fix: ``val = r.get(k)`` … ``r.delete(k)`` → ``val = r.getdel(k)`` (libcst).

Exact output (comments kept, CRLF kept, async clients), no fix when something between the
two calls touches the key, the hget/hdel pair reported without a fix, ``--fix`` twice on a
file, and libcst never imported for a file without a fixable RPT202.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path
from textwrap import dedent

import pytest

from conftest import REPO, run_cli
from raptor_lint.config import Config
from raptor_lint.engine import Engine
from raptor_lint.fixes import fix_text

HEAD = '''\
import logging

from flask import current_app

logger = logging.getLogger(__name__)


'''


def _engine(tmp_path: Path) -> Engine:
    return Engine(Config(root=tmp_path, select=("RPT202",)))


def _findings(tmp_path: Path, text: str):
    return _engine(tmp_path).lint_text(text, tmp_path / "svc.py", "python", "svc.py").findings


def _fixed(tmp_path: Path, text: str) -> str:
    outcome = fix_text(_engine(tmp_path), text, tmp_path / "svc.py", "python", "svc.py")
    return outcome.fixed


CASES = {
    "adjacent": (
        '''
        def pop_nonce(user_id: int) -> bytes | None:
            redis = current_app.extensions.get("redis_client")
            if redis is None:
                return None
            val = redis.get(f"csrf:nonce:{user_id}")
            redis.delete(f"csrf:nonce:{user_id}")
            return val
        ''',
        '''
        def pop_nonce(user_id: int) -> bytes | None:
            redis = current_app.extensions.get("redis_client")
            if redis is None:
                return None
            val = redis.getdel(f"csrf:nonce:{user_id}")
            return val
        ''',
    ),
    "comments and a miss branch between": (
        '''
        def pop_nonce(user_id: int) -> bytes | None:
            redis = current_app.extensions.get("redis_client")
            if redis is None:
                return None
            key = f"csrf:nonce:{user_id}"
            val = redis.get(key)  # read it
            # a miss is logged, then the nonce is dropped
            if val is None:
                logger.warning("csrf.nonce_miss user_id=%s", user_id)  # named event
                return None

            # single use: drop it
            redis.delete(key)  # gone
            return val  # the caller compares
        ''',
        '''
        def pop_nonce(user_id: int) -> bytes | None:
            redis = current_app.extensions.get("redis_client")
            if redis is None:
                return None
            key = f"csrf:nonce:{user_id}"
            val = redis.getdel(key)  # read it
            # a miss is logged, then the nonce is dropped
            if val is None:
                logger.warning("csrf.nonce_miss user_id=%s", user_id)  # named event
                return None

            # single use: drop it
            return val  # the caller compares
        ''',
    ),
    "async client, delete last in its block": (
        '''
        async def pop_token(redis, user_id: int) -> bytes | None:
            if redis is None:
                return None
            token: bytes | None = await redis.get(f"token:{user_id}")
            await redis.unlink(f"token:{user_id}")
            # end of the pop
        ''',
        '''
        async def pop_token(redis, user_id: int) -> bytes | None:
            if redis is None:
                return None
            token: bytes | None = await redis.getdel(f"token:{user_id}")
            # end of the pop
        ''',
    ),
}


def _annotated(source: str) -> str:
    """The cases' clients: the async one is a parameter, annotated here as a Redis client."""
    return source.replace("(redis, user_id", "(redis: \"aioredis.Redis | None\", user_id")


@pytest.mark.parametrize("before, after", CASES.values(), ids=CASES.keys())
def test_exact_fixed_output(tmp_path: Path, before: str, after: str) -> None:
    imports = "import redis.asyncio as aioredis\n"
    text = imports + HEAD + _annotated(dedent(before).lstrip("\n"))
    expected = imports + HEAD + _annotated(dedent(after).lstrip("\n"))
    findings = _findings(tmp_path, text)
    assert [f.code for f in findings] == ["RPT202"]
    assert findings[0].fix is not None and findings[0].fix.is_safe
    fixed = _fixed(tmp_path, text)
    assert fixed == expected
    ast.parse(fixed)
    assert _fixed(tmp_path, fixed) == fixed  # twice: nothing more


@pytest.mark.parametrize("eol", ["\r\n", "\r"], ids=["CRLF", "CR"])
def test_line_endings_are_kept(tmp_path: Path, eol: str) -> None:
    before, after = CASES["comments and a miss branch between"]
    text = (HEAD + dedent(before).lstrip("\n")).replace("\n", eol)
    fixed = _fixed(tmp_path, text)
    assert fixed == (HEAD + dedent(after).lstrip("\n")).replace("\n", eol)


TOUCHED = {
    "read again between": '''
        val = redis.get(key)
        if redis.exists(key):
            logger.info("still there")
        redis.delete(key)
        ''',
    "passed to a helper": '''
        val = redis.get(key)
        audit(key)
        redis.delete(key)
        ''',
    "key rebound between": '''
        val = redis.get(key)
        key = key + ":old"
        redis.delete(key)
        ''',
    "leaves on a hit": '''
        val = redis.get(key)
        if val == b"locked":
            return val
        redis.delete(key)
        ''',
    "value not bound": '''
        logger.info("value %s", redis.get(key))
        redis.delete(key)
        ''',
    "delete of more keys": '''
        val = redis.get(key)
        redis.delete(key, f"{key}:meta")
        ''',
    "delete in another block": '''
        val = redis.get(key)
        if val is not None:
            redis.delete(key)
        ''',
    "delete's value used": '''
        val = redis.get(key)
        removed = redis.delete(key)
        ''',
    "delete on another client": '''
        val = redis.get(key)
        replica.delete(key)
        ''',
}


@pytest.mark.parametrize("body", TOUCHED.values(), ids=TOUCHED.keys())
def test_no_fix_when_the_pair_cannot_be_fused(tmp_path: Path, body: str) -> None:
    lines = "\n".join("    " + line for line in dedent(body).strip("\n").splitlines())
    text = HEAD + (
        "def pop(key: str, audit, replica: \"redis.Redis\") -> bytes | None:\n"
        "    redis = current_app.extensions.get(\"redis_client\")\n"
        "    if not redis:\n        return None\n"
        f"{lines}\n    return None\n")
    text = "import redis as redis_module\n" + text.replace('"redis.Redis"', '"redis_module.Redis"')
    findings = _findings(tmp_path, text)
    assert [f.code for f in findings] == ["RPT202"]
    assert findings[0].fix is None
    assert _fixed(tmp_path, text) == text


def test_hget_then_hdel_is_reported_without_a_fix(tmp_path: Path) -> None:
    text = HEAD + dedent('''
        def pop_otp(user_id: int):
            redis = current_app.extensions.get("redis_client")
            if redis:
                code = redis.hget(f"pending:{user_id}", "otp")
                redis.hdel(f"pending:{user_id}", "otp")
                return code
            return None
        ''').lstrip("\n")
    findings = _findings(tmp_path, text)
    assert [(f.code, f.line, f.column) for f in findings] == [("RPT202", 11, 16)]
    assert findings[0].message == ('hget then hdel of f"pending:{user_id}", "otp" (line 12) is not atomic: '
                                   'pop it in one MULTI/EXEC')
    assert findings[0].fix is None


def test_fix_end_to_end_on_a_temp_file(tmp_path: Path) -> None:
    before, after = CASES["comments and a miss branch between"]
    (tmp_path / "pyproject.toml").write_text('[tool.raptor-lint]\nselect = ["RPT2"]\n', encoding="utf-8")
    path = tmp_path / "svc.py"
    path.write_bytes((HEAD + dedent(before).lstrip("\n")).replace("\n", "\r\n").encode("utf-8"))
    first = run_cli("check", "--fix", "--no-cache", "svc.py", cwd=tmp_path)
    assert "Fixed 1 finding" in first.stderr.decode(), first.stderr.decode()
    assert path.read_bytes() == (HEAD + dedent(after).lstrip("\n")).replace("\n", "\r\n").encode("utf-8")
    fixed = path.read_bytes()
    again = run_cli("check", "--fix", "--no-cache", "svc.py", cwd=tmp_path)
    assert "Fixed 0 findings" in again.stderr.decode()
    assert path.read_bytes() == fixed


def test_libcst_only_for_a_fixable_rpt202(tmp_path: Path) -> None:
    """Linting code with every other Redis finding never imports libcst."""
    fixture = REPO / "tests" / "fixtures" / "redis_state" / "raptor_svc" / "miss.py"
    script = (
        "import sys\nfrom pathlib import Path\n"
        "from raptor_lint.config import Config\nfrom raptor_lint.engine import Engine\n"
        f"path = Path({str(fixture)!r})\n"
        "result = Engine(Config(root=path.parent)).lint_path(path, 'python')\n"
        "assert {f.code for f in result.findings} >= {'RPT203', 'RPT205'}, result.findings\n"
        "print('libcst' in sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.stdout.strip() == "False", proc.stderr
