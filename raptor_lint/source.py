"""Turning bytes into text and text into a syntax tree, without ever crashing.

CPython's own compiler is the gate and the only parser on the lint path: it is
cheap, gives exact syntax-error positions and rejects pathological nesting
cleanly (libcst, kept for fixes that restructure code, can take the whole process
down on input CPython accepts; see STACK-NOTES).
"""

from __future__ import annotations

import ast
import io
import os
import re
import sys
import threading
import tokenize
from typing import Any, Callable, TypeVar, cast

from raptor_lint.safe_read import UnreadableFile, read_regular_file

T = TypeVar("T")

# Line breaks as Python's tokenizer (and LSP clients) count them: \r\n, \r or
# \n (str.splitlines also splits on \f, \v, \x1c...).  Every module counts lines with it.
LINE_BREAK = re.compile(r"\r\n|\r|\n")
# The coarsest file-system timestamp step allowed for (FAT: 2 s): two changes closer than
# this may leave a file's (or a directory's) mtime as it was after the first.
MTIME_TICK_NS = 2_000_000_000


def split_lines(text: str) -> list[str]:
    """``text``'s physical lines without their line breaks (the last may be empty)."""
    return LINE_BREAK.split(text)


def column_of(line: str, byte_offset: int) -> int:
    """The 1-based code-point column of ``ast``'s UTF-8 ``byte_offset`` on ``line``."""
    if line.isascii():
        return byte_offset + 1
    return len(line.encode("utf-8")[:byte_offset].decode("utf-8", "replace")) + 1


def lines_at(text: str, offsets: list[int]) -> list[int]:
    """The 1-based line numbers of the ascending character ``offsets`` in ``text``."""
    found: list[int] = []
    line, previous = 1, 0
    carriage = "\r" in text
    for offset in offsets:
        line += len(LINE_BREAK.findall(text, previous, offset)) if carriage \
            else text.count("\n", previous, offset)
        previous = offset
        found.append(line)
    return found


try:  # CPython's symbol-table builder; absent on other implementations
    import _symtable  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover
    _symtable = None


class SourceError(Exception):
    """Unreadable or unparsable source; carries an E999-style position."""

    def __init__(self, message: str, line: int = 1, column: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.line = max(1, line or 1)
        self.column = max(1, column or 1)


def read_source(path: "os.PathLike[str] | str") -> bytes:
    """The bytes of a regular file; anything else is a ``SourceError`` (reported as E902).

    ``safe_read.read_regular_file``: a FIFO, a socket or a device (``/dev/zero``) named
    ``*.py`` can neither hang nor exhaust the run, and a file over ``MAX_FILE_BYTES`` is
    refused without being read.
    """
    try:
        return read_regular_file(path)
    except UnreadableFile as exc:
        raise SourceError(f"cannot read file: {exc}") from None


def decode_python(data: bytes) -> str:
    """Decode like CPython: BOM, PEP 263 cookie, else UTF-8."""
    try:
        encoding, first_lines = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        if "invalid or missing encoding declaration" in (exc.msg or ""):
            # tokenize's words for "the first lines are not UTF-8 and no cookie says otherwise".
            raise _not_utf8(data, declared=False) from None
        raise SourceError(f"SyntaxError: {_first_line(exc.msg)}", getattr(exc, "lineno", 1) or 1) from None
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        declared = any(tokenize.cookie_re.match(line.decode("latin-1")) for line in first_lines)
        if encoding.startswith("utf-8") and not declared:
            raise _not_utf8(data, declared=False) from None
        line, column = _position_of_offset(data, getattr(exc, "start", 0))
        raise SourceError(
            f"SyntaxError: file is not valid {encoding} (the encoding it declares): "
            f"{_describe_decode_error(exc)}", line, column
        ) from None
    if text.startswith("\ufeff"):
        text = text[1:]
    return text


_UTF16_32_BOMS = (
    (b"\xff\xfe\x00\x00", "UTF-32"), (b"\x00\x00\xfe\xff", "UTF-32"),
    (b"\xff\xfe", "UTF-16"), (b"\xfe\xff", "UTF-16"),
)


def _not_utf8(data: bytes, declared: bool) -> SourceError:
    """CPython's own complaint: bytes that are not UTF-8 and no PEP 263 cookie."""
    try:
        data.decode("utf-8")
        offset, detail = 0, "undecodable bytes"
    except UnicodeDecodeError as exc:
        offset, detail = exc.start, _describe_decode_error(exc)
    line, column = _position_of_offset(data, offset)
    hint = ""
    for bom, name in _UTF16_32_BOMS:
        if data.startswith(bom):
            hint = f" (it starts with a {name} byte-order mark: save it as UTF-8)"
            break
    return SourceError(
        f"SyntaxError: file is not valid UTF-8 and declares no other encoding (PEP 263): "
        f"{detail}{hint}", line, column,
    )


def decode_text(data: bytes) -> str:
    """Decode a non-Python file (shell, Makefile, Markdown, YAML, Procfile): never an error.

    UTF-8 (a BOM dropped), with every byte that is not UTF-8 kept as a lone surrogate
    (``surrogateescape``): a Latin-1 comment does not stop the file being linted, and
    ``encode_text`` writes it back byte for byte.  A binary payload appended to a shell
    script (a self-extracting installer) is left out: see ``text_payload_start``.
    """
    start = text_payload_start(data)
    text = (data if start is None else data[:start]).decode("utf-8", "surrogateescape")
    return text[1:] if text.startswith("\ufeff") else text


def encode_text(text: str, encoding: str, original: bytes) -> bytes:
    """The bytes to write for ``text``, a non-Python file's text as ``decode_text`` gave it
    (maybe fixed): undecodable bytes back as they were, and the payload ``decode_text`` left
    out of ``original`` appended unchanged."""
    start = text_payload_start(original)
    return text.encode(encoding, "surrogateescape") + (b"" if start is None else original[start:])


# An ``exit`` command on a line of its own (``exit``, ``exit 0``, ``exit $?  # done``).
_EXIT_LINE = re.compile(rb"^[ \t]*exit(?=[ \t;\r\n]|$)[^\n]*", re.M)


def text_payload_start(data: bytes) -> int | None:
    """Where the binary payload of a self-extracting script starts, or None.

    The shell never reads past an ``exit`` (or an ``exec``), so installers (makeself, JDK and
    driver ``.run``/``.sh`` files, CPython's ``exe_with_zip``) append an archive after the
    script.  The rule: when the data holds a NUL byte (never in a text file) and an ``exit``
    line comes before the first one, the payload starts at the beginning of the line that
    holds that NUL (at the NUL itself when it is on the ``exit`` line); the text before it is
    linted, the payload is written back unchanged by ``encode_text``.  A NUL with no ``exit``
    line before it is text (decoded as U+0000): the file is linted whole.
    """
    nul = data.find(b"\0")
    if nul < 0:
        return None
    last: re.Match[bytes] | None = None
    for last in _EXIT_LINE.finditer(data, 0, nul):
        pass
    if last is None:
        return None
    line_start = data.rfind(b"\n", 0, nul) + 1
    return nul if line_start <= last.start() else line_start


def parse_python(text: str, filename: str) -> ast.Module:
    """Compile to an ``ast`` tree, converting every failure into ``SourceError``.

    No ``PyCF_TYPE_COMMENTS``: with it CPython rejects valid code that merely has a
    ``# type:`` comment in an unusual place (``import os  # type: int``), which
    Python itself runs and flake8 accepts.
    """
    try:
        return cast(ast.Module, compile(text, filename, "exec", ast.PyCF_ONLY_AST, dont_inherit=True))
    except SyntaxError as exc:
        name = type(exc).__name__
        if exc.lineno is None and "\0" in text:  # 3.11.4+: null bytes, without a position
            return _raise(f"{name}: {_first_line(exc.msg)}", *_position_of_index(text, text.index("\0")))
        return _raise(f"{name}: {_first_line(exc.msg)}", exc.lineno or 1, exc.offset or 1)
    except UnicodeEncodeError as exc:  # lone surrogates (text from an editor or stdin)
        line, column = _position_of_index(text, exc.start)
        return _raise(f"SyntaxError: character {text[exc.start]!r} cannot be encoded as UTF-8", line, column)
    except ValueError as exc:  # null bytes before 3.11.4
        return _raise(f"SyntaxError: {_first_line(str(exc))}", *_position_of_index(text, max(text.find("\0"), 0)))
    except (RecursionError, MemoryError):
        return _raise("SyntaxError: too deeply nested (or too large) for the Python parser", 1, 1)
    except Exception as exc:  # noqa: BLE001 - the gate must never raise
        return _raise(f"SyntaxError: the Python parser failed: {type(exc).__name__}: {_first_line(str(exc))}", 1, 1)


def _position_of_index(text: str, index: int) -> tuple[int, int]:
    before = text[:index]
    line = len(LINE_BREAK.findall(before)) + 1
    last = max(before.rfind("\n"), before.rfind("\r"))
    return line, index - last


def compiles_quickly(text: str, filename: str) -> bool:
    """True when ``text`` certainly passes ``parse_python``, checked without building the tree.

    For files no rule family wants to look at, only "does it parse" matters (E999).
    CPython's symbol-table pass parses exactly as ``ast.parse`` does but skips
    building ~100 k Python objects per big module (about 40 % cheaper).  It is
    never more lenient than the gate: it checks more (scoping, ``__future__``),
    and False means "ask the gate", which then gives the exact verdict and
    position.  Nesting near the recursion limit goes to the gate explicitly
    (checked here with a smaller stack budget).  Call the gate from the caller's own frame, not from here: its
    nesting limit depends on the stack depth.
    """
    if _symtable is None:
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


# ---------------------------------------------------------- deep-stack runner
#
# A rule family whose recursive ``ast`` walk hits the recursion limit on a deep
# (but valid) tree runs again in a helper thread whose C stack is large (a
# thread's default can be as small as 512 KB) with the interpreter's recursion
# limit raised for the duration.  One such job runs at a time, because the
# recursion limit is process-wide.

DEEP_STACK_BYTES = 256 * 1024 * 1024  # address space reserved, not memory used
DEEP_RECURSION_LIMIT = 20_000
_deep_lock = threading.Lock()
_deep_state = threading.local()


class DeepStackUnavailable(Exception):
    """The platform refused a thread with a large stack."""


def in_deep_stack() -> bool:
    return getattr(_deep_state, "active", False)


def run_with_deep_stack(function: Callable[[], T]) -> T:
    """Run ``function()`` in a helper thread with a large stack; return or raise its outcome."""
    if in_deep_stack():
        return function()
    outcome: dict[str, Any] = {}

    def target() -> None:
        _deep_state.active = True
        try:
            outcome["value"] = function()
        except BaseException as exc:  # noqa: BLE001 - handed back to the calling thread
            outcome["error"] = exc

    with _deep_lock:
        previous_limit = sys.getrecursionlimit()
        sys.setrecursionlimit(max(previous_limit, DEEP_RECURSION_LIMIT))
        try:
            started = None
            for size in (DEEP_STACK_BYTES, DEEP_STACK_BYTES // 8):
                try:
                    previous_size = threading.stack_size(size)  # applies to threads started next
                except (ValueError, RuntimeError):
                    continue
                try:
                    thread = threading.Thread(target=target, name="raptor-lint-deep-stack", daemon=True)
                    thread.start()
                    started = thread
                    break
                except RuntimeError:  # "can't start new thread"
                    continue
                finally:
                    threading.stack_size(previous_size)
            if started is None:
                raise DeepStackUnavailable("this platform refused a thread with a large stack")
            started.join()
        finally:
            sys.setrecursionlimit(previous_limit)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]
