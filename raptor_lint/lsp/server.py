"""The raptor-lint language server: a thin pygls 2.x adapter over ``Engine.lint_text``.

* Diagnostics are pushed on open, on save and on change, from the unsaved
  buffer, and cleared on close.  A change is checked at once (no debounce by
  default: waiting for a pause in typing is pure latency when nothing else runs).
* Linting runs on one worker thread, off the event loop, so the server keeps
  answering while a file is checked.  A newer change supersedes the running
  check: it stops before its next rule family (``Engine.lint_text(cancelled=...)``)
  and the newest buffer is checked next, so a burst of keystrokes never queues
  stale checks.  A result is published only if the document is still open at
  the same version and no newer check was requested.
* After a root's first check its long-lived objects leave the garbage
  collector's generations (``gc.freeze``), so collections no longer walk the
  project facts, and none runs during a check (``Engine.lint_text``).
* One ``Engine`` (with its ``ProjectIndex``) per project root, found from the
  document's path like the CLI does, reused across documents.  Saving a file
  or a watched-file event drops the root's project facts (migrations, runbook,
  other modules may have changed); a change to pyproject.toml / setup.cfg also
  reloads its configuration.  Open documents of that root are re-checked.  Without a
  save, module look-ups still see a module created or removed within a second
  (``ModuleIndex._listing``).
* Code actions: the rule's fix (a safe fix is the preferred quick fix; an unsafe one is
  titled "(unsafe) ..." and not preferred; one that edits another file, RPT502/RPT503,
  targets that file's URI), and "suppress with ``# noqa: CODE``".
"""

from __future__ import annotations

import ast
import asyncio
import functools
import gc
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from raptor_lint import __version__
from raptor_lint.config import Config, ConfigError, find_project_root, load_config
from raptor_lint.discovery import MAKEFILE, PYTHON, SHELL, file_kind
from raptor_lint.engine import MAX_FILE_CHARS, Cancelled, Engine
from raptor_lint.findings import Finding
from raptor_lint.lsp import convert
from raptor_lint.lsp.reparse import reparse
from raptor_lint.registry import known_code_prefix
from raptor_lint.safe_read import read_regular_file
from raptor_lint.source import SourceError, decode_text, parse_python, split_lines

log = logging.getLogger(__name__)

CONFIG_FILES = ("pyproject.toml", "setup.cfg")
# Seconds to wait after a change before checking it.  0: at once; a check still
# running for an older version is stopped instead (see ``schedule``).
DEFAULT_DEBOUNCE = 0.0
# A check allocates ~10^5 short-lived objects (trees, findings): collect the
# youngest generation less often than CPython's default of every 700.
GC_THRESHOLD = (20_000, 20, 20)
_LANGUAGE_KINDS = {"python": PYTHON, "shellscript": SHELL, "sh": SHELL, "bash": SHELL,
                   "makefile": MAKEFILE, "make": MAKEFILE}
_WATCHED = ("**/pyproject.toml", "**/setup.cfg", "**/*.py", "**/*.md", "**/*.yaml", "**/*.yml")


@dataclass
class RootState:
    """Configuration and engine of one project root (or the configuration error)."""

    config: Config | None
    engine: Engine | None
    error: str | None = None
    # Set after the first check: its objects were moved out of the collector's reach.
    frozen: bool = False


@dataclass
class DocState:
    """What the server knows about one open document."""

    generation: int = 0  # bumped on every check request; a stale result is dropped
    pending: asyncio.Task | None = None
    # Findings of the last published check, with the version they belong to.
    version: int | None = None
    text: str | None = None
    kind: str | None = None
    findings: list[Finding] = field(default_factory=list)


class RaptorLanguageServer(LanguageServer):
    def __init__(self, manage_gc: bool = False) -> None:
        super().__init__("raptor-lint", __version__,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        # Tune the garbage collector (the server owns its process; see lint_sync).
        self.manage_gc = manage_gc
        if manage_gc:
            gc.set_threshold(*GC_THRESHOLD)
        self.roots: dict[Path, RootState] = {}
        self.docs: dict[str, DocState] = {}
        self.debounce = DEFAULT_DEBOUNCE
        self.docs_base: str | None = convert.default_docs_base()
        self.linter = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raptor-lint")
        self._shown_errors: set[str] = set()
        # Per open Python file: the text and tree of its last check, for ``reparse``.
        # Only the lint thread reads and writes it (``clear`` drops an entry).
        self._trees: dict[Path, tuple[str, ast.Module]] = {}
        # ``roots`` is read on the lint thread and invalidated on the event loop.
        self._roots_lock = threading.Lock()

    # ------------------------------------------------------------ settings
    def apply_options(self, options: Any) -> None:
        """``initializationOptions``: ``{"debounce": seconds, "docsUrl": base URL}``."""
        if not isinstance(options, dict):
            return
        debounce = options.get("debounce")
        if isinstance(debounce, (int, float)) and 0 <= debounce <= 10:
            self.debounce = float(debounce)
        docs = options.get("docsUrl")
        if isinstance(docs, str) and docs.strip():
            self.docs_base = docs.strip()

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

    def state_for(self, path: Path) -> RootState:
        """The (cached) configuration and engine for the project holding ``path``."""
        root = self.root_for(path)
        with self._roots_lock:
            state = self.roots.get(root)
            if state is None:
                state = self.roots[root] = _load_root(path)
            return state

    def forget_root(self, root: Path) -> None:
        """Next check re-reads the configuration and rebuilds the project facts
        (migrations, runbook, manifest, other modules): both are cheap next to linting."""
        with self._roots_lock:
            self.roots.pop(root, None)

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

    def lint_sync(self, path: Path, text: str, kind: str,
                  cancelled: Any = None) -> tuple[list[Finding], str | None]:
        """Runs on the lint thread: (findings, configuration error).  Raises ``Cancelled``
        when ``cancelled()`` turns true before the last rule family has run."""
        state = self.state_for(path)
        if state.engine is None or state.config is None:  # both set, or neither (an error)
            return [], state.error
        if state.config.is_excluded(path) and _inside(path, state.config.root):
            return [], None
        tree = self._tree_for(path, text, kind)
        # (The check runs with the cyclic collector off: see Engine.lint_text.)
        result = state.engine.lint_text(text, path, kind, display_path=path.name,
                                        cancelled=cancelled, tree=tree)
        if self.manage_gc and not state.frozen:
            # The first check built this root's project facts (and imported the rule
            # families' libraries): make them permanent, so that a full collection
            # during later checks only walks what those checks allocate.  Unfreeze
            # first: a root dropped since the last freeze may hold reference cycles.
            state.frozen = True
            gc.unfreeze()
            gc.collect()
            gc.freeze()
        return result.findings, None

    def _tree_for(self, path: Path, text: str, kind: str) -> ast.Module | None:
        """The ``ast`` tree of ``text``: the previous check's, with only the statements the
        edit touched parsed again when ``reparse`` can (a keystroke: ~1 ms instead of
        ~25 ms on a 2,000-line module), else a full parse.  None when the text does not
        parse: the engine then reports the syntax error (E999)."""
        if kind != PYTHON or len(text) > MAX_FILE_CHARS:
            return None
        previous = self._trees.get(path)
        tree = reparse(previous[0], previous[1], text, str(path)) if previous is not None else None
        if tree is None:
            try:
                tree = parse_python(text, str(path))
            except SourceError:
                self._trees.pop(path, None)
                return None
        self._trees[path] = (text, tree)
        return tree

    def schedule(self, uri: str, delay: float = 0.0) -> None:
        """(Re)start the check of ``uri`` after ``delay`` seconds; replaces any pending one.

        Bumping the generation also stops a check of ``uri`` that is running on the
        lint thread: it polls ``superseded`` before each rule family."""
        doc = self.docs.setdefault(uri, DocState())
        doc.generation += 1
        if doc.pending is not None and not doc.pending.done():
            doc.pending.cancel()
        doc.pending = asyncio.get_running_loop().create_task(self._check(uri, doc.generation, delay))

    def superseded(self, uri: str, generation: int) -> bool:
        """Is the check ``generation`` of ``uri`` stale (newer check requested, or closed)?
        Read from the lint thread: plain attribute reads of ints and dicts."""
        doc = self.docs.get(uri)
        return doc is None or doc.generation != generation

    async def _check(self, uri: str, generation: int, delay: float) -> None:
        if delay:
            await asyncio.sleep(delay)
        state = self.docs.get(uri)
        if state is None or state.generation != generation or uri not in self.workspace.text_documents:
            return
        document = self.workspace.get_text_document(uri)
        version, text = document.version, document.source
        path = self.document_path(uri)
        kind = self.kind_of(uri, path)
        if kind is None:
            return
        loop = asyncio.get_running_loop()
        superseded = functools.partial(self.superseded, uri, generation)
        try:
            findings, error = await loop.run_in_executor(self.linter, self.lint_sync, path, text, kind, superseded)
        except Cancelled:
            return  # a newer version (or the close) superseded this check
        except Exception as exc:  # noqa: BLE001 - the server must outlive any bug
            log.exception("raptor-lint failed on %s", uri)
            findings, error = [], f"raptor-lint failed on this file: {type(exc).__name__}: {exc}"
        # Drop the result if the buffer moved on while it was being checked.
        state = self.docs.get(uri)
        if state is None or state.generation != generation or uri not in self.workspace.text_documents:
            return
        if self.workspace.get_text_document(uri).version != version:
            return
        state.version, state.text, state.kind, state.findings = version, text, kind, findings
        lines = split_lines(text)
        diagnostics = [convert.to_diagnostic(lines, f, self.docs_base, self.encoding) for f in findings]
        if error is not None:
            diagnostics.insert(0, types.Diagnostic(
                range=types.Range(start=types.Position(line=0, character=0),
                                  end=types.Position(line=0, character=0)),
                message=f"configuration error: {error}",
                severity=types.DiagnosticSeverity.Error,
                source=convert.SOURCE,
            ))
            self.show_error_once(error)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=diagnostics, version=version)
        )

    def show_error_once(self, message: str) -> None:
        if message in self._shown_errors:
            return
        self._shown_errors.add(message)
        self.window_show_message(types.ShowMessageParams(type=types.MessageType.Error,
                                                         message=f"raptor-lint: {message}"))

    def clear(self, uri: str) -> None:
        self._trees.pop(self.document_path(uri), None)
        state = self.docs.pop(uri, None)
        if state is not None and state.pending is not None and not state.pending.done():
            state.pending.cancel()
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    def files_changed(self, paths: list[Path]) -> None:
        """Files changed on disk: drop what depended on them, re-check open documents."""
        touched: set[Path] = set()
        for path in paths:
            root = self.root_for(path)
            if path.name in CONFIG_FILES:
                # A configuration file may also belong to (or create) roots below it.
                with self._roots_lock:
                    touched.update(r for r in self.roots if _inside(r, path.parent))
                self._shown_errors.clear()
            touched.add(root)
        for root in touched:
            self.forget_root(root)
        for uri in list(self.docs):
            doc_root = self.root_for(self.document_path(uri))
            if any(_inside(doc_root, t) for t in touched):
                self.schedule(uri, self.debounce)

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


def _load_root(path: Path) -> RootState:
    try:
        config = load_config(start=path, known_code=known_code_prefix)
        engine = Engine(config)
        # As `check` does: families build the facts that can fail on configuration (a
        # configured runbook that is missing...) up front, so that is one clear error.
        for checker in engine.checkers:
            prepare = getattr(checker, "prepare", None)
            if prepare is not None:
                prepare(engine.project)
    except ConfigError as exc:
        return RootState(None, None, str(exc))
    return RootState(config, engine)


def _inside(path: Path, directory: Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
        return True
    except ValueError:
        return False


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


def create_server(manage_gc: bool = False) -> RaptorLanguageServer:
    server = RaptorLanguageServer(manage_gc)

    @server.feature(types.INITIALIZE)
    def initialize(ls: RaptorLanguageServer, params: types.InitializeParams) -> None:
        ls.apply_options(params.initialization_options)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: RaptorLanguageServer, params: types.InitializedParams) -> None:
        workspace = ls.client_capabilities.workspace
        watched = workspace.did_change_watched_files if workspace else None
        if watched is None or not watched.dynamic_registration:
            return
        registration = types.Registration(
            id="raptor-lint-watched-files",
            method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
            register_options=types.DidChangeWatchedFilesRegistrationOptions(
                watchers=[types.FileSystemWatcher(glob_pattern=glob) for glob in _WATCHED]
            ),
        )
        try:
            await ls.client_register_capability_async(types.RegistrationParams(registrations=[registration]))
        except Exception:  # noqa: BLE001 - a client may refuse; saves still reload
            log.warning("client refused the file-watcher registration", exc_info=True)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: RaptorLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.schedule(params.text_document.uri)

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

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix], resolve_provider=False),
    )
    def code_action(ls: RaptorLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        return ls.code_actions(params)

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: RaptorLanguageServer, params: None) -> None:
        ls.linter.shutdown(wait=False, cancel_futures=True)

    return server
