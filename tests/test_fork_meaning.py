"""Fork safety by the runbook's meaning (issue 15, SPEC §7): the idioms that run once per
process or at import time are not findings; state reached from other modules, through
``globals()``, aliases and default arguments is; the advice fits the kind of state.

Each case runs with and without the pre-filter (a gate must not hide what the analysis
would report), and the cross-module cases lint a small project on disk.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conftest import write_tree
from raptor_lint.config import Config
from raptor_lint.engine import Engine


def lint(source: str, tmp_path: Path, use_prefilter: bool = True) -> list:
    text = textwrap.dedent(source)
    engine = Engine(Config(root=tmp_path, select=("RPT1", "RPT000")), use_prefilter=use_prefilter)
    return engine.lint_text(text, tmp_path / "app" / "service.py", "python", "app/service.py").findings


def codes(source: str, tmp_path: Path) -> list[tuple[int, str]]:
    gated = [(f.line, f.code) for f in lint(source, tmp_path)]
    ungated = [(f.line, f.code) for f in lint(source, tmp_path, use_prefilter=False)]
    assert gated == ungated, "a pre-filter or gate changed the findings"
    return gated


SILENT = {
    "early return": """\
        _settings = None
        def get_settings():
            global _settings
            if _settings is not None:
                return _settings
            _settings = load_settings()
            return _settings
        """,
    "first fill of a dict created under the guard": """\
        import sys
        _CONFIG = None
        def get_config():
            global _CONFIG
            if _CONFIG is None:
                _CONFIG = {}
                _CONFIG["prefix"] = sys.prefix
            return _CONFIG
        """,
    "decorator factory used as @d and @d(...)": """\
        _TASKS = {}
        def task(func=None, *, name=None):
            def decorator(f):
                _TASKS[name or f.__name__] = f
                return f
            return decorator(func) if func is not None else decorator
        @task
        def send_digest(): ...
        @task(name="nightly")
        def nightly(): ...
        """,
    "siblings assigned under one guard": """\
        _engine = None
        _session_factory = None
        def session():
            global _engine, _session_factory
            if _engine is None:
                _engine = build_engine()
                _session_factory = build_factory(_engine)
            return _session_factory()
        """,
    "guard inside and": """\
        _pool = None
        def pool(enabled):
            global _pool
            if _pool is None and enabled:
                _pool = make_pool()
            return _pool
        """,
    "sentinel object": """\
        _MISSING = object()
        _settings = _MISSING
        def settings():
            global _settings
            if _settings is _MISSING:
                _settings = load_settings()
            return _settings
        """,
    "per-process resources created after the fork": """\
        import threading
        from concurrent.futures import ThreadPoolExecutor
        _lock = None
        _executor = None
        def reset_after_fork():
            global _lock, _executor
            _lock = threading.Lock()
            _executor = ThreadPoolExecutor(max_workers=4)
        """,
    "os.register_at_fork(after_in_child=...)": """\
        import os
        _cache = {}
        def _reset_cache():
            _cache.clear()
        os.register_at_fork(after_in_child=_reset_cache)
        """,
    "gunicorn post_fork hook": """\
        _worker_state = {}
        def post_fork(server, worker):
            _worker_state["pid"] = worker.pid
        """,
    "constructor called only at module level": """\
        _registry = {}
        class Plugin:
            def __init__(self, name):
                _registry[name] = self
        DEFAULT = Plugin("default")
        """,
    "lambda called only at module level": """\
        _hooks = []
        register = lambda hook: _hooks.append(hook)
        register(print)
        """,
    "classmethod decorator reached through a subclass": """\
        class Registry:
            _kinds = {}
            @classmethod
            def register(cls, kind):
                def decorator(klass):
                    cls._kinds[kind] = klass
                    return klass
                return decorator
        class Strategies(Registry):
            pass
        @Strategies.register("momentum")
        class Momentum:
            pass
        """,
    "private method reached through self. from init_app": """\
        class Extension:
            _apps = []
            def init_app(self, app):
                self._remember(app)
            def _remember(self, app):
                Extension._apps.append(app)
        """,
    "a public method reached through self. in a class with init_app": """\
        _event_loggers = {}
        class Initializer:
            def init_app(self, app):
                self.setup_event_logger(app)
            def setup_event_logger(self, app):
                _event_loggers[app.name] = object()
        """,
    "a module __getattr__ caching a lazy import (PEP 562)": """\
        import importlib
        def __getattr__(name):
            value = importlib.import_module(f"pkg.{name}")
            globals()[name] = value
            return value
        """,
    "early return through an accessor of the global": """\
        _listener = None
        def _get_listener():
            return _listener
        def start():
            global _listener
            if _get_listener() is not None:
                return
            _listener = make_listener()
        """,
    "a lazy import published through globals()": """\
        import sys
        def _has_kubernetes():
            try:
                from kubernetes.client import models as k8s
            except ImportError:
                return False
            globals()["k8s"] = k8s
            return True
        def _preload(name):
            globals()[name] = sys.modules[name]
        """,
    "an initialiser every caller calls under the guard": """\
        _types = None
        def _init_types():
            global _types
            _types = load_types()
        def guess(url):
            if _types is None:
                _init_types()
            return _types.get(url)
        """,
    "script code under __main__": """\
        _seen = set()
        if __name__ == "__main__":
            _seen.add("cli")
        """,
}


@pytest.mark.parametrize("case", sorted(SILENT))
def test_runs_once_per_process_or_at_import_time(case: str, tmp_path: Path) -> None:
    assert codes(SILENT[case], tmp_path) == []


# Controls: the same code without the idiom that makes it safe fires, so the silent cases
# above cannot pass because the family stopped reporting altogether.
CONTROLS = {
    "early return": ("if _settings is not None:\n        return _settings\n    ", ""),
    "first fill of a dict created under the guard": (
        "    if _CONFIG is None:\n        _CONFIG = {}\n        _CONFIG", "    _CONFIG = {}\n    _CONFIG"),
    "os.register_at_fork(after_in_child=...)": ("os.register_at_fork(after_in_child=_reset_cache)",
                                                "threading.Thread(target=_reset_cache).start()"),
    "gunicorn post_fork hook": ("def post_fork(server, worker):", "def handle(server, worker):"),
    "an initialiser every caller calls under the guard": ("    if _types is None:\n        _init_types()",
                                                          "    _init_types()"),
    "a module __getattr__ caching a lazy import (PEP 562)": ("def __getattr__(name):", "def load(name):"),
    "constructor called only at module level": ('DEFAULT = Plugin("default")',
                                                'def make(name):\n    return Plugin(name)'),
}


@pytest.mark.parametrize("case", sorted(CONTROLS))
def test_without_the_idiom_the_same_code_is_reported(case: str, tmp_path: Path) -> None:
    safe, unsafe = CONTROLS[case]
    source = textwrap.dedent(SILENT[case])
    assert safe in source, "the control's text must be in the case"
    assert codes(source.replace(safe, unsafe), tmp_path) != []


REPORTED = {
    "a function called only from __main__ is not before the fork": ("""\
        _seen = set()
        def main():
            _seen.add("cli")
        if __name__ == "__main__":
            main()
        """, [(3, "RPT101")]),
    "globals()['x'] = v": ("""\
        _mode = "paper"
        def set_mode(mode):
            globals()["_mode"] = mode
        """, [(3, "RPT102")]),
    "dict.fromkeys": ("""\
        _limits = dict.fromkeys(["a", "b"], 0)
        def bump(user_id):
            _limits[user_id] = 1
        """, [(3, "RPT101")]),
    "aliased container constructor": ("""\
        from collections import defaultdict as dd
        _by_user = dd(list)
        def record(user_id, event):
            _by_user[user_id].append(event)
        """, [(4, "RPT101")]),
    "default argument alias": ("""\
        _sessions = {}
        def remember(user_id, token, store=_sessions):
            store[user_id] = token
        """, [(3, "RPT101")]),
    "one finding per statement": ("""\
        _a = None
        _b = None
        def reset(value):
            global _a, _b
            _a = _b = value
        """, [(5, "RPT102")]),
    "an else branch of a lazy guard rebinds every time": ("""\
        _feed = None
        def feed(force):
            global _feed
            if _feed is None or force:
                _feed = object()
            else:
                _feed = None
            return _feed
        """, [(7, "RPT102")]),
}


@pytest.mark.parametrize("case", sorted(REPORTED))
def test_state_written_after_the_fork(case: str, tmp_path: Path) -> None:
    source, expected = REPORTED[case]
    assert codes(source, tmp_path) == expected


def test_memo_gets_memo_advice_and_user_state_gets_the_runbooks(tmp_path: Path) -> None:
    findings = lint("""\
        _rendered = {}
        _challenges = {}
        def render(template):
            _rendered[template] = compile_template(template)
        def store_challenge(user_id, challenge):
            _challenges[user_id] = challenge
        """, tmp_path)
    assert [f.message for f in findings] == [
        "dict '_rendered' is a per-process memo: make it functools.cache/lru_cache",
        "dict '_challenges' mutated after the fork: use Redis (with a TTL) or Postgres",
    ]


def test_a_counter_keyed_by_the_request_is_state_not_a_memo(tmp_path: Path) -> None:
    findings = lint("""\
        _hits = {}
        def count(path):
            _hits[path] = _hits.get(path, 0) + 1
        """, tmp_path)
    assert [f.code for f in findings] == ["RPT101"] and "memo" not in findings[0].message


def test_containers_of_another_module_mutated_here(tmp_path: Path) -> None:
    write_tree(tmp_path, {
        "pyproject.toml": "[tool.raptor-lint]\n",
        "app/__init__.py": "",
        "app/state.py": "_store: dict[int, str] = {}\nLIMIT = 10\n",
        "app/views.py": textwrap.dedent("""\
            from app import state
            from app.state import LIMIT, _store

            def save(user_id, value):
                _store[user_id] = value

            def drop(user_id):
                state._store.pop(user_id, None)

            def read(user_id):
                return _store.get(user_id, LIMIT)
            """),
    })
    engine = Engine(Config(root=tmp_path, select=("RPT1", "RPT000")))
    path = tmp_path / "app" / "views.py"
    findings = engine.lint_text(path.read_text(), path, "python", "app/views.py").findings
    assert [(f.line, f.code) for f in findings] == [(5, "RPT101"), (8, "RPT101")]
    assert findings[0].message == "app.state's dict '_store' mutated after the fork: use Redis (with a TTL) or Postgres"
    assert findings[0].note.startswith("Written in save() (item assignment), which runs in each gunicorn worker")
