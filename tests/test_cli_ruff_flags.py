"""Issue 17: the flags Ruff users reach for, with Ruff's behaviour -- --statistics,
--output-file/-o, --quiet/--silent, --show-fixes, --extend-select/--extend-ignore,
--show-settings, `rule --all`, `rule --format json`, `raptor-lint clean`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from conftest import run_cli

MUTATION = "_store = {}\n\n\ndef remember(key):\n    _store[key] = 1\n"
DEPLOY = "heroku config:set A=1\nheroku config:set B=1\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\nignore = ['RPT5']\n")
    (tmp_path / "app.py").write_text(MUTATION)
    (tmp_path / "deploy.sh").write_text(DEPLOY)
    return tmp_path


def test_statistics_counts_each_rule_most_frequent_first_with_the_fixable_marker(project: Path) -> None:
    proc = run_cli("check", "--no-cache", "--statistics", ".", cwd=project)
    assert proc.returncode == 1
    assert proc.stdout.decode() == ("2\tRPT601\t[*] heroku-config-set-not-silenced\n"
                                    "1\tRPT101\t[ ] module-state-mutated-after-fork\n")
    as_json = run_cli("check", "--no-cache", "--statistics", "--format", "json", ".", cwd=project)
    assert json.loads(as_json.stdout) == [
        {"code": "RPT601", "name": "heroku-config-set-not-silenced", "count": 2, "fixable": True},
        {"code": "RPT101", "name": "module-state-mutated-after-fork", "count": 1, "fixable": False},
    ]
    refused = run_cli("check", "--statistics", "--format", "sarif", ".", cwd=project)
    assert refused.returncode == 2 and refused.stderr.count(b"\n") == 1


def test_output_file_gets_the_report_and_stdout_stays_empty(project: Path) -> None:
    report = project / "out" / "report.json"
    report.parent.mkdir()
    proc = run_cli("check", "--no-cache", "--format", "json", "-o", "out/report.json", ".", cwd=project)
    assert (proc.returncode, proc.stdout, proc.stderr) == (1, b"", b"")
    assert [f["code"] for f in json.loads(report.read_text())] == ["RPT101", "RPT601", "RPT601"]
    umask = os.umask(0)
    os.umask(umask)
    assert report.stat().st_mode & 0o777 == 0o666 & ~umask  # a new file, not mkstemp's 0600
    assert [p.name for p in report.parent.iterdir()] == ["report.json"]  # no temporary left


def test_quiet_prints_the_findings_only_and_silent_nothing(project: Path) -> None:
    quiet = run_cli("check", "--no-cache", "-q", ".", cwd=project)
    assert quiet.returncode == 1
    assert [line.split(" ", 2)[:2] for line in quiet.stdout.decode().splitlines()] == [
        ["app.py:5:5:", "RPT101"], ["deploy.sh:1:1:", "RPT601"], ["deploy.sh:2:1:", "RPT601"]]
    silent = run_cli("check", "--no-cache", "--silent", ".", cwd=project)
    assert (silent.returncode, silent.stdout, silent.stderr) == (1, b"", b"")


def test_show_fixes_lists_available_fixes_and_with_fix_the_applied_ones(project: Path) -> None:
    listed = run_cli("check", "--no-cache", "--show-fixes", "deploy.sh", cwd=project)
    assert listed.stdout.decode().splitlines()[:2] == [
        "deploy.sh:1:1: RPT601 " + listed.stdout.decode().split(" RPT601 ", 1)[1].split("\n", 1)[0],
        "    fix (safe, --fix): append ` >/dev/null 2>&1`",
    ]
    fixed = run_cli("check", "--fix", "--show-fixes", ".", cwd=project)
    assert fixed.returncode == 1
    assert fixed.stderr.decode().splitlines() == [
        "Fixed 2 findings in 1 file.",
        "Fixed 2 findings:",
        "- deploy.sh:",
        "    2 × RPT601 (heroku-config-set-not-silenced)",
    ]


def test_extend_select_and_extend_ignore_add_to_the_configuration(project: Path) -> None:
    ignored = run_cli("check", "--no-cache", "--extend-ignore", "RPT6", ".", cwd=project)
    assert [line.split()[1] for line in ignored.stdout.decode().splitlines()[:-1]] == ["RPT101"]
    # The configured ignore (RPT5) still applies; --ignore would have replaced it.
    settings = run_cli("check", "--show-settings", "--extend-ignore", "RPT6", ".", cwd=project).stdout.decode()
    [line] = [line for line in settings.splitlines() if line.startswith("ignore = ")]
    assert line.split("#")[0].strip() == 'ignore = ["RPT5", "RPT6"]' and line.endswith("# command line")
    bad = run_cli("check", "--extend-select", "RPT9", ".", cwd=project)
    assert bad.stderr == b"raptor-lint: error: --extend-select: unknown rule code 'RPT9' (see `raptor-lint rules`)\n"


def test_show_settings_lints_nothing_and_exits_0(project: Path) -> None:
    proc = run_cli("check", "--show-settings", ".", cwd=project)
    assert proc.returncode == 0 and b"RPT101" not in proc.stdout
    assert f"{project.resolve()}".encode() in proc.stdout and b"ignore = " in proc.stdout


def test_rule_all_and_rule_json() -> None:
    every = run_cli("rule", "--all")
    assert every.returncode == 0
    assert every.stdout.decode().count("\n# RPT") + 1 == len(run_cli("rules").stdout.splitlines()) - 1
    one = json.loads(run_cli("rule", "--format", "json", "rpt101").stdout)
    assert (one["code"], one["name"], one["fix"]) == ("RPT101", "module-state-mutated-after-fork", None)
    assert one["explanation"].startswith("# RPT101 ") and "## Why" in one["explanation"]
    listing = json.loads(run_cli("rule", "--all", "--format", "json").stdout)
    assert {"RPT101", "RPT601"} <= {rule["code"] for rule in listing}
    # Neither a code nor --all: the message asks for one, it does not say "not both".
    for args in (("rule",), ("rule", "--format", "json")):
        refused = run_cli(*args)
        assert (refused.returncode, refused.stderr.decode()) == (
            2, "raptor-lint: error: give a rule code (e.g. `raptor-lint rule RPT101`) or --all\n")
    both = run_cli("rule", "--all", "RPT101")
    assert (both.returncode, both.stderr.decode()) == (2, "raptor-lint: error: give a rule code or --all, not both\n")


def test_clean_removes_the_cache(project: Path) -> None:
    from raptor_lint.cache import clear_cache
    from raptor_lint.config import load_config

    assert run_cli("check", ".", cwd=project).returncode == 1  # fills the cache
    proc = run_cli("clean", cwd=project)
    assert proc.returncode == 0 and proc.stdout.startswith(b"Removed ")
    assert clear_cache(load_config(start=project)) == []  # nothing left to remove
    assert run_cli("clean", cwd=project).stdout.startswith(b"No cache to remove")


def test_output_file_takes_the_report_of_fix_on_standard_input(project: Path) -> None:
    """`--fix -`: the fixed source is stdout; with -o the remaining findings go to the file."""
    proc = run_cli("check", "--fix", "--stdin-filename", "app.py", "-o", "report.txt", "-", cwd=project,
                   input=MUTATION.encode())
    assert proc.returncode == 1
    assert proc.stdout == MUTATION.encode()
    assert proc.stderr == b"Fixed 0 findings in 0 files.\n"
    assert (project / "report.txt").read_text().splitlines()[-1] == "Found 1 finding in 1 file checked."


def test_ruffs_output_format_spelling_is_accepted(project: Path) -> None:
    proc = run_cli("check", "--no-cache", "--output-format", "json", "app.py", cwd=project)
    assert proc.returncode == 1 and [f["code"] for f in json.loads(proc.stdout)] == ["RPT101"]
