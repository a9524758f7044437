"""Fork safety's shortcuts (issue 7) never hide a finding.

The pre-filter, the statement/text gate (`_may_mutate_state`), the full gate
(`_may_have_findings`) and the cross-module index (`ForkCalls`: word index, candidate
narrowing from the text, early stop at the first after-fork use) all skip work; each
must only skip what cannot change a finding.  The sources below are the shapes each
shortcut reads from the text (lambdas, walruses, comments inside chains, odd line
endings, aliases, relative imports, re-exports).
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from conftest import EXAMPLES, FIXTURES, write_tree
from raptor_lint.config import Config
from raptor_lint.engine import Engine
from raptor_lint.rules import fork_safety

FAMILY = ("RPT101", "RPT102", "RPT103", "RPT104")


def _python_files() -> list[Path]:
    roots = [FIXTURES / "fork_safety", EXAMPLES]
    return sorted(p for root in roots if root.is_dir() for p in root.rglob("*.py"))


def _findings(text: str, path: Path, use_prefilter: bool = True) -> list[tuple[int, str]]:
    engine = Engine(Config(root=path.parent, select=("RPT1", "RPT000")), use_prefilter=use_prefilter)
    return [(f.line, f.code) for f in engine.lint_text(text, path, "python").findings]


def test_statement_gate_is_safe_on_every_fixture_and_example(monkeypatch) -> None:
    def all_findings() -> dict:
        return {path: _findings(path.read_text(encoding="utf-8", errors="replace"), path, False)
                for path in _python_files()}

    gated = all_findings()
    monkeypatch.setattr(fork_safety, "_may_mutate_state", lambda tree, text: True)
    assert all_findings() == gated
    assert any(gated.values())


# Each source has findings; every shortcut must let them through, with and without the
# pre-filter, and whatever the line endings.
SOURCES = {
    "lambda inside a function, state mutated in another": ("""\
        _seen = {}

        def keys():
            return sorted(_seen, key=lambda k: k)

        def track(key):
            _seen[key] = 1
        """, [(7, "RPT101")]),
    "lambda at module level": ("""\
        _hooks = []
        register = lambda hook: _hooks.append(hook)

        def ok():
            return 1
        """, [(2, "RPT101")]),
    "walrus binding module state": ("""\
        if (_cache := {}) is not None:
            pass

        def remember(key, value):
            _cache[key] = value
        """, [(5, "RPT101")]),
    "walrus in a default binds module state": ("""\
        def remember(key, value, cache=(_cache := {})):
            _cache[key] = value
        """, [(2, "RPT101")]),
    "class attribute through type(self)": ("""\
        class Throttle:
            _hits: dict[str, int] = {}

            def hit(self, user):
                type(self)._hits[user] = 1
        """, [(5, "RPT104")]),
    "class attribute through a comment-split chain": ("""\
        class Throttle:
            _hits = []

            @classmethod
            def hit(cls, user):
                (cls.  # the class-level list
                 _hits.append(user))
        """, [(6, "RPT104")]),
    "class defined in a function": ("""\
        def make():
            class Local:
                seen = set()

                def add(self, key):
                    Local.seen.add(key)
            return Local
        """, [(6, "RPT104")]),
    "extensions in a method": ("""\
        from flask import current_app

        class Prefs:
            def save(self, user, mode):
                current_app.extensions["modes"][user] = mode
        """, [(5, "RPT103")]),
    "global in a class body inside a function": ("""\
        _count = 0

        def bump():
            class Bumper:
                global _count
                _count = _count + 1
            return Bumper
        """, [(6, "RPT102")]),
    "alias of module state": ("""\
        _registry = dict()

        def add(name, value):
            table = _registry
            table[name] = value
        """, [(5, "RPT101")]),
    "container call spelled across lines": ("""\
        import collections
        _by_kind = collections.defaultdict \\
            (list)

        def add(kind, value):
            _by_kind[kind].append(value)
        """, [(6, "RPT101")]),
    "conditional expression": ("""\
        import os
        _store = None if os.environ.get("X") else {}

        def put(k, v):
            _store[k] = v
        """, [(5, "RPT101")]),
}


@pytest.mark.parametrize("name", sorted(SOURCES))
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_shortcuts_keep_findings(tmp_path: Path, name: str, newline: str) -> None:
    source, expected = SOURCES[name]
    text = textwrap.dedent(source).replace("\n", newline)
    path = tmp_path / "app" / "state.py"
    assert _findings(text, path) == expected
    assert _findings(text, path, use_prefilter=False) == expected


def test_identifiers_spelled_with_compatibility_characters(tmp_path: Path) -> None:
    # Python NFKC-normalises identifiers: `ﬁles` (with the U+FB01 ligature) is `files`.
    text = "ﬁles = []\n\ndef add(name):\n    ﬁles.append(name)\n"
    assert _findings(text, tmp_path / "app" / "state.py") == [(4, "RPT101")]


# ------------------------------------------------------------------ other modules

REGISTRY = """\
    _handlers: dict[str, object] = {}

    def on_event(kind):
        def decorator(func):
            _handlers[kind] = func
            return func
        return decorator
"""


_write = write_tree


@pytest.mark.parametrize("caller", [
    "import pkg.registry as events\n@events.on_event('fill')\ndef fill(): pass\n",
    "from pkg import registry as events\n@events.on_event('fill')\ndef fill(): pass\n",
    "from . import registry\n@registry.on_event('fill')\ndef fill(): pass\n",
    "from .registry import (\n    on_event,  # the decorator (see registry.py)\n)\n"
    "@on_event('fill')\ndef fill(): pass\n",
    "from pkg.registry import(on_event)\n@on_event('fill')\ndef fill(): pass\n",
    "import pkg\n\n# registration\n@pkg.registry.on_event('fill')\ndef fill(): pass\n",
    "import pkg\n@pkg.registry \\\n    .on_event('fill')\ndef fill(): pass\n",
    "import pkg\n@(pkg.registry).on_event('fill')\ndef fill(): pass\n",
    "import pkg\nx = (pkg.registry  # the registry module\n     .on_event('fill'))(print)\n",
    "from pkg import on_event\n@on_event('fill')\ndef fill(): pass\n",   # re-exported
    "import pkg\n@pkg.on_event('fill')\ndef fill(): pass\n",                   # re-exported
    "import pkg.registry\n@pkg.registry.on_event('fill')\ndef fill(): pass\n"
    "from pkg.other import on_event as unrelated\n",
    # Python NFKC-normalises identifiers: fullwidth `ｏn_event` is `on_event`.
    "from pkg.registry import \uff4fn_event\n@\uff4fn_event('fill')\ndef fill(): pass\n",
    "import pkg.registry as ｒ\n# caf\u00e9 (a comment)\n@ｒ.on_event('fill')\ndef fill(): pass\n",
])
def test_import_time_registration_seen_through_any_spelling(tmp_path: Path, caller: str) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "from pkg.registry import on_event\n",
        "pkg/registry.py": REGISTRY,
        "pkg/other.py": "def on_event(kind):\n    return kind\n",
        "pkg/routes.py": caller,
    })
    engine = Engine(Config(root=tmp_path, select=("RPT1",)))
    result = engine.lint_path(tmp_path / "pkg" / "registry.py", "python", "pkg/registry.py")
    assert result.findings == []


@pytest.mark.parametrize("callers", [
    # The same name imported from another module does not make ours run at import time.
    {"pkg/routes.py": "from pkg.other import on_event\n@on_event('fill')\ndef fill(): pass\n"},
    # Another module's `other.on_event` neither.
    {"pkg/routes.py": "from pkg import other\n@other.on_event('fill')\ndef fill(): pass\n"},
    # One use after the fork decides, whatever the others.
    {"pkg/a.py": "from pkg.registry import on_event\n@on_event('fill')\ndef fill(): pass\n",
     "pkg/b.py": "from pkg.registry import on_event\n\ndef late():\n    on_event('late')(late)\n",
     "pkg/c.py": "from pkg.registry import on_event\n@on_event('cancel')\ndef cancel(): pass\n"},
])
def test_uses_that_do_not_move_the_finding(tmp_path: Path, callers: dict[str, str]) -> None:
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/registry.py": REGISTRY,
        "pkg/other.py": "def on_event(kind):\n    return lambda func: func\n",
        **callers,
    })
    engine = Engine(Config(root=tmp_path, select=("RPT1",)))
    result = engine.lint_path(tmp_path / "pkg" / "registry.py", "python", "pkg/registry.py")
    assert [(f.line, f.code) for f in result.findings] == [(5, "RPT101")]


def test_imported_state_roots_read_once_when_they_open_the_gate(tmp_path: Path, monkeypatch) -> None:
    # The file binds no container itself: only another module's `_store` opens the gate,
    # and the analysis (RPT101 on imported containers) reuses the roots the gate read.
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/state.py": "_store = {}\n",
        "pkg/views.py": "from pkg.state import _store\n\ndef put(key, value):\n    _store[key] = value\n",
    })
    read = fork_safety.imported_state_roots
    calls: list[frozenset[str]] = []

    def counted(tree, text):
        calls.append(read(tree, text))
        return calls[-1]

    monkeypatch.setattr(fork_safety, "imported_state_roots", counted)
    engine = Engine(Config(root=tmp_path, select=("RPT1",)))
    result = engine.lint_path(tmp_path / "pkg" / "views.py", "python", "pkg/views.py")
    assert [(f.line, f.code) for f in result.findings] == [(4, "RPT101")]
    assert calls == [frozenset({"_store"})]
