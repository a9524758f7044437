"""``path:line:col: CODE message`` lines, then one summary line.

File names and messages are escaped (``formats._terminal``): one finding is always one
line, whatever bytes a file name holds.
"""

from __future__ import annotations

from raptor_lint.formats import RenderOptions
from raptor_lint.formats._terminal import Style, escape_controls


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


def location(finding, style: Style) -> str:
    """``path:line:col:`` with the path escaped (and styled like Ruff's: bold path, cyan colons)."""
    colon = style.punctuation(":")
    return f"{style.bold(escape_controls(finding.path))}{colon}{finding.line}{colon}{finding.column}{colon}"


def finding_line(finding, style: Style) -> str:
    return f"{location(finding, style)} {style.code(finding.code)} {escape_controls(finding.message)}"


def fix_label(fix, unsafe_fixes: bool) -> str:
    """``fix (safe, --fix)``: a fix's tier and what applies it (text and full formats)."""
    how = "--fix" if fix.applies(unsafe_fixes) else "--fix --unsafe-fixes"
    tier = "safe" if fix.is_safe else "unsafe"
    return f"fix ({tier}, {how})"


def fix_line(finding, unsafe_fixes: bool, style: Style) -> str:
    """``--show-fixes``: the fix a finding carries and what applies it."""
    fix = finding.fix
    return f"    {style.fixable(fix_label(fix, unsafe_fixes) + ':')} {escape_controls(fix.description)}"


def summary(result, findings) -> str:
    files = len(result.files)
    noun = "file" if files == 1 else "files"
    if not findings:
        return "No files checked." if files == 0 else f"All checks passed ({files} {noun} checked)."
    text = f"Found {len(findings)} finding{'s' if len(findings) != 1 else ''} in {files} {noun} checked"
    hint = fix_hint(*fix_counts(findings, getattr(result, "unsafe_fixes", False)))
    return text + (f" ({hint})." if hint else ".")


def render(result, config, options: RenderOptions | None = None) -> str:
    options = options or RenderOptions()
    style = Style(options.colour)
    unsafe_fixes = getattr(result, "unsafe_fixes", False)
    findings = result.findings
    lines = []
    for finding in findings:
        lines.append(finding_line(finding, style))
        if options.show_fixes and finding.fix is not None:
            lines.append(fix_line(finding, unsafe_fixes, style))
    if not options.quiet:
        lines.append(summary(result, findings))
    return "".join(line + "\n" for line in lines)
