"""Issue 17: how a run ends when the world around it fails -- a reader that stops early, a
full disk, paths that are missing or that no rule reads, click's own usage errors."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from conftest import BIN, run_cli

MUTATION = "_store = {}\n\n\ndef remember(key):\n    _store[key] = 1\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n")
    (tmp_path / "app.py").write_text(MUTATION)
    return tmp_path


@pytest.mark.parametrize("output_format", ["text", "full", "json"])
def test_a_reader_that_stops_early_ends_the_run_quietly_with_its_usual_status(
        project: Path, output_format: str) -> None:
    """`raptor-lint check | head -1`: the reader is gone (here before the run writes a byte,
    so the write always meets the closed pipe); the run still exits 1 for its finding."""
    proc = subprocess.Popen([str(BIN / "raptor-lint"), "check", "--no-cache", "--format", output_format, "."],
                            cwd=project, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    stderr = proc.stderr.read()
    assert (proc.wait(timeout=300), stderr) == (1, b"")


def test_a_full_disk_on_standard_output_is_one_line_exit_2(project: Path) -> None:
    with open("/dev/full", "wb") as full:
        proc = subprocess.run([str(BIN / "raptor-lint"), "check", "--no-cache", "."], cwd=project,
                              stdout=full, stderr=subprocess.PIPE, timeout=300)
    assert proc.returncode == 2
    assert proc.stderr == b"raptor-lint: error: cannot write to standard output: No space left on device\n"


def test_a_full_disk_as_output_file_is_one_line_naming_it(project: Path) -> None:
    proc = run_cli("check", "--no-cache", "--output-file", "/dev/full", ".", cwd=project)
    assert proc.returncode == 2
    assert proc.stderr == b"raptor-lint: error: cannot write /dev/full: No space left on device\n"
    assert proc.stdout == b""
    assert Path("/dev/full").is_char_device()  # written into, never replaced by a regular file


def test_an_output_file_in_a_missing_directory_is_one_line(project: Path) -> None:
    proc = run_cli("check", "--no-cache", "-o", "no/such/dir/report.txt", ".", cwd=project)
    assert proc.returncode == 2
    assert proc.stderr == b"raptor-lint: error: cannot write no/such/dir/report.txt: No such file or directory\n"
    assert not (project / "no").exists()


def test_a_named_file_no_rule_reads_is_a_warning_and_not_counted(project: Path) -> None:
    (project / "data.csv").write_text("a,b\n1,2\n")
    proc = run_cli("check", "--no-cache", "data.csv", cwd=project)
    assert proc.returncode == 0
    assert proc.stderr == (b"raptor-lint: warning: data.csv: not a file raptor-lint checks "
                           b"(no rule reads .csv files); skipped\n")
    assert proc.stdout == b"No files checked.\n"
    # pre-commit hands over every staged file: with --force-exclude they are skipped silently.
    hook = run_cli("check", "--no-cache", "--force-exclude", "data.csv", cwd=project)
    assert (hook.returncode, hook.stdout, hook.stderr) == (0, b"No files checked.\n", b"")


def test_a_skipped_named_file_does_not_hide_the_others(project: Path) -> None:
    (project / "data.csv").write_text("a,b\n1,2\n")
    (project / "stub.pyi").write_text("x: int\n")
    proc = run_cli("check", "--no-cache", "data.csv", "app.py", "stub.pyi", cwd=project)
    assert proc.returncode == 1
    assert proc.stdout.decode().splitlines()[-1] == "Found 1 finding in 2 files checked."
    assert proc.stderr.count(b"\n") == 1 and b"data.csv" in proc.stderr


def test_every_missing_path_is_named(project: Path) -> None:
    proc = run_cli("check", "nope/", "app.py", "also_nope.py", cwd=project)
    assert proc.returncode == 2
    assert proc.stderr == b"raptor-lint: error: paths do not exist: nope, also_nope.py\n"
    assert proc.stdout == b""


@pytest.mark.parametrize(("args", "message"), [
    (["check", "-j", "0"],
     "raptor-lint: error: Invalid value for '--jobs' / '-j': 0 is not in the range x>=1. "
     "(see 'raptor-lint check --help')\n"),
    (["check", "--format", "xml"],
     "raptor-lint: error: Invalid value for '--format' / '--output-format': 'xml' is not one of 'text', 'full', "
     "'json', 'github', 'sarif'.\n"),
    (["nosuchcommand"], "raptor-lint: error: No such command 'nosuchcommand'. (see 'raptor-lint --help')\n"),
    (["check", "--base", ""], "raptor-lint: error: --base: empty git revision (give one, e.g. --base main)\n"),
    (["check", "--base", "  "], "raptor-lint: error: --base: empty git revision (give one, e.g. --base main)\n"),
])
def test_usage_errors_are_one_line_exit_2(project: Path, args: list[str], message: str) -> None:
    proc = run_cli(*args, cwd=project)
    assert (proc.returncode, proc.stderr.decode(), proc.stdout) == (2, message, b"")


def test_diff_prints_only_the_patch_on_stdout_and_the_count_on_stderr(tmp_path: Path) -> None:
    """What the README says --diff does (and Ruff does): the patch, then `Would fix` on stderr."""
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n")
    (tmp_path / "deploy.sh").write_text("heroku config:set A=1\n")
    proc = run_cli("check", "--diff", "deploy.sh", cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stdout.startswith(b"--- a/deploy.sh\n")
    assert proc.stderr == b"Would fix 1 finding in 1 file.\n"
    quiet = run_cli("check", "--diff", "--quiet", "deploy.sh", cwd=tmp_path)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (1, proc.stdout, b"")


def test_a_closed_standard_output_is_no_internal_error(project: Path) -> None:
    """`raptor-lint check >&-`: Python starts with no sys.stdout at all."""
    proc = subprocess.run([str(BIN / "raptor-lint"), "check", "--no-cache", "."], cwd=project,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=300,
                          preexec_fn=lambda: __import__("os").close(1))
    assert (proc.returncode, proc.stderr) == (1, b"")


def test_the_cli_runs_on_click_8_1_which_has_no_NoArgsIsHelpError(tmp_path, monkeypatch) -> None:
    """pyproject allows click 8.1, whose click.exceptions has no NoArgsIsHelpError: naming it
    in an except clause made every run, even a clean one, end in an AttributeError."""
    import importlib

    import click
    from click.testing import CliRunner

    import raptor_lint.cli

    monkeypatch.delattr(click.exceptions, "NoArgsIsHelpError", raising=False)
    cli = importlib.reload(raptor_lint.cli)
    try:
        (tmp_path / "ok.py").write_text("x = 1\n")
        monkeypatch.chdir(tmp_path)
        result = CliRunner().invoke(cli.main, ["check", "--no-cache", "ok.py"])
        assert (result.exit_code, result.output) == (0, "All checks passed (1 file checked).\n")
    finally:
        monkeypatch.undo()
        importlib.reload(raptor_lint.cli)
