"""Turning bytes into text and text into a syntax tree, without ever crashing.

CPython's own compiler is the gate: it is cheap, gives exact syntax-error
positions and rejects pathological nesting cleanly, where libcst can take the
whole process down (see STACK-NOTES).  Only text that passes the gate is ever
handed to libcst.
"""

from __future__ import annotations

import ast
import io
import os
import re
import stat
import sys
import threading
import tokenize
from dataclasses import dataclass
from typing import Any, Callable, TypeVar

T = TypeVar("T")

# Line breaks as Python's tokenizer (and libcst, and LSP clients) count them: \r\n, \r or
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


def read_source(path: "os.PathLike[str] | str") -> bytes:
    """The bytes of a regular file; anything else is a ``SourceError`` (reported as E902).

    Opened non-blocking and checked with ``fstat`` before reading, so a FIFO, a
    socket or a device (``/dev/zero``) named ``*.py`` can neither hang nor exhaust
    the run.
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as exc:
        raise SourceError(_io_message(exc)) from None
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise SourceError("cannot read file: it is a directory")
        if not stat.S_ISREG(info.st_mode):
            raise SourceError(f"cannot read file: not a regular file ({_file_type(info.st_mode)})")
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise SourceError(_io_message(exc)) from None
    except MemoryError:
        raise SourceError("cannot read file: too large to fit in memory") from None
    finally:
        os.close(fd)


def _io_message(exc: OSError) -> str:
    return f"cannot read file: {exc.strerror or exc} ({type(exc).__name__})"


def _file_type(mode: int) -> str:
    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "an unknown file type"


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
    """Compile to an ``ast`` tree, converting every failure into ``SourceError``.

    No ``PyCF_TYPE_COMMENTS``: with it CPython rejects valid code that merely has a
    ``# type:`` comment in an unusual place (``import os  # type: int``), which
    Python itself runs and flake8 accepts.
    """
    try:
        return compile(text, filename, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
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


# ------------------------------------------------------------ CST safety limit
#
# libcst's native parser recurses on the C stack (~1.5 KB a level) and its
# visitors recurse in Python (~3.5 frames a level).  Some constructs are flat in
# CPython's ``ast`` -- and so pass the compiler gate at any length -- but nest
# one level per element in libcst: ``and``/``or`` operands, implicitly
# concatenated strings, dotted import names, comprehension ``for`` clauses.
# Measured with libcst 1.9 on CPython 3.11 (main thread, 8 MB stack): 7,054
# ``and`` operands or 5,935 dotted names segfault the process; 3,001 string
# pieces or ``for`` clauses give a false ParserSyntaxError; about 290 levels
# exhaust the default recursion limit in the metadata visitors.  Real code
# reaches ~260 (the stdlib's charmap codecs concatenate 256 strings).
#
# ``cst_nesting`` estimates the depth of the libcst tree from the ast tree
# (an over-estimate on ordinary code; exact on the flat-in-ast constructs).
# Up to CST_DEEP the engine parses as usual; up to CST_LIMIT it parses in a
# helper thread with a large stack and a raised recursion limit; beyond it
# libcst never sees the file (the CST rule families report RPT000 instead).

CST_DEEP = 120
CST_LIMIT = 2900


@dataclass(frozen=True)
class Nesting:
    depth: int
    line: int
    construct: str


_CONSTRUCTS = {
    "": "nested code",
    "BoolOp": "a chain of `and`/`or` operands",
    "strings": "implicitly concatenated string literals",
    "import": "a dotted import name",
    "comprehension": "comprehension `for` clauses",
}
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)
# Fields libcst wraps in an extra node or two (Arg, Element, DictElement, SubscriptElement+Index).
_WRAPPED_FIELDS = {
    ast.Call: {"args": 2, "keywords": 2},
    ast.List: {"elts": 2},
    ast.Tuple: {"elts": 2},
    ast.Set: {"elts": 2},
    ast.Dict: {"keys": 2, "values": 2},
    ast.Subscript: {"slice": 3},
}
_BLOCK_STATEMENTS = (
    ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.If, ast.For, ast.AsyncFor,
    ast.While, ast.With, ast.AsyncWith, ast.Try, *((ast.TryStar,) if hasattr(ast, "TryStar") else ()),
    *((ast.Match,) if hasattr(ast, "Match") else ()),
)
# Operator and context singletons: leaves that add nothing to the depth.
_LEAF_TYPES = (ast.expr_context, ast.boolop, ast.operator, ast.unaryop, ast.cmpop)
# One complete string literal (tokenize's own patterns): the common case, no need to tokenize.
_ONE_STRING = re.compile(
    "(?:%s)" % "|".join((
        tokenize.StringPrefix + r"'[^\n'\\]*(?:\\.[^\n'\\]*)*'",
        tokenize.StringPrefix + r'"[^\n"\\]*(?:\\.[^\n"\\]*)*"',
        tokenize.StringPrefix + "'''" + tokenize.Single3,
        tokenize.StringPrefix + '"""' + tokenize.Double3,
    )),
    re.DOTALL,
)
_STRING_STARTS = {tokenize.STRING, getattr(tokenize, "FSTRING_START", tokenize.STRING)}


def cst_nesting(tree: ast.AST, text: str) -> Nesting:
    """Estimate how deep libcst's tree for ``text`` nests, where, and why (iteratively).

    An over-estimate of libcst's depth on ordinary code, exact on the constructs
    that are flat in ``ast``.  Subtrees that provably cannot reach ``CST_DEEP``
    (short one-line expressions) are not walked, so below ``CST_DEEP`` the
    result is only a lower bound -- that is all the engine needs to know.
    """
    best = Nesting(0, 1, _CONSTRUCTS[""])
    strings = _StringPieces(text)
    stack: list[tuple[ast.AST, int, bool, str, int]] = [(tree, 0, False, "", 1)]
    pop, push = stack.pop, stack.append
    leaf_types = _LEAF_TYPES
    while stack:
        node, depth, in_fstring, why, why_line = pop()
        cls = type(node)
        end_lineno = getattr(node, "end_lineno", None)
        if (end_lineno is not None and isinstance(node, ast.expr) and end_lineno == node.lineno
                and depth + 2 * (node.end_col_offset - node.col_offset)  # type: ignore[attr-defined,operator]
                + 8 <= CST_DEEP):
            continue  # ~1.5 levels a character at most: cannot get deep
        step, cause = 1, ""
        if cls is ast.BoolOp:
            step, cause = len(node.values), "BoolOp"  # type: ignore[attr-defined]
        elif cls in _COMPREHENSIONS:
            step, cause = 1 + len(node.generators), "comprehension"  # type: ignore[attr-defined]
        elif cls is ast.Import or cls is ast.ImportFrom:
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]  # type: ignore[attr-defined]
            step, cause = 2 + max(n.count(".") for n in names), "import"
        elif (cls is ast.Constant and isinstance(node.value, (str, bytes))  # type: ignore[attr-defined]
              or cls is ast.JoinedStr) and not in_fstring:
            step, cause = strings.count(node), "strings"
        elif isinstance(node, ast.stmt):
            step = 2  # SimpleStatementLine + statement, or compound statement + IndentedBlock
        if step >= 16:  # a long flat construct explains the depth better than its context
            why, why_line = cause, getattr(node, "lineno", why_line)
        elif not why:
            why_line = getattr(node, "lineno", why_line)
        depth += step
        if depth > best.depth:
            best = Nesting(depth, why_line, _CONSTRUCTS[why])
            if depth > CST_LIMIT * 4:
                break  # far past the limit: no need to know exactly how far
        wrapped = _WRAPPED_FIELDS.get(cls)
        inner = in_fstring or cls is ast.JoinedStr
        for name in node._fields:
            value = getattr(node, name, None)
            child_depth = depth + wrapped.get(name, 0) if wrapped else depth
            if type(value) is list:
                for item in value:
                    if isinstance(item, ast.AST) and not isinstance(item, leaf_types):
                        push((item, child_depth, inner, why, why_line))
            elif isinstance(value, ast.AST) and not isinstance(value, leaf_types):
                push((value, child_depth, inner, why, why_line))
    return best


class _StringPieces:
    """How many literal pieces an implicitly concatenated string node is made of."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts: list[int] | None = None

    def count(self, node: ast.AST) -> int:
        lineno, end_lineno = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        col, end_col = getattr(node, "col_offset", None), getattr(node, "end_col_offset", None)
        if lineno is None or end_lineno is None or col is None or end_col is None:
            return 1
        if end_lineno == lineno and end_col - col < 8:
            return 1  # at most three pieces: not worth counting
        segment = self._segment(lineno, col, end_lineno, end_col)
        if segment is None or _ONE_STRING.fullmatch(segment):
            return 1
        try:
            tokens = tokenize.generate_tokens(io.StringIO("(" + segment + ")").readline)
            return max(1, sum(1 for tok in tokens if tok.type in _STRING_STARTS))
        except (tokenize.TokenError, SyntaxError, ValueError):
            return max(1, len(segment) // 2)  # cannot count: assume the worst

    def _segment(self, lineno: int, col: int, end_lineno: int, end_col: int) -> str | None:
        if self._starts is None:
            self._starts = [0] + [m.end() for m in LINE_BREAK.finditer(self.text)]
        starts = self._starts
        if not (0 < lineno <= end_lineno <= len(starts)):
            return None
        first = self._line(lineno)
        last = first if end_lineno == lineno else self._line(end_lineno)
        head = len(first.encode("utf-8")[:col].decode("utf-8", "replace"))
        tail = len(last.encode("utf-8")[:end_col].decode("utf-8", "replace"))
        begin = starts[lineno - 1] + head
        end = starts[end_lineno - 1] + tail
        return self.text[begin:end]

    def _line(self, number: int) -> str:
        starts = self._starts or [0]
        end = starts[number] if number < len(starts) else len(self.text)
        return self.text[starts[number - 1]:end]


class CSTUnavailable(Exception):
    """libcst must not (or cannot) parse this file; the CST rule families are skipped."""

    def __init__(self, reason: str, line: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = max(1, line or 1)


class NeedsDeepStack(Exception):
    """Retry this work with ``run_with_deep_stack`` (the tree is deeper than CST_DEEP)."""


def parse_cst(text: str, nesting: Nesting):
    """``libcst.parse_module`` behind the safety limits above (see ``cst_nesting``)."""
    if nesting.depth > CST_LIMIT:
        raise CSTUnavailable(
            f"the file nests about {nesting.depth:,} levels deep from line {nesting.line} "
            f"({nesting.construct}); libcst, which these rules need, is only safe up to "
            f"{CST_LIMIT:,} levels (deeper trees crash it). The code is valid Python: split "
            f"the construct or exclude the file",
            nesting.line,
        )
    if nesting.depth > CST_DEEP and not in_deep_stack():
        raise NeedsDeepStack()
    import libcst

    try:
        return libcst.parse_module(text)
    except libcst.ParserSyntaxError as exc:
        raise CSTUnavailable(
            f"libcst cannot parse this file although CPython can: {_first_line(str(exc))}",
            getattr(exc, "raw_line", 1),
        ) from None
    except RecursionError:
        if not in_deep_stack():
            raise NeedsDeepStack() from None
        raise CSTUnavailable("libcst cannot parse this file: nesting too deep", nesting.line) from None


# ---------------------------------------------------------- deep-stack runner
#
# Work on trees deeper than CST_DEEP runs in a helper thread whose C stack is
# large (libcst's parser needs ~1.5 KB a level; a thread's default can be as
# small as 512 KB) with the interpreter's recursion limit raised for the
# duration (libcst's visitors take ~3.5 Python frames a level).  One such job
# runs at a time, because the recursion limit is process-wide.

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
