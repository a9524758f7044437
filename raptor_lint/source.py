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

try:  # CPython's symbol-table builder; absent on other implementations
    import _symtable
except ImportError:  # pragma: no cover
    _symtable = None  # type: ignore[assignment]


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


def compiles_quickly(text: str, filename: str) -> bool:
    """True when ``text`` certainly passes ``parse_python``, checked without building the tree.

    For files no rule family wants to look at, only "does it parse" matters (E999).
    CPython's symbol-table pass parses exactly as ``ast.parse`` does but skips
    building ~100 k Python objects per big module (about 40 % cheaper).  It is
    never more lenient than the gate: it checks more (scoping, ``__future__``),
    and False means "ask the gate", which then gives the exact verdict and
    position.  Two corner cases go to the gate explicitly: type comments (the gate
    parses them, which rejects a misplaced ``# type:`` comment that plain parsing
    ignores) and nesting near the recursion limit (checked here with a smaller
    stack budget).  Call the gate from the caller's own frame, not from here: its
    nesting limit depends on the stack depth.
    """
    if _symtable is None or "type:" in text:
        return False
    try:
        _with_frames(_SYMTABLE_MARGIN, _symtable.symtable, text, filename, "exec")
    except Exception:  # noqa: BLE001 - SyntaxError, RecursionError, ValueError...: the gate decides
        return False
    return True


# Extra Python frames under the symbol-table pass: each costs it 3 levels of its
# nesting budget, so it gives up (and the gate decides) before ast.parse would.
_SYMTABLE_MARGIN = 40


def _with_frames(depth: int, fn, *args):
    if depth <= 0:
        return fn(*args)
    return _with_frames(depth - 1, fn, *args)


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
