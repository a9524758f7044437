"""Large documents and long sessions (issue 18): an edit to a 50,000-line module publishes
within 2 s (only the edited function and its callers are checked again; the full check
follows and replaces that result), and the server's memory stays flat over 3,000 edits.

The 2 s bound is the issue's; the other waits are guards.  The module is the one
``make bench-lsp`` times, 25 times longer.
"""

from __future__ import annotations

import statistics

import asyncio
import sys
import time
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
import lsp_latency  # noqa: E402  (the bench's generator of a Raptor-style service module)


pytestmark = pytest.mark.asyncio(loop_scope="module")
GUARD = 300.0  # seconds; the first check of 50,000 lines takes ~20 s on a quiet 2-core machine


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("large")
    lsp_latency.make_project(root)
    return root


@pytest_lsp.fixture(scope="module",
                    config=ClientServerConfig(server_command=[sys.executable, "-m", "raptor_lint", "lsp"]))
async def client(lsp_client: LanguageClient, project: Path):
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(), root_uri=project.as_uri()))
    yield
    await lsp_client.shutdown_session()


async def until(client: LanguageClient, predicate, guard: float = GUARD) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + guard
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("the server never published what was expected")
        await asyncio.sleep(0.005)


def versions_seen(client: LanguageClient, uri: str) -> set:
    return client.versions.setdefault(uri, set())


def edit_line(client: LanguageClient, uri: str, version: int, line: int, old: str, new: str) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(line=line, character=0),
                              end=types.Position(line=line, character=len(old))),
            text=new)]))


@pytest.fixture(scope="module", autouse=True)
def record_versions(client):
    """Remember every version a publishDiagnostics carried, per document."""
    client.versions = {}
    features = client.protocol.fm.features
    pytest_lsp_handler = features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS]

    def on_publish(params: types.PublishDiagnosticsParams) -> None:
        pytest_lsp_handler(params)
        client.versions.setdefault(params.uri, set()).add(params.version)

    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = on_publish


async def test_an_edit_to_a_50000_line_module_publishes_within_2_seconds(client, project) -> None:
    path = project / "raptor_app" / "big_orders.py"
    text = lsp_latency.service_module(50_000)
    path.write_text(text, encoding="utf-8")
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
    await until(client, lambda: 1 in versions_seen(client, uri))
    first = list(client.diagnostics[uri])
    assert len(first) == 1001 and "more raptor-lint findings" in first[-1].message  # capped
    lines = text.split("\n")
    target = next(i for i, line in enumerate(lines) if "client.set(key" in line and i > 25_000)
    for version in (2, 3):
        old = lines[target]
        lines[target] = old.replace("ex=60", f"ex={60 + version}")
        sent = time.perf_counter()
        edit_line(client, uri, version, target, old, lines[target])
        await until(client, lambda: version in versions_seen(client, uri))
        print(f"edit {version} of 50,000 lines published in {time.perf_counter() - sent:.2f} s")
        assert time.perf_counter() - sent < 2.0
    # An edit that adds a finding (tests/test_lsp_incremental.py checks the findings themselves).
    old = lines[target]
    lines[target] = old + "; _seen_symbols.append(key)"
    sent = time.perf_counter()
    edit_line(client, uri, 4, target, old, lines[target])
    await until(client, lambda: 4 in versions_seen(client, uri))
    print(f"edit 4 of 50,000 lines published in {time.perf_counter() - sent:.2f} s")
    assert time.perf_counter() - sent < 2.0


async def test_server_memory_is_flat_over_3000_edits(client, project) -> None:
    path = project / "raptor_app" / "steady.py"
    text = lsp_latency.service_module(200)
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text)))
    await until(client, lambda: 1 in versions_seen(client, uri))
    lines = text.split("\n")
    target = next(i for i, line in enumerate(lines) if "client.set(key" in line)
    original = lines[target]
    pid = client._server.pid
    version, samples = 1, []
    for batch in range(30):
        for _ in range(100):
            version += 1
            new = original.replace("ex=60", f"ex={version % 7 + 60}")
            edit_line(client, uri, version, target, lines[target], new)
            lines[target] = new
        wanted = version
        await until(client, lambda: wanted in versions_seen(client, uri))
        versions_seen(client, uri).clear()
        if batch >= 10:
            samples.append(rss_kb(pid))
    # Growth per edit, after 1,000 edits of warm-up: medians of five samples at each end
    # (batches 10-14 and 25-29, 1,500 edits apart).  In the full suite the server takes one
    # step of +2,124 KB near edit 800 and is then flat to the kilobyte for 2,000 edits (a
    # one-time allocation, measured: 69,128 -> 71,252 KB, then unchanged); the leak this
    # guards against (~2.9 KB an edit before the fix: ~4.3 MB here) moves every late sample.
    early, late = statistics.median(samples[:5]), statistics.median(samples[-5:])
    growth = int(late - early)
    print(f"server RSS {early} -> {late} KB over 1,500 edits; samples {samples}")
    assert abs(growth) <= 2048, f"server RSS grew {growth} KB over 1,500 edits"


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")
