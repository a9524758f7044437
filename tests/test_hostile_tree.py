"""A checkout written by an attacker (issue 18), linted whole: it ends, in bounded memory, with
every hostile file named in one finding, nothing written outside the project and no output a
log could mistake for a command.  The tree is generated (tests/hostile/make_tree.py): FIFOs,
device links and unlistable directories cannot be committed.

Runs drop CAP_DAC_OVERRIDE/CAP_DAC_READ_SEARCH when the suite runs as root (CI does), so a
mode-0 directory is unlistable there too, as it is for every other user."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "hostile"))
import make_tree  # noqa: E402
from conftest import without_permission_override  # noqa: E402

RAPTOR = [sys.executable, "-m", "raptor_lint"]
# The bound is 10 s on a quiet machine; a regression that hangs fails at this timeout.
TIMEOUT = 120
MEMORY_BOUND_KB = 600 * 1024

# Reports the peak memory of the linter (and its workers) on stderr's last line.
MEASURED = ("import resource, subprocess, sys\n"
            "code = subprocess.run(sys.argv[1:]).returncode\n"
            "print('maxrss-kb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
            "sys.exit(code)\n")


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    top = tmp_path_factory.mktemp("hostile")
    paths = make_tree.build(top)
    yield paths
    paths["secret"].chmod(0o755)  # let pytest remove it


def _run(args, cwd: Path, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache"),
           "NO_COLOR": "1", "PYTHONPATH": str(Path(__file__).parents[1])}
    env.pop("RAPTOR_LINT_CACHE_DIR", None)
    return subprocess.run([sys.executable, "-c", MEASURED, *RAPTOR, *args], cwd=cwd, env=env,
                          capture_output=True, timeout=TIMEOUT, preexec_fn=without_permission_override)


def _peak_kb(stderr: bytes) -> int:
    last = stderr.decode("utf-8", "replace").strip().splitlines()[-1]
    assert last.startswith("maxrss-kb "), last
    return int(last.split()[1])


def _outside_as_built(outside: Path) -> None:
    assert sorted(p.name for p in outside.iterdir()) == ["victim.py"]
    assert (outside / "victim.py").read_text() == make_tree.VICTIM


def _sane(result: subprocess.CompletedProcess) -> str:
    out = result.stdout.decode("utf-8", "surrogateescape")
    err = result.stderr.decode("utf-8", "surrogateescape")
    for text in (out, err):
        for marker in ("Traceback", "internal error", "MemoryError", "RecursionError", "RPT000"):
            assert marker not in text, text[-3000:]
    return out


def test_check_ends_in_bounded_memory_and_names_every_hostile_file(tree, tmp_path):
    app = tree["app"]
    result = _run(["check", ".", "-j", "2"], app, tmp_path)
    out = _sane(result)
    assert result.returncode == 1, result.stderr[-2000:]
    assert _peak_kb(result.stderr) < MEMORY_BOUND_KB
    lines = out.splitlines()
    e902 = {line.split(":", 1)[0] for line in lines if " E902 " in line}
    for name in ("app/fifo_module.py", "app/zero_module.py", "migrations/versions/0001_fifo.py",
                 "migrations/versions/0002_zero.py", "gunicorn_fifo.py", "gunicorn_zero.py"):
        assert name in e902, (name, sorted(e902))
    assert any(p.startswith("app/secret") for p in e902), sorted(e902)  # unlistable, not skipped
    assert any(p.startswith("app/deep/") for p in e902), sorted(e902)  # past PATH_MAX, not skipped
    # The hostile names reach the report as data: one line each, no raw control character.
    assert any("RPT101" in line and line.startswith("app/caf") for line in lines)
    assert not any(line.startswith("::") for line in lines)
    assert all(ch == "\t" or ch >= " " for line in lines for ch in line)
    # The committed `.raptor_lint_cache -> ../outside` is not where the cache goes.
    _outside_as_built(tree["outside"])


def test_machine_formats_survive_every_file_name(tree, tmp_path):
    app = tree["app"]
    for fmt in ("json", "sarif"):
        result = _run(["check", ".", "--format", fmt, "--no-cache"], app, tmp_path)
        out = _sane(result)
        assert result.returncode == 1
        json.loads(out)
    github = _run(["check", ".", "--format", "github", "--no-cache"], app, tmp_path)
    out = _sane(github)
    assert github.returncode == 1
    commands = out.splitlines()
    assert commands and all(line.startswith(("::error ", "::warning ", "::notice ")) for line in commands)
    assert not any(line.startswith("::warning file=x.py") for line in commands)
    _outside_as_built(tree["outside"])


def test_fix_writes_nothing_outside_the_project(tree, tmp_path):
    app = tree["app"]
    result = _run(["check", ".", "--fix", "--unsafe-fixes", "--no-cache"], app, tmp_path)
    _sane(result)
    assert result.returncode == 1
    _outside_as_built(tree["outside"])


@pytest.mark.parametrize("project, culprit", [("poison_pyproject", "pyproject.toml"),
                                              ("poison_manifest", "required-config-vars.yaml"),
                                              ("poison_sparse_manifest", "required-config-vars.yaml")])
def test_hostile_configuration_is_one_line_naming_the_file(tree, tmp_path, project, culprit):
    result = _run(["check", ".", "--no-cache"], tree[project], tmp_path)
    out = _sane(result)
    err = result.stderr.decode("utf-8", "replace").strip().splitlines()[:-1]  # minus maxrss
    assert result.returncode in (1, 2)
    said = [line for line in err + out.splitlines() if culprit in line]
    assert len(said) == 1, (err, out[-2000:])
    assert len(said[0]) <= 200
