"""Reading JSON-RPC messages from the client, defensively, and pygls's bookkeeping fixed.

pygls 2.1.1's reader (``pygls.io_.run_async``) trusts the client: ``Content-Length:
999999999999`` makes it allocate that much (``MemoryError`` kills the server), a header
it cannot read leaves it waiting for a length that never comes (alive but deaf), and a
request whose params do not structure (``"params": null``) is logged and never answered.
``serve`` replaces it:

* header lines are read with a length cap; a ``Content-Length`` that is not a number, is
  missing, or exceeds ``MAX_BODY_BYTES`` is refused with one log line, and the reader
  re-synchronises on the next ``Content-Length:`` header it sees (the refused body, if the
  client sent one, is skipped as it goes by, never allocated in one piece);
* a body that is not JSON is answered with a JSON-RPC Parse Error (id null), a request
  that is not a JSON-RPC object with an Invalid Request error, and a request whose params
  do not fit its method with Invalid Params (-32602): as the JSON-RPC spec asks, never
  silence.

``RaptorProtocol`` also drops the Future pygls keeps per notification: its notification
path stores every handler's Future in ``_request_futures`` under a fresh uuid (generator
built-ins such as didChange, and coroutine handlers) and only request responses remove
theirs, so memory grew ~2.9 KB per edit for the server's life.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Any, BinaryIO

from cattrs.errors import ClassValidationError
from cattrs.v import transform_error
from pygls.exceptions import (
    JsonRpcException, JsonRpcInternalError, JsonRpcInvalidParams, JsonRpcInvalidRequest, JsonRpcParseError,
)
from pygls.protocol import JsonRPCNotification, JsonRPCRequestMessage, LanguageServerProtocol

log = logging.getLogger(__name__)

# The largest message body accepted.  A document at the engine's size limit
# (MAX_FILE_CHARS, 2 M characters) is at most 8 MB of UTF-8, ~16 MB as escaped JSON.
MAX_BODY_BYTES = 64 * 1024 * 1024
# A header line longer than this is not a header (LSP has two short ones).
MAX_HEADER_LINE = 4096
_CONTENT_LENGTH = re.compile(rb"content-length:[ \t]*([^\r\n]*)", re.IGNORECASE)


class HeaderError(Exception):
    """A message's headers are unusable; the reader skips to the next message."""


class InvalidParams(JsonRpcInvalidParams):
    """A message's params do not fit its method; ``reason`` says where (one line)."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class RaptorProtocol(LanguageServerProtocol):
    """pygls's protocol without the per-notification Future leak (see the module doc), and
    without its ~35-line traceback on stderr for every request whose params do not fit."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        """As pygls's, for a request or a notification of the client: params that do not
        structure raise ``InvalidParams`` (the caller logs one line: the method and the
        reason), not a traceback logged here.  Anything else that fails while structuring
        keeps pygls's traceback (a bug, not the client's mistake); responses go to pygls."""
        if "jsonrpc" not in data or "method" not in data or "error" in data:
            return super().structure_message(data)
        fallback = JsonRPCRequestMessage if "id" in data else JsonRPCNotification
        message_type = self.get_message_type(data["method"]) or fallback
        try:
            return self._converter.structure(data, message_type)
        except ClassValidationError as exc:
            raise InvalidParams(_reason(exc)) from exc
        except Exception:
            return super().structure_message(data)  # logs the traceback, raises a JsonRpcException

    def _execute_handler(self, msg_id: Any, handler: Any, callback: Any, args: Any = None,
                         kwargs: Any = None) -> None:
        def done(future: Any) -> None:
            try:
                callback(future)
            finally:
                if self._request_futures.get(msg_id) is future:
                    del self._request_futures[msg_id]

        super()._execute_handler(msg_id, handler, done, args, kwargs)


class MessageReader:
    """Reads one message body at a time from a blocking binary stream (on a thread)."""

    def __init__(self, stream: BinaryIO, max_body: int = MAX_BODY_BYTES) -> None:
        self.stream = stream
        self.max_body = max_body
        self._pending_header: bytes | None = None  # a header found while skipping

    def read_message(self) -> bytes | None:
        """The next body; None at end of input.  Raises ``HeaderError`` for a refused
        message (after which the next call resumes at the following message)."""
        length: int | None = None
        problem: str | None = None
        seen_header = False
        while True:
            line = self._next_line()
            if line is None:
                return None
            if line in (b"\r\n", b"\n"):
                if not seen_header:
                    continue  # blank lines between messages
                break
            if len(line) >= MAX_HEADER_LINE and not line.endswith(b"\n"):
                problem = problem or f"a header line longer than {MAX_HEADER_LINE} bytes"
                self._skip_rest_of_line()
                seen_header = True
                continue
            seen_header = True
            match = _CONTENT_LENGTH.match(line)
            if match is None:
                if b":" not in line:
                    problem = problem or f"not a header: {line[:60]!r}"
                continue  # Content-Type and other headers are ignored
            value = match.group(1).strip()
            if not value.isdigit():
                problem = problem or f"Content-Length is not a number: {value[:40]!r}"
            elif int(value) > self.max_body:
                problem = problem or f"Content-Length {int(value)} exceeds the limit of {self.max_body} bytes"
            else:
                length = int(value)
        if problem is None and length is None:
            problem = "a message without Content-Length"
        if problem is not None:
            self._resynchronise()
            raise HeaderError(problem)
        assert length is not None
        body = self.stream.read(length)
        if len(body) < length:
            return None
        return body

    def _next_line(self) -> bytes | None:
        if self._pending_header is not None:
            line, self._pending_header = self._pending_header, None
            return line
        line = self.stream.readline(MAX_HEADER_LINE)
        return line or None

    def _skip_rest_of_line(self) -> None:
        while True:
            chunk = self.stream.readline(MAX_HEADER_LINE)
            if not chunk or chunk.endswith(b"\n"):
                return

    def _resynchronise(self) -> None:
        """Skip input up to the next ``Content-Length:`` header (kept for the next read)."""
        carry = b""
        while True:
            chunk = self.stream.readline(MAX_HEADER_LINE)
            if not chunk:
                return
            window = carry + chunk
            found = window.lower().find(b"content-length:")
            if found >= 0:
                rest = window[found:]
                if not rest.endswith(b"\n"):
                    rest += self.stream.readline(MAX_HEADER_LINE)
                self._pending_header = rest
                return
            carry = window[-32:]  # a header split across two reads


async def serve(protocol: LanguageServerProtocol, stream: BinaryIO, stop: Any) -> None:
    """The message loop: read (on a thread), structure, dispatch; refuse what is malformed."""
    loop = asyncio.get_running_loop()
    reader = MessageReader(stream)
    while not stop.is_set():
        try:
            body = await loop.run_in_executor(None, reader.read_message)
        except HeaderError as refused:
            log.warning("refused a message from the client: %s", refused)
            continue
        if body is None:
            return
        handle_body(protocol, body)


def handle_body(protocol: LanguageServerProtocol, body: bytes) -> None:
    """Decode one body and hand it to pygls, answering a JSON-RPC error where one is due."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        log.warning("refused a message that is not JSON: %s", exc)
        _send_error(protocol, None, JsonRpcParseError(message=f"Parse error: {exc}"))
        return
    if not isinstance(data, dict) or data.get("jsonrpc") != "2.0":
        ident = data.get("id") if isinstance(data, dict) else None
        log.warning("refused a message that is not a JSON-RPC 2.0 object")
        _send_error(protocol, ident if _valid_id(ident) else None,
                    JsonRpcInvalidRequest(message="Invalid Request: expected a JSON-RPC 2.0 object"))
        return
    is_request = "id" in data and "method" in data
    try:
        message = protocol.structure_message(data)
    except JsonRpcException as exc:
        method = data.get("method")
        reason = exc.reason if isinstance(exc, InvalidParams) else "see the log above"
        if is_request and _valid_id(data["id"]):
            log.warning("refused a %r request: its params do not fit (%s)", method, reason)
            error = exc if isinstance(exc, JsonRpcInvalidParams) else JsonRpcInvalidParams()
            error.message = f"Invalid params for {method!r}: {reason}"
            _send_error(protocol, data["id"], error)
        else:
            log.warning("dropped a %r notification: its params do not fit (%s)", method, reason)
        return
    try:
        protocol.handle_message(message)
    except Exception as exc:  # noqa: BLE001 - one bad message must not end the loop
        log.exception("failed to handle a message")
        if is_request and _valid_id(data["id"]):
            _send_error(protocol, data["id"], JsonRpcInternalError(message=f"Internal error: {exc}"))


def _reason(exc: ClassValidationError) -> str:
    """Where params fail to structure, in one line: ``expected int @ $.params.position.line``."""
    try:
        reasons = transform_error(exc)
    except Exception:  # noqa: BLE001 - the reason is a courtesy; the error is sent anyway
        reasons = [str(exc)]
    reason = "; ".join(r.removeprefix("invalid value for type, ") for r in reasons[:3])
    if len(reasons) > 3:
        reason += f" (and {len(reasons) - 3} more)"
    return " ".join(reason.split())[:300]


def _valid_id(ident: Any) -> bool:
    return isinstance(ident, (int, str)) and not isinstance(ident, bool)


def _send_error(protocol: LanguageServerProtocol, ident: Any, error: JsonRpcException) -> None:
    if ident is None:
        # pygls's serializer drops None fields, and JSON-RPC wants ``"id": null`` here.
        protocol._send_data({"jsonrpc": "2.0", "id": None,
                             "error": {"code": error.code, "message": error.message}})
        return
    protocol._send_response(ident, error=error.to_response_error())
