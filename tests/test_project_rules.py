"""RPT501–RPT503: project facts (migrations, runbook, manifest), configuration errors, flake8.

The fixture project tests/fixtures/project_rules/ carries the line-by-line expectations
(tests/test_fixtures.py); here: the facts themselves, the rules switched off by missing
defaults, exit 2 on bad configuration, and the real flake8 agreeing with the CLI.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import BIN, FIXTURES, run_cli, write_tree
from raptor_lint.cli import main
from raptor_lint.config import Config, ConfigError
from raptor_lint.project import ProjectIndex
from raptor_lint.project import manifest as manifest_facts
from raptor_lint.project import migrations as migration_facts
from raptor_lint.project import runbook as runbook_facts
from raptor_lint.runner import CheckOptions, run_check

PROJECT = FIXTURES / "project_rules"
TABLES = FIXTURES / "project_rules_tables"

FACTORY = '''\
import os

from flask import Flask


def create_app() -> Flask:
    app = Flask(__name__)
    if os.environ.get("FLAG_BETA_DIGEST") == "1":
        app.config["BETA_DIGEST"] = True
    return app
'''


write = write_tree


def lint(root: Path, monkeypatch, **changes) -> list[tuple[str, int, str]]:
    monkeypatch.chdir(root)
    config = Config(root=root).replace(**changes)
    result = run_check(config, CheckOptions(paths=[Path(".")], use_cache=False))
    return [(f.path, f.line, f.code) for f in result.findings]


def cli(root: Path, monkeypatch, *args: str):
    monkeypatch.chdir(root)
    return CliRunner().invoke(main, ["check", "--no-cache", *args], catch_exceptions=False)


# ------------------------------------------------------------------ migrations

def test_migration_facts_strings_tables_renames_and_graph(tmp_path: Path) -> None:
    write(tmp_path, {
        "migrations/versions/a1_initial.py": '''\
            """Creates beta_nda_ack (a docstring: not a mention)."""
            import sqlalchemy as sa
            from alembic import op

            revision = "a1"
            down_revision = None
            TABLE = "beta_walkthrough"
            DDL = """
                CREATE TABLE flag_audit (id int);
                CREATE INDEX ix_flag_audit ON flag_audit (id);
            """


            def upgrade():
                op.create_table(TABLE, sa.Column("id", sa.Integer))
                op.create_table(table_name="old_digest")
                op.execute(sa.text("CREATE TABLE IF NOT EXISTS public.Audit_Log (id int)"))
                op.execute(DDL)
                stmt = sa.text("CREATE TABLE " + "staged_rows (id int)")
                op.get_bind().execute(stmt)
                # FLAG_COMMENTED is in a comment only


            def downgrade():
                op.create_table("only_on_downgrade")
            ''',
        "migrations/versions/b2_rename.py": '''\
            from alembic import op

            revision: str = "b2"
            down_revision = "a1"


            def _rename():
                op.rename_table("old_digest", "beta_digest")


            def upgrade():
                _rename()
                op.execute("ALTER TABLE audit_log RENAME TO audit_events")
                op.execute("UPDATE feature_flags SET enabled = false WHERE key = 'sentry_backend'")


            def downgrade():
                op.rename_table("beta_digest", "old_digest")
            ''',
    })
    facts = migration_facts.build(ProjectIndex(Config(root=tmp_path)))
    assert facts is not None and facts.reldir == "migrations/versions"
    first, second = facts.migrations
    assert first.revision == "a1" and first.down_revisions == ()
    assert second.revision == "b2" and second.down_revisions == ("a1",)
    assert facts.heads == ("b2",)
    assert first.creates == ("beta_walkthrough", "old_digest", "audit_log", "flag_audit", "staged_rows")
    assert second.renames == (("old_digest", "beta_digest"), ("audit_log", "audit_events"))
    assert set(facts.tables) == {"beta_walkthrough", "beta_digest", "audit_events", "flag_audit", "staged_rows"}
    assert facts.renamed_away["old_digest"] == ("beta_digest", "migrations/versions/b2_rename.py")
    # Whole tokens of string literals; docstrings and comments do not count.
    assert first.mentions("beta_walkthrough") and not first.mentions("beta_nda_ack")
    assert not first.mentions("FLAG_COMMENTED") and not first.mentions("beta")
    assert [m.relpath for m in facts.mentioning("FLAG_SENTRY_BACKEND", "sentry_backend")] == [
        "migrations/versions/b2_rename.py"]


def test_revision_order_not_file_order(tmp_path: Path) -> None:
    # The rename lives in the file that sorts first but runs second.
    write(tmp_path, {
        "migrations/versions/0001_rename.py": '''\
            from alembic import op
            revision = "r2"
            down_revision = "r1"
            def upgrade():
                op.rename_table("drafts", "digests")
            ''',
        "migrations/versions/0002_create.py": '''\
            from alembic import op
            revision = "r1"
            down_revision = None
            def upgrade():
                op.create_table("drafts")
            ''',
    })
    facts = migration_facts.build(ProjectIndex(Config(root=tmp_path)))
    assert set(facts.tables) == {"digests"}
    assert facts.heads == ("r2",)


def test_unparsable_migration_contributes_nothing(tmp_path: Path) -> None:
    write(tmp_path, {"alembic/versions/broken.py": "revision = 'x'\ndef upgrade(:\n"})
    facts = migration_facts.build(ProjectIndex(Config(root=tmp_path)))
    assert facts is not None and facts.reldir == "alembic/versions"
    assert facts.migrations[0].parsed is False and not facts.tables


# ------------------------------------------------------------ runbook/manifest

def test_runbook_tokens_ignore_html_comments(tmp_path: Path) -> None:
    write(tmp_path, {"docs/ops/runbook.md": "- [ ] `FLAG_DEMO_SESSION_V2=1` set\n<!-- FLAG_HIDDEN -->\n"})
    runbook = runbook_facts.build(ProjectIndex(Config(root=tmp_path)))
    assert runbook.mentions("FLAG_DEMO_SESSION_V2")
    assert not runbook.mentions("FLAG_DEMO_SESSION") and not runbook.mentions("FLAG_HIDDEN")


@pytest.mark.parametrize("text, names", [
    ("vars:\n  - name: SECRET_KEY\n    required: always\n  - name: REDIS_URL\n", {"SECRET_KEY", "REDIS_URL"}),
    ("- SECRET_KEY\n- DATABASE_URL\n", {"SECRET_KEY", "DATABASE_URL"}),
    ("vars:\n  - SECRET_KEY\n", {"SECRET_KEY"}),
    ("", set()),
    ("vars:\n", set()),
])
def test_manifest_shapes(tmp_path: Path, text: str, names: set[str]) -> None:
    write(tmp_path, {"docs/ops/required-config-vars.yaml": text})
    manifest = manifest_facts.build(ProjectIndex(Config(root=tmp_path)))
    assert manifest.names == names


@pytest.mark.parametrize("text, message", [
    ("vars: [\n", "invalid YAML in the config manifest"),
    ("vars:\n  - required: always\n", "entry 1 has no 'name:'"),
    ("variables:\n  - SECRET_KEY\n", "no top-level 'vars:' list"),
    ("vars: SECRET_KEY\n", "expected 'vars:' to be a list"),
    ("!!python/object:os.system ls\n", "invalid YAML"),
])
def test_bad_manifest_is_a_one_line_config_error(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path, {"docs/ops/required-config-vars.yaml": text})
    with pytest.raises(ConfigError) as info:
        manifest_facts.build(ProjectIndex(Config(root=tmp_path)))
    assert message in str(info.value) and "required-config-vars.yaml" in str(info.value)
    assert "\n" not in str(info.value)


# ------------------------------------------------------------- rules on/off

def test_missing_defaults_switch_the_rules_off(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, {"app/__init__.py": FACTORY})
    assert lint(tmp_path, monkeypatch) == []


def test_each_default_file_switches_on_its_rule(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, {"app/__init__.py": FACTORY, "migrations/versions/.keep": ""})
    assert lint(tmp_path, monkeypatch) == [("app/__init__.py", 8, "RPT501")]
    write(tmp_path, {"docs/ops/runbook.md": "# Runbook\n"})
    assert lint(tmp_path, monkeypatch) == [("app/__init__.py", 8, "RPT501"), ("app/__init__.py", 8, "RPT502")]
    write(tmp_path, {"docs/ops/required-config-vars.yaml": "vars: []\n"})
    assert [c for _, _, c in lint(tmp_path, monkeypatch)] == ["RPT501", "RPT502", "RPT503"]
    # The migration (lowercase key), the checklist line and the manifest entry silence them.
    write(tmp_path, {
        "migrations/versions/0001_beta_digest.py":
            'revision = "0001"\ndown_revision = None\nSEED = "beta_digest"\n',
        "docs/ops/runbook.md": "- [ ] `FLAG_BETA_DIGEST=1` set\n",
        "docs/ops/required-config-vars.yaml": "vars:\n  - name: FLAG_BETA_DIGEST\n",
    })
    assert lint(tmp_path, monkeypatch) == []


def test_configured_app_factory_name(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, {"app/__init__.py": FACTORY.replace("create_app", "make_app"),
                     "docs/ops/runbook.md": "# Runbook\n"})
    assert lint(tmp_path, monkeypatch) == []
    assert lint(tmp_path, monkeypatch, app_factory=("make_app",)) == [("app/__init__.py", 8, "RPT502")]


def test_messages_name_the_files_and_both_spellings(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, {
        "app/__init__.py": FACTORY,
        "migrations/versions/0001_initial.py": 'revision = "0001"\ndown_revision = None\n',
        "docs/ops/runbook.md": "# Runbook\n",
        "docs/ops/required-config-vars.yaml": "- SECRET_KEY\n",
    })
    monkeypatch.chdir(tmp_path)
    result = run_check(Config(root=tmp_path), CheckOptions(paths=[Path(".")], use_cache=False))
    messages = {f.code: f.message for f in result.findings}
    assert messages["RPT501"] == ("no migration mentions FLAG_BETA_DIGEST or 'beta_digest': add one "
                                  "(down_revision = '0001')")
    assert messages["RPT502"] == "docs/ops/runbook.md never mentions FLAG_BETA_DIGEST: add it to the env-bootstrap checklist"
    assert messages["RPT503"].endswith(" is not in docs/ops/required-config-vars.yaml: add it under 'vars:'")
    stories = {f.code: f for f in result.findings}
    assert stories["RPT501"].note.startswith("Read in create_app(). Turned on, it runs against tables")
    assert [(Path(r.path).name, r.line) for r in stories["RPT501"].related] == [("0001_initial.py", 1)]
    assert [r.message for r in stories["RPT502"].related] == ["the checklist: add '- [ ] FLAG_BETA_DIGEST=1 set'"]
    assert all("\n" not in m for m in messages.values())
    column = next(f.column for f in result.findings if f.code == "RPT501")
    assert column == FACTORY.splitlines()[7].index('"FLAG_BETA_DIGEST"') + 1


def test_columns_count_code_points(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, {
        "app.py": 'import os\nlabel = "café"; url = os.environ.get("STATUS_WORKER_URL")\n',
        "docs/ops/required-config-vars.yaml": "- SECRET_KEY\n",
    })
    monkeypatch.chdir(tmp_path)
    result = run_check(Config(root=tmp_path), CheckOptions(paths=[Path(".")], use_cache=False))
    (finding,) = result.findings
    line = 'label = "café"; url = os.environ.get("STATUS_WORKER_URL")'
    assert (finding.line, finding.column) == (2, line.index('"STATUS') + 1)
    assert finding.end_column == line.index(")") + 1


def test_noqa_and_select(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, {
        "app/__init__.py": FACTORY.replace('== "1":', '== "1":  # noqa: RPT502'),
        "migrations/versions/.keep": "",
        "docs/ops/runbook.md": "# Runbook\n",
    })
    assert lint(tmp_path, monkeypatch) == [("app/__init__.py", 8, "RPT501")]
    assert lint(tmp_path, monkeypatch, select=("RPT502",)) == []


def test_rpt504_needs_the_migrations_directory_and_reports_per_use(tmp_path: Path, monkeypatch) -> None:
    app = (
        "from sqlalchemy import text\n"
        "def f(conn):\n"
        "    conn.execute(text('SELECT * FROM beta_nda_ack'))\n"
        "    conn.execute(text('DELETE FROM beta_nda_ack WHERE user_id IN (SELECT id FROM users)'))\n"
        "    conn.execute(text('SELECT a.x FROM beta_nda_ack AS a JOIN orphans AS o ON o.id = a.x'))\n"
    )
    write(tmp_path, {"app.py": app})
    assert lint(tmp_path, monkeypatch) == []
    write(tmp_path, {"migrations/versions/0001.py":
                     "from alembic import op\nrevision = '1'\ndown_revision = None\n"
                     "def upgrade():\n    op.create_table('users')\n"})
    assert lint(tmp_path, monkeypatch) == [("app.py", 3, "RPT504"), ("app.py", 4, "RPT504"),
                                           ("app.py", 5, "RPT504"), ("app.py", 5, "RPT504")]


# ------------------------------------------------------------ bad configuration

@pytest.mark.parametrize("files, key", [
    ({"pyproject.toml": '[tool.raptor-lint]\nrunbook = "docs/ops/missing.md"\n'}, "runbook"),
    ({"pyproject.toml": '[tool.raptor-lint]\nmigrations-dir = "migrations/versions"\n',
      "migrations/versions": "not a directory\n"}, "migrations-dir"),
    ({"pyproject.toml": '[tool.raptor-lint]\nconfig-manifest = "vars.yaml"\n',
      "vars.yaml": "vars:\n  - name: [unclosed\n"}, "invalid YAML"),
])
def test_bad_project_files_exit_2_with_one_line(tmp_path: Path, monkeypatch, files, key) -> None:
    write(tmp_path, {"app/__init__.py": FACTORY, **files})
    result = cli(tmp_path, monkeypatch, ".")
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("raptor-lint: error: ") and key in lines[0], lines
    assert "Traceback" not in result.stderr


def test_bad_project_file_is_reported_even_when_no_file_reads_a_flag(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, {"app.py": "x = 1\n", "docs/ops/required-config-vars.yaml": "- [\n"})
    assert cli(tmp_path, monkeypatch, ".").exit_code == 2
    # ... but not when the rule that reads it is not selected.
    assert cli(tmp_path, monkeypatch, "--select", "RPT501", ".").exit_code == 0


# -------------------------------------------------------------------- flake8

def _cli_lines(project: Path) -> list[str]:
    proc = run_cli("check", "--no-cache", "--format", "json", ".", cwd=project)
    assert proc.returncode == 1, proc.stderr
    return sorted(f"{f['path']}:{f['line']}:{f['column']}: {f['code']} {f['message']}"
                  for f in json.loads(proc.stdout))


def _flake8(args: list[str], cwd: Path) -> list[str]:
    proc = subprocess.run(
        [str(BIN / "flake8"), "--isolated", "--select", "RPT",
         "--format", "%(path)s:%(row)d:%(col)d: %(code)s %(text)s", *args],
        cwd=cwd, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 1, proc.stderr
    return sorted(proc.stdout.splitlines())


@pytest.mark.parametrize("project, code", [(PROJECT, "RPT501"), (TABLES, "RPT504")], ids=lambda v: str(v)[-14:])
def test_flake8_agrees_with_cli_on_the_fixture_projects(project: Path, code: str) -> None:
    cli_lines = _cli_lines(project)
    assert any(f" {code} " in line for line in cli_lines)
    flake8 = [line.removeprefix("./") for line in _flake8(["."], project)]
    assert flake8 == cli_lines


def test_flake8_with_explicit_project_root_from_elsewhere(tmp_path: Path) -> None:
    cli_lines = _cli_lines(PROJECT)
    prefix = f"{PROJECT}/"
    flake8 = _flake8([f"--raptor-project-root={PROJECT}", str(PROJECT)], tmp_path)
    assert [line.removeprefix(prefix) for line in flake8] == cli_lines


@pytest.mark.parametrize("relpath, app", [
    ("raptor_app/services/status.py", True),
    ("raptor_app/testing_helpers.py", True),
    ("tests/test_app.py", False),
    ("raptor_app/tests/helpers.py", False),
    ("raptor_app/test_status.py", False),
    ("raptor_app/status_test.py", False),
    ("conftest.py", False),
])
def test_test_code_is_not_app_code(relpath: str, app: bool) -> None:
    from raptor_lint.rules.project_rules import is_app_code

    assert is_app_code(relpath) is app


def test_project_facts_are_built_once_per_run(monkeypatch) -> None:
    from conftest import lint_project

    calls: dict[str, int] = {}
    for module in (migration_facts, runbook_facts, manifest_facts):
        original = module.build

        def counting(project, _original=original, _name=module.__name__):
            calls[_name] = calls.get(_name, 0) + 1
            return _original(project)

        monkeypatch.setattr(module, "build", counting)
    by_file = lint_project(PROJECT)
    assert sum(1 for findings in by_file.values() if findings) >= 2
    assert calls == {migration_facts.__name__: 1, runbook_facts.__name__: 1, manifest_facts.__name__: 1}


def test_form_feed_does_not_shift_lines(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, {"docs/ops/required-config-vars.yaml": "- SECRET_KEY\n"})
    (tmp_path / "app.py").write_text('import os\nX = 1  # \x0c page\nURL = os.environ["NEW_URL"]\n')
    assert lint(tmp_path, monkeypatch) == [("app.py", 3, "RPT503")]
    monkeypatch.chdir(tmp_path)
    result = run_check(Config(root=tmp_path), CheckOptions(paths=[Path(".")], use_cache=False))
    assert result.findings[0].column == len('URL = os.environ[') + 1
