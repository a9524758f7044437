"""``raptor-lint lsp``: the language server (pygls 2.x, stdio)."""

from __future__ import annotations

# Seconds a thread may hold the GIL while another waits for it (CPython's default: 0.005).
# Checks run in worker processes (raptor_lint.lsp.worker); in the server, the thread that
# reads stdin and the event loop hand the GIL to each other for every message, and at 1 ms
# a burst of didChange notifications is read and dispatched sooner.
GIL_SWITCH_INTERVAL = 0.001


def serve() -> None:
    """Run the language server on stdin/stdout until the client says exit."""
    import sys

    from raptor_lint.lsp.server import create_server

    sys.setswitchinterval(GIL_SWITCH_INTERVAL)  # the process is ours (see above)
    create_server(manage_gc=True).start_io()
