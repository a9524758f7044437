"""The SQL and Redis families scale linearly with the size of a module (issue 18's question,
asked of the other families that walk per finding).

A module of thousands of functions each sending the same SQL made every use walk all the
statements before its function (quadratic: 10,000 functions, 24 s), and every get/delete
pair's getdel fix parsed the whole file again to check the rewrite (1,000 pairs, 80 s).
"""

from __future__ import annotations

import ast
import time
import types
from pathlib import Path

from raptor_lint.config import Config
from raptor_lint.engine import Engine
from raptor_lint.rules.redis_state import getdel_fix


def lint(text: str, tmp_path: Path, select: tuple[str, ...]) -> list:
    engine = Engine(Config(root=tmp_path, select=(*select, "RPT000")))
    return engine.lint_text(text, tmp_path / "app" / "service.py", "python", "app/service.py").findings


def test_ten_thousand_functions_sending_sql_in_seconds(tmp_path: Path) -> None:
    count = 10_000
    source = "from sqlalchemy import text\n\n" + "".join(
        f"def f{i}(conn, s):\n    conn.execute(text('UPDATE t SET a = MAX(a, :s)'), {{'s': s}})\n\n"
        for i in range(count))
    started = time.process_time()
    findings = lint(source, tmp_path, ("RPT4",))
    elapsed = time.process_time() - started
    assert len(findings) == count and {f.code for f in findings} == {"RPT401"}
    assert (findings[-1].line, findings[-1].column) == (3 * count + 1, 23)
    assert elapsed < 10, f"{elapsed:.1f} s of CPU for 10,000 SQL uses"


def test_getdel_fixes_parse_their_own_statements_not_the_whole_file(tmp_path: Path, monkeypatch) -> None:
    count = 200
    source = "from flask import current_app\n\n" + "".join(
        f"def take{i}(key):\n"
        f"    redis = current_app.extensions.get('redis_client')\n"
        f"    if redis is None:\n"
        f"        return None\n"
        f"    value = redis.get(key)\n"
        f"    redis.delete(key)\n"
        f"    return value\n\n" for i in range(count))
    parsed = 0

    def counting_parse(text, *args, **kwargs):
        nonlocal parsed
        parsed += len(text)
        return ast.parse(text, *args, **kwargs)

    monkeypatch.setattr(getdel_fix, "ast", types.SimpleNamespace(parse=counting_parse))
    findings = [f for f in lint(source, tmp_path, ("RPT2",)) if f.code == "RPT202"]
    assert len(findings) == count and all(f.fix is not None for f in findings)
    assert findings[0].fix.edits[0].content == "value = redis.getdel(key)\n"
    assert parsed < 2 * len(source)  # was count * len(source): the whole file once per pair
