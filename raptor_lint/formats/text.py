"""``path:line:col: CODE message`` lines, then one summary line."""

from __future__ import annotations


def render(result, config) -> str:
    findings = result.findings
    lines = [f"{f.path}:{f.line}:{f.column}: {f.code} {f.message}" for f in findings]
    files = len(result.files)
    noun = "file" if files == 1 else "files"
    if findings:
        fixable = sum(1 for f in findings if f.fix is not None)
        summary = f"Found {len(findings)} finding{'s' if len(findings) != 1 else ''} in {files} {noun} checked"
        if fixable:
            summary += f" ({fixable} fixable with --fix)"
        lines.append(summary + ".")
    else:
        lines.append(f"All checks passed ({files} {noun} checked).")
    return "\n".join(lines) + "\n"
