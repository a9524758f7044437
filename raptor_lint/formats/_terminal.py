"""Text for a terminal or a log: file names and messages are data, never commands.

A file name may hold a newline (``x\\n::warning ::pwned.py``: a second line a GitHub
Actions log would obey), an escape sequence that recolours or retitles a terminal, a
bidirectional override that shows the name reversed (Trojan Source), or bytes that are not
UTF-8 (``caf\\xe9.py``, kept by Python as lone surrogates, which no UTF-8 stream can
print).  ``escape_controls`` spells each of them as a visible escape, so every finding
stays one line and a name reads as what it is; ``Style`` adds ANSI colour when the
report goes to a person's terminal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# C0 and C1 controls, DEL, Unicode line/paragraph separators, bidi controls, and the lone
# surrogates Python uses for undecodable bytes (PEP 383).
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069"
                          "\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte, as os.fsdecode kept it
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def escape_controls(text: str, keep: str = "") -> str:
    """``text`` with every control, bidi override and undecodable byte spelled as an
    escape (``\\n``, ``\\x1b``, ``\\u202e``, ``\\xe9``); characters in ``keep`` stay."""
    if keep:
        return _UNPRINTABLE.sub(lambda m: m.group() if m.group() in keep else _escape(m), text)
    return _UNPRINTABLE.sub(_escape, text)


@dataclass(frozen=True)
class Style:
    """ANSI styling, or none (``enabled=False``): the formats call it unconditionally."""

    enabled: bool = False

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.enabled and text else text

    def bold(self, text: str) -> str:
        return self._wrap("1", text)

    def code(self, text: str) -> str:
        return self._wrap("1;31", text)

    def punctuation(self, text: str) -> str:
        return self._wrap("36", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def caret(self, text: str) -> str:
        return self._wrap("1;31", text)

    def note(self, text: str) -> str:
        return self._wrap("1;36", text)

    def fixable(self, text: str) -> str:
        return self._wrap("36", text)
