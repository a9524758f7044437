"""``check --statistics``: how many findings each rule has, instead of the findings.

As Ruff prints it: one row per code, most frequent first, ``count<TAB>code<TAB>[*] name``,
where ``[*]`` marks a rule whose findings here ``--fix`` fixes (``[ ]`` the others, when
any is fixable); with ``--format json`` a list of ``{code, name, count, fixable}``.
"""

from __future__ import annotations

import json
from collections import Counter

from raptor_lint.formats import RenderOptions
from raptor_lint.formats._terminal import Style


def statistics(result) -> list[dict]:
    from raptor_lint.docs import RUN_CODE_NAMES
    from raptor_lint.registry import all_rules

    rules = all_rules()
    unsafe_fixes = getattr(result, "unsafe_fixes", False)
    counts = Counter(f.code for f in result.findings)
    fixable = {f.code for f in result.findings if f.fix is not None and f.fix.applies(unsafe_fixes)}
    rows = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [{"code": code, "name": rules[code].name if code in rules else RUN_CODE_NAMES.get(code, ""),
             "count": count, "fixable": code in fixable} for code, count in rows]


def render_statistics(result, options: RenderOptions | None = None, *, as_json: bool = False) -> str:
    rows = statistics(result)
    if as_json:
        return json.dumps(rows, indent=2) + "\n"
    if not rows:
        return ""
    style = Style((options or RenderOptions()).colour)
    count_width = max(len(str(row["count"])) for row in rows)
    code_width = max(len(row["code"]) for row in rows)
    any_fixable = any(row["fixable"] for row in rows)
    lines = []
    for row in rows:
        marker = (style.fixable("[*]") if row["fixable"] else "[ ]") + " " if any_fixable else ""
        count = style.bold(str(row["count"]).rjust(count_width))
        code = style.code(row["code"].ljust(code_width))
        lines.append(f"{count}\t{code}\t{marker}{row['name']}")
    return "\n".join(lines) + "\n"
