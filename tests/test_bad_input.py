"""Bad input never produces a traceback: each case has a clear message and the exit
status SPEC §4 gives (a file problem is a finding — E999 unparsable or undecodable,
E902 unreadable, exit 1; a configuration or usage problem is one line on stderr,
exit 2; a file raptor-lint will not lint is RPT000, exit 2).

Odd-but-valid files (BOM, CRLF, lone CR, form feeds, tabs) must lint exactly like
their plain form: checked for the bad example of every Python rule in the
registry, so rule families that land later are covered too.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import BIN
from raptor_lint.config import Config
from raptor_lint.discovery import file_kind
from raptor_lint.engine import MAX_FILE_CHARS, Engine
from raptor_lint.registry import all_rules

PYTHON_RULES = [rule for rule in all_rules().values()
                if rule.example_path.endswith(".py") and not rule.example_project]


def raptor_lint(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(BIN / "raptor-lint"), *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stdout
    return proc


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("raptor-lint: error: "), proc.stderr
    return lines[0]


# ------------------------------------------------------------------ bad files

# name -> (bytes, expected code, a regex the message must match, line, column)
BAD_FILES = {
    "syntax_error.py": (b"import os\n\ndef handler(:\n    pass\n", "E999", r"^SyntaxError: ", 3, 13),
    "null_bytes.py": (b"x = 1\ny = 2\x00\n", "E999", r"null bytes", 2, 6),
    "latin1.py": (b'NAME = "caf\xe9"\n', "E999",
                  r"not valid UTF-8 and declares no other encoding \(PEP 263\): byte e9", 1, 12),
    "utf16.py": ("x = 1\n".encode("utf-16"), "E999", r"not valid UTF-8.*UTF-16 byte-order mark", 1, 1),
    "bad_cookie.py": (b"# -*- coding: klingon -*-\nx = 1\n", "E999", r"unknown encoding: klingon", 1, 1),
    "wrong_cookie.py": (b'# coding: ascii\nNAME = "caf\xc3\xa9"\n', "E999",
                        r"not valid ascii \(the encoding it declares\)", 2, 12),
    "binary.py": (bytes(range(256)) * 64, "E999", r"not valid UTF-8.*byte 80 at offset 128", 2, 118),
    "deep_unary.py": (b"x = " + b"-" * 5000 + b"a\n", "E999", r"too deeply nested", 1, 1),
    "deep_parens.py": (b"x = " + b"(" * 5000 + b"1" + b")" * 5000 + b"\n", "E999",
                       r"too many nested parentheses", 1, None),
    "deep_calls.py": (b"x = " + b"f(" * 5000 + b")" * 5000 + b"\n", "E999", r"nested", 1, None),
}


@pytest.fixture(scope="module")
def bad_tree(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("bad_input")
    (root / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    for name, (data, *_rest) in BAD_FILES.items():
        (root / name).write_bytes(data)
    (root / "empty.py").write_bytes(b"")
    (root / "deep_and.py").write_text("ok = " + " and ".join(f"a{i}" for i in range(5000)) + "\n")
    # A directory named like a module: walked, never opened as a file.
    (root / "x.py").mkdir()
    (root / "x.py" / "inside.py").write_bytes(b"def broken(:\n")
    os.symlink("loop.py", root / "loop.py")  # a symlink loop (to itself)
    os.symlink("ping.py", root / "pong.py")
    os.symlink("pong.py", root / "ping.py")
    os.mkfifo(root / "fifo.py")  # reading it would block forever
    return root


@pytest.fixture(scope="module")
def bad_run(bad_tree: Path) -> tuple[subprocess.CompletedProcess, dict[str, list[dict]]]:
    proc = raptor_lint("check", "--no-cache", "--format", "json", ".", cwd=bad_tree)
    by_file: dict[str, list[dict]] = {}
    for finding in json.loads(proc.stdout):
        by_file.setdefault(finding["path"], []).append(finding)
    return proc, by_file


def test_bad_files_are_findings_and_the_run_continues(bad_run) -> None:
    proc, _ = bad_run
    assert proc.returncode == 1, proc.stderr  # findings, no internal error
    assert proc.stderr == ""


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_each_bad_file_gets_a_clear_message_at_the_right_place(name: str, bad_run) -> None:
    _, by_file = bad_run
    data, code, pattern, line, column = BAD_FILES[name]
    [finding] = by_file[name]
    assert finding["code"] == code
    assert re.search(pattern, finding["message"]), finding["message"]
    assert finding["line"] == line
    if column is not None:
        assert finding["column"] == column
    assert "\n" not in finding["message"]


def test_symlink_loops_and_fifos_are_unreadable_files_not_hangs(bad_run) -> None:
    _, by_file = bad_run
    for name in ("loop.py", "ping.py", "pong.py"):
        [finding] = by_file[name]
        assert finding["code"] == "E902"
        assert finding["message"] == "cannot read file: Too many levels of symbolic links (OSError)"
    [fifo] = by_file["fifo.py"]
    assert fifo["code"] == "E902" and fifo["message"] == "cannot read file: not a regular file (a FIFO)"


def test_empty_file_directory_named_x_py_and_valid_deep_code(bad_run) -> None:
    _, by_file = bad_run
    assert "empty.py" not in by_file
    assert "x.py" not in by_file
    assert [f["code"] for f in by_file["x.py/inside.py"]] == ["E999"]
    # 5,000 `and` operands: valid Python (flat in `ast`; it crashes libcst, which is not on
    # the lint path).  test_reliability runs every family on such code.
    assert "deep_and.py" not in by_file


def test_named_fifo_and_named_directory(bad_tree: Path) -> None:
    # With the cache on: it reads (and hashes) every file before linting it.
    proc = raptor_lint("check", "fifo.py", "x.py", cwd=bad_tree)
    assert proc.returncode == 1
    assert "fifo.py:1:1: E902 cannot read file: not a regular file (a FIFO)" in proc.stdout
    assert "x.py/inside.py:1:12: E999 SyntaxError" in proc.stdout


def test_unreadable_file(tmp_path: Path, monkeypatch) -> None:
    """Tests run as root, and root reads any file whatever its mode: the permission
    failure is simulated by making ``os.open`` (what the engine reads files with)
    raise the PermissionError a non-root user gets."""
    target = tmp_path / "secret.py"
    target.write_text("x = 1\n")
    target.chmod(0)
    real_open = os.open

    def guarded_open(path, flags, *args, **kwargs):
        if Path(path) == target:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)
    result = Engine(Config(root=tmp_path)).lint_path(target, "python", "secret.py")
    [finding] = result.findings
    assert (finding.code, finding.line, finding.column) == ("E902", 1, 1)
    assert finding.message == "cannot read file: Permission denied (PermissionError)"


def test_a_10_mb_file_is_refused_quickly_with_a_clear_message(tmp_path: Path) -> None:
    big = tmp_path / "generated_table.py"
    row = "    ('raptor-{0:07d}', {0}, 'x' * 3),\n"
    with big.open("w", encoding="utf-8") as handle:
        handle.write("TABLE = [\n")
        for number in range(10_500_000 // len(row.format(0))):
            handle.write(row.format(number))
        handle.write("]\n")
    assert big.stat().st_size > 10_000_000
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    (tmp_path / "small.py").write_text("def broken(:\n", encoding="utf-8")
    proc = raptor_lint("check", "--no-cache", ".", cwd=tmp_path)
    assert proc.returncode == 2  # a file was not linted: the results are incomplete
    lines = proc.stdout.splitlines()
    assert lines[0] == (
        f"generated_table.py:1:1: RPT000 file not checked: it has {big.stat().st_size / 1e6:.1f} million "
        f"characters, more than raptor-lint's limit of {MAX_FILE_CHARS / 1e6:.0f} million for one file (a "
        "file this large is generated, and parsing it takes gigabytes of memory) — exclude it from linting"
    )
    assert lines[1].startswith("small.py:1:12: E999 SyntaxError")  # the other file still linted
    excluded = raptor_lint("check", "--no-cache", "--config", "pyproject.toml", "small.py", cwd=tmp_path)
    assert excluded.returncode == 1


# ----------------------------------------------- odd but valid: lint like plain

def _lint(rule, data: bytes, tmp_path: Path) -> list[tuple[int, int, str]]:
    path = tmp_path / rule.example_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = Engine(Config(root=tmp_path)).lint_path(path, file_kind(path, explicit=True))
    finally:
        os.chdir(cwd)
    return [(f.line, f.column, f.code) for f in result.findings]


def _tabs(text: str) -> str:
    return re.sub(r"(?m)^((?:    )+)", lambda m: "\t" * (len(m.group(1)) // 4), text)


TRANSFORMS = {
    "crlf": lambda s: s.replace("\n", "\r\n").encode(),
    "lone-cr": lambda s: s.replace("\n", "\r").encode(),
    "utf8-bom": lambda s: b"\xef\xbb\xbf" + s.encode(),
    "form-feeds": lambda s: ("\x0c\n# section\n\x0c\n" + re.sub(r"(?m)^(def |class |@)", "\x0c\\1", s)).encode(),
    "tabs": lambda s: _tabs(s).encode(),
}


@pytest.mark.parametrize("transform", sorted(TRANSFORMS))
@pytest.mark.parametrize("rule", PYTHON_RULES, ids=lambda r: r.code)
def test_odd_but_valid_source_lints_like_the_plain_form(rule, transform: str, tmp_path: Path) -> None:
    plain = _lint(rule, rule.bad.encode(), tmp_path / "plain")
    assert rule.code in {code for _, _, code in plain}
    odd = _lint(rule, TRANSFORMS[transform](rule.bad), tmp_path / "odd")
    if transform == "form-feeds":
        plain = [(line + 3, column, code) for line, column, code in plain]
    if transform in ("form-feeds", "tabs"):  # columns move with the whitespace before them
        plain = [(line, code) for line, _, code in plain]
        odd = [(line, code) for line, _, code in odd]
    assert odd == plain


def test_noqa_after_form_feeds_suppresses_the_right_line(tmp_path: Path) -> None:
    """str.splitlines() breaks at form feeds; the noqa lookup must count like the tokenizer."""
    rule = PYTHON_RULES[0]
    findings = _lint(rule, rule.bad.encode(), tmp_path / "plain")
    line = next(line for line, _, code in findings if code == rule.code)
    lines = rule.bad.split("\n")
    lines[line - 1] += f"  # noqa: {rule.code}"
    text = "\x0c\n\x0c\n" + "\n".join(lines)
    after = _lint(rule, text.encode(), tmp_path / "ff")
    assert (line + 2, rule.code) not in {(l, c) for l, _, c in after}
    assert len([c for _, _, c in after if c == rule.code]) == len([c for _, _, c in findings if c == rule.code]) - 1


# ------------------------------------------------------- configuration / usage

@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "app.py").write_text("import os\n", encoding="utf-8")
    return tmp_path


def test_invalid_toml_in_pyproject(project: Path) -> None:
    (project / "pyproject.toml").write_text('[tool.raptor-lint]\nselect = ["RPT1"\n', encoding="utf-8")
    line = one_line_error(raptor_lint("check", ".", cwd=project))
    assert "pyproject.toml: invalid TOML:" in line


def test_pyproject_whose_tool_key_is_not_a_table(project: Path) -> None:
    (project / "pyproject.toml").write_text("tool = 3\n", encoding="utf-8")
    line = one_line_error(raptor_lint("check", ".", cwd=project))
    assert line.endswith("pyproject.toml: 'tool' must be a table")


def test_invalid_yaml_in_the_config_manifest(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.raptor-lint]\nconfig-manifest = "vars.yaml"\n', encoding="utf-8")
    (project / "vars.yaml").write_text("vars:\n  - name: SECRET_KEY\n   - name: [unclosed\n", encoding="utf-8")
    (project / "app.py").write_text('import os\n\nKEY = os.environ["SECRET_KEY"]\n', encoding="utf-8")
    line = one_line_error(raptor_lint("check", ".", cwd=project))
    assert "vars.yaml: invalid YAML in the config manifest:" in line and "line " in line


def test_configured_migrations_directory_that_is_a_file(project: Path) -> None:
    (project / "pyproject.toml").write_text(
        '[tool.raptor-lint]\nmigrations-dir = "migrations/versions"\n', encoding="utf-8")
    (project / "migrations").mkdir()
    (project / "migrations" / "versions").write_text("not a directory\n", encoding="utf-8")
    line = one_line_error(raptor_lint("check", ".", cwd=project))
    assert "migrations-dir" in line and "is not a directory" in line


def test_default_migrations_directory_that_is_a_file_switches_the_rules_off(project: Path) -> None:
    (project / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    (project / "migrations").mkdir()
    (project / "migrations" / "versions").write_text("not a directory\n", encoding="utf-8")
    proc = raptor_lint("check", "--no-cache", ".", cwd=project)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""


def test_unknown_code_in_select(project: Path) -> None:
    line = one_line_error(raptor_lint("check", "--select", "RPT1,XYZ123", ".", cwd=project))
    assert "unknown rule code 'XYZ123'" in line


def test_nonexistent_path(project: Path) -> None:
    line = one_line_error(raptor_lint("check", "app.py", "no/such/dir", cwd=project))
    assert line == "raptor-lint: error: path does not exist: no/such/dir"


def test_a_device_named_on_the_command_line_is_not_read(tmp_path: Path) -> None:
    proc = raptor_lint("check", "--no-cache", "/dev/zero", cwd=tmp_path)
    assert proc.returncode == 1
    assert ":1:1: E902 cannot read file: not a regular file (a character device)" in proc.stdout
