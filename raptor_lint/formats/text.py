"""``path:line:col: CODE message`` lines, then one summary line."""

from __future__ import annotations


def fix_counts(findings, unsafe_fixes: bool) -> tuple[int, int]:
    """(findings ``--fix`` fixes, findings only ``--fix --unsafe-fixes`` fixes).  With unsafe
    fixes enabled every fix counts as fixable with ``--fix`` (as Ruff counts them)."""
    fixable = hidden = 0
    for finding in findings:
        if finding.fix is None:
            continue
        if finding.fix.applies(unsafe_fixes):
            fixable += 1
        else:
            hidden += 1
    return fixable, hidden


def fix_hint(fixable: int, hidden: int) -> str:
    """"4 fixable with --fix, 2 more with --unsafe-fixes" (empty without fixes)."""
    if fixable and hidden:
        return f"{fixable} fixable with --fix, {hidden} more with --unsafe-fixes"
    if fixable:
        return f"{fixable} fixable with --fix"
    if hidden:
        return f"{hidden} fixable with --fix --unsafe-fixes"
    return ""


def render(result, config) -> str:
    findings = result.findings
    lines = [f"{f.path}:{f.line}:{f.column}: {f.code} {f.message}" for f in findings]
    files = len(result.files)
    noun = "file" if files == 1 else "files"
    if findings:
        summary = f"Found {len(findings)} finding{'s' if len(findings) != 1 else ''} in {files} {noun} checked"
        hint = fix_hint(*fix_counts(findings, getattr(result, "unsafe_fixes", False)))
        if hint:
            summary += f" ({hint})"
        lines.append(summary + ".")
    else:
        lines.append(f"All checks passed ({files} {noun} checked).")
    return "\n".join(lines) + "\n"
