"""What the end-to-end language-server tests share on the client side (pytest-lsp):
open a document, wait for its diagnostics, read their codes."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types
from pytest_lsp import LanguageClient

GUARD = 120.0  # seconds; only a guard against a hung server, never a timing assertion


async def published(client: LanguageClient, uri: str, predicate, guard: float = GUARD) -> list[types.Diagnostic]:
    """Wait until the diagnostics published for ``uri`` satisfy ``predicate``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + guard
    while True:
        current = client.diagnostics.get(uri)
        if current is not None and predicate(list(current)):
            return list(current)
        if loop.time() > deadline:
            raise AssertionError(f"diagnostics for {uri} never matched; last: {current}")
        await asyncio.sleep(0.01)


def codes(diagnostics) -> list[str]:
    return sorted(str(d.code) for d in diagnostics)


def open_doc(client: LanguageClient, path: Path, text: str, language: str = "python", version: int = 1) -> str:
    uri = path.as_uri()
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        text_document=types.TextDocumentItem(uri=uri, language_id=language, version=version, text=text)))
    return uri
