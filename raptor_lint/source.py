"""Turning bytes into text and text into a syntax tree, without ever crashing.

CPython's own compiler is the gate: it is cheap, gives exact syntax-error
positions and rejects pathological nesting cleanly, where libcst can take the
whole process down (see STACK-NOTES).  Only text that passes the gate is ever
handed to libcst.
"""

from __future__ import annotations

import ast
import io
import tokenize


class SourceError(Exception):
    """Unreadable or unparsable source; carries an E999-style position."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = max(1, line or 1)
        self.column = max(1, column or 1)


def decode_python(data: bytes) -> str:
    """Decode like CPython: BOM, PEP 263 cookie, else UTF-8."""
    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        raise SourceError(f"SyntaxError: {_first_line(exc.msg)}", getattr(exc, "lineno", 1) or 1) from None
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        line, column = _position_of_offset(data, getattr(exc, "start", 0))
        raise SourceError(
            f"SyntaxError: file is not valid {encoding}: {_describe_decode_error(exc)}", line, column
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


def decode_text(data: bytes) -> str:
    """Decode a non-Python file (shell, Markdown, YAML, Procfile) as UTF-8."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _position_of_offset(data, exc.start)
        raise SourceError(
            f"file is not valid UTF-8: {_describe_decode_error(exc)}", line, column
        ) from None
    return text[1:] if text.startswith("\ufeff") else text


def parse_python(text: str, filename: str) -> ast.Module:
    """Compile to an ``ast`` tree, converting every failure into ``SourceError``."""
    try:
        return compile(text, filename, "exec", ast.PyCF_ONLY_AST | ast.PyCF_TYPE_COMMENTS, dont_inherit=True)
    except SyntaxError as exc:
        name = type(exc).__name__
        return _raise(f"{name}: {_first_line(exc.msg)}", exc.lineno or 1, exc.offset or 1)
    except ValueError as exc:  # null bytes on Python < 3.12
        return _raise(f"SyntaxError: {_first_line(str(exc))}", _null_byte_line(text), 1)
    except (RecursionError, MemoryError):
        return _raise("SyntaxError: too deeply nested for the Python parser", 1, 1)


def _raise(message: str, line: int, column: int):
    raise SourceError(message, line, column)


def _first_line(text: str) -> str:
    return (text or "").splitlines()[0] if text else "invalid syntax"


def _null_byte_line(text: str) -> int:
    index = text.find("\0")
    return text.count("\n", 0, index) + 1 if index >= 0 else 1


def _position_of_offset(data: bytes, offset: int) -> tuple[int, int]:
    before = data[:offset]
    line = before.count(b"\n") + 1
    column = offset - (before.rfind(b"\n") + 1) + 1
    return line, column


def _describe_decode_error(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        bad = exc.object[exc.start:exc.end]
        return f"byte {bad[:4].hex(' ')} at offset {exc.start} ({exc.reason})"
    return str(exc)
