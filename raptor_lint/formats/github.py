"""GitHub Actions workflow commands: one ``::error`` annotation per finding.

``::error file=app/x.py,line=3,col=5,endLine=3,endColumn=9,title=RPT301::message``
Escaping follows the runner's rules (actions/toolkit ``command.ts``): in the
message ``%``, ``\\r`` and ``\\n``; in property values also ``:`` and ``,``.
Paths are relative to the working directory: run it from the repository root.
A file name or message is data: other control characters, bidi overrides and undecodable
bytes are spelled as escapes first (``formats._terminal``), so no name can end the command
or start another (``::warning``) in the log.
A finding with a fix says so at the end of the message, with its tier:
``(fix available: --fix)`` or ``(unsafe fix available: --fix --unsafe-fixes)``.
"""

from __future__ import annotations

from raptor_lint.formats._terminal import escape_controls


def escape_data(text: str) -> str:
    text = escape_controls(text, keep="\r\n")
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def fix_note(finding) -> str:
    if finding.fix is None:
        return ""
    if finding.fix.is_safe:
        return " (fix available: --fix)"
    return " (unsafe fix available: --fix --unsafe-fixes)"


def render(result, config, options=None) -> str:
    lines = []
    for f in result.findings:
        end_line = f.end_line if f.end_line is not None else f.line
        end_column = f.end_column if f.end_column is not None else f.column
        properties = {
            "file": f.path,
            "line": f.line,
            "col": f.column,
            "endLine": end_line,
            "endColumn": end_column,
            "title": f.code,
        }
        props = ",".join(f"{key}={escape_property(str(value))}" for key, value in properties.items())
        lines.append(f"::error {props}::{escape_data(f.message + fix_note(f))}")
    return "".join(line + "\n" for line in lines)
