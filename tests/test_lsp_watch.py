"""The server follows the files findings depend on (issue 17): a configuration or project
fact edited on disk changes an open document's diagnostics without a save of a linted
file, both when the client watches files for it (``workspace/didChangeWatchedFiles``)
and when it cannot (the server then polls).  Editor settings go through the
configuration's validation; an invalid one is one ``window/showMessage``.

Waits are guards against a hung server, not timing assertions.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from lsp_client import codes, open_doc, published

pytestmark = pytest.mark.asyncio(loop_scope="module")
SERVER = [sys.executable, "-m", "raptor_lint", "lsp"]
GUARD = 60.0

STATE = "_seen = {}\n\n\ndef remember(key):\n    _seen[key] = 1\n"
FACTORY = ("import os\n\n\ndef create_app():\n"
           '    return os.environ.get("FLAG_BETA_DIGEST")\n')


def make_project(root: Path) -> Path:
    (root / "pyproject.toml").write_text('[tool.raptor-lint]\nselect = ["RPT101", "RPT502"]\n', encoding="utf-8")
    runbook = root / "docs" / "ops" / "runbook.md"
    runbook.parent.mkdir(parents=True)
    runbook.write_text("# Runbook\n\n## Env-bootstrap checklist\n\n- [ ] `SECRET_KEY` set\n", encoding="utf-8")
    return root


# --------------------------------------------------- a client that watches

@pytest.fixture(scope="module")
def watched_project(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("watched"))


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(server_command=SERVER))
async def watching(lsp_client: LanguageClient, watched_project: Path):
    lsp_client.registrations = []

    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register(params: types.RegistrationParams) -> None:
        lsp_client.registrations.append(params)

    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=pytest_lsp.client_capabilities("visual-studio-code"),
        root_uri=watched_project.as_uri(),
        initialization_options={"settings": {"ignore": ["RPT101"], "select": ["RPT101", "RPT502"]}},
    ))
    yield
    await lsp_client.shutdown_session()


async def test_the_watchers_cover_the_project_facts(watching) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GUARD
    while not watching.registrations and loop.time() < deadline:
        await asyncio.sleep(0.02)
    globs = {w["globPattern"] for params in watching.registrations for r in params.registrations
             for w in r.register_options["watchers"]}
    assert {"**/pyproject.toml", "**/setup.cfg", "**/*.md", "**/*.yaml", "**/migrations/**"} <= globs


async def test_editor_settings_apply_like_the_config_file(watching, watched_project) -> None:
    uri = open_doc(watching, watched_project / "app" / "state.py", STATE)
    assert await published(watching, uri, lambda d: True) == []  # RPT101 ignored by the settings
    # A change of settings re-checks the open documents.
    watching.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"raptor-lint": {"settings": {"select": ["RPT101", "RPT502"]}}}))
    await published(watching, uri, lambda d: codes(d) == ["RPT101"])
    # An invalid setting: one message naming it; the last valid settings stay.
    watching.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"raptor-lint": {"settings": {"select": ["RPT999x"]}}}))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GUARD
    while not watching.messages and loop.time() < deadline:
        await asyncio.sleep(0.02)
    [message] = watching.messages
    assert message.type == types.MessageType.Error
    assert "editor settings" in message.message and "'select'" in message.message and "RPT999x" in message.message
    # So is a server option out of its range.
    watching.workspace_did_change_configuration(types.DidChangeConfigurationParams(
        settings={"timeBudget": "soon"}))
    deadline = loop.time() + GUARD
    while len(watching.messages) < 2 and loop.time() < deadline:
        await asyncio.sleep(0.02)
    assert "editor option 'timeBudget'" in watching.messages[1].message
    assert codes(await published(watching, uri, lambda d: True)) == ["RPT101"]  # still checked as before


async def test_a_runbook_edit_on_disk_changes_diagnostics_through_the_clients_watcher(
        watching, watched_project) -> None:
    uri = open_doc(watching, watched_project / "svc" / "__init__.py", FACTORY)
    await published(watching, uri, lambda d: codes(d) == ["RPT502"])
    runbook = watched_project / "docs" / "ops" / "runbook.md"
    runbook.write_text(runbook.read_text(encoding="utf-8") + "- [ ] FLAG_BETA_DIGEST=1 set\n", encoding="utf-8")
    watching.workspace_did_change_watched_files(types.DidChangeWatchedFilesParams(changes=[
        types.FileEvent(uri=runbook.as_uri(), type=types.FileChangeType.Changed)]))
    await published(watching, uri, lambda d: d == [])


# ------------------------------------------------ a client that cannot watch

@pytest.fixture(scope="module")
def polled_project(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("polled"))


@pytest_lsp.fixture(scope="module", config=ClientServerConfig(server_command=SERVER))
async def blind(lsp_client: LanguageClient, polled_project: Path):
    # No workspace capabilities at all: like Neovim 0.7, it cannot watch files for the server.
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=types.ClientCapabilities(), root_uri=polled_project.as_uri()))
    yield
    await lsp_client.shutdown_session()


async def test_a_config_edit_on_disk_changes_diagnostics_without_a_watching_client(blind, polled_project) -> None:
    uri = open_doc(blind, polled_project / "app" / "state.py", STATE)
    await published(blind, uri, lambda d: codes(d) == ["RPT101"])
    pyproject = polled_project / "pyproject.toml"
    pyproject.write_text('[tool.raptor-lint]\nselect = ["RPT101", "RPT502"]\nignore = ["RPT101"]\n', encoding="utf-8")
    await published(blind, uri, lambda d: d == [])  # no save, no notification


async def test_a_runbook_edit_on_disk_changes_diagnostics_without_a_watching_client(blind, polled_project) -> None:
    uri = open_doc(blind, polled_project / "svc" / "__init__.py", FACTORY)
    await published(blind, uri, lambda d: codes(d) == ["RPT502"])
    runbook = polled_project / "docs" / "ops" / "runbook.md"
    runbook.write_text(runbook.read_text(encoding="utf-8") + "- [ ] FLAG_BETA_DIGEST=1 set\n", encoding="utf-8")
    await published(blind, uri, lambda d: d == [])


async def test_polling_watches_the_facts_the_editor_settings_name(tmp_path) -> None:
    from raptor_lint.lsp.server import watched_paths

    root = make_project(tmp_path)
    (root / "ops").mkdir()
    (root / "ops" / "steps.md").write_text("# Runbook\n", encoding="utf-8")
    assert root / "ops" / "steps.md" not in watched_paths(root)
    assert root / "ops" / "steps.md" in watched_paths(root, {"runbook": "ops/steps.md"})
