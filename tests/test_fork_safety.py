"""Fork safety (RPT101–RPT104): what `# expect:` markers cannot say.

Exact messages and columns, the runbook's snippets verbatim, configuration of the
app factory, the prefilter's safety and odd code that must not crash the family.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conftest import EXAMPLES, FIXTURES
from raptor_lint.config import Config
from raptor_lint.engine import Engine
from raptor_lint.rules.fork_safety import ForkSafetyChecker

FAMILY = ("RPT101", "RPT102", "RPT103", "RPT104")


def lint(source: str, tmp_path: Path, **config) -> list:
    text = textwrap.dedent(source)
    engine = Engine(Config(root=tmp_path, select=("RPT1", "RPT000"), **config))
    result = engine.lint_text(text, tmp_path / "app" / "service.py", "python", "app/service.py")
    return result.findings


def codes_at(findings) -> list[tuple[int, str]]:
    return [(f.line, f.code) for f in findings]


# The runbook's snippets, byte for byte (section "What goes wrong with module-level mutable state"
# and "Required pattern for transient state").
RUNBOOK_BEFORE = """\
# webauthn_service.py (BEFORE the 2026-05-25 fix)
_challenge_store: dict[int, str] = {} # module-level, initialized once in master
def _store_challenge(user_id: int, challenge: str) -> None:
    _challenge_store[user_id] = challenge # writes to *this worker's* private copy
def _pop_challenge(user_id: int) -> str | None:
    return _challenge_store.pop(user_id, None) # looks up in *this worker's* private copy
"""

RUNBOOK_AFTER = """\
# webauthn_service.py (AFTER [PR #2728](https://github.com/raxx-app/TradeMasterAPI/pull/2728))
_CHALLENGE_TTL = 60 # seconds
def _store_challenge(app: Flask, user_id: int, challenge: str) -> None:
    redis = app.extensions.get("redis_client")
    if redis:
        redis.set(f"webauthn:reg:challenge:{user_id}", challenge, ex=_CHALLENGE_TTL)
        logger.info("webauthn.challenge_stored store=redis user_id=%s", user_id)
    else:
        # Local dev / CI: Redis absent, fall back to in-process dict
        _challenge_store_fallback[user_id] = challenge
        logger.info("webauthn.challenge_stored store=local user_id=%s", user_id)
def _pop_challenge(app: Flask, user_id: int) -> str | None:
    redis = app.extensions.get("redis_client")
    if redis:
        val = redis.getdel(f"webauthn:reg:challenge:{user_id}")
        if val is None:
            logger.warning("webauthn.challenge_miss store=redis user_id=%s", user_id)
        else:
            logger.info("webauthn.challenge_popped store=redis user_id=%s", user_id)
        return val.decode() if val else None
    else:
        return _challenge_store_fallback.pop(user_id, None)
"""


def test_runbook_before_snippet_reports_each_mutation_with_message(tmp_path: Path) -> None:
    findings = lint(RUNBOOK_BEFORE, tmp_path)
    assert [(f.line, f.column, f.code) for f in findings] == [(4, 5, "RPT101"), (6, 12, "RPT101")]
    assert findings[0].message == (
        "dict '_challenge_store' mutated after the fork: use Redis (with a TTL) or Postgres"
    )
    assert findings[1].note.startswith("Written in _pop_challenge() (.pop()), which runs in each gunicorn worker")
    assert "2026-05-25 SEV-1" in findings[1].note


@pytest.mark.parametrize("fallback_defined", [False, True])
def test_runbook_after_snippet_is_silent(tmp_path: Path, fallback_defined: bool) -> None:
    source = RUNBOOK_AFTER
    if fallback_defined:
        source = "_challenge_store_fallback: dict[int, str] = {}\n" + source
    assert lint(source, tmp_path) == []


def test_fallback_written_outside_the_absent_branch_is_reported(tmp_path: Path) -> None:
    findings = lint("""\
        _fallback: dict[int, str] = {}

        def store(app, user_id, challenge):
            redis = app.extensions.get("redis_client")
            if redis:
                redis.set(f"c:{user_id}", challenge, ex=60)
                _fallback[user_id] = challenge
            _fallback.setdefault(user_id, challenge)
    """, tmp_path)
    assert codes_at(findings) == [(7, "RPT101"), (8, "RPT101")]


def test_every_message_names_the_state_and_the_function(tmp_path: Path) -> None:
    findings = lint("""\
        from collections import defaultdict
        from flask import current_app

        _by_kind = defaultdict(list)
        _hits = 0

        class Throttle:
            _seen: set[str] = set()

            @classmethod
            def mark(cls, key):
                cls._seen.add(key)

        def record(kind, value):
            global _hits
            _hits += 1
            _by_kind[kind].append(value)
            current_app.extensions["prefs"][kind] = value
    """, tmp_path)
    by_code = {f.code: f.message for f in findings}
    assert sorted(by_code) == list(FAMILY)
    assert by_code["RPT101"] == "an element of defaultdict '_by_kind' mutated after the fork: use Redis (with a TTL) or Postgres"
    assert by_code["RPT102"] == "global '_hits' rebound after the fork: use Redis or Postgres"
    assert by_code["RPT103"] == "current_app.extensions['prefs'] written after the fork: use Postgres or Redis"
    assert by_code["RPT104"] == "set 'Throttle._seen' mutated after the fork: use Redis (with a TTL) or Postgres"
    # The function and the operation are the story (the note), not the short message.
    notes = {f.code: f.note for f in findings}
    assert notes["RPT101"].startswith("Written in record() (.append()), which runs in each gunicorn worker")
    assert notes["RPT102"].startswith("Rebound in record() (augmented assignment), which runs in each")
    assert notes["RPT103"].startswith("Written in record() (item assignment), which runs in each gunicorn")
    assert notes["RPT104"].startswith("Written in Throttle.mark() (.add()), which runs in each gunicorn")
    # One line, no claim that a helper or a background task is "request-time code", and
    # short: what is wrong and what to do (SPEC §7, ~120 characters).
    assert all("\n" not in message and "request-time" not in message and len(message) <= 130
               for message in by_code.values()), [len(m) for m in by_code.values()]


def test_configured_app_factory_replaces_the_defaults(tmp_path: Path) -> None:
    source = """\
        _registry: dict[str, str] = {}

        def make_app():
            _registry["make_app"] = "factory"

        def create_app():
            _registry["create_app"] = "not the factory here"
    """
    assert codes_at(lint(source, tmp_path)) == [(4, "RPT101")]
    assert codes_at(lint(source, tmp_path, app_factory=("make_app",))) == [(7, "RPT101")]


def test_before_fork_is_transitive_and_survives_recursion(tmp_path: Path) -> None:
    findings = lint("""\
        import os

        _plugins: list[str] = []

        def _walk(names):
            if names:
                _plugins.append(names[0])
                _walk(names[1:])

        def _load():
            _walk(os.environ.get("PLUGINS", "").split(","))

        def _also_a_callback():
            _plugins.clear()

        def create_app(app):
            _load()
            _also_a_callback()
            app.teardown_appcontext(_also_a_callback)
            return app
    """, tmp_path)
    assert codes_at(findings) == [(14, "RPT101")]


def test_import_time_registration_is_before_fork(tmp_path: Path) -> None:
    findings = lint("""\
        _routes: dict[str, object] = {}
        _hooks: list = []

        def route(path):
            def decorator(func):
                _routes[path] = func
                return func
            return decorator

        def hook(func):
            _hooks.append(func)

            def wrapper(*args):
                _hooks.append(args)
                return func(*args)
            return wrapper

        @route("/ping")
        @hook
        def ping():
            return "pong"

        late = route("/late")
    """, tmp_path)
    # `route("/late")` is not applied as a decorator: its inner decorator escapes.
    assert codes_at(findings) == [(6, "RPT101"), (14, "RPT101")]


def test_mutating_function_calls_and_aliases(tmp_path: Path) -> None:
    findings = lint("""\
        import heapq

        _queue: list = []
        _cache = {}

        def push(job):
            heapq.heappush(_queue, job)
            bucket = _cache.get(job.kind)
            bucket.append(job)
            snapshot = list(_queue)
            snapshot.sort()
    """, tmp_path)
    assert codes_at(findings) == [(7, "RPT101"), (9, "RPT101")]


def test_service_objects_in_extensions_are_not_state(tmp_path: Path) -> None:
    findings = lint("""\
        from flask import current_app

        def append_event(key, value):
            current_app.extensions["redis_client"].append(key, value)
            cache = current_app.extensions["cache"]
            cache.add(key, value)
            current_app.extensions["sessions_by_user"][key] = value

        def init_app(app):
            app.extensions["redis_client"] = object()
            app.extensions.setdefault("webhooks", []).append("audit")
    """, tmp_path)
    assert codes_at(findings) == [(7, "RPT103")]


def test_noqa_silences_one_code(tmp_path: Path) -> None:
    findings = lint("""\
        _store = {}

        def put(k, v):
            _store[k] = v  # noqa: RPT101
            _store.update({k: v})  # noqa: RPT3
    """, tmp_path)
    assert codes_at(findings) == [(5, "RPT101")]


ODD_SOURCES = [
    "",
    "x = 1\n",
    "def f():\n    pass\n",
    "global _x\n_x = 1\n",
    "_s = {}\ndef f():\n    del (_s[1], _s[2])\n    *_s['a'], b = [1, 2]\n",
    "_s = {}\ndef f(rows):\n    for _s['k'] in rows:\n        pass\n    with open('x') as _s['f']:\n        pass\n",
    "_s = []\ndef f(a=_s.append(1), *, b=lambda: _s.pop()):\n    return [_s.clear() for _ in ()]\n",
    "_s = {}\nclass A:\n    class B:\n        items = []\n        def f(self):\n            type(self).items.append(1)\n",
    "_s = {}\ndef f(x):\n    match x:\n        case {'k': v}:\n            _s[v] = x\n",
    "_s = {}\nasync def f():\n    async with lock as _s['lock']:\n        _s.update(a=1)\n",
    "_s = {}\ndef f():\n    _s[1:2] = []\n    _s[...] = 1\n    _s[1, 2] += 1\n",
    "class C:\n    x = []\n    def f(self=None):\n        return self\n    @staticmethod\n    def g():\n        C.x.sort()\n",
    "_s = {}\ndef f():\n    global _s\n    del _s\n    import os as _s\n",
    "_s = {}\nf = lambda: (_s.setdefault(1, []).append(2))\n",
    "d = {}\ndef f(key=b'raw'):\n    d[b'k'] = 1\n    d[f'{key}'] = 2\n",
]


@pytest.mark.parametrize("source", ODD_SOURCES)
def test_odd_code_never_crashes_the_family(tmp_path: Path, source: str) -> None:
    findings = lint(source, tmp_path)
    assert all(f.code in FAMILY for f in findings), [f.message for f in findings]


def _python_files() -> list[Path]:
    roots = [FIXTURES / "fork_safety", EXAMPLES]
    return sorted(p for root in roots if root.is_dir() for p in root.rglob("*.py"))


def test_prefilter_is_safe_on_every_fixture_and_example() -> None:
    checker = ForkSafetyChecker()
    for path in _python_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        if checker.prefilter(text):
            continue
        engine = Engine(Config(root=path.parent, select=("RPT1",)), use_prefilter=False)
        result = engine.lint_text(text, path, "python")
        assert [f for f in result.findings if f.code in FAMILY] == [], path


def test_prefilter_skips_files_without_functions() -> None:
    checker = ForkSafetyChecker()
    assert not checker.prefilter("_store = {}\n_store['a'] = 1\n__all__ += ['x']\n")
    assert not checker.prefilter("def handler():\n    return 42\n")
    assert checker.prefilter("_s = {}\ndef f():\n    _s[1] = 2\n")
    assert checker.prefilter("_s = []\nhook = lambda: _s.pop()\n")


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text), encoding="utf-8")


REGISTRY = """\
    _handlers: dict[str, object] = {}
    _warm: list[str] = []

    def on_event(kind):
        def decorator(func):
            _handlers[kind] = func
            return func
        return decorator

    def warm(names):
        _warm.extend(names)
"""


@pytest.mark.parametrize("caller, expected", [
    # Applied at import time / called from create_app in another module: before the fork.
    ("from pkg.registry import on_event, warm\n"
     "@on_event('fill')\ndef fill(): pass\n"
     "def create_app():\n    warm(['a'])\n", []),
    # Through a re-export in the package and a module alias.
    ("from pkg import on_event\nimport pkg.registry as reg\n"
     "@on_event('fill')\ndef fill(): pass\n"
     "def create_app():\n    reg.warm(['a'])\n", []),
    # Through a dotted module path from the top package, and a factory applied by hand.
    ("import pkg\n@pkg.registry.on_event('fill')\ndef fill(): pass\n"
     "def create_app():\n    pkg.registry.warm(['a'])\n", []),
    ("from pkg import registry\nregistry.on_event('fill')(print)\nregistry.warm(['a'])\n", []),
    ("from pkg.registry import on_event, warm\non_event('fill')(print)\nwarm(['a'])\n", []),
    # Called from a request handler in another module: after the fork.
    ("from pkg.registry import on_event, warm\n"
     "def handler():\n    warm(['a'])\n    on_event('late')(handler)\n", [6, 11]),
    # Nobody in the project calls them: assume request time.
    ("", [6, 11]),
])
def test_callers_in_other_modules_decide_before_fork(tmp_path: Path, caller: str,
                                                     expected: list[int]) -> None:
    _write(tmp_path, {
        "pyproject.toml": "[tool.raptor-lint]\nselect = ['RPT1']\n",
        "pkg/__init__.py": "from pkg.registry import on_event\n",
        "pkg/registry.py": REGISTRY,
        "pkg/routes.py": caller,
    })
    engine = Engine(Config(root=tmp_path, select=("RPT1",)))
    result = engine.lint_path(tmp_path / "pkg" / "registry.py", "python", "pkg/registry.py")
    assert [f.line for f in result.findings] == expected, [f.message for f in result.findings]


def test_ast_gate_is_safe_on_every_fixture_and_example(monkeypatch) -> None:
    from raptor_lint.rules import fork_safety

    def findings(path: Path) -> list:
        text = path.read_text(encoding="utf-8", errors="replace")
        engine = Engine(Config(root=path.parent, select=("RPT1",)), use_prefilter=False)
        return [(f.line, f.code) for f in engine.lint_text(text, path, "python").findings]

    gated = {path: findings(path) for path in _python_files()}
    monkeypatch.setattr(fork_safety, "_may_have_findings", lambda tree: True)
    assert {path: findings(path) for path in _python_files()} == gated
    assert any(gated.values())


# ------------------------------------------------------------------ test code is skipped

@pytest.mark.parametrize("relpath, skipped", [
    ("tests/test_trading.py", True),
    ("tests/helpers/factories.py", True),
    ("conftest.py", True),
    ("raxx/conftest.py", True),
    ("raxx/testing/plugin/pytestplugin.py", True),
    ("raxx/test/fixtures.py", True),
    ("raxx/test_support.py", True),
    ("raxx/quotes_test.py", True),
    ("raxx/services/testing_mode.py", False),
    ("raxx/contest/routes.py", False),
])
def test_fork_safety_skips_test_code(tmp_path: Path, relpath: str, skipped: bool) -> None:
    source = "_seen: set[int] = set()\n\ndef pytest_runtest_setup(item):\n    _seen.add(item)\n"
    engine = Engine(Config(root=tmp_path, select=("RPT1",)))
    findings = engine.lint_text(source, tmp_path / relpath, "python", relpath).findings
    assert codes_at(findings) == ([] if skipped else [(4, "RPT101")])


def test_project_rules_and_fork_safety_share_one_layout_definition() -> None:
    from raptor_lint.project import layout
    from raptor_lint.rules import project_rules

    assert project_rules.is_app_code is layout.is_app_code
    assert layout.is_app_code("raxx/routes/trading.py")
    assert not layout.is_app_code("sqlalchemy/testing/fixtures/orm.py")


# --------------------------------------------------------- principled exemptions

def test_weak_containers_and_weakref_keys_are_not_state(tmp_path: Path) -> None:
    findings = lint("""\
        import weakref
        from typing import ClassVar, Dict
        from weakref import ReferenceType, WeakKeyDictionary

        _sessions = weakref.WeakValueDictionary()
        _owners = WeakKeyDictionary()
        _records: Dict[weakref.ref[object], dict] = {}
        _by_type: "dict[ReferenceType[type], int]" = {}
        _by_user: dict[int, weakref.ref[object]] = {}

        class Proxy:
            _proxies: ClassVar[Dict[weakref.ref[object], object]] = {}
            _names: ClassVar[dict[str, object]] = {}

            @classmethod
            def track(cls, target, proxy):
                cls._proxies[weakref.ref(target)] = proxy
                cls._names[type(target).__name__] = proxy

        def checkout(user_id, session):
            _sessions[user_id] = session
            _owners[session] = user_id
            _records[weakref.ref(session)] = {"user": user_id}
            _by_type[weakref.ref(type(session))] = 1
            _by_user[user_id] = weakref.ref(session)
    """, tmp_path)
    # Only the value is weak in `_by_user` (keys outlive the sessions); `_names` is plain.
    assert codes_at(findings) == [(18, "RPT104"), (25, "RPT101")]


def test_class_creation_hooks_run_at_import(tmp_path: Path) -> None:
    findings = lint("""\
        import abc

        _impls = {}
        _subs = []
        _late = []

        class ImplMeta(abc.ABCMeta):
            def __new__(mcs, name, bases, ns):
                cls = super().__new__(mcs, name, bases, ns)
                _impls[ns.get("__dialect__")] = cls
                return cls

        class NotAMeta:
            def __init__(self, name):
                _impls[name] = self

        class Base:
            def __init_subclass__(cls, **kw):
                _subs.append(cls)

                def later():
                    _late.append(cls)
                cls.later = later
    """, tmp_path)
    # An instance's __init__ runs wherever the class is called; a closure defined in a
    # hook runs when it is called.
    assert codes_at(findings) == [(15, "RPT101"), (22, "RPT101")]


def test_scopes_resolve_like_python(tmp_path: Path) -> None:
    findings = lint("""\
        _cache = {}
        _order = []

        class Config:
            _cache = "class attribute, not the module dict"

            def method(self):
                _cache["k"] = 1              # the module dict: class bodies do not enclose methods

        def shadowed_by_comprehension(rows):
            return [_order for _order in rows if _order.append(1)]

        def outer():
            _order = []

            def inner():
                nonlocal _order
                _order.append(1)             # outer()'s local
            return inner

        def walrus(rows):
            global _order
            return [(_order := row) for row in rows]
    """, tmp_path)
    assert codes_at(findings) == [(8, "RPT101"), (23, "RPT102")]


def test_columns_are_code_points_and_defs_point_at_their_name(tmp_path: Path) -> None:
    findings = lint("""\
        _labels = {}
        _hook = None

        def label(user_id):
            name = "çé"; _labels[user_id] = name

        def install():
            global _hook
            async  def _hook():
                pass
    """, tmp_path)
    assert [(f.line, f.column, f.end_column, f.code) for f in findings] == [
        (5, 18, 34, "RPT101"), (9, 16, 21, "RPT102")]


# -------------------------------------------------------------- one index per run

def test_cross_module_index_is_built_once_and_parses_only_candidate_files(tmp_path: Path,
                                                                          monkeypatch) -> None:
    from raptor_lint.rules.fork_safety import callers as fork_calls

    files = {
        "pyproject.toml": "[tool.raptor-lint]\nselect = ['RPT1']\n",
        "pkg/__init__.py": "",
        "pkg/registry.py": REGISTRY,
        "pkg/routes.py": "from pkg.registry import on_event\n@on_event('fill')\ndef fill(): pass\n",
        "pkg/tests/test_registry.py": "from pkg.registry import warm\ndef test_warm():\n    warm([])\n",
    }
    for number in range(20):
        # Unrelated modules with findings of their own: each asks the index once.
        files[f"pkg/other_{number}.py"] = (
            f"_seen_{number} = set()\n\ndef track_{number}(key):\n    _seen_{number}.add(key)\n")
    _write(tmp_path, files)
    built: list[fork_calls.ForkCalls] = []
    parsed: list[str] = []
    original_build = fork_calls.build_fork_calls
    original_sites = fork_calls.ForkCalls._sites

    def counting_build(project):
        built.append(original_build(project))
        return built[-1]

    def counting_sites(self, path):
        parsed.append(path.name)
        return original_sites(self, path)

    monkeypatch.setattr(fork_calls.ForkCalls, "_sites", counting_sites)

    monkeypatch.setattr(fork_calls, "build_fork_calls", counting_build)
    from conftest import lint_project

    by_file = lint_project(tmp_path)
    assert [f.line for f in by_file["pkg/registry.py"]] == [11]  # warm(): only a test calls it
    assert all(len(by_file[f"pkg/other_{n}.py"]) == 1 for n in range(20))
    assert len(built) == 1
    # 23 app files indexed once (not the test); only routes.py imports `on_event` or `warm`
    # outside registry.py, and it is parsed once although two names are asked about.
    assert built[0].files_indexed == 23
    assert sorted(set(parsed)) == ["routes.py"] and built[0].files_parsed == 1


def test_word_index_from_the_runs_file_list_equals_a_walk_of_the_project(tmp_path: Path) -> None:
    """A check of the project root hands its discovered files to the project facts, so
    the fork-safety word index does not walk the tree again; it must index the same."""
    from raptor_lint.config import load_config
    from raptor_lint.discovery import iter_files
    from raptor_lint.project import ProjectIndex
    from raptor_lint.rules.fork_safety.callers import ForkCalls

    _write(tmp_path, {
        "pyproject.toml": "[tool.raptor-lint]\nexclude = ['vendored']\n",
        "pkg/__init__.py": "",
        "pkg/registry.py": REGISTRY,
        "pkg/routes.py": "from pkg.registry import on_event\n@on_event('fill')\ndef fill(): pass\n",
        "pkg/tests/test_registry.py": "from pkg.registry import warm\n",
        "vendored/lib.py": "from pkg.registry import warm\n",
        "docs/conf.py": "import sphinx.ext.autodoc\n",
        "scripts/run.sh": "python -m pkg\n",
    })
    config = load_config(start=tmp_path)
    walked, given = ForkCalls(ProjectIndex(config)), ForkCalls(ProjectIndex(config))
    given._project.files = list(iter_files([tmp_path], config))
    assert given._word_index() == walked._word_index() and walked._word_index()
    assert given.files_indexed == walked.files_indexed == 4


def test_the_run_long_index_leaves_the_cyclic_collectors_generations(tmp_path: Path) -> None:
    """The word index and the file summaries live for the whole run (a whole flake8
    worker process): once collections have seen them (one per level of tuple nesting),
    the collector no longer tracks them, so later full collections do not walk them.  A list, a NamedTuple or a dataclass would stay
    tracked (measured: 2.8 -> 6.8 s of collection in a flake8 worker over 358 files)."""
    import gc

    from raptor_lint.config import load_config
    from raptor_lint.project import ProjectIndex
    from raptor_lint.rules.fork_safety.callers import ForkCalls

    _write(tmp_path, {
        "pyproject.toml": "[tool.raptor-lint]\n",
        "pkg/__init__.py": "",
        "pkg/registry.py": REGISTRY,
        "pkg/routes.py": "from pkg.registry import on_event\n@on_event('fill')\ndef fill(): pass\n",
        "pkg/jobs.py": "import pkg.registry\n\ndef nightly():\n    pkg.registry.warm([])\n",
    })
    calls = ForkCalls(ProjectIndex(load_config(start=tmp_path)))
    found = calls.uses_of(tmp_path / "pkg" / "registry.py", ["on_event", "warm"])
    assert sorted((name, use.kind, use.before_fork, use.source.name)
                  for name, uses in found.items() for use in uses) == [
        ("on_event", "decorator-call", True, "routes.py"), ("warm", "call", False, "jobs.py")]
    gc.collect()
    gc.collect()
    summaries = [sites for sites in calls._files.values() if sites is not None]
    assert len(summaries) == 2 and all(summaries)
    kept = [*calls._words.values(), *calls._imported.values(),
            *(entries for sites in summaries for entries in sites.values())]
    assert kept and not [value for value in kept if gc.is_tracked(value)]


def test_class_body_helpers_run_while_the_class_is_created(tmp_path: Path) -> None:
    findings = lint("""\
        _lifecycle_events: set[str] = set()
        _audit_hooks: list = []

        class SessionEvents:
            def _lifecycle_event(fn):
                _lifecycle_events.add(fn.__name__)
                return fn

            def _audited(fn):
                _audit_hooks.append(fn)
                return fn

            @_lifecycle_event
            def after_begin(self, session):
                pass

            @_audited
            def after_commit(self, session):
                self._audited()
    """, tmp_path)
    # `_audited` is also called as a method, from request-time code.
    assert codes_at(findings) == [(10, "RPT101")]
