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


def shorten(text: str, limit: int = 40) -> str:
    """``text`` on one line (runs of whitespace become one space), cut to ``limit``
    characters with ``…``: a name or code fragment quoted in a finding's short message,
    which must stay one line of at most ~120 characters (SPEC §7) whatever the code holds."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


MESSAGE_LIMIT = 120  # a finding's short message, SPEC §7 ("at most ~120 characters")


def with_first_fitting(message: str, *suffixes: str, limit: int = MESSAGE_LIMIT) -> str:
    """``message`` followed by the first of ``suffixes`` (most helpful first) that keeps it
    within ``limit`` characters; ``message`` alone when none does.  The details a long name
    crowds out stay in the finding's note and related places."""
    for suffix in suffixes:
        if len(message) + len(suffix) <= limit:
            return message + suffix
    return message


def fit_message(template: str, limit: int = MESSAGE_LIMIT, **parts: str) -> str:
    """``template.format(**parts)``, the longest parts cut with ``…`` (never below 12
    characters) until the message fits ``limit``: the names a message quotes are what can
    give way, the words saying what is wrong and what to do are not."""
    parts = {key: " ".join(value.split()) for key, value in parts.items()}
    message = template.format(**parts)
    while len(message) > limit:
        key = max(parts, key=lambda name: len(parts[name]))
        value = parts[key]
        if len(value) <= 12:
            break
        parts[key] = shorten(value, max(12, len(value) - (len(message) - limit)))
        message = template.format(**parts)
    return message
