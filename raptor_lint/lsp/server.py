"""The raptor-lint language server: a pygls 2.x adapter over the lint workers.

* Diagnostics are pushed on open, on save and on change, from the unsaved buffer, and
  cleared on close.  A change is checked at once (no debounce by default).
* Checks run in worker processes (``raptor_lint.lsp.pool``/``worker``), never on the
  message loop: the server answers ``shutdown``, hovers and code actions whatever a
  check is doing, and one document's long check does not hold up another's.  Each
  check has a time budget (``timeBudget``, default ``DEFAULT_BUDGET`` s); one past it
  is abandoned (its worker killed and replaced) and the document shows one diagnostic
  saying so until its next change.
* A newer change supersedes the running check of its document: the worker stops it
  before its next rule family, and only the newest buffer's result is published.
* A large Python module is re-checked incrementally (``incremental``): an edit inside a
  function re-checks that function and its callers and reuses the other findings; the
  full check runs behind it and replaces that result when it finishes.
* At most ``maxDiagnostics`` diagnostics per document (default ``DEFAULT_MAX_DIAGNOSTICS``),
  then one saying how many were left out.
* Watched (``workspace/didChangeWatchedFiles``, or, when the client cannot watch, a poll
  of the same files every ``POLL_SECONDS``): pyproject.toml, setup.cfg, the runbook, the
  config manifest, the migrations directory and the project's Python modules.  A change
  drops the project facts (and the configuration) of its root and re-checks the open
  documents of that root.
* Settings: ``initializationOptions.settings`` and ``workspace/didChangeConfiguration``
  take the configuration file's keys, validated by ``config.with_settings`` exactly as
  the file's are; an invalid one is one ``window/showMessage`` and is not applied.
* Hover on a diagnostic shows the rule's name, the message, the finding's note and the
  rule's why; ``relatedInformation`` carries the finding's related places.
* Code actions: the rule's fix (a safe fix is the preferred quick fix; an unsafe one is
  titled "(unsafe) ..." and not preferred; one that edits another file, RPT502/RPT503,
  targets that file's URI), and "suppress with ``# noqa: CODE``".
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from threading import Event
from typing import Any, Sequence

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from raptor_lint import __version__
from raptor_lint.config import Config, ConfigError, find_project_root, load_config, with_settings
from raptor_lint.discovery import MAKEFILE, PYTHON, SHELL, file_kind
from raptor_lint.findings import Finding
from raptor_lint.lsp import convert, incremental, transport
from raptor_lint.lsp.pool import Abandoned, CheckCancelled, CheckFailed, WorkerPool
from raptor_lint.lsp.session import SETTINGS_WHERE, inside
from raptor_lint.registry import known_code_prefix
from raptor_lint.safe_read import read_regular_file
from raptor_lint.source import decode_text, split_lines

log = logging.getLogger(__name__)

CONFIG_FILES = ("pyproject.toml", "setup.cfg")
# Seconds to wait after a change before checking it.  0: at once; a check still
# running for an older version is stopped instead (see ``schedule``).
DEFAULT_DEBOUNCE = 0.0
# Seconds a check may run before it is abandoned.  A full check of a 50,000-line module
# takes ~20 s on a 2-core machine; anything much longer is a pathological input.
DEFAULT_BUDGET = 60.0
DEFAULT_MAX_DIAGNOSTICS = 1000
# Seconds of quiet after an incremental result before the full check behind it starts:
# while typing, each keystroke would otherwise start (and cancel) a long full check.
FULL_CHECK_DELAY = 0.5
# Seconds between two looks at the watched files when the client cannot watch them.
POLL_SECONDS = 0.5
_LANGUAGE_KINDS = {"python": PYTHON, "shellscript": SHELL, "sh": SHELL, "bash": SHELL,
                   "makefile": MAKEFILE, "make": MAKEFILE}
# What the client is asked to watch: the configuration, the project facts (runbook,
# manifest, migrations: Markdown, YAML and Python files anywhere, since their paths are
# configurable) and the modules the cross-module rules read.
WATCHED_GLOBS = ("**/pyproject.toml", "**/setup.cfg", "**/*.py", "**/*.md", "**/*.markdown",
                 "**/*.yaml", "**/*.yml", "**/migrations/**", "**/alembic/**")
_DEFAULT_FACTS = ("migrations/versions", "alembic/versions", "docs/ops/runbook.md",
                  "docs/ops/required-config-vars.yaml")


@dataclass
class DocState:
    """What the server knows about one open document."""

    generation: int = 0  # bumped on every check request; a stale result is dropped
    pending: asyncio.Task | None = None
    # The last published check: version, text, kind and findings.
    version: int | None = None
    text: str | None = None
    kind: str | None = None
    findings: list[Finding] = field(default_factory=list)
    exact: bool = True
    abandoned: bool = False
    outline: tuple = ()  # top-level functions of ``text`` (``incremental``)


class RaptorLanguageServer(LanguageServer):
    def __init__(self, manage_gc: bool = False, workers: int | None = None) -> None:
        super().__init__("raptor-lint", __version__,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
                         protocol_cls=transport.RaptorProtocol)
        self.docs: dict[str, DocState] = {}
        self.debounce = DEFAULT_DEBOUNCE
        self.budget = DEFAULT_BUDGET
        self.max_diagnostics = DEFAULT_MAX_DIAGNOSTICS
        self.settings: dict[str, Any] = {}
        self.docs_base: str | None = convert.default_docs_base()
        self.pool = WorkerPool(self.budget, **({"size": workers} if workers else {}))
        self._shown_errors: set[str] = set()
        self._poller: asyncio.Task | None = None
        self._watched_state: dict[Path, Any] = {}

    # ------------------------------------------------------------ settings
    def apply_options(self, options: Any) -> list[str]:
        """``initializationOptions`` (or a didChangeConfiguration payload): ``debounce``,
        ``docsUrl``, ``timeBudget``, ``maxDiagnostics`` and ``settings`` (the configuration
        file's keys).  Returns the problems, one line each; a bad value is not applied."""
        if not isinstance(options, dict):
            return [] if options is None else [f"editor options: expected an object, got {options!r}"[:120]]
        problems: list[str] = []
        numbers = {"debounce": (0.0, 10.0), "timeBudget": (1.0, 3600.0), "maxDiagnostics": (1, 100_000)}
        for key, (low, high) in numbers.items():
            if key not in options:
                continue
            value = options[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
                problems.append(f"editor option '{key}': expected a number from {low:g} to {high:g}, got {value!r}")
                continue
            if key == "debounce":
                self.debounce = float(value)
            elif key == "timeBudget":
                self.budget = self.pool.budget = float(value)
            else:
                self.max_diagnostics = int(value)
        docs = options.get("docsUrl")
        if isinstance(docs, str) and docs.strip():
            self.docs_base = docs.strip()
        if "settings" in options:
            settings = options["settings"]
            try:
                if not isinstance(settings, dict):
                    raise ConfigError(f"{SETTINGS_WHERE}: expected an object of configuration keys, got {settings!r}")
                with_settings(Config(root=Path.cwd()), settings, SETTINGS_WHERE, known_code_prefix)
            except ConfigError as exc:
                problems.append(str(exc))
            else:
                if settings != self.settings:
                    self.settings = dict(settings)
                    self.pool.broadcast(("configure", self.settings))
                    self.recheck_all()
        return problems

    def report_problems(self, problems: list[str]) -> None:
        for problem in problems:
            self.show_error_once(problem)

    @property
    def encoding(self) -> str:
        return self.workspace.position_encoding or types.PositionEncodingKind.Utf16

    # --------------------------------------------------------------- roots
    def document_path(self, uri: str) -> Path:
        path = to_fs_path(uri) if uri.startswith("file:") else None
        if path:
            return Path(path)
        # untitled: buffers are linted as if they lived in the workspace root.
        base = self.workspace.root_path or os.getcwd()
        name = Path(uri.split(":", 1)[-1]).name or "untitled"
        return Path(base) / name

    def root_for(self, path: Path) -> Path:
        return find_project_root(path)

    # ------------------------------------------------------------- linting
    def kind_of(self, uri: str, path: Path) -> str | None:
        kind = file_kind(path)
        if kind is not None:
            return kind
        doc = self.workspace.get_text_document(uri)
        language = (doc.language_id or "").lower()
        if language in _LANGUAGE_KINDS:
            return _LANGUAGE_KINDS[language]
        first = doc.source.split("\n", 1)[0]
        if first.startswith("#!"):
            if "python" in first:
                return PYTHON
            if any(shell in first for shell in ("/sh", "bash", "zsh")):
                return SHELL
        return None

    def schedule(self, uri: str, delay: float = 0.0) -> None:
        """(Re)start the check of ``uri`` after ``delay`` seconds; replaces any pending one
        (cancelling its task also asks its worker to stop that check)."""
        doc = self.docs.setdefault(uri, DocState())
        doc.generation += 1
        if doc.pending is not None and not doc.pending.done():
            doc.pending.cancel()
            self.pool.supersede(uri)  # now: the new check must find its worker stopping
        doc.pending = asyncio.get_running_loop().create_task(self._check(uri, doc.generation, delay))

    def recheck_all(self) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return  # before the loop runs (initialize): the first checks come later
        for uri in list(self.docs):
            self.schedule(uri, self.debounce)

    def current(self, uri: str, generation: int) -> bool:
        state = self.docs.get(uri)
        return state is not None and state.generation == generation and uri in self.workspace.text_documents

    async def _check(self, uri: str, generation: int, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        if not self.current(uri, generation):
            return
        state = self.docs[uri]
        document = self.workspace.get_text_document(uri)
        version, text = document.version, document.source
        path = self.document_path(uri)
        kind = self.kind_of(uri, path)
        if kind is None:
            return
        request: dict[str, Any] = {"path": str(path), "text": text, "kind": kind}
        if state.text is not None and state.kind == kind and not state.abandoned and \
                text.count("\n") >= incremental.MIN_LINES:
            request["previous"] = (state.text, state.findings, state.outline)  # (copied to the worker)
        error: str | None = None
        try:
            result = await self.pool.check(uri, request)
        except CheckCancelled:
            return  # a newer version (or the close) superseded this check
        except Abandoned:
            if not self.current(uri, generation):
                return
            state.abandoned = True
            self.publish(uri, version, text, kind, [], budget_note=True)
            return
        except CheckFailed as exc:
            if self.pool.closed:
                return  # shutting down
            log.error("raptor-lint failed on %s: %s", uri, exc)
            findings, error = [], f"raptor-lint failed on this file: {exc}"
        else:
            findings, error = result.findings, result.error
        if not self.current(uri, generation) or self.workspace.get_text_document(uri).version != version:
            return  # the buffer moved on while it was being checked
        state.version, state.text, state.kind, state.findings = version, text, kind, findings
        state.outline = result.outline if error is None else ()
        state.abandoned = False
        state.exact = error is not None or result.exact
        self.publish(uri, version, text, kind, findings, config_error=error)
        if not state.exact:
            # The incremental result is out; the full check runs behind it once the buffer
            # has been quiet for a moment (a newer change cancels it).
            await asyncio.sleep(FULL_CHECK_DELAY)
            if not self.current(uri, generation):
                return
            full_request = {"path": str(path), "text": text, "kind": kind}
            try:
                full = await self.pool.check(uri, full_request, background=True)
            except (CheckCancelled, Abandoned, CheckFailed):
                return
            if self.current(uri, generation) and self.workspace.get_text_document(uri).version == version:
                state.findings, state.exact, state.outline = full.findings, True, full.outline
                self.publish(uri, version, text, kind, full.findings, config_error=full.error)

    def publish(self, uri: str, version: int | None, text: str, kind: str, findings: list[Finding], *,
                config_error: str | None = None, budget_note: bool = False) -> None:
        lines = split_lines(text)
        encoding = self.encoding
        shown = findings[:self.max_diagnostics]
        diagnostics = [convert.to_diagnostic(lines, f, self.docs_base, encoding) for f in shown]
        file_start = types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0))
        if len(findings) > len(shown):
            left_out = len(findings) - len(shown)
            diagnostics.append(types.Diagnostic(
                range=convert.finding_range(lines, findings[len(shown)], encoding),
                message=f"{left_out} more raptor-lint findings in this file are not shown "
                        f"(at most {self.max_diagnostics}: the maxDiagnostics option)",
                severity=types.DiagnosticSeverity.Information, source=convert.SOURCE))
        if budget_note:
            diagnostics.insert(0, types.Diagnostic(
                range=file_start,
                message=f"raptor-lint stopped checking this file after {self.budget:g} s (timeBudget); "
                        "it is checked again on its next change",
                severity=types.DiagnosticSeverity.Warning, source=convert.SOURCE))
        if config_error is not None:
            diagnostics.insert(0, types.Diagnostic(
                range=file_start, message=f"configuration error: {config_error}",
                severity=types.DiagnosticSeverity.Error, source=convert.SOURCE))
            self.show_error_once(config_error)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version))

    def show_error_once(self, message: str) -> None:
        if message in self._shown_errors:
            return
        self._shown_errors.add(message)
        self.window_show_message(types.ShowMessageParams(type=types.MessageType.Error,
                                                         message=f"raptor-lint: {message}"))

    def clear(self, uri: str) -> None:
        self.pool.broadcast(("drop", self.document_path(uri)))
        self.pool.forget_document(uri)
        state = self.docs.pop(uri, None)
        if state is not None and state.pending is not None and not state.pending.done():
            state.pending.cancel()
            self.pool.supersede(uri)
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def files_changed(self, paths: list[Path]) -> None:
        """Files changed on disk: drop what depended on them, re-check open documents."""
        touched: set[Path] = set()
        doc_roots = {uri: self.root_for(self.document_path(uri)) for uri in self.docs}
        for path in paths:
            if path.name in CONFIG_FILES:
                # A configuration file may also belong to (or create) roots below it.
                touched.update(r for r in doc_roots.values() if inside(r, path.parent))
                self._shown_errors.clear()
            touched.add(self.root_for(path))
        self.pool.broadcast(("forget", sorted(touched)))
        for uri, doc_root in doc_roots.items():
            if any(inside(doc_root, t) for t in touched):
                self.schedule(uri, self.debounce)

    # ------------------------------------------------------------- watching
    def start_polling(self) -> None:
        """The client cannot watch files: look at the watched files of the open
        documents' roots every ``POLL_SECONDS`` instead."""
        if self._poller is None:
            self._poller = asyncio.get_running_loop().create_task(self._poll())

    async def _poll(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            roots = {self.root_for(self.document_path(uri)) for uri in list(self.docs)}
            try:
                changed = await loop.run_in_executor(None, self._changed_watched_files, roots)
            except Exception:  # noqa: BLE001 - a poll that fails is tried again
                log.exception("polling the watched files failed")
                changed = []
            if changed:
                self.files_changed(changed)
            await asyncio.sleep(POLL_SECONDS)

    def _changed_watched_files(self, roots: set[Path], baseline_only: bool = False) -> list[Path]:
        """The watched files of ``roots`` that changed since the last look (the first look at
        a file only records it).  ``baseline_only``: record new files, report nothing."""
        changed: list[Path] = []
        for root in roots:
            for path in watched_paths(root, self.settings):
                if baseline_only and path in self._watched_state:
                    continue
                signature = _signature(path)
                if path not in self._watched_state:
                    self._watched_state[path] = signature
                elif self._watched_state[path] != signature:
                    self._watched_state[path] = signature
                    changed.append(path)
        return changed

    # ---------------------------------------------------------------- hover
    def hover(self, params: types.HoverParams) -> types.Hover | None:
        uri = params.text_document.uri
        state = self.docs.get(uri)
        if state is None or state.text is None or uri not in self.workspace.text_documents:
            return None
        if self.workspace.get_text_document(uri).version != state.version:
            return None
        lines = split_lines(state.text)
        position = params.position
        hits = []
        for finding in state.findings[:self.max_diagnostics]:
            span = convert.finding_range(lines, finding, self.encoding)
            if (span.start.line, span.start.character) <= (position.line, position.character) <= \
                    (span.end.line, span.end.character):
                hits.append((finding, span))
        if not hits:
            return None
        text = "\n\n---\n\n".join(convert.hover_markdown(f, self.docs_base) for f, _ in hits)
        return types.Hover(contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=text),
                           range=hits[0][1])

    # ------------------------------------------------------------ transport
    def start_io(self, stdin: Any = None, stdout: Any = None) -> None:
        """pygls's stdio loop, with ``transport.serve`` as the reader (bounded headers,
        JSON-RPC errors for malformed messages) and the lint workers started with it."""
        from pygls.io_ import StdoutWriter

        self._stop_event = Event()
        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
        try:
            asyncio.run(self._serve(stdin or sys.stdin.buffer))
        except BrokenPipeError:
            log.error("the connection to the client is lost; shutting down")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.pool.close()
            self.shutdown()

    async def _serve(self, stdin: Any) -> None:
        self.pool.start()
        assert self._stop_event is not None
        await transport.serve(self.protocol, stdin, self._stop_event)

    # -------------------------------------------------------- code actions
    def code_actions(self, params: types.CodeActionParams) -> list[types.CodeAction]:
        uri = params.text_document.uri
        state = self.docs.get(uri)
        if state is None or uri not in self.workspace.text_documents:
            return []
        document = self.workspace.get_text_document(uri)
        if state.version != document.version or state.text is None:
            return []  # findings belong to an older buffer; the next check will refresh them
        only = params.context.only
        want_quickfix = not only or any(str(k).startswith("quickfix") for k in only)
        if not want_quickfix:
            return []
        lines = split_lines(state.text)
        encoding = self.encoding
        pairs = [(f, convert.to_diagnostic(lines, f, self.docs_base, encoding)) for f in state.findings]
        selected = _select(pairs, params.range, params.context.diagnostics)
        fixes: list[types.CodeAction] = []
        suppressions: list[types.CodeAction] = []
        seen: set[tuple] = set()
        for finding, diagnostic in selected:
            fix_edit = self.fix_edit(uri, document.version, lines, finding) if finding.fix is not None else None
            if finding.fix is not None and fix_edit is not None:
                # As in Ruff's editors: a safe fix is the preferred quick fix; an unsafe one is
                # offered, titled so, and never preferred (nothing applies it unasked).
                safe = finding.fix.is_safe
                fixes.append(types.CodeAction(
                    title=f"{'' if safe else '(unsafe) '}{finding.fix.description} ({finding.code})",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    is_preferred=safe,
                    edit=fix_edit,
                ))
            key = (finding.line, finding.code)
            if key in seen:
                continue
            seen.add(key)
            edit = convert.noqa_edit(state.text, finding, state.kind or PYTHON, encoding)
            if edit is not None:
                suppressions.append(types.CodeAction(
                    title=f"Suppress {finding.code} on this line with # noqa: {finding.code}",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    edit=self.workspace_edit(uri, document.version, [edit]),
                ))
        return fixes + suppressions

    def fix_edit(self, uri: str, version: int | None, lines: list[str], finding: Finding) -> types.WorkspaceEdit | None:
        """The WorkspaceEdit of a finding's fix.  Edits of another file (``Edit.path``: the
        runbook, the config manifest) target that file's URI, positioned in its text on disk
        (or its open buffer, unversioned); None when that file is open with unsaved changes
        (the fix was computed from the disk copy) or cannot be read."""
        fix = finding.fix
        assert fix is not None
        by_file: dict[str | None, list] = {}
        for edit in fix.edits:
            by_file.setdefault(edit.path, []).append(edit)
        documents: list[tuple[str, int | None, list[types.TextEdit]]] = []
        for path, edits in by_file.items():
            if path is None:
                documents.append((uri, version, convert.text_edits(lines, edits, self.encoding)))
                continue
            target_uri = Path(path).as_uri()
            try:
                disk = decode_text(read_regular_file(path))  # never a FIFO or a device
            except OSError:
                return None
            open_document = self.workspace.text_documents.get(target_uri)
            if open_document is not None and open_document.source != disk:
                return None
            documents.append((target_uri, None, convert.text_edits(split_lines(disk), edits, self.encoding)))
        return self.workspace_edit_of(documents)

    def workspace_edit(self, uri: str, version: int | None, edits: list[types.TextEdit]) -> types.WorkspaceEdit:
        return self.workspace_edit_of([(uri, version, edits)])

    def workspace_edit_of(self, documents: list[tuple[str, int | None, list[types.TextEdit]]]) -> types.WorkspaceEdit:
        capabilities = self.client_capabilities.workspace
        edit_caps = capabilities.workspace_edit if capabilities else None
        if edit_caps is not None and edit_caps.document_changes:
            return types.WorkspaceEdit(document_changes=[types.TextDocumentEdit(
                text_document=types.OptionalVersionedTextDocumentIdentifier(uri=uri, version=version),
                edits=edits,
            ) for uri, version, edits in documents])
        return types.WorkspaceEdit(changes={uri: edits for uri, _, edits in documents})


def watched_paths(root: Path, settings: dict[str, Any] | None = None) -> list[Path]:
    """The files whose change on disk changes findings under ``root``: its configuration
    files and the project facts (configured by the file or the editor ``settings``, else
    the defaults)."""
    paths = [root / name for name in CONFIG_FILES]
    facts = list(_DEFAULT_FACTS)
    try:
        config = load_config(start=root, known_code=known_code_prefix)
        if settings:
            config = with_settings(config, settings, SETTINGS_WHERE, known_code_prefix)
        facts += [value for value in (config.migrations_dir, config.runbook, config.config_manifest) if value]
    except ConfigError:
        pass
    return paths + [root / fact for fact in dict.fromkeys(facts)]


def _signature(path: Path) -> Any:
    """What changes when ``path`` (a file, or a directory and its files) changes."""
    try:
        stat = path.stat()
    except OSError:
        return None
    if not path.is_dir():
        return (stat.st_mtime_ns, stat.st_size)
    entries = []
    try:
        with os.scandir(path) as listing:
            for count, entry in enumerate(listing):
                if count >= 10_000:
                    break
                try:
                    info = entry.stat()
                except OSError:
                    continue
                entries.append((entry.name, info.st_mtime_ns, info.st_size))
    except OSError:
        return None
    return (stat.st_mtime_ns, tuple(sorted(entries)))


def _select(pairs: list[tuple[Finding, types.Diagnostic]], request: types.Range,
            context: Sequence[types.Diagnostic]) -> list[tuple[Finding, types.Diagnostic]]:
    """The findings a code-action request is about: those the client names in its
    context (matched by code and range), else those on the requested lines."""
    ours = [d for d in context if d.source == convert.SOURCE]
    if ours:
        wanted = {(str(d.code), d.range.start.line, d.range.start.character) for d in ours}
        chosen = [(f, d) for f, d in pairs
                  if (f.code, d.range.start.line, d.range.start.character) in wanted]
        if chosen:
            return chosen
    first, last = request.start.line, request.end.line
    return [(f, d) for f, d in pairs if d.range.start.line <= last and d.range.end.line >= first]


def create_server(manage_gc: bool = False, workers: int | None = None) -> RaptorLanguageServer:
    server = RaptorLanguageServer(manage_gc, workers)

    @server.feature(types.INITIALIZE)
    def initialize(ls: RaptorLanguageServer, params: types.InitializeParams) -> None:
        ls.report_problems(ls.apply_options(params.initialization_options))

    @server.feature(types.INITIALIZED)
    async def initialized(ls: RaptorLanguageServer, params: types.InitializedParams) -> None:
        workspace = ls.client_capabilities.workspace
        watched = workspace.did_change_watched_files if workspace else None
        if watched is None or not watched.dynamic_registration:
            ls.start_polling()
            return
        registration = types.Registration(
            id="raptor-lint-watched-files",
            method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
            register_options=types.DidChangeWatchedFilesRegistrationOptions(
                watchers=[types.FileSystemWatcher(glob_pattern=glob) for glob in WATCHED_GLOBS]
            ),
        )
        try:
            await ls.client_register_capability_async(types.RegistrationParams(registrations=[registration]))
        except Exception:  # noqa: BLE001 - a client may refuse: then the server looks itself
            log.warning("client refused the file-watcher registration; polling instead", exc_info=True)
            ls.start_polling()

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    def did_change_configuration(ls: RaptorLanguageServer, params: types.DidChangeConfigurationParams) -> None:
        settings = params.settings
        if isinstance(settings, dict):
            settings = settings.get("raptor-lint", settings.get("raptorLint", settings))
        if isinstance(settings, dict):
            ls.report_problems(ls.apply_options(settings))

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: RaptorLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        uri = params.text_document.uri
        if ls._poller is not None:
            # What the check is about to read is the baseline: a change from now on is seen
            # (the poll's first look may come after an edit).
            ls._changed_watched_files({ls.root_for(ls.document_path(uri))}, baseline_only=True)
        ls.schedule(uri)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: RaptorLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri, ls.debounce)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: RaptorLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
        uri = params.text_document.uri
        path = ls.document_path(uri)
        ls.files_changed([path])  # re-checks the other open documents of its project
        if uri in ls.docs:
            ls.schedule(uri)  # this one right away

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: RaptorLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.clear(params.text_document.uri)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: RaptorLanguageServer, params: types.DidChangeWatchedFilesParams) -> None:
        paths = [Path(p) for change in params.changes if (p := to_fs_path(change.uri))]
        if paths:
            ls.files_changed(paths)

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    def hover(ls: RaptorLanguageServer, params: types.HoverParams) -> types.Hover | None:
        return ls.hover(params)

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix], resolve_provider=False),
    )
    def code_action(ls: RaptorLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        return ls.code_actions(params)

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: RaptorLanguageServer, params: None) -> None:
        ls.pool.close()

    @server.feature(types.EXIT)
    def exit_(ls: RaptorLanguageServer, params: None) -> None:
        # pygls would sys.exit() from inside the loop, which then waits for the thread
        # blocked reading stdin; leave now, as the protocol says (0 after shutdown).
        ls.pool.close()
        sys.stdout.flush()
        os._exit(0 if ls.protocol._shutdown else 1)

    return server
