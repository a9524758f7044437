"""``raptor_lint.lsp.incremental``: an edit inside a function of a large module re-checks
that function (and its callers) and reuses the other findings, moved past the edit."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from raptor_lint.config import load_config
from raptor_lint.engine import Engine
from raptor_lint.lsp import incremental

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
import lsp_latency  # noqa: E402  (the bench's generator of a Raptor-style service module)


def test_incremental_findings_equal_a_full_check(tmp_path) -> None:
    """The reused and re-checked findings together are what a full check finds, for edits
    inside a function: same line, a line added, a line removed, a new finding."""
    lsp_latency.make_project(tmp_path)
    path = tmp_path / "raptor_app" / "mid.py"
    text = lsp_latency.service_module(incremental.MIN_LINES + 400)
    engine = Engine(load_config(start=path))
    old = engine.lint_text(text, path, "python", display_path=path.name).findings
    outline = incremental.outline_of(ast.parse(text))
    lines = text.split("\n")
    target = next(i for i, line in enumerate(lines) if "client.set(key" in line and i > len(lines) // 2)
    indent = lines[target][:len(lines[target]) - len(lines[target].lstrip())]
    edits = {
        "same line": lines[:target] + [lines[target].replace("ex=60", "ex=61")] + lines[target + 1:],
        "line added": lines[:target] + [indent + "_seen_symbols.append(key)"] + lines[target:],
        "line removed": lines[:target] + lines[target + 1:],
    }
    for name, new_lines in edits.items():
        new = "\n".join(new_lines)
        result = incremental.relint_changed(engine, path, text, old, outline, new)
        assert result is not None, name
        assert result[0] == engine.lint_text(new, path, "python", display_path=path.name).findings, name
        assert result[1] == incremental.outline_of(ast.parse(new)), name
    # A module-level edit is not sliced: only a full check can say.
    module_level = "\n".join(lines[:5] + ["EXTRA = {}"] + lines[5:])
    assert incremental.relint_changed(engine, path, text, old, outline, module_level) is None
