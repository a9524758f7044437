"""The flake8 plugin lints the tree flake8 already parsed, and that tree is the one
the engine's gate would have built (end-to-end flake8 runs are in test_examples.py,
test_reliability.py and test_safety.py)."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest

import raptor_lint.engine as engine_module
from raptor_lint.flake8_plugin import Plugin
from raptor_lint.source import SourceError, parse_python

from conftest import EXAMPLES, FIXTURES

PYTHON_FILES = sorted([*FIXTURES.rglob("*.py"), *EXAMPLES.rglob("*.py")])

# Type comments: CPython only turns them into tree fields with PyCF_TYPE_COMMENTS,
# which neither flake8 (ast.parse) nor the gate passes.
TYPE_COMMENTS = '''\
import os  # type: int
from typing import List

_store = []  # type: List[int]


def handler(a, b):
    # type: (int, str) -> None
    for item in _store:  # type: int
        _store.append(a)
    with open(b) as f:  # type: ignore
        pass
'''


def _flake8_tree(text: str) -> ast.Module:
    # What flake8.processor.FileProcessor.build_ast does with the file's lines.
    return ast.parse(text)


@pytest.mark.parametrize("text", [TYPE_COMMENTS, *(p.read_text(encoding="utf-8") for p in PYTHON_FILES)],
                         ids=["type-comments", *(str(p.relative_to(FIXTURES.parent.parent)) for p in PYTHON_FILES)])
def test_flake8s_tree_is_the_gates_tree(text: str) -> None:
    try:
        gate = parse_python(text, "x.py")
    except SourceError:
        with pytest.raises(SyntaxError):
            _flake8_tree(text)
        return
    assert ast.dump(_flake8_tree(text), include_attributes=True) == ast.dump(gate, include_attributes=True)


def test_plugin_lints_flake8s_tree_without_parsing_again(monkeypatch) -> None:
    path = EXAMPLES / "raptor_app" / "__init__.py"
    if not path.is_file():
        path = next(p for p in sorted(EXAMPLES.rglob("*.py")) if "expect:" in p.read_text(encoding="utf-8"))
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    tree = _flake8_tree("".join(lines))
    expected = list(Plugin(None, str(path), lines).run())  # no tree: the engine parses
    assert expected, "the example file has findings"

    def no_second_parse(*args, **kwargs):
        raise AssertionError("the plugin parsed the file again")

    monkeypatch.setattr(engine_module, "parse_python", no_second_parse)
    monkeypatch.setattr(engine_module, "compiles_quickly", no_second_parse)
    assert list(Plugin(tree, str(path), lines).run()) == expected


def test_plugin_checks_with_the_collector_off_and_restores_it(monkeypatch) -> None:
    """A check allocates a lot and leaves no cycles: a collection during it would only
    promote its objects and walk flake8's heap (see Engine.lint_text)."""
    import gc

    seen: list[bool] = []
    original = engine_module.Engine._run_families

    def spy(self, *args, **kwargs):
        seen.append(gc.isenabled())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(engine_module.Engine, "_run_families", spy)
    path = next(p for p in sorted(EXAMPLES.rglob("*.py")) if "expect:" in p.read_text(encoding="utf-8"))
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    assert gc.isenabled()
    assert list(Plugin(_flake8_tree("".join(lines)), str(path), lines).run())
    assert seen == [False]
    assert gc.isenabled()


def test_plugin_on_a_file_no_family_wants_does_not_parse(monkeypatch, tmp_path: Path) -> None:
    def no_parse(*args, **kwargs):
        raise AssertionError("parsed")

    monkeypatch.setattr(engine_module, "parse_python", no_parse)
    monkeypatch.setattr(engine_module, "compiles_quickly", no_parse)
    lines = ["def add(a, b):\n", "    return a + b\n"]
    path = tmp_path / "plain.py"
    assert list(Plugin(_flake8_tree("".join(lines)), str(path), lines).run()) == []


def _flake8_options(**chosen):
    import argparse

    values = {"select": None, "extend_select": None, "ignore": None, "extend_ignore": None,
              "extended_default_select": ["C90", "E", "F", "W", "RPT"], "extended_default_ignore": []}
    values.update(chosen)
    return argparse.Namespace(**values)


@pytest.mark.parametrize("chosen, runs", [
    ({}, True),
    ({"select": ["E", "F", "W"]}, False),
    ({"select": ["E", "F", "W", "RPT"]}, True),
    ({"select": ["E"], "extend_select": ["RPT3"]}, True),
    ({"ignore": ["RPT"]}, False),
    ({"ignore": ["RPT1"]}, True),
])
def test_plugin_does_no_work_when_flake8_reports_no_rpt_code(monkeypatch, chosen, runs) -> None:
    import raptor_lint.flake8_plugin as plugin_module

    monkeypatch.setattr(Plugin, "_options", None)
    monkeypatch.setattr(Plugin, "_enabled", True)
    Plugin.parse_options(_flake8_options(**chosen))
    linted: list[str] = []
    original = plugin_module._engine_for
    monkeypatch.setattr(plugin_module, "_engine_for", lambda *a: linted.append("x") or original(*a))
    lines = ["from flask import Blueprint\n", 'bp = Blueprint("r", __name__, url_prefix="/api/r")\n']
    found = list(Plugin(_flake8_tree("".join(lines)), str(EXAMPLES / "raptor_app" / "bp.py"), lines).run())
    assert bool(linted) is runs
    assert [text.split()[0] for _, _, text, _ in found] == (["RPT301"] if runs else [])


FREEZE_PROBE = """
import gc, json, sys
from pathlib import Path
import raptor_lint.flake8_plugin as plugin

freezes = []  # the index of the file after which the heap was frozen
real_freeze = gc.freeze
gc.freeze = lambda: (freezes.append(len(found)), real_freeze())

found = []
for path in sys.argv[1:]:
    lines = Path(path).read_text(encoding="utf-8").splitlines(keepends=True)
    found.append(len(list(plugin.Plugin(None, path, lines).run())))
print(json.dumps({"found": found, "freezes": freezes, "frozen": gc.get_freeze_count()}))
"""


def test_plugin_freezes_the_long_lived_heap_only_after_imports() -> None:
    """In a flake8 process the plugin's imports (rule families, sqlglot...) live until
    the end: after the file that imported them the heap is frozen, so flake8's own
    collections stop walking it; a file that imports nothing new freezes nothing."""
    import json
    import subprocess
    import sys

    app = EXAMPLES / "raptor_app"
    files = [str(app / "__init__.py"), str(app / "__init__.py"), str(app / "__init__.py")]
    probe = subprocess.run([sys.executable, "-c", FREEZE_PROBE, *files],
                           capture_output=True, text=True, timeout=120, check=True)
    result = json.loads(probe.stdout)
    assert result["found"][0] > 0 and len(set(result["found"])) == 1
    assert result["freezes"] == [0]  # once, after the first file; the repeats import nothing
    assert result["frozen"] > 10_000  # the engine, the rule families and their libraries


NOQA_APP = '''\
_hits = {}


def track(user_id):
    _hits[user_id] = _hits.get(user_id, 0) + 1  # noqa: RPT101


def forget(user_id):
    _hits.pop(user_id, None)
'''


@pytest.mark.parametrize("disable_noqa", [False, True])
def test_flake8_applies_noqa_and_its_disable_noqa_option(tmp_path: Path, disable_noqa: bool) -> None:
    """flake8 applies `# noqa` to the plugin's findings itself, so `--disable-noqa` shows
    them (the engine used to drop them first, whatever flake8 was told)."""
    import subprocess
    import sys

    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n")
    (tmp_path / "app.py").write_text(NOQA_APP)
    command = [sys.executable, "-m", "flake8", "--select", "RPT", "--format", "%(row)d %(code)s", "app.py"]
    if disable_noqa:
        command.append("--disable-noqa")
    proc = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.stderr == ""
    # Line 9 has no noqa comment: reported either way, so the plugin did run.
    assert proc.stdout.splitlines() == (["5 RPT101", "9 RPT101"] if disable_noqa else ["9 RPT101"])


def test_project_root_is_found_from_the_files_resolved_directory(tmp_path: Path, monkeypatch) -> None:
    """The root lookup is memoised per directory; a file that is itself a symlink, or a
    path through "..", still gets the root of where it really lives."""
    from raptor_lint.flake8_plugin import _root_for

    for name in ("here", "there", "there/sub"):
        (tmp_path / name).mkdir()
    (tmp_path / "here" / "pyproject.toml").write_text("")
    (tmp_path / "there" / "pyproject.toml").write_text("")
    (tmp_path / "there" / "sub" / "real.py").write_text("")
    (tmp_path / "here" / "plain.py").write_text("")
    (tmp_path / "here" / "linked.py").symlink_to(tmp_path / "there" / "sub" / "real.py")
    (tmp_path / "here" / "up").symlink_to(tmp_path / "there" / "sub")
    here, there = (tmp_path / "here").resolve(), (tmp_path / "there").resolve()
    assert _root_for(tmp_path / "here" / "plain.py", None) == here
    assert _root_for(tmp_path / "here" / "linked.py", None) == there
    # here/up/.. is there/ (symlink first, then ".."), not here/
    assert _root_for(tmp_path / "here" / "up" / ".." / "sub" / "real.py", None) == there
    assert _root_for(tmp_path / "here" / "plain.py", None) == here  # memoised answer
    # Another plain file of a directory already asked about: nothing resolved again.
    (tmp_path / "here" / "other.py").write_text("")
    resolved: list[Path] = []
    resolve = Path.resolve
    monkeypatch.setattr(Path, "resolve", lambda self, *args: resolved.append(self) or resolve(self, *args))
    assert _root_for(tmp_path / "here" / "other.py", None) == here
    assert resolved == []


# ---------------------------------------------------------------- issue 17/18: one validation

BAD_OPTIONS = [  # (key, value, what the CLI says after "key '...': " in pyproject.toml)
    ("api-prefix", "api", "expected a URL path like '/api', got 'api'"),
    ("app-factory", "1bad", "'1bad' is not a Python identifier"),
    ("core-blueprints", "a-b", "'a-b' is not a Python identifier"),
    ("migrations-dir", "nope", "= {root}/nope does not exist"),
]


def _flake8(tmp_path: Path, *args: str) -> "subprocess.CompletedProcess[str]":
    import sys

    return subprocess.run([sys.executable, "-m", "flake8", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


def _cli(tmp_path: Path, *args: str) -> "subprocess.CompletedProcess[str]":
    import sys

    return subprocess.run([sys.executable, "-m", "raptor_lint", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("config_name", [".flake8", "setup.cfg", "tox.ini"])
@pytest.mark.parametrize("key, value, message", BAD_OPTIONS, ids=[k for k, _v, _m in BAD_OPTIONS])
def test_each_bad_flake8_option_gives_the_clis_message(tmp_path: Path, config_name: str, key: str,
                                                       value: str, message: str) -> None:
    """An option the CLI rejects stops flake8 with the CLI's message, once, naming the
    file flake8 read and the option — not RPT000 on every file, not a rule silently off."""
    root = tmp_path.resolve()
    (root / "app.py").write_text("import os\n")
    (root / "other.py").write_text("import os\n")
    (root / "pyproject.toml").write_text(f"[tool.raptor-lint]\n{key} = '{value}'\n")
    cli = _cli(root, "check", ".")
    expected = message.format(root=root)
    assert (cli.returncode, cli.stdout) == (2, "")
    assert cli.stderr == f"raptor-lint: error: {root / 'pyproject.toml'}: [tool.raptor-lint] key '{key}'" + (
        " " if expected.startswith("=") else ": ") + f"{expected}\n"
    (root / "pyproject.toml").write_text("")
    (root / config_name).write_text(f"[flake8]\nselect = RPT\nraptor-{key} = {value}\n")
    flake8 = _flake8(root, "app.py", "other.py")
    assert (flake8.returncode, flake8.stdout) == (2, "")
    assert flake8.stderr == f"flake8: raptor-lint: error: {config_name}: [flake8] option 'raptor-{key}'" + (
        " " if expected.startswith("=") else ": ") + f"{expected}\n"


def test_a_bad_option_on_flake8s_command_line_is_named_so(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "app.py").write_text("import os\n")
    proc = _flake8(tmp_path, "--select", "RPT", "--raptor-api-prefix", "api/", "app.py")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert proc.stderr == ("flake8: raptor-lint: error: flake8 command line option 'raptor-api-prefix': "
                           "expected a URL path like '/api', got 'api/'\n")


def test_a_deeply_nested_pyproject_is_one_line_naming_it(tmp_path: Path) -> None:
    """tomllib recurses per nesting level: a RecursionError became 'internal error' without
    the file's name (under flake8, RPT000 on every file)."""
    root = tmp_path.resolve()
    (root / "pyproject.toml").write_text("[tool.raptor-lint]\nx = " + "[" * 50_000 + "]" * 50_000 + "\n")
    (root / "app.py").write_text("import os\n")
    expected = f"{root / 'pyproject.toml'}: invalid TOML: nested too deeply to read\n"
    cli = _cli(root, "check", ".")
    assert (cli.returncode, cli.stdout, cli.stderr) == (2, "", f"raptor-lint: error: {expected}")
    flake8 = _flake8(root, "--select", "RPT", "app.py")
    assert (flake8.returncode, flake8.stdout, flake8.stderr) == (2, "", f"flake8: raptor-lint: error: {expected}")
