"""``raptor-lint lsp``: the language server (pygls 2.x, stdio)."""

from __future__ import annotations


def serve() -> None:
    """Run the language server on stdin/stdout until the client says exit."""
    from raptor_lint.lsp.server import create_server

    create_server(manage_gc=True).start_io()
