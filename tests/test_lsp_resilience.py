"""The language server stays responsive (issue 18): checks run in worker processes with a
time budget, ``shutdown`` is answered at once, large documents are re-checked
incrementally, diagnostics are capped, memory stays flat, malformed input is refused.

The bounds asserted here (one second, two seconds) are the issue's; every other wait is
a generous guard against a hung server.  A hanging check is simulated with the worker's
test-only hook ``RAPTOR_LINT_LSP_TEST_HANG`` (a check of a file matching it never ends).
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from lsp_client import open_doc, published


REPO = Path(__file__).resolve().parent.parent
SERVER = [sys.executable, "-m", "raptor_lint", "lsp"]
BUDGET = 4.0   # the time budget the hanging-check server runs with
HANG_ENV = "RAPTOR_LINT_LSP_TEST_HANG"  # raptor_lint.lsp.worker.HANG_ENV (spelled out: see the module doc)

pytestmark = pytest.mark.asyncio(loop_scope="module")

STATE = "_seen = {}\n\n\ndef remember(key):\n    _seen[key] = 1\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("resilience")
    (root / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    return root


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(server_command=SERVER, server_env={**os.environ, HANG_ENV: "hang_*.py"}),
)
async def client(lsp_client: LanguageClient, project: Path):
    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams) -> None:
        pass

    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=pytest_lsp.client_capabilities("visual-studio-code"),
        root_uri=project.as_uri(),
        initialization_options={"timeBudget": BUDGET, "maxDiagnostics": 3},
    ))
    yield
    await lsp_client.shutdown_session()


async def test_a_hanging_check_does_not_hold_up_another_document(client, project) -> None:
    # Warm: both workers have started and checked something.
    warm = open_doc(client, project / "warm.py", STATE)
    await published(client, warm, lambda d: d != [])
    hanging = open_doc(client, project / "hang_forever.py", STATE)
    await asyncio.sleep(0.3)  # the hanging check has started
    started = time.perf_counter()
    other = open_doc(client, project / "other.py", STATE)
    [diagnostic] = await published(client, other, lambda d: d != [])
    print(f"other document's diagnostics after {time.perf_counter() - started:.3f} s")
    assert time.perf_counter() - started < 1.0
    assert diagnostic.code == "RPT101"
    # Past the budget the hanging check is abandoned, with one diagnostic saying so.
    [note] = await published(client, hanging, lambda d: d != [], guard=BUDGET + 30)
    assert "stopped checking this file after 4 s" in note.message and "next change" in note.message
    # ...and its worker was replaced: checks go on.
    again = open_doc(client, project / "again.py", STATE)
    await published(client, again, lambda d: d != [])


async def test_diagnostics_are_capped_with_a_last_one_saying_how_many_are_left_out(client, project) -> None:
    text = "_seen = {}\n\n\ndef remember(key):\n" + "".join(f"    _seen[key + {i}] = {i}\n" for i in range(5))
    uri = open_doc(client, project / "capped.py", text)
    diagnostics = await published(client, uri, lambda d: len(d) == 4)
    assert [str(d.code) for d in diagnostics[:3]] == ["RPT101"] * 3
    assert diagnostics[3].message.startswith("2 more raptor-lint findings")
    assert diagnostics[3].severity == types.DiagnosticSeverity.Information


async def test_hover_tells_the_rule_and_its_story(client, project) -> None:
    uri = open_doc(client, project / "hover.py", STATE)
    [diagnostic] = await published(client, uri, lambda d: d != [])
    hover = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=diagnostic.range.start))
    text = hover.contents.value
    assert text.startswith("**RPT101** ")
    assert diagnostic.message in text and "*Why:*" in text and "raptor-lint rule RPT101" in text
    nothing = await client.text_document_hover_async(types.HoverParams(
        text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(line=2, character=0)))
    assert nothing is None


# ------------------------------------------------------------------- shutdown

@pytest.mark.asyncio(loop_scope="function")
async def test_shutdown_is_answered_within_a_second_during_a_long_check(tmp_path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    server = RawServer(env={HANG_ENV: "hang_*.py"}, cwd=tmp_path)
    try:
        server.request("initialize", {"processId": None, "rootUri": tmp_path.as_uri(), "capabilities": {}})
        server.notify("initialized", {})
        uri = (tmp_path / "hang_long.py").as_uri()
        server.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "python", "version": 1, "text": STATE}})
        time.sleep(1.0)  # the check is running (and will not end)
        started = time.perf_counter()
        answer = server.request("shutdown", None)
        print(f"shutdown answered after {time.perf_counter() - started:.3f} s")
        assert time.perf_counter() - started < 1.0
        assert answer.get("result") is None and "error" not in answer
        server.notify("exit", None)
        assert server.process.wait(timeout=30) == 0
    finally:
        server.close()


# ------------------------------------------------------------- raw transport

class RawServer:
    """The server on stdio, spoken to in raw bytes (a thread reads its messages)."""

    def __init__(self, env: dict | None = None, cwd: Path | None = None, stderr: Any = subprocess.DEVNULL) -> None:
        self.process = subprocess.Popen(SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=stderr, env={**os.environ, **(env or {})}, cwd=cwd)
        self.next_id = 0
        self.messages: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.process.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                if line == b"\r\n":
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            self.messages.put(json.loads(stream.read(length)))

    def send_raw(self, data: bytes) -> None:
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def send(self, message: dict) -> None:
        body = json.dumps(message).encode()
        self.send_raw(b"Content-Length: %d\r\n\r\n" % len(body) + body)

    def notify(self, method: str, params) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def request(self, method: str, params) -> dict:
        self.next_id += 1
        wanted = self.next_id
        self.send({"jsonrpc": "2.0", "id": wanted, "method": method, "params": params})
        return self.wait(lambda m: m.get("id") == wanted and "method" not in m)

    def wait(self, predicate, guard: float = 60.0) -> dict:
        deadline = time.monotonic() + guard
        while True:
            try:
                message = self.messages.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("the server did not answer") from None
            if "id" in message and "method" in message:  # a request of the server's
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
                continue
            if predicate(message):
                return message

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=30)
        for stream in (self.process.stdin, self.process.stdout):
            stream.close()


@pytest.fixture
def raw_server():
    server = RawServer()
    yield server
    server.close()


def initialize(server: RawServer) -> None:
    answer = server.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}})
    assert answer["result"]["serverInfo"]["name"] == "raptor-lint"


BAD_HEADERS = {
    "absurd length": b"Content-Length: 999999999999\r\n\r\n",
    "not a number": b"Content-Length: twelve\r\n\r\n{}",
    "no length": b"Content-Type: application/vscode-jsonrpc\r\n\r\n{\"jsonrpc\": \"2.0\"}",
    "endless header": b"Content-Length: " + b"9" * 10_000 + b"\r\n\r\n",
}


@pytest.mark.asyncio(loop_scope="function")
async def test_a_bad_header_is_refused_and_the_next_message_served(raw_server) -> None:
    for name, header in BAD_HEADERS.items():
        raw_server.send_raw(header)
        raw_server.next_id += 1
        wanted = raw_server.next_id
        raw_server.send({"jsonrpc": "2.0", "id": wanted, "method": "initialize",
                         "params": {"processId": None, "rootUri": None, "capabilities": {}}})
        answer = raw_server.wait(lambda m: m.get("id") == wanted)
        assert answer["result"]["serverInfo"]["name"] == "raptor-lint", name
    assert raw_server.process.poll() is None


@pytest.mark.asyncio(loop_scope="function")
async def test_a_request_with_null_params_gets_invalid_params(raw_server) -> None:
    initialize(raw_server)
    raw_server.send({"jsonrpc": "2.0", "id": 41, "method": "textDocument/hover", "params": None})
    answer = raw_server.wait(lambda m: m.get("id") == 41)
    assert answer["error"]["code"] == -32602 and "textDocument/hover" in answer["error"]["message"]
    raw_server.send_raw(b"Content-Length: 9\r\n\r\n{not json")
    parse_error = raw_server.wait(lambda m: "error" in m)
    assert parse_error["error"]["code"] == -32700 and parse_error["id"] is None
    # Still serving.
    answer = raw_server.request("shutdown", None)
    assert "error" not in answer


@pytest.mark.asyncio(loop_scope="function")
async def test_invalid_params_are_one_log_line_not_a_traceback(tmp_path) -> None:
    """pygls logs a ~35-line cattrs traceback for params that do not structure; the
    server logs one line per such message instead: the method and where it fails."""
    log_path = tmp_path / "stderr.txt"
    with log_path.open("wb") as stderr:
        server = RawServer(stderr=stderr)
        try:
            initialize(server)
            server.send({"jsonrpc": "2.0", "id": 41, "method": "textDocument/hover", "params": {
                "textDocument": {"uri": "file:///x.py"}, "position": {"line": "one", "character": 0}}})
            answer = server.wait(lambda m: m.get("id") == 41)
            assert answer["error"]["code"] == -32602
            assert "textDocument/hover" in answer["error"]["message"]
            assert "$.params.position.line" in answer["error"]["message"]
            server.notify("textDocument/didChange", {"textDocument": {"uri": 7}})
            assert "error" not in server.request("shutdown", None)  # both handled by now
        finally:
            server.close()
    lines = log_path.read_text(encoding="utf-8", errors="replace").splitlines()
    assert "Traceback" not in "\n".join(lines)
    assert len(lines) <= 2, lines
    assert "textDocument/hover" in lines[0] and "expected int @ $.params.position.line" in lines[0], lines
    assert "textDocument/didChange" in lines[1], lines
