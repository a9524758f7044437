#!/usr/bin/env python3
"""``make bench-lsp``: didChange -> publishDiagnostics latency of ``raptor-lint lsp``.

Starts the server on stdio (plain JSON-RPC, no client library), opens a generated
2,000-line Raptor-style service module (blueprint routes, Redis caching, SQL
through ``text()``, module-level state, flags read in the app factory) in a
temporary project with a migrations directory, runbook and manifest, then sends
``BENCH_LSP_EDITS`` (default 60) one-line edits and times each from sending
``didChange`` to the ``publishDiagnostics`` carrying that version.  Every edit
gives a buffer the server has not seen before (the edited line carries the
version number).  The server runs with its default settings, as an editor starts
it.  Then ``BENCH_LSP_BURSTS`` (default 10) bursts of ``BENCH_LSP_KEYS`` (default 5)
edits ``BENCH_LSP_GAP`` seconds apart (default 0.1: fast typing), each timed from
its last edit to the diagnostics of that last version: what a typing user waits
for.  Prints p50/p95/max in milliseconds.  ``BENCH_LSP_DEBOUNCE=s`` passes a
debounce through ``initializationOptions``.  Standard library only; run with the
repository's virtualenv (``make bench-lsp``); the server is ``raptor-lint lsp``
of that virtualenv (put another checkout first on ``PYTHONPATH`` to time it).
"""

from __future__ import annotations

import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LINES = 2000

HEADER = '''"""Orders service: routes, caching and reporting for the trading desk."""

from __future__ import annotations

import json
import logging
import os

import redis
from flask import Blueprint, Flask, current_app, jsonify, request
from sqlalchemy import text

from raptor_app.extensions import db

log = logging.getLogger(__name__)

API_PREFIX = "/api"
bp = Blueprint("orders", __name__, url_prefix="/orders")
_recent_orders: dict[int, dict] = {}
_seen_symbols: list[str] = []


def create_app() -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = os.environ.get("SECRET_KEY", "dev")
    if os.environ.get("FLAG_ORDER_AUDIT") == "1":
        app.config["ORDER_AUDIT"] = True
    app.register_blueprint(bp)
    return app


def _redis():
    client = current_app.extensions.get("redis_client")
    if client is None:
        return redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
    return client

'''

ROUTE = '''
@bp.route("/book_{n}/<int:order_id>", methods=["GET"])
def get_order_{n}(order_id: int):
    """Order {n}: cached in Redis for a minute, read from Postgres otherwise."""
    client = _redis()
    key = f"orders:{n}:{{order_id}}"
    cached = client.get(key)
    if cached is not None:
        return jsonify(json.loads(cached))
    log.info("orders.cache_miss", extra={{"order_id": order_id, "book": {n}}})
    row = db.session.execute(
        text("SELECT id, symbol, qty, price FROM orders WHERE id = :id AND book = {n}"),
        {{"id": order_id}},
    ).mappings().first()
    if row is None:
        return jsonify({{"error": "not found"}}), 404
    payload = dict(row)
    client.set(key, json.dumps(payload), ex=60)
    _recent_orders[order_id] = payload
    return jsonify(payload)


@bp.route("/book_{n}/summary", methods=["POST"])
def summarize_{n}():
    body = request.get_json(silent=True) or {{}}
    symbols = [s.upper() for s in body.get("symbols", []) if isinstance(s, str)]
    total = db.session.execute(
        text("SELECT COALESCE(SUM(qty * price), 0) FROM orders WHERE book = {n}"),
    ).scalar()
    for symbol in symbols:
        _seen_symbols.append(symbol)
    return jsonify({{"book": {n}, "total": float(total or 0), "symbols": symbols}})

'''


def service_module(size: int | None = None) -> str:
    """A Raptor-style service module of ``size`` lines (default ``LINES``)."""
    size = LINES if size is None else size
    parts = [HEADER]
    number = 0
    while sum(p.count("\n") for p in parts) < size - 40:
        parts.append(ROUTE.format(n=number))
        number += 1
    text = "".join(parts)
    lines = text.splitlines()
    while len(lines) < size:
        lines.append(f"# padding line {len(lines)}")
    return "\n".join(lines[:size]) + "\n"


def make_project(root: Path) -> Path:
    (root / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "migrations" / "versions" / "0001_orders.py").write_text(
        'from alembic import op\n\nrevision = "0001"\n\n\ndef upgrade():\n'
        '    op.create_table("orders")\n    op.execute("UPDATE flags SET on = 1 WHERE key = \'order_audit\'")\n',
        encoding="utf-8")
    (root / "docs" / "ops").mkdir(parents=True)
    (root / "docs" / "ops" / "runbook.md").write_text("# Runbook\n\n- [ ] FLAG_ORDER_AUDIT=1\n", encoding="utf-8")
    (root / "docs" / "ops" / "required-config-vars.yaml").write_text(
        "vars:\n  - name: SECRET_KEY\n  - name: REDIS_URL\n  - name: FLAG_ORDER_AUDIT\n", encoding="utf-8")
    package = root / "raptor_app"
    package.mkdir()
    (package / "__init__.py").write_text("", encoding="utf-8")
    (package / "extensions.py").write_text("db = None\n", encoding="utf-8")
    path = package / "orders.py"
    path.write_text(service_module(), encoding="utf-8")
    return path


class Client:
    def __init__(self, argv: list[str], cwd: Path) -> None:
        self.proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        self.messages: "queue.Queue[dict]" = queue.Queue()
        self.next_id = 0
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        stream = self.proc.stdout
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode("ascii").partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            if length is None:
                continue
            self.messages.put((time.perf_counter(), json.loads(stream.read(length))))

    def send(self, payload: dict) -> float:
        body = json.dumps(payload).encode("utf-8")
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()
        return time.perf_counter()

    def request(self, method: str, params: dict) -> dict:
        self.next_id += 1
        wanted = self.next_id
        self.send({"jsonrpc": "2.0", "id": wanted, "method": method, "params": params})
        while True:
            _, message = self.messages.get(timeout=60)
            if message.get("id") == wanted and "method" not in message:
                return message
            if "id" in message and "method" in message:  # a server->client request: answer null
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})

    def notify(self, method: str, params: dict) -> float:
        return self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def wait_diagnostics(self, uri: str, version: int, timeout: float = 60) -> tuple[float, int]:
        deadline = time.perf_counter() + timeout
        while True:
            arrived, message = self.messages.get(timeout=max(0.01, deadline - time.perf_counter()))
            if "id" in message and "method" in message:
                self.send({"jsonrpc": "2.0", "id": message["id"], "result": None})
                continue
            if message.get("method") == "textDocument/publishDiagnostics":
                params = message["params"]
                if params["uri"] == uri and params.get("version") == version:
                    return arrived, len(params["diagnostics"])


def cpu_seconds(pid: int) -> float | None:
    """CPU time (user + system) the server and its live child processes (the lint
    workers) have used so far (Linux), else None."""
    def own(process: int) -> tuple[int, float]:
        fields = Path(f"/proc/{process}/stat").read_text().rsplit(")", 1)[1].split()
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    try:
        total = own(pid)[1]
    except (OSError, ValueError, IndexError):
        return None
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and entry.name != str(pid):
            try:
                parent, seconds = own(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
            if parent == pid:
                total += seconds
    return total


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def main() -> int:
    edits = int(os.environ.get("BENCH_LSP_EDITS", "60"))
    bursts = int(os.environ.get("BENCH_LSP_BURSTS", "10"))
    keys = max(1, int(os.environ.get("BENCH_LSP_KEYS", "5")))
    gap = float(os.environ.get("BENCH_LSP_GAP", "0.1"))
    options = {}
    if os.environ.get("BENCH_LSP_DEBOUNCE"):
        options["debounce"] = float(os.environ["BENCH_LSP_DEBOUNCE"])
    server = [str(Path(sys.executable).parent / "raptor-lint"), "lsp"]
    with tempfile.TemporaryDirectory(prefix="raptor-lint-lsp-bench-") as tmp:
        root = Path(tmp)
        path = make_project(root)
        uri = path.as_uri()
        text = path.read_text(encoding="utf-8")
        client = Client(server, root)
        started = time.perf_counter()
        client.request("initialize", {
            "processId": os.getpid(), "rootUri": root.as_uri(), "capabilities": {},
            "initializationOptions": options,
        })
        client.notify("initialized", {})
        sent = client.notify("textDocument/didOpen", {"textDocument": {
            "uri": uri, "languageId": "python", "version": 1, "text": text}})
        arrived, count = client.wait_diagnostics(uri, 1)
        first = arrived - sent
        print(f"server start + initialize {sent - started:.2f} s; first check (didOpen, cold: "
              f"imports, project facts) {1000 * first:.0f} ms, {count} diagnostics")
        lines = text.splitlines()
        target = next(i for i, line in enumerate(lines) if 'key = f"orders:' in line and i > LINES // 2)
        original = lines[target]

        def edit(version: int) -> float:
            previous = lines[target]
            lines[target] = original.replace("orders:", f"orders:v{version}:")
            return client.notify("textDocument/didChange", {
                "textDocument": {"uri": uri, "version": version},
                "contentChanges": [{
                    "range": {"start": {"line": target, "character": 0},
                              "end": {"line": target, "character": len(previous)}},
                    "text": lines[target],
                }],
            })

        latencies = []
        cpu_before = cpu_seconds(client.proc.pid)
        for version in range(2, edits + 2):
            sent = edit(version)
            arrived, count = client.wait_diagnostics(uri, version)
            latencies.append(1000 * (arrived - sent))
        cpu_after = cpu_seconds(client.proc.pid)
        burst_latencies = []
        version = edits + 1
        for _ in range(bursts):
            for key in range(keys):
                if key:
                    time.sleep(gap)
                version += 1
                sent = edit(version)
            arrived, _ = client.wait_diagnostics(uri, version)
            burst_latencies.append(1000 * (arrived - sent))
        client.request("shutdown", {})
        client.notify("exit", {})
        try:
            client.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            client.proc.kill()
    settings = f"debounce {options['debounce']} s" if options else "default settings"
    print(f"{LINES}-line service module, {settings}, {count} diagnostics:")
    print(f"didChange -> publishDiagnostics, {edits} one-line edits: p50 {statistics.median(latencies):.0f} ms, "
          f"p95 {percentile(latencies, 0.95):.0f} ms, max {max(latencies):.0f} ms")
    if cpu_before is not None and cpu_after is not None:
        print(f"server + workers CPU per edit (user + system, less sensitive to load): "
              f"{1000 * (cpu_after - cpu_before) / edits:.0f} ms")
    if burst_latencies:
        print(f"last didChange of a burst ({bursts} x {keys} edits {1000 * gap:.0f} ms apart) -> its diagnostics: "
              f"p50 {statistics.median(burst_latencies):.0f} ms, p95 {percentile(burst_latencies, 0.95):.0f} ms, "
              f"max {max(burst_latencies):.0f} ms")
    print(f"(load average {os.getloadavg()[0]:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
