"""How the language server schedules checks, in process and without timing:
a check superseded by a newer change stops before its next rule family and its
diagnostics are never published; the newest buffer's are.

The end-to-end behaviour over stdio is in tests/test_lsp.py; here a rule family
is made to wait on an event, so the order of events is fixed, not timed.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.workspace import Workspace

from raptor_lint.config import Config
from raptor_lint.engine import Cancelled, Engine
from raptor_lint.lsp.server import create_server
from raptor_lint.lsp.session import CheckResult, LintSession

GUARD = 30.0  # seconds; only a guard against a hang

# Text every Python family's pre-filter lets through (so several families run).
SERVICE = '''\
import os

import redis
from flask import Blueprint, current_app
from sqlalchemy import text

bp = Blueprint("reports", __name__, url_prefix="{prefix}")
_cache = {{}}


def create_app():
    if os.environ.get("FLAG_BETA_DIGEST") == "1":
        pass


@bp.route("/daily")
def daily():
    client = current_app.extensions["redis_client"]
    client.set("k", "v")
    _cache["k"] = 1
    return current_app.extensions, text("SELECT MAX(a, b) FROM t")
'''
STALE = SERVICE.format(prefix="/api/reports")
FRESH = SERVICE.format(prefix="/reports")
# The same with the prefix in a module constant: resolving it reads the module's own
# bindings, from the caller's tree (ModuleIndex's override), not only literals.
STALE_CONSTANT = STALE.replace('url_prefix="/api/reports"', "url_prefix=PREFIX").replace(
    "bp = Blueprint", 'PREFIX = "/api/reports"\nbp = Blueprint')
# The same with the prefix an instance attribute: only astroid settles it (its build of the
# module is cached too).
STALE_INSTANCE = STALE.replace('url_prefix="/api/reports"', "url_prefix=conf.prefix").replace(
    "bp = Blueprint", 'class _Conf:\n    def __init__(self):\n        self.prefix = "/api/reports"\n\n\n'
    'conf = _Conf()\nbp = Blueprint')


def test_cancelled_lint_runs_no_further_family(tmp_path: Path) -> None:
    engine = Engine(Config(root=tmp_path))
    ran: list[str] = []
    for checker in engine.checkers:
        checker.check = (lambda original, family: lambda ctx: (ran.append(family), original(ctx))[1])(
            checker.check, checker.family)
    with pytest.raises(Cancelled):
        engine.lint_text(STALE, tmp_path / "svc.py", "python", cancelled=lambda: True)
    assert ran == []
    # Cancelled after the first family: that one ran, no other did.
    with pytest.raises(Cancelled):
        engine.lint_text(STALE, tmp_path / "svc.py", "python", cancelled=lambda: bool(ran))
    assert len(ran) == 1
    # Never cancelled: the same findings as without the hook.
    ran.clear()
    assert engine.lint_text(STALE, tmp_path / "svc.py", "python", cancelled=lambda: False).findings == \
        engine.lint_text(STALE, tmp_path / "svc.py", "python").findings
    assert len(ran) > 2


def test_a_superseded_check_stops_after_the_running_family(tmp_path: Path) -> None:
    """In a worker: the check of an older buffer, cancelled while a family runs, runs no
    further family (the worker's reader thread sets the flag ``cancelled`` polls)."""
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    path = tmp_path / "svc.py"
    session = LintSession()
    engine = session.state_for(path).engine
    entered, release = threading.Event(), threading.Event()
    ran: list[tuple[str, str]] = []

    def spy(original, family):
        def check(ctx):
            ran.append((family, ctx.text))
            if ctx.text == STALE and not entered.is_set():
                entered.set()
                release.wait(GUARD)
            return original(ctx)
        return check

    for checker in engine.checkers:
        checker.check = spy(checker.check, checker.family)
    superseded = threading.Event()
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(session.check(path, STALE, "python", cancelled=superseded.is_set))
        except Cancelled as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    assert entered.wait(GUARD)
    superseded.set()  # a newer version arrived
    release.set()
    thread.join(GUARD)
    assert isinstance(outcome[0], Cancelled)
    assert [family for family, text in ran if text == STALE] == [ran[0][0]]
    # The newer buffer is checked in full, with the fresh engine's findings.
    fresh = session.check(path, FRESH, "python").findings
    expected = Engine(Config(root=tmp_path)).lint_text(FRESH, path, "python", display_path=path.name).findings
    assert fresh == expected and "RPT301" not in {f.code for f in fresh}


class ScriptedPool:
    """Stands for the worker pool: each check waits until the test releases it."""

    def __init__(self, engine: Engine, path: Path) -> None:
        self.engine, self.path = engine, path
        self.gates: list[asyncio.Event] = []

    async def check(self, uri: str, request: dict) -> CheckResult:
        gate = asyncio.Event()
        self.gates.append(gate)
        try:
            await gate.wait()
        except asyncio.CancelledError:
            await gate.wait()  # a worker that finishes anyway: its result must still be dropped
        findings = self.engine.lint_text(request["text"], self.path, "python", display_path=self.path.name).findings
        return CheckResult(findings)

    def broadcast(self, message: tuple) -> None:
        pass

    def supersede(self, uri: str) -> None:
        pass  # the cancelled task is the stop request here


async def test_a_superseded_result_is_never_published(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    path = tmp_path / "svc.py"
    uri = path.as_uri()
    server = create_server()
    server.protocol._workspace = Workspace(tmp_path.as_uri())
    server.pool = ScriptedPool(Engine(Config(root=tmp_path)), path)
    published: list[types.PublishDiagnosticsParams] = []
    server.text_document_publish_diagnostics = published.append
    server.workspace.put_text_document(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=STALE))
    loop = asyncio.get_running_loop()

    async def until(predicate) -> None:
        deadline = loop.time() + GUARD
        while not predicate() and loop.time() < deadline:
            await asyncio.sleep(0.01)

    server.schedule(uri)  # version 1: its check waits
    await until(lambda: len(server.pool.gates) == 1)
    server.workspace.update_text_document(
        types.VersionedTextDocumentIdentifier(uri=uri, version=2),
        types.TextDocumentContentChangeWholeDocument(text=FRESH))
    server.schedule(uri)  # version 2 supersedes it
    await until(lambda: len(server.pool.gates) == 2)
    server.pool.gates[1].set()
    await until(lambda: published)
    server.pool.gates[0].set()  # the stale result arrives last
    await asyncio.sleep(0.1)
    assert [p.version for p in published] == [2]
    assert "RPT301" not in {str(d.code) for d in published[0].diagnostics}


def test_a_long_lived_engine_keeps_no_old_buffer_alive(tmp_path: Path) -> None:
    """The language server lints every version of a buffer with one Engine: nothing in it
    (memo of a rule family, index of the project) may hold on to an old version's tree.
    A memo that kept the last 64 trees made each full collection walk ~1.6 M objects."""
    versions = [(tmp_path / "svc.py", STALE + f"# edit {version}\n") for version in range(3)]
    assert _trees_freed_after_linting(Engine(Config(root=tmp_path)), versions) == [True, True, True]
    # With the prefix in a constant the index keeps the buffer being linted, only that one.
    versions = [(tmp_path / "svc.py", STALE_CONSTANT + f"# edit {version}\n") for version in range(3)]
    assert _trees_freed_after_linting(Engine(Config(root=tmp_path)), versions)[:-1] == [True, True]


def test_an_engine_linting_many_files_keeps_no_earlier_files_tree(tmp_path: Path) -> None:
    """A flake8 worker or a CLI run lints thousands of files with one Engine: the project
    index may keep the file being linted (its families ask in turn), not the ones before.
    Keeping the last 16 made every full collection in a flake8 worker walk ~130 k objects."""
    files = [(tmp_path / f"svc_{number}.py", STALE_CONSTANT) for number in range(4)]
    freed = _trees_freed_after_linting(Engine(Config(root=tmp_path)), files)
    assert freed[:-1] == [True, True, True]  # the last file's may stay until the next
    # Through astroid: its build of each file (which holds that file's module) is not kept.
    engine = Engine(Config(root=tmp_path))
    files = [(tmp_path / f"conf_{number}.py", STALE_INSTANCE) for number in range(4)]
    assert _trees_freed_after_linting(engine, files)[:-1] == [True, True, True]
    assert engine.project.modules._astroid_inferences >= 4


def _trees_freed_after_linting(engine: Engine, files: list[tuple[Path, str]]) -> list[bool]:
    """Lint each (path, text) with the caller's tree, as the server and flake8 do; then,
    after a collection, which of those trees are gone."""
    import ast
    import gc
    import weakref

    old_trees = []
    for path, text in files:
        tree = ast.parse(text)
        old_trees.append(weakref.ref(tree))
        findings = engine.lint_text(text, path, "python", tree=tree).findings
        assert {f.code for f in findings} >= {"RPT301", "RPT101", "RPT401"}
        del tree
    gc.collect()
    return [ref() is None for ref in old_trees]


def test_a_check_leaves_no_reference_cycles(tmp_path: Path) -> None:
    """The server collects only the youngest generation after a check, and the CLI never
    scans a finished file's objects, because a check leaves no cycles: its trees, scopes
    and bindings are freed by reference counting.  (The Redis model's scope <-> binding
    links and ``ast.dump``'s recursive closure used to leave ~27,000 objects per check of
    the 2,000-line bench file for the collector.)"""
    import gc

    engine = Engine(Config(root=tmp_path))
    path = tmp_path / "svc.py"
    engine.lint_text(STALE, path, "python")  # first check: imports, parsed SQL, project facts
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        findings = engine.lint_text(STALE + "# edited\n", path, "python").findings
        gc.collect()
        left = [type(obj).__name__ for obj in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        if enabled:
            gc.enable()
    assert {f.code for f in findings} >= {"RPT301", "RPT101", "RPT401"}
    assert left == []


def test_checks_of_successive_versions_equal_fresh_checks(tmp_path: Path) -> None:
    """The server re-parses only the statements an edit touched (raptor_lint.lsp.reparse):
    version after version, including one that does not parse, its findings equal those
    of a fresh engine on the same text."""
    session = LintSession()
    fresh = Engine(Config(root=tmp_path))
    path = tmp_path / "svc.py"
    versions = [
        STALE,
        STALE.replace('client.set("k", "v")', 'client.set("key", "v")'),  # one statement
        STALE.replace('client.set("k", "v")', 'client.set("key", "v"'),   # does not parse
        STALE.replace("_cache = {}", "_cache = []"),                       # module level
        FRESH,                                                             # the prefix
    ]
    for text in versions:
        result = session.check(path, text, "python")
        findings, error = result.findings, result.error
        expected = fresh.lint_text(text, path, "python", display_path=path.name).findings
        assert error is None and findings == expected and findings


async def test_a_newer_version_waits_for_its_documents_worker_not_a_cold_one(tmp_path: Path, monkeypatch) -> None:
    """A change supersedes the running check of its document: the newer check must go to
    the worker stopping that check (its caches know the document), not to the other one,
    cold for it (a 2,000-line module's first check there took ~2x a warm one: the worst
    latency of ``make bench-lsp``'s typing bursts).  The stop request used to be sent only
    when the cancelled task next ran, after the newer check had already picked a worker."""
    from raptor_lint.lsp import pool as pool_module

    monkeypatch.setattr(pool_module, "AFFINITY_WAIT", GUARD)  # order, not timing, is tested
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    path = tmp_path / "svc.py"
    uri = path.as_uri()
    text = "".join(SERVICE.format(prefix=f"/api/r{n}").replace("reports", f"reports{n}") for n in range(60))
    server = create_server()
    server.protocol._workspace = Workspace(tmp_path.as_uri())
    published: list[types.PublishDiagnosticsParams] = []
    server.text_document_publish_diagnostics = published.append
    server.workspace.put_text_document(types.TextDocumentItem(uri=uri, language_id="python", version=1, text=text))
    chosen: list[int] = []
    acquire = server.pool._acquire

    async def recording_acquire(uri: str, background: bool = False):
        worker = await acquire(uri, background)
        chosen.append(worker.process.pid)
        return worker

    server.pool._acquire = recording_acquire  # type: ignore[method-assign]
    loop = asyncio.get_running_loop()

    async def until(predicate) -> None:
        deadline = loop.time() + GUARD
        while not predicate() and loop.time() < deadline:
            await asyncio.sleep(0.005)
        assert predicate()

    server.pool.start()
    try:
        await until(lambda: len(server.pool.workers) == 2 and all(w.ready.done() for w in server.pool.workers))
        for version in (1, 2):  # the second: the root's facts are built on the first worker
            if version > 1:
                server.workspace.update_text_document(
                    types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    types.TextDocumentContentChangeWholeDocument(text=text + f"# {version}\n"))
            server.schedule(uri)
            await until(lambda: any(p.version == version for p in published))
        for version in (3, 4):
            server.workspace.update_text_document(
                types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                types.TextDocumentContentChangeWholeDocument(text=text + f"# {version}\n"))
            server.schedule(uri)
            if version == 3:  # supersede it while its worker runs it
                await until(lambda: any(w.job is not None for w in server.pool.workers))
        await until(lambda: any(p.version == 4 for p in published))
        assert 3 not in [p.version for p in published]
        assert len(set(chosen)) == 1, chosen
    finally:
        server.pool.close()
