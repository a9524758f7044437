"""Safety: raptor-lint never runs the code it checks, never hands input to a shell,
never damages a file, and survives its own cache being corrupted or deleted.

* Linted code is never imported or executed — checked through the CLI, the flake8
  plugin and in-process, on a project whose every module (package ``__init__``,
  a settings module a blueprint's prefix is resolved from, a migration, a
  ``setup.py``, a ``conftest.py``, a ``sitecustomize.py``) writes a file when run.
* YAML (config manifest, CI workflows) is read with a safe loader: a
  ``!!python/object/apply`` tag is an error, never a call.
* No shell: a scan of ``raptor_lint/`` for ``shell=True``, ``os.system``,
  ``os.popen``, ``eval``/``exec`` and subprocess calls whose command is not an
  argument list; ``--base`` with shell metacharacters runs nothing.
* ``--fix`` writes a temporary file and renames it over the original (a new
  inode), keeping mode and line endings, leaves no temporary file behind, and
  never touches a file whose fix would not parse or whose write fails.
* The findings cache survives corrupt entries, being replaced by a file and
  being deleted in the middle of a run.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import BIN, REPO
from raptor_lint import engine as engine_module
from raptor_lint.config import Config, load_config
from raptor_lint.findings import Edit, Fix
from raptor_lint.registry import all_rules, checker_classes
from raptor_lint.rules.base import Checker, Rule
from raptor_lint.runner import CheckOptions, run_check

PACKAGE = REPO / "raptor_lint"


def _side_effect(tag: str) -> str:
    """Python that leaves a PWNED-<tag> file next to itself when executed."""
    return (f"import os as _os\n"
            f"open(_os.path.join(_os.path.dirname(_os.path.abspath(__file__)), 'PWNED-{tag}'), 'w').close()\n")


def _pwned(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("PWNED*"))


def _run(args: list[str], cwd: Path, **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300, **kwargs)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


# --------------------------------------------------------- never executed

@pytest.fixture
def booby_trapped(tmp_path: Path) -> Path:
    root = tmp_path / "svc_project"
    (root / "svc" / "routes").mkdir(parents=True)
    (root / "migrations" / "versions").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "svc"\n\n[tool.raptor-lint]\n', encoding="utf-8")
    (root / "svc" / "__init__.py").write_text(_side_effect("package") + textwrap_factory(), encoding="utf-8")
    (root / "svc" / "settings.py").write_text(
        _side_effect("settings") + 'API = "/api"\nFLAG = "FLAG_BETA_PREVIEW"\n', encoding="utf-8")
    (root / "svc" / "routes" / "__init__.py").write_text(_side_effect("routes"), encoding="utf-8")
    (root / "svc" / "routes" / "orders.py").write_text(
        _side_effect("orders")
        + "from flask import Blueprint, current_app\n"
        + "from svc.settings import API\n\n"
        + 'bp = Blueprint("orders", __name__, url_prefix=API + "/orders")\n'
        + "_seen = {}\n\n\n"
        + '@bp.route("/<int:order_id>")\n'
        + "def show(order_id):\n"
        + "    _seen[order_id] = True\n"
        + '    current_app.extensions["redis_client"].set(f"order:{order_id}", 1)\n'
        + "    return {}\n",
        encoding="utf-8")
    (root / "migrations" / "versions" / "0001_init.py").write_text(
        _side_effect("migration") + 'revision = "0001"\ndown_revision = None\n\n\n'
        + "def upgrade():\n    pass\n", encoding="utf-8")
    (root / "setup.py").write_text(_side_effect("setup"), encoding="utf-8")
    (root / "conftest.py").write_text(_side_effect("conftest"), encoding="utf-8")
    (root / "sitecustomize.py").write_text(_side_effect("sitecustomize"), encoding="utf-8")
    return root


def textwrap_factory() -> str:
    return ("from flask import Flask\n\n\n"
            "def create_app():\n"
            "    import os\n"
            "    app = Flask(__name__)\n"
            '    app.config["BETA"] = os.environ.get("FLAG_BETA_PREVIEW")\n'
            "    return app\n")


def test_cli_never_imports_or_runs_the_linted_code(booby_trapped: Path) -> None:
    proc = _run([str(BIN / "raptor-lint"), "check", "--no-cache", "--format", "json", "."], booby_trapped)
    assert proc.returncode in (0, 1), proc.stderr
    assert [f for f in json.loads(proc.stdout) if f["code"] == "RPT000"] == []
    assert _pwned(booby_trapped) == []


def test_python_m_from_the_project_never_imports_its_modules_as_dependencies(booby_trapped: Path) -> None:
    """``python -m raptor_lint`` (how editors start ``lsp``) puts the working directory
    first on sys.path: project modules named like our dependencies must not shadow them."""
    for name in ("click", "yaml", "libcst", "sqlglot", "astroid", "pygls", "lsprotocol", "attrs", "cattrs"):
        (booby_trapped / f"{name}.py").write_text(_side_effect(f"shadow-{name}"), encoding="utf-8")
    proc = _run([sys.executable, "-m", "raptor_lint", "check", "--no-cache", "--format", "json", "."],
                booby_trapped)
    assert proc.returncode in (0, 1), proc.stderr
    assert [f for f in json.loads(proc.stdout) if f["code"] == "RPT000"] == []
    assert _pwned(booby_trapped) == []


def test_flake8_plugin_never_imports_or_runs_the_linted_code(booby_trapped: Path) -> None:
    proc = _run([str(BIN / "flake8"), "--select", "RPT", "."], booby_trapped)
    assert proc.returncode in (0, 1), proc.stderr
    assert "RPT000" not in proc.stdout
    assert _pwned(booby_trapped) == []


def test_in_process_linting_loads_no_module_of_the_project(booby_trapped: Path, monkeypatch) -> None:
    monkeypatch.chdir(booby_trapped)
    monkeypatch.syspath_prepend(str(booby_trapped))  # even importable, it is never imported
    before = set(sys.modules)
    result = run_check(load_config(start=booby_trapped), CheckOptions(paths=[Path(".")], use_cache=False))
    assert result.files and not result.has_internal_error
    assert not any(name == "svc" or name.startswith("svc.") for name in set(sys.modules) - before)
    assert _pwned(booby_trapped) == []


# ------------------------------------------------------------------- YAML

def _safe_loader_subclasses(trees: list[ast.Module]) -> set[str]:
    """Names of the package's own loader classes built on yaml's SafeLoader (safe_yaml's
    bounded loader): loading with them is loading with a safe loader."""
    safe = {"SafeLoader", "CSafeLoader"}
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                    (base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", None)) in safe
                    for base in node.bases):
                safe.add(node.name)
    return safe


def test_yaml_is_only_read_with_a_safe_loader() -> None:
    offending = []
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(PACKAGE.rglob("*.py"))}
    safe_names = _safe_loader_subclasses(list(trees.values()))
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            name = node.func.attr
            loader = next((k.value for k in node.keywords if k.arg == "Loader"), None)
            safe_loader = ((isinstance(loader, ast.Attribute) and loader.attr in safe_names)
                           or (isinstance(loader, ast.Name) and loader.id in safe_names))
            if name in ("unsafe_load", "full_load", "unsafe_load_all", "full_load_all") or (
                    name in ("load", "load_all") and isinstance(node.func.value, ast.Name)
                    and node.func.value.id == "yaml" and not safe_loader):
                offending.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert offending == []


def test_python_tags_in_yaml_are_never_constructed(tmp_path: Path) -> None:
    payload = f"!!python/object/apply:os.system ['touch {tmp_path / 'PWNED-yaml'}']"
    (tmp_path / "pyproject.toml").write_text('[tool.raptor-lint]\nconfig-manifest = "vars.yaml"\n', encoding="utf-8")
    (tmp_path / "vars.yaml").write_text(f"vars:\n  - name: {payload}\n", encoding="utf-8")
    (tmp_path / "app.py").write_text('import os\n\nKEY = os.environ.get("SECRET_KEY")\n', encoding="utf-8")
    workflows = tmp_path / ".github" / "workflows"
    workflows.mkdir(parents=True)
    (workflows / "deploy.yml").write_text(
        f"on: push\nx: {payload}\njobs:\n  deploy:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: heroku config:set SECRET_KEY=abc --app raxx\n", encoding="utf-8")
    proc = _run([str(BIN / "raptor-lint"), "check", "--no-cache", "."], tmp_path)
    assert proc.returncode == 2 and "vars.yaml: invalid YAML in the config manifest" in proc.stderr
    (tmp_path / "vars.yaml").write_text("vars:\n  - name: SECRET_KEY\n", encoding="utf-8")
    proc = _run([str(BIN / "raptor-lint"), "check", "--no-cache", "."], tmp_path)
    assert proc.returncode in (0, 1) and "RPT000" not in proc.stdout, proc.stdout + proc.stderr
    assert _pwned(tmp_path) == []


# ------------------------------------------------------------------ shell

FORBIDDEN_CALLS = {
    ("os", "system"), ("os", "popen"), ("os", "execv"), ("os", "execvp"), ("os", "execl"), ("os", "execlp"),
    ("os", "spawnl"), ("os", "spawnv"), ("os", "posix_spawn"), ("pty", "spawn"), ("runpy", "run_path"),
    ("runpy", "run_module"), ("subprocess", "getoutput"), ("subprocess", "getstatusoutput"),
}
SUBPROCESS_CALLS = {"run", "call", "check_call", "check_output", "Popen"}


def test_no_shell_no_eval_and_every_command_is_an_argument_list() -> None:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        where = path.relative_to(REPO)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id in ("eval", "exec", "__import__"):
                problems.append(f"{where}:{node.lineno}: {func.id}()")
            if not isinstance(func, ast.Attribute) or not isinstance(func.value, ast.Name):
                continue
            if (func.value.id, func.attr) in FORBIDDEN_CALLS:
                problems.append(f"{where}:{node.lineno}: {func.value.id}.{func.attr}()")
            if any(k.arg == "shell" and not (isinstance(k.value, ast.Constant) and k.value.value is False)
                   for k in node.keywords):
                problems.append(f"{where}:{node.lineno}: shell=")
            if func.value.id == "subprocess" and func.attr in SUBPROCESS_CALLS:
                command = node.args[0] if node.args else next(
                    (k.value for k in node.keywords if k.arg == "args"), None)
                if not isinstance(command, (ast.List, ast.Tuple)):
                    problems.append(f"{where}:{node.lineno}: subprocess.{func.attr} without a literal argument list")
    assert problems == []


@pytest.mark.parametrize("ref", ["HEAD; touch PWNED-semicolon", "$(touch PWNED-subst) `touch PWNED-backtick`"])
def test_base_ref_with_shell_metacharacters_runs_nothing(tmp_path: Path, ref: str) -> None:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git not installed")
    (tmp_path / "app.py").write_text("import os\n", encoding="utf-8")
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "init"]):
        subprocess.run([git, *args], cwd=tmp_path, check=True, capture_output=True, env=env)
    proc = _run([str(BIN / "raptor-lint"), "check", "--no-cache", f"--base={ref}", "."], tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert _pwned(tmp_path) == []


# -------------------------------------------------------------------- fix

FIXABLE_PYTHON = [r for r in all_rules().values() if r.fixable and r.example_path.endswith(".py")
                  and not r.example_project]


@pytest.fixture
def fixable_file(tmp_path: Path) -> tuple[Path, Path]:
    if not FIXABLE_PYTHON:
        pytest.skip("no fixable Python rule has landed yet")
    rule = FIXABLE_PYTHON[0]
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    target = tmp_path / rule.example_path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(rule.bad.replace("\n", "\r\n").encode("utf-8"))
    target.chmod(0o751)
    return tmp_path, target


def _temporaries(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.name.startswith(".") and p.name.endswith(".tmp")]


def test_fix_renames_a_temporary_file_keeping_mode_and_line_endings(fixable_file) -> None:
    root, target = fixable_file
    before = target.read_bytes()
    inode = target.stat().st_ino
    proc = _run([str(BIN / "raptor-lint"), "check", "--no-cache", "--fix", "."], root)
    assert proc.returncode in (0, 1), proc.stderr
    after = target.read_bytes()
    assert after != before
    assert target.stat().st_ino != inode  # replaced by a rename, not rewritten in place
    assert oct(target.stat().st_mode & 0o777) == oct(0o751)
    assert after.count(b"\n") == after.count(b"\r\n")  # CRLF everywhere, as before
    ast.parse(after.decode("utf-8"))
    assert _temporaries(root) == []


class BreaksTheParse(Checker):
    """A family whose fix would leave the file unparsable."""

    family = "Bad fix (test)"
    rules = (Rule("RPT994", "bad-fix", "test", "test", "test", "x = 1", "x = 1", fixable=True),)

    def check(self, ctx):
        fix = Fix("open a bracket", (Edit(1, 1, 1, 1, "("),))
        yield ctx.finding("RPT994", (1, 1), "always fires", fix=fix)


def _with_family(monkeypatch, family: type[Checker]) -> None:
    classes = (*checker_classes(), family)
    monkeypatch.setattr(engine_module, "checker_classes", lambda: classes)


def _snapshot(path: Path) -> tuple:
    info = path.stat()
    return path.read_bytes(), info.st_ino, info.st_mtime_ns, info.st_mode


def test_fix_never_touches_a_file_whose_fix_would_not_parse(tmp_path: Path, monkeypatch) -> None:
    _with_family(monkeypatch, BreaksTheParse)
    target = tmp_path / "app.py"
    target.write_text("import os\n\nVALUE = os.environ.get('X')\n", encoding="utf-8")
    before = _snapshot(target)
    monkeypatch.chdir(tmp_path)
    result = run_check(Config(root=tmp_path), CheckOptions(paths=[Path(".")], fix=True, use_cache=False))
    assert [f.code for f in result.findings] == ["RPT994"]  # reported, not applied
    assert _snapshot(target) == before
    assert _temporaries(tmp_path) == []


def test_a_write_that_fails_midway_leaves_the_original_intact(fixable_file, monkeypatch) -> None:
    root, target = fixable_file
    before = _snapshot(target)

    def disk_full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", disk_full)
    monkeypatch.chdir(root)
    result = run_check(load_config(start=root), CheckOptions(paths=[Path(".")], fix=True, use_cache=False))
    assert any("No space left on device" in note for note in result.notes), result.notes
    assert _snapshot(target) == before
    assert _temporaries(root) == []


# ------------------------------------------------------------------ cache

@pytest.fixture
def cached_project(tmp_path: Path) -> Path:
    rules = [r for r in all_rules().values() if r.example_path.endswith(".py") and not r.example_project]
    if not rules:
        pytest.skip("no Python rule has landed yet")
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\ncache-dir = \".raptor_lint_cache\"\n",
                                             encoding="utf-8")  # the cache in reach of these tests
    for index, rule in enumerate(rules[:6]):
        (tmp_path / f"module_{index}.py").write_text(rule.bad, encoding="utf-8")
    return tmp_path


def _check(root: Path, *extra: str) -> tuple[int, str]:
    """(exit status, text output) of a check run, in-process (as the CLI computes them)."""
    from raptor_lint.formats import renderer

    cwd = os.getcwd()
    os.chdir(root)
    try:
        config = load_config(start=root)
        result = run_check(config, CheckOptions(paths=[Path(".")], use_cache="--no-cache" not in extra, jobs=1))
        status = 2 if result.has_internal_error else 1 if result.findings else 0
        return status, renderer("text")(result, config)
    finally:
        os.chdir(cwd)


def test_cache_survives_corruption_and_replacement_by_a_file(cached_project: Path) -> None:
    reference = _check(cached_project, "--no-cache")
    assert _check(cached_project) == reference  # fills the cache
    cache = cached_project / ".raptor_lint_cache"
    entries = [p for p in cache.rglob("*.json")]
    assert entries
    for number, entry in enumerate(entries):
        entry.write_bytes([b"", b"{", b"\x00\xff garbage", b'{"findings": 3}', b"[]"][number % 5])
    assert _check(cached_project) == reference
    for entry in cache.rglob("*.json"):
        entry.unlink()
        entry.mkdir()  # an entry that cannot even be opened as a file
    assert _check(cached_project) == reference
    shutil.rmtree(cache)
    cache.write_text("not a directory\n", encoding="utf-8")
    assert _check(cached_project) == reference


def test_cache_deleted_in_the_middle_of_a_run(cached_project: Path, monkeypatch) -> None:
    reference = _check(cached_project, "--no-cache")
    _check(cached_project)  # fill the cache
    cache = cached_project / ".raptor_lint_cache"
    from raptor_lint import parallel

    real = parallel._lint_one
    calls = []

    def lint_one_then_delete(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            shutil.rmtree(cache, ignore_errors=True)
        return real(*args, **kwargs)

    monkeypatch.setattr(parallel, "_lint_one", lint_one_then_delete)
    for name in ("module_0.py", "module_1.py", "module_2.py"):  # misses: linted (and stored) again
        path = cached_project / name
        path.write_text(path.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    assert _check(cached_project) == reference
    assert len(calls) >= 2
