"""The language server end to end: a real LSP client (pytest-lsp) talking to
``python -m raptor_lint lsp`` over stdio.

One server serves the whole module (a start costs ~0.85 s); every test uses
its own documents.  Waits are bounded hang guards, not timing assertions.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from lsp_client import codes, open_doc
from lsp_client import published as diagnostics_until
from raptor_lint.config import Config
from raptor_lint.engine import Engine
from raptor_lint.lsp.convert import split_lines, to_lsp_position
from raptor_lint.registry import all_rules

pytestmark = pytest.mark.asyncio(loop_scope="module")

HAS_RPT301 = "RPT301" in all_rules()
needs_rpt301 = pytest.mark.skipif(not HAS_RPT301, reason="RPT301 (blueprints family) has not landed yet")
FIXABLE = sorted(code for code, rule in all_rules().items() if rule.fixable)

WAIT = 30.0  # seconds; only a guard against a hung server

# A blueprint whose prefix doubles /api (RPT301); the emoji before it checks the
# UTF-16 conversion of columns (it is two UTF-16 code units, one code point).
BLUEPRINT = '''\
from flask import Blueprint

bp = Blueprint("😋 reports", __name__, url_prefix="/api/reports")


@bp.route("/daily")
def daily():
    return {"ok": True}
'''
CLEAN_BLUEPRINT = BLUEPRINT.replace('url_prefix="/api/reports"', 'url_prefix="/reports"')


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lsp_project")
    (root / "pyproject.toml").write_text('[project]\nname = "svc"\n\n[tool.raptor-lint]\nexclude = ["vendor"]\n',
                                         encoding="utf-8")
    (root / "app").mkdir()
    (root / "app" / "__init__.py").write_text("", encoding="utf-8")
    # A sub-project with its own configuration that switches the blueprint rules off.
    (root / "legacy" / "app").mkdir(parents=True)
    (root / "legacy" / "setup.cfg").write_text("[raptor-lint]\nignore = RPT3\n", encoding="utf-8")
    return root


@pytest_lsp.fixture(
    scope="module",
    config=ClientServerConfig(server_command=[sys.executable, "-m", "raptor_lint", "lsp"]),
)
async def client(lsp_client: LanguageClient, project: Path):
    registrations: list[types.RegistrationParams] = []

    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams) -> None:
        registrations.append(params)

    lsp_client.registrations = registrations
    capabilities = pytest_lsp.client_capabilities("visual-studio-code")
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=capabilities,
        root_uri=project.as_uri(),
        workspace_folders=[types.WorkspaceFolder(uri=project.as_uri(), name="svc")],
        initialization_options={"debounce": 0.05, "docsUrl": "https://docs.example/rules.md"},
    ))
    yield
    await lsp_client.shutdown_session()


# --------------------------------------------------------------- helpers

def replace_all(client: LanguageClient, uri: str, version: int, text: str) -> None:
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
        content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)]))


def offset(text: str, position: types.Position) -> int:
    """Offset in ``text`` of an LSP (UTF-16) position."""
    lines = text.split("\n")
    start = sum(len(line) + 1 for line in lines[:position.line])
    units = 0
    for index, ch in enumerate(lines[position.line]):
        if units >= position.character:
            return start + index
        units += 2 if ord(ch) > 0xFFFF else 1
    return start + len(lines[position.line])


def apply_edits(text: str, edits: list[types.TextEdit]) -> str:
    spans = sorted(((offset(text, e.range.start), offset(text, e.range.end), e.new_text) for e in edits), reverse=True)
    for start, end, new in spans:
        text = text[:start] + new + text[end:]
    return text


def edits_of(action: types.CodeAction, uri: str) -> list[types.TextEdit]:
    edit = action.edit
    if edit.document_changes:
        return [e for change in edit.document_changes if change.text_document.uri == uri for e in change.edits]
    return list(edit.changes[uri])


async def actions_at(client: LanguageClient, uri: str, diagnostic: types.Diagnostic) -> list[types.CodeAction]:
    return await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=diagnostic.range,
        context=types.CodeActionContext(diagnostics=[diagnostic]),
    ))


# ----------------------------------------------------------------- tests

async def test_initialize_registers_config_watchers(client: LanguageClient) -> None:
    await asyncio.sleep(0)  # the registration request follows `initialized`
    deadline = asyncio.get_running_loop().time() + WAIT
    while not client.registrations and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)
    [params] = client.registrations
    [registration] = params.registrations
    assert registration.method == types.WORKSPACE_DID_CHANGE_WATCHED_FILES
    options = registration.register_options  # the client sees plain JSON here
    globs = {w["globPattern"] for w in options["watchers"]}
    assert {"**/pyproject.toml", "**/setup.cfg"} <= globs


@needs_rpt301
async def test_open_publishes_diagnostics_with_utf16_range_and_docs_link(client, project) -> None:
    path = project / "app" / "reports.py"
    uri = open_doc(client, path, BLUEPRINT)
    diagnostics = await diagnostics_until(client, uri, lambda d: d != [])
    [diagnostic] = diagnostics
    [finding] = Engine(Config(root=project)).lint_text(BLUEPRINT, path, "python").findings
    lines = split_lines(BLUEPRINT)
    assert diagnostic.code == "RPT301"
    assert diagnostic.source == "raptor-lint"
    assert diagnostic.message == finding.message
    assert diagnostic.code_description.href == "https://docs.example/rules.md#rpt301"
    assert diagnostic.severity == types.DiagnosticSeverity.Warning
    assert diagnostic.range.start == to_lsp_position(lines, finding.line, finding.column)
    # The emoji before the finding counts two UTF-16 units: the column shifts by one.
    line_text = lines[finding.line - 1]
    assert "😋" in line_text[:finding.column - 1]
    assert diagnostic.range.start.character == finding.column  # (column - 1) code points + 1
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    await diagnostics_until(client, uri, lambda d: d == [])


@needs_rpt301
async def test_edits_update_diagnostics_from_the_unsaved_buffer(client, project) -> None:
    uri = open_doc(client, project / "app" / "orders.py", CLEAN_BLUEPRINT)
    assert await diagnostics_until(client, uri, lambda d: True) == []
    # Typing: several quick changes; only the last buffer matters.
    replace_all(client, uri, 2, BLUEPRINT.replace("reports", "orders"))
    replace_all(client, uri, 3, BLUEPRINT.replace("reports", "orders").replace("/api/orders", "/api/order"))
    diagnostics = await diagnostics_until(client, uri, lambda d: codes(d) == ["RPT301"])
    assert diagnostics[0].range.start.line == 2
    # An incremental edit that removes "/api" from the prefix clears it.
    text = BLUEPRINT.replace("reports", "orders").replace("/api/orders", "/api/order")
    start = text.split("\n")[2].index("/api/order")
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=4),
        content_changes=[types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(line=2, character=start + 1),  # +1: the emoji
                              end=types.Position(line=2, character=start + 1 + len("/api"))),
            text="")]))
    await diagnostics_until(client, uri, lambda d: d == [])


@needs_rpt301
async def test_noqa_code_action_silences_the_finding(client, project) -> None:
    text = BLUEPRINT.replace('url_prefix="/api/reports")', 'url_prefix="/api/reports")  # noqa: E501')
    uri = open_doc(client, project / "app" / "noqa_demo.py", text)
    [diagnostic] = await diagnostics_until(client, uri, lambda d: d != [])
    actions = await actions_at(client, uri, diagnostic)
    [suppress] = [a for a in actions if "noqa" in a.title]
    assert suppress.kind == types.CodeActionKind.QuickFix
    fixed = apply_edits(text, edits_of(suppress, uri))
    # Merged into the existing comment, not a second one.
    assert fixed.split("\n")[2].endswith('url_prefix="/api/reports")  # noqa: E501,RPT301')
    replace_all(client, uri, 2, fixed)
    assert await diagnostics_until(client, uri, lambda d: d == []) == []


@pytest.mark.skipif(not FIXABLE, reason="no fixable rule has landed yet (RPT301, RPT204, RPT601 carry fixes)")
@needs_rpt301
async def test_fix_code_action_makes_the_buffer_clean(client, project) -> None:
    uri = open_doc(client, project / "app" / "fixme.py", BLUEPRINT)
    [diagnostic] = await diagnostics_until(client, uri, lambda d: d != [])
    actions = await actions_at(client, uri, diagnostic)
    [fix] = [a for a in actions if a.is_preferred]
    assert fix.diagnostics[0].code == "RPT301"
    fixed = apply_edits(BLUEPRINT, edits_of(fix, uri))
    assert fixed == CLEAN_BLUEPRINT
    replace_all(client, uri, 2, fixed)
    assert await diagnostics_until(client, uri, lambda d: d == []) == []


async def test_half_typed_code_gives_e999_and_the_server_survives(client, project) -> None:
    uri = open_doc(client, project / "app" / "typing_now.py", "def handler(:\n")
    [diagnostic] = await diagnostics_until(client, uri, lambda d: d != [])
    assert diagnostic.code == "E999"
    assert diagnostic.severity == types.DiagnosticSeverity.Error
    assert diagnostic.range.start.line == 0
    # Every keystroke a new syntax error (no prefix of this parses)...
    typed = "def handler(request):\n    return os.environ["
    for version, end in enumerate(range(5, len(typed) + 1, 4), start=2):
        replace_all(client, uri, version, typed[:end])
    # ...the last buffer's error is the one reported...
    replace_all(client, uri, 100, "import os\n\n\ndef handler(request):\n    return os.environ['HOME'\n")
    [diagnostic] = await diagnostics_until(client, uri, lambda d: [x.range.start.line for x in d] == [4])
    assert diagnostic.code == "E999" and "never closed" in diagnostic.message
    # ...and complete code is clean.
    replace_all(client, uri, 101, "import os\n\n\ndef handler(request):\n    return os.environ['HOME']\n")
    await diagnostics_until(client, uri, lambda d: d == [])
    # Still alive and answering requests.
    actions = await client.text_document_code_action_async(types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=types.Range(start=types.Position(line=0, character=0), end=types.Position(line=0, character=0)),
        context=types.CodeActionContext(diagnostics=[])))
    assert not actions


async def test_close_clears_diagnostics(client, project) -> None:
    uri = open_doc(client, project / "app" / "closing.py", "x = (\n")
    await diagnostics_until(client, uri, lambda d: codes(d) == ["E999"])
    client.text_document_did_close(types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri)))
    assert await diagnostics_until(client, uri, lambda d: d == []) == []


@needs_rpt301
async def test_configuration_is_found_from_the_document_and_reloaded(client, project) -> None:
    # legacy/setup.cfg ignores RPT3: the same code is clean there.
    legacy = open_doc(client, project / "legacy" / "app" / "views.py", BLUEPRINT)
    uri = open_doc(client, project / "app" / "config_demo.py", BLUEPRINT)
    await diagnostics_until(client, uri, lambda d: codes(d) == ["RPT301"])
    assert await diagnostics_until(client, legacy, lambda d: True) == []
    # Switching the rule off in pyproject.toml takes effect without a restart...
    pyproject = project / "pyproject.toml"
    original = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(original + 'ignore = ["RPT301"]\n', encoding="utf-8")
    try:
        client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
            types.FileEvent(uri=pyproject.as_uri(), type=types.FileChangeType.Changed)]))
        await diagnostics_until(client, uri, lambda d: d == [])
    finally:
        pyproject.write_text(original, encoding="utf-8")
    # ...and so does switching it back (here through a save of pyproject.toml).
    client.text_document_did_save(types.DidSaveTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=pyproject.as_uri())))
    await diagnostics_until(client, uri, lambda d: codes(d) == ["RPT301"])


@pytest.mark.skipif("RPT501" not in all_rules(), reason="RPT501 (project rules) has not landed yet")
async def test_project_rules_see_the_project_and_its_changes_on_disk(client, tmp_path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    (versions / "0001_initial.py").write_text(
        'from alembic import op\nimport sqlalchemy as sa\n\nrevision = "0001"\ndown_revision = None\n\n\n'
        'def upgrade():\n    op.create_table("users", sa.Column("id", sa.Integer, primary_key=True))\n',
        encoding="utf-8")
    factory = (
        "import os\n\nfrom flask import Flask\n\n\ndef create_app() -> Flask:\n    app = Flask(__name__)\n"
        '    if os.environ.get("FLAG_BETA_DIGEST") == "1":\n        app.config["BETA_DIGEST"] = True\n'
        "    return app\n")
    uri = open_doc(client, tmp_path / "svc" / "__init__.py", factory)
    [diagnostic] = await diagnostics_until(client, uri, lambda d: d != [])
    assert (diagnostic.code, diagnostic.range.start.line) == ("RPT501", 7)
    # The migration lands on disk (another editor, a git checkout): the flag is covered.
    migration = versions / "0002_beta_digest.py"
    migration.write_text(
        'from alembic import op\n\nrevision = "0002"\ndown_revision = "0001"\n\n\n'
        "def upgrade():\n    op.execute(\"INSERT INTO feature_flags (key, enabled) VALUES ('beta_digest', false)\")\n",
        encoding="utf-8")
    client.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
        types.FileEvent(uri=migration.as_uri(), type=types.FileChangeType.Created)]))
    await diagnostics_until(client, uri, lambda d: d == [])


async def test_excluded_files_get_no_diagnostics(client, project) -> None:
    uri = open_doc(client, project / "vendor" / "lib.py", "def broken(:\n")
    assert await diagnostics_until(client, uri, lambda d: True) == []


async def test_a_broken_configuration_is_a_diagnostic_not_a_crash(client, tmp_path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\nselect = 7\n", encoding="utf-8")
    uri = open_doc(client, tmp_path / "app.py", "import os\n")
    [diagnostic] = await diagnostics_until(client, uri, lambda d: d != [])
    assert diagnostic.severity == types.DiagnosticSeverity.Error
    assert "select" in diagnostic.message and "pyproject.toml" in diagnostic.message
    # Fixed on disk: the next save re-reads it.
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    client.text_document_did_save(types.DidSaveTextDocumentParams(
        text_document=types.TextDocumentIdentifier(uri=(tmp_path / "pyproject.toml").as_uri())))
    await diagnostics_until(client, uri, lambda d: d == [])


@pytest.mark.skipif("RPT601" not in all_rules(), reason="RPT601 (ops-hygiene family) has not landed yet")
async def test_non_python_documents_get_diagnostics(client, project) -> None:
    script = "#!/bin/sh\nset -e\nheroku config:set SECRET_KEY=\"$KEY\" --app raxx-api-staging\n"
    uri = open_doc(client, project / "scripts" / "bootstrap.sh", script, language="shellscript")
    diagnostics = await diagnostics_until(client, uri, lambda d: d != [])
    assert codes(diagnostics) == ["RPT601"]
    assert diagnostics[0].range.start.line == 2


@pytest.mark.skipif("RPT204" not in all_rules(), reason="RPT204 (Redis family) has not landed yet")
async def test_unsafe_fix_is_offered_titled_unsafe_and_not_preferred(client, project) -> None:
    text = ("from flask import current_app\n\n\ndef client():\n"
            "    return current_app.extensions['redis_client']  # noqa: RPT205\n")
    uri = open_doc(client, project / "app" / "unsafe_demo.py", text)
    diagnostics = await diagnostics_until(client, uri, lambda d: "RPT204" in codes(d))
    [diagnostic] = [d for d in diagnostics if d.code == "RPT204"]
    actions = await actions_at(client, uri, diagnostic)
    [fix] = [a for a in actions if "noqa" not in a.title]
    assert fix.title.startswith("(unsafe) ") and fix.title.endswith("(RPT204)")
    assert fix.kind == types.CodeActionKind.QuickFix and not fix.is_preferred
    assert apply_edits(text, edits_of(fix, uri)) == text.replace(
        "extensions['redis_client']", "extensions.get('redis_client')")


@pytest.mark.skipif("RPT502" not in all_rules(), reason="RPT502 (project rules) has not landed yet")
async def test_fix_of_another_file_targets_that_files_uri(client, tmp_path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\nselect = [\"RPT502\"]\n", encoding="utf-8")
    runbook = tmp_path / "docs" / "ops" / "runbook.md"
    runbook.parent.mkdir(parents=True)
    runbook_text = "# Runbook\n\n## Env-bootstrap checklist\n\n- [ ] `SECRET_KEY` set\n"
    runbook.write_text(runbook_text, encoding="utf-8")
    factory = ("import os\n\n\ndef create_app():\n"
               '    return os.environ.get("FLAG_BETA_DIGEST")\n')
    uri = open_doc(client, tmp_path / "svc" / "__init__.py", factory)
    [diagnostic] = await diagnostics_until(client, uri, lambda d: d != [])
    assert diagnostic.code == "RPT502"
    actions = await actions_at(client, uri, diagnostic)
    [fix] = [a for a in actions if "noqa" not in a.title]
    assert fix.title.startswith("(unsafe) ") and not fix.is_preferred
    assert edits_of(fix, uri) == []  # nothing in the Python file itself
    assert apply_edits(runbook_text, edits_of(fix, runbook.as_uri())) == runbook_text + "- [ ] FLAG_BETA_DIGEST=1 set\n"
