"""Placeholders for the unknown parts of a string built with ``%`` or ``.format()``.

Shared by the two static string evaluators, SQL extraction (``raptor_lint.sql.extract``)
and the cross-module constant resolver (``raptor_lint.project.modules``).  Imports
nothing of the package, so either can import it without a cycle.
"""

from __future__ import annotations

import re

# A ``%`` conversion as Python's printf-style formatting reads it:
# %[(key)][flags][width|*][.precision|*][length modifier]conversion.
_PERCENT = re.compile(r"%(\([^)]*\))?[-#0 +]*(\*|\d+)?(\.(\*|\d+))?[hlL]?[diouxXeEfFgGcrsa%]")
_BRACES = re.compile(r"\{[^{}]*\}")


def replace_percent(text: str, placeholder: str) -> str:
    """``"... %s ... %(name)s" % args``: each conversion becomes ``placeholder``
    (``%%`` stays one ``%``)."""
    return _PERCENT.sub(lambda m: "%" if m.group(0) == "%%" else placeholder, text)


def replace_braces(text: str, placeholder: str) -> str:
    """``"... {} ... {name}".format(...)``: each field becomes ``placeholder``
    (``{{`` and ``}}`` stay one brace)."""
    text = text.replace("{{", "\0").replace("}}", "\1")
    text = _BRACES.sub(placeholder, text)
    return text.replace("\0", "{").replace("\1", "}")
