"""Flags, migrations, config (RPT501–RPT504): project-level rules.

They read more than the file being linted: the Alembic migrations, the runbook
and the config manifest, each collected once per run as a ProjectIndex fact
(``raptor_lint/project/{migrations,runbook,manifest}.py``).  A fact whose file
is configured but missing is a configuration error (exit 2); one whose default
is absent switches its rule off.

Only CPython's ``ast`` is used (no libcst): the rules need names and literals,
not round-trippable syntax.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from raptor_lint.astwalk import walk
from raptor_lint import gitdiff
from raptor_lint.findings import UNSAFE, Fix
from raptor_lint.project import manifest as manifest_facts
from raptor_lint.project import migrations as migration_facts
from raptor_lint.project import runbook as runbook_facts
from raptor_lint.project.layout import is_app_code
from raptor_lint.rules.base import Checker, Rule, related_place, with_story
from raptor_lint.source import column_of
from raptor_lint.sql import iter_sql_uses
from raptor_lint.strings import fit_message, shorten, with_first_fitting

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.context import FileContext
    from raptor_lint.findings import Finding, Related
    from raptor_lint.project import ProjectIndex

FLAG_NAME = re.compile(r"FLAG_[A-Za-z0-9_]+")
# Plain substrings first (str.__contains__ is ~20x faster than one alternation regex over
# a whole file); the word ``text`` needs a regex.
_ENV_WORDS = ("environ", "getenv", "from_envvar")
_PREFILTER_WORDS = ("FLAG_", *_ENV_WORDS, "execute", "exec_driver_sql")
_TEXT_THEN_BOUNDARY = re.compile(r"text\b")  # a literal prefix: re's fast search applies
_WORD_CHAR = re.compile(r"\w")


def _mentions_word_text(source: str) -> bool:
    """``re.search(r"\btext\b", source)``, ~10x faster on big files."""
    for match in _TEXT_THEN_BOUNDARY.finditer(source):
        start = match.start()
        if start == 0 or not _WORD_CHAR.match(source, start - 1):
            return True
    return False


_ENV_METHODS = {"get", "setdefault", "pop"}

_RUNBOOK_MAINTENANCE = ('header "Maintenance rule" (new flag ships with its migration and checklist entry '
                        'in the same PR)')

# ------------------------------------------------------------------ examples

_FACTORY_BAD = '''\
import os

from flask import Flask


def create_app() -> Flask:
    app = Flask(__name__)
    if os.environ.get("FLAG_BETA_DIGEST") == "1":
        from raptor_app.routes.beta_digest import beta_digest_bp
        app.register_blueprint(beta_digest_bp, url_prefix="/api/beta-digest")
    return app
'''

_FACTORY_GOOD = '''\
import os

from flask import Flask


def create_app() -> Flask:
    app = Flask(__name__)
    # migrations/versions/0002_sentry_backend.py seeds 'sentry_backend';
    # docs/ops/runbook.md: "- [ ] FLAG_SENTRY_BACKEND=1 set after DSN is confirmed"
    if os.environ.get("FLAG_SENTRY_BACKEND") == "1":
        from raptor_app.sentry_init import init_sentry
        init_sentry(app)
    return app
'''

_EXAMPLE_PROJECT = {
    "migrations/versions/0001_initial.py": '''\
"""Initial schema."""
from alembic import op
import sqlalchemy as sa

revision = "0001"
down_revision = None


def upgrade():
    op.create_table("users", sa.Column("id", sa.Integer, primary_key=True))
''',
    "migrations/versions/0002_sentry_backend.py": '''\
"""Seed the sentry_backend flag row."""
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade():
    op.execute("INSERT INTO feature_flags (key, enabled) VALUES ('sentry_backend', false)")
''',
    "docs/ops/runbook.md": '''\
# Raptor — Operations Runbook

## Env-bootstrap checklist

### Sentry (FLAG_SENTRY_BACKEND)

- [ ] `SENTRY_DSN_BACKEND` provisioned
- [ ] `FLAG_SENTRY_BACKEND=1` set after DSN is confirmed
''',
    "docs/ops/required-config-vars.yaml": '''\
vars:
  - name: SECRET_KEY
  - name: DATABASE_URL
  - name: FLAG_SENTRY_BACKEND
''',
}


_NDA_BAD = '''\
from sqlalchemy import text


def save_walkthrough_step(conn, user_id: int, step: int) -> None:
    # beta_walkthrough_steps is created by a Console migration only (PR #3517).
    conn.execute(
        text("INSERT INTO beta_walkthrough_steps (user_id, step) VALUES (:uid, :step)"),
        {"uid": user_id, "step": step},
    )
'''

_NDA_GOOD = '''\
from sqlalchemy import text


def record_nda_ack(conn, user_id: int) -> None:
    # migrations/versions/0003_beta_nda_ack.py creates beta_nda_ack in this service (PR #3454).
    conn.execute(
        text("INSERT INTO beta_nda_ack (user_id, acked_at) VALUES (:uid, CURRENT_TIMESTAMP)"),
        {"uid": user_id},
    )
'''

_NDA_PROJECT = {
    "migrations/versions/0001_initial.py": _EXAMPLE_PROJECT["migrations/versions/0001_initial.py"],
    "migrations/versions/0003_beta_nda_ack.py": '''\
"""beta_nda_ack in Raptor's own schema (PR #3454)."""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0001"


def upgrade():
    op.create_table(
        "beta_nda_ack",
        sa.Column("user_id", sa.Integer, primary_key=True),
        sa.Column("acked_at", sa.DateTime, nullable=False),
    )
''',
}


RULES = (
    Rule(
        code="RPT501",
        name="flag-without-migration",
        summary="A FLAG_* read in the app factory that no Alembic migration mentions "
                "(as FLAG_X or its lowercase key x).",
        runbook=f"{_RUNBOOK_MAINTENANCE}; incidents PR #3454, PR #3517",
        why=(
            "Every flag-gated subsystem added to create_app() ships with its Alembic migration in the "
            "same PR (feedback_new_flag_needs_b1_migration_same_pr). Without it the flag is turned on in "
            "an environment whose schema and seed rows do not exist: the beta_nda_ack (PR #3454) and "
            "beta_walkthrough (PR #3517) tables were missing in Raptor because their migration lived in "
            "another service. The rule looks for the flag name, or its lowercase key "
            "(FLAG_SENTRY_BACKEND -> sentry_backend), as a whole token in any string literal of the "
            "migrations directory (docstrings and comments do not count). With `check --base REF`, a flag "
            "that is new since REF needs a migration that is also new since REF."
        ),
        bad=_FACTORY_BAD,
        good=_FACTORY_GOOD,
        example_path="raptor_app/__init__.py",
        example_project=_EXAMPLE_PROJECT,
    ),
    Rule(
        code="RPT502",
        name="flag-missing-from-runbook",
        summary="A FLAG_* read in the app factory that the runbook checklist does not mention.",
        runbook='header "Maintenance rule"; "Env-bootstrap checklist"',
        why=(
            "The env-bootstrap checklist is how a new environment is provisioned, linearly. A flag the "
            "checklist does not mention is never set (or set before its dependencies, like "
            "FLAG_WEBAUTHN_REGISTRATION before WEBAUTHN_ORIGIN — the 2026-05-20 staging boot failure). The "
            "maintenance rule requires the checklist update in the same PR. The rule looks for the FLAG_X "
            "spelling as a whole token in the runbook (Markdown comments do not count)."
        ),
        bad=_FACTORY_BAD,
        good=_FACTORY_GOOD,
        fixable=True,
        fix_applicability=UNSAFE,
        example_path="raptor_app/__init__.py",
        example_project=_EXAMPLE_PROJECT,
    ),
    Rule(
        code="RPT503",
        name="env-var-not-in-manifest",
        summary="An environment variable read in app code that the config manifest does not declare.",
        runbook='"Env-bootstrap checklist"; cross-reference "Required config vars manifest"',
        why=(
            "docs/ops/required-config-vars.yaml is the list of variables an environment must provision; the "
            "nightly config-health check reads it. A variable the code reads but the manifest does not "
            "declare is missed when the next environment is built (WEBAUTHN_ORIGIN was never provisioned on "
            "staging: the 2026-05-20 boot failure). Reads are os.environ.get/[]/setdefault/pop, "
            "os.getenv, `\"X\" in os.environ` and app.config.from_envvar, with a literal name or a "
            "constant. Active only when the manifest exists; tests and migrations are not app code."
        ),
        bad='''\
import os


def status_worker_url() -> str | None:
    return os.environ.get("STATUS_WORKER_URL")
''',
        good='''\
import os


def database_url() -> str:
    return os.environ["DATABASE_URL"]  # declared in docs/ops/required-config-vars.yaml
''',
        fixable=True,
        fix_applicability=UNSAFE,
        example_path="raptor_app/services/status.py",
        example_project=_EXAMPLE_PROJECT,
    ),
    Rule(
        code="RPT504",
        name="table-without-migration",
        summary="A table used in app SQL (INSERT/UPDATE/DELETE/FROM/JOIN) that no Alembic migration "
                "of this service creates.",
        runbook='"SQLite-vs-Postgres test divergence", incidents table (PR #3454, PR #3517)',
        why=(
            "The unit tests build their own SQLite schema, so a query against a table that only another "
            "service's migration creates passes every test and fails in production with 'relation does not "
            "exist': beta_nda_ack (2026-06-10, PR #3454) and the beta_walkthrough tables (2026-06-12, "
            "PR #3517) were created in a Console migration only. The rule collects the tables this "
            "service's migrations create (op.create_table, CREATE TABLE in executed SQL, following "
            "op.rename_table and ALTER TABLE ... RENAME TO in upgrade()) and checks every table app SQL "
            "reads or writes. CTE names are not tables; names compare unqualified and case-insensitively; "
            "each use is reported at its SQL string. Active only when the migrations directory exists."
        ),
        bad=_NDA_BAD,
        good=_NDA_GOOD,
        example_path="raptor_app/services/beta_nda.py",
        example_project=_NDA_PROJECT,
    ),
)


# --------------------------------------------------------------- ast helpers

def _column(ctx: "FileContext", line: int, byte_offset: int) -> int:
    """1-based code-point column from ast's UTF-8 byte offset."""
    lines = ctx.lines
    return column_of(lines[line - 1] if 0 < line <= len(lines) else "", byte_offset)


def _where(ctx: "FileContext", node: ast.expr) -> tuple[int, int, int, int]:
    line = node.lineno
    end_line = node.end_lineno or line
    end_offset = node.end_col_offset
    column = _column(ctx, line, node.col_offset)
    end_column = _column(ctx, end_line, end_offset) if end_offset is not None else column
    return line, column, end_line, end_column


def _str(node: ast.AST | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _module_constants(tree: ast.Module) -> dict[str, str]:
    """Top-level ``NAME = "literal"`` of the file being linted (its text, not the disk copy)."""
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = _str(node.value)
            if value is not None:
                found[node.targets[0].id] = value
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            value = _str(node.value)
            if value is not None:
                found[node.target.id] = value
    return found


# ---------------------------------------------------------------- flag reads

@dataclass(frozen=True)
class FlagRead:
    flag: str
    node: ast.expr
    # "create_app()" or "_init_sentry() (called from create_app())"
    where: str


def factory_flag_reads(tree: ast.Module, factories: Iterable[str]) -> list[FlagRead]:
    """``FLAG_*`` names read in the app factory and in module helpers it calls.

    A read is a FLAG_* string (literal, or a module constant of this file) passed to any call,
    used as a subscript (``os.environ[...]``, ``app.config[...]``), tested with ``in``, or
    iterated over in a literal tuple/list/set by a ``for``.
    """
    factories = set(factories)
    constants = _module_constants(tree)
    top_level = {n.name: n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    regions: list[tuple[ast.AST, str]] = []
    seen: set[int] = set()
    for node in walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in factories:
            if id(node) not in seen:
                seen.add(id(node))
                regions.append((node, f"{node.name}()"))
    # Module-level helpers called (transitively) from a factory run as part of it.
    queue = list(regions)
    while queue:
        region, label = queue.pop(0)
        factory_label = label.split("(called from ")[-1].rstrip(")") if "(called from " in label else label
        for node in walk(region):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                helper = top_level.get(node.func.id)
                if helper is not None and id(helper) not in seen:
                    seen.add(id(helper))
                    entry = (helper, f"{helper.name}() (called from {factory_label})")
                    regions.append(entry)
                    queue.append(entry)

    reads: list[FlagRead] = []
    taken: set[int] = set()

    def flag_of(node: ast.AST | None) -> str | None:
        value = _str(node)
        if value is None and isinstance(node, ast.Name):
            value = constants.get(node.id)
        return value if value is not None and FLAG_NAME.fullmatch(value) else None

    def add(node: ast.expr | None, where: str) -> None:
        flag = flag_of(node)
        if flag is not None and node is not None and id(node) not in taken:
            taken.add(id(node))
            reads.append(FlagRead(flag, node, where))

    for region, where in regions:
        for node in walk(region):
            if isinstance(node, ast.Call):
                for arg in node.args:
                    add(arg.value if isinstance(arg, ast.Starred) else arg, where)
                for keyword in node.keywords:
                    add(keyword.value, where)
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
                add(node.slice, where)
            elif isinstance(node, ast.Compare) and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops):
                add(node.left, where)
            elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)) and isinstance(
                    node.iter, (ast.Tuple, ast.List, ast.Set)):
                for element in node.iter.elts:
                    add(element, where)
    reads.sort(key=lambda r: (r.node.lineno, r.node.col_offset))
    return reads


# ----------------------------------------------------------------- env reads

@dataclass(frozen=True)
class EnvRead:
    name: str
    node: ast.expr


class _EnvReads:
    """Environment reads with a literal (or constant) name; aliases of os/environ/getenv followed.

    ``env_reads`` feeds every call, subscript and comparison of the file (one shared
    walk, ``raptor_lint.astwalk``) to ``_call`` / ``_subscript`` / ``_compare``."""

    def __init__(self, resolve) -> None:
        self.resolve = resolve
        self.os_names = {"os"}
        self.environ_names: set[str] = set()
        self.getenv_names: set[str] = set()
        self.reads: list[EnvRead] = []

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name == "os":
                self.os_names.add(alias.asname or "os")
            elif alias.name.startswith("os.") and alias.asname is None:
                self.os_names.add("os")  # `import os.path` binds os

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.module == "os" and node.level == 0:
            for alias in node.names:
                if alias.name == "environ":
                    self.environ_names.add(alias.asname or alias.name)
                elif alias.name == "getenv":
                    self.getenv_names.add(alias.asname or alias.name)

    def _is_environ(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Attribute) and node.attr == "environ":
            return isinstance(node.value, ast.Name) and node.value.id in self.os_names
        return isinstance(node, ast.Name) and node.id in self.environ_names

    def _add(self, node: ast.expr | None) -> None:
        if node is None:
            return
        name = self.resolve(node)
        if name:
            self.reads.append(EnvRead(name, node))

    def _call(self, node: ast.Call) -> None:
        func = node.func
        first = node.args[0] if node.args and not isinstance(node.args[0], ast.Starred) else None
        if first is None:
            first = next((k.value for k in node.keywords if k.arg in {"key", "variable_name"}), None)
        if isinstance(func, ast.Attribute):
            if func.attr in _ENV_METHODS and self._is_environ(func.value):
                self._add(first)
            elif func.attr == "getenv" and isinstance(func.value, ast.Name) and func.value.id in self.os_names:
                self._add(first)
            elif func.attr == "from_envvar":  # Flask: app.config.from_envvar("RAPTOR_SETTINGS")
                self._add(first)
        elif isinstance(func, ast.Name) and func.id in self.getenv_names:
            self._add(first)

    def _subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, ast.Load) and self._is_environ(node.value):
            self._add(node.slice)

    def _compare(self, node: ast.Compare) -> None:
        if len(node.ops) == 1 and isinstance(node.ops[0], (ast.In, ast.NotIn)) \
                and self._is_environ(node.comparators[0]):
            self._add(node.left)


def env_reads(tree: ast.Module, path: Path, project: "ProjectIndex | None") -> list[EnvRead]:
    constants = _module_constants(tree)
    imports: dict[str, ast.ImportFrom] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                imports[alias.asname or alias.name] = node

    def resolve(node: ast.AST) -> str | None:
        value = _str(node)
        if value is not None:
            return value
        if not isinstance(node, ast.Name):
            return None
        if node.id in constants:
            return constants[node.id]
        source = imports.get(node.id)
        if source is None or project is None:
            return None
        original = next((a.name for a in source.names if (a.asname or a.name) == node.id), node.id)
        try:
            found = project.modules.imported_string(path, source.module, source.level, original)
        except (RecursionError, ValueError, OSError):
            return None
        return found.text if found is not None and found.complete else None

    visitor = _EnvReads(resolve)
    # Imports first (anywhere in the file), then the reads.  Dispatch on the exact node
    # type: these loops see every node of the file.  The isinstance after each exact-type
    # test only tells the type checker; it runs on the nodes that matched.
    Import, ImportFrom, Call, Subscript, Compare = ast.Import, ast.ImportFrom, ast.Call, ast.Subscript, ast.Compare
    for sub in walk(tree):
        kind = type(sub)
        if kind is Import and isinstance(sub, Import):
            visitor.visit_Import(sub)
        elif kind is ImportFrom and isinstance(sub, ImportFrom):
            visitor.visit_ImportFrom(sub)
    read_call, read_subscript, read_compare = visitor._call, visitor._subscript, visitor._compare
    for sub in walk(tree):
        kind = type(sub)
        if kind is Call and isinstance(sub, Call):
            read_call(sub)
        elif kind is Subscript and isinstance(sub, Subscript):
            read_subscript(sub)
        elif kind is Compare and isinstance(sub, Compare):
            read_compare(sub)
    return sorted(visitor.reads, key=lambda r: (r.node.lineno, r.node.col_offset,
                                                r.node.end_lineno, r.node.end_col_offset))


# ------------------------------------------------------------------- checker

class ProjectRulesChecker(Checker):
    family = "Flags, migrations, config"
    rules = RULES
    file_kinds = frozenset({"python"})

    prefilter_rules = frozenset({"RPT501", "RPT502", "RPT503", "RPT504"})

    def prefilter(self, text: str) -> bool:
        # RPT501/502 need a FLAG_ literal in this file (names are resolved within the file
        # only); RPT503 needs os.environ / getenv / from_envvar spelled in the file; RPT504 a
        # SQL sink (raptor_lint.sql: text(), execute(), exec_driver_sql()).
        if any(word in text for word in _PREFILTER_WORDS):
            return True
        return "text" in text and _mentions_word_text(text)

    def prepare(self, project: "ProjectIndex") -> None:
        """Build the facts up front so a configuration problem is exit 2, not a finding."""
        config = project.config
        if config.is_selected("RPT501"):
            project.get(migration_facts.build)
        if config.is_selected("RPT502"):
            project.get(runbook_facts.build)
        if config.is_selected("RPT503"):
            project.get(manifest_facts.build)
        if config.is_selected("RPT504"):
            project.get(migration_facts.build)

    def check(self, ctx: "FileContext") -> Iterator["Finding"]:
        tree = ctx.ast_tree
        if tree is None or ctx.is_migration or not is_app_code(ctx.relpath):
            return
        config = ctx.config
        if config.is_selected("RPT501") or config.is_selected("RPT502"):
            yield from self._flags(ctx, tree)
        if config.is_selected("RPT503"):
            yield from self._env(ctx, tree)
        if config.is_selected("RPT504"):
            yield from self._tables(ctx)

    # ------------------------------------------------------------ RPT501/502
    def _flags(self, ctx: "FileContext", tree: ast.Module) -> Iterator["Finding"]:
        if "FLAG_" not in ctx.text:
            return
        reads = factory_flag_reads(tree, ctx.config.app_factory)
        if not reads:
            return
        project = ctx.project
        migrations = project.get(migration_facts.build) if ctx.config.is_selected("RPT501") else None
        runbook = project.get(runbook_facts.build) if ctx.config.is_selected("RPT502") else None
        changes = project.get(gitdiff.changes) if migrations is not None else None
        flags_at_ref = _factory_flags_at_ref(ctx, changes) if changes is not None else None
        for read in reads:
            if migrations is not None:
                missing = _missing_migration(read, migrations, changes, flags_at_ref)
                if missing:
                    message, note, related = missing
                    yield with_story(ctx.finding("RPT501", _where(ctx, read.node), message), note, related)
            if runbook is not None and not runbook.mentions(read.flag):
                # Unsafe: it edits another file and states a fact (the flag is set when a new
                # environment is built) that a person should place and word.
                fix = Fix(f"add '- [ ] {read.flag}=1 set' to the checklist in {runbook.relpath}",
                          (runbook.addition(read.flag),), UNSAFE)
                flag, runbook_name = shorten(read.flag, 40), shorten(runbook.relpath, 40)
                message = fit_message("{runbook} never mentions {flag}: add it to the env-bootstrap checklist",
                                      runbook=runbook_name, flag=flag)
                line = fix.edits[0].line
                yield with_story(ctx.finding("RPT502", _where(ctx, read.node), message, fix), (
                    f"Read in {read.where}. The next environment provisioned from the runbook's "
                    f"env-bootstrap checklist will not set it. Maintenance rule: a PR that adds a "
                    f"flag-gated subsystem to create_app() updates the checklist in the same PR."),
                    [related_place(runbook.path, line, 1, f"the checklist: add '- [ ] {flag}=1 set'")])

    # ---------------------------------------------------------------- RPT503
    def _env(self, ctx: "FileContext", tree: ast.Module) -> Iterator["Finding"]:
        manifest = ctx.project.get(manifest_facts.build)
        if manifest is None or not any(word in ctx.text for word in _ENV_WORDS):
            return  # (every read spells one of them: os.environ, getenv, from_envvar)
        for read in env_reads(tree, ctx.path, ctx.project):
            if manifest.declares(read.name):
                continue
            addition = manifest.addition(read.name)
            # Unsafe: it edits another file and declares a variable every environment must provision.
            fix = Fix(f"declare '- name: {read.name}' under 'vars:' in {manifest.relpath}", (addition,),
                      UNSAFE) if addition is not None else None
            name, manifest_name = shorten(read.name, 40), shorten(manifest.relpath, 40)
            message = f"{name} is not in {manifest_name}: add it under 'vars:'"
            yield with_story(ctx.finding("RPT503", _where(ctx, read.node), message, fix), (
                f"An environment provisioned from {manifest.relpath} boots without {read.name}; the "
                f"manifest lists every variable an environment must set."),
                [related_place(manifest.path, addition.line if addition is not None else 1, 1,
                               f"declare '- name: {name}' here")])

    # ---------------------------------------------------------------- RPT504
    def _tables(self, ctx: "FileContext") -> Iterator["Finding"]:
        migrations = ctx.project.get(migration_facts.build)
        if migrations is None:
            return
        for use in iter_sql_uses(ctx):
            if not use.parsed.ok:
                continue
            for table in use.parsed.tables:
                key = table.lower()
                if key in migrations.tables:
                    continue
                renamed = migrations.renamed_away.get(key)
                story = (f"Postgres raises 'relation \"{table}\" does not exist' in production while the "
                         f"SQLite unit tests build their own schema")
                related = []
                shown = shorten(table, 35)
                if renamed is not None:
                    new, by = renamed
                    message = with_first_fitting(f"table {shown} was renamed to {shorten(new, 35)}",
                                                 f" by {by}: use {shorten(new, 35)}", f": use {shorten(new, 35)}")
                    note = f"{story}. {by} renamed it in upgrade()."
                    related.append(related_place(ctx.config.root / by, 1, 1, f"renames {shown} to {new}"))
                else:
                    message = with_first_fitting(f"no migration in {shorten(migrations.reldir, 35)} creates table "
                                                 f"{shown}", ": add one that does", "")
                    note = f"{story} (PR #3454, PR #3517). Add an Alembic migration to this service that creates it."
                yield with_story(ctx.finding("RPT504", use.position, message), note, related)


def _factory_flags_at_ref(ctx: "FileContext", changes: "gitdiff.Changes") -> frozenset[str]:
    """Flags the app factory of this module read at REF (nothing if the module is new)."""
    from raptor_lint.source import SourceError, parse_python

    text = changes.text_at_ref(ctx.path)
    if text is None or "FLAG_" not in text:
        return frozenset()
    try:
        tree = parse_python(text, str(ctx.path))
    except SourceError:
        return frozenset()
    return frozenset(read.flag for read in factory_flag_reads(tree, ctx.config.app_factory))


def _missing_migration(read: FlagRead, migrations, changes,
                       flags_at_ref) -> "tuple[str, str, list[Related]] | None":
    """RPT501's (message, note, related places), or None when a migration mentions the flag."""
    flag, key = read.flag, read.flag[len("FLAG_"):].lower()
    shown = shorten(flag, 40)
    mentioning = migrations.mentioning(flag, key)
    heads = migrations.heads
    head = next((m for m in migrations.migrations if len(heads) == 1 and m.revision == heads[0]), None)
    hints = (f" (down_revision = '{shorten(heads[0], 20)}')", "") if len(heads) == 1 else ("",)
    related = [related_place(head.path, 1, 1, f"the head migration: down_revision = '{heads[0]}'")] \
        if head is not None else []
    rule = ("Turned on, it runs against tables and seed rows no Raptor migration created (PR #3454, "
            "PR #3517). Maintenance rule: a new flag ships with its Alembic migration in the same PR.")
    if changes is not None and flag not in flags_at_ref:
        if any(changes.is_new(m.path) for m in mentioning):
            return None
        also = f" Older migrations mention it: {', '.join(m.relpath for m in mentioning)}." if mentioning else ""
        ref = shorten(changes.ref, 20)
        message = with_first_fitting(f"{shown} is new since {ref} but no new migration mentions it: add one",
                                     *hints)
        return message, f"Read in {read.where}.{also} {rule}", related
    if mentioning:
        return None
    message = with_first_fitting(f"no migration mentions {shown} or '{shorten(key, 30)}': add one", *hints)
    return message, f"Read in {read.where}. {rule}", related
