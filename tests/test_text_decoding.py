"""Non-Python files are never E999 (SPEC §7): bytes that are not UTF-8 are kept as
surrogates and written back unchanged by --fix, and a shell script with a binary payload
after its `exit` (a self-extracting installer) is linted up to the payload.  Python
decoding is unchanged (tests/test_bad_input.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from raptor_lint.cli import main
from raptor_lint.config import Config
from raptor_lint.engine import Engine
from raptor_lint.source import decode_text, encode_text, text_payload_start

LATIN1_SCRIPT = (
    "#!/bin/sh\r\n"
    "# Recette : \xe9quipe plateforme, r\xe9vis\xe9 en ao\xfbt\r\n"
    "heroku config:set SECRET_KEY=\"$KEY\" --app recette  # caf\xe9\r\n"
    "echo termin\xe9\r\n"
).encode("latin-1")

HEADER = (
    b"#!/bin/sh\n"
    b"tail -n +8 \"$0\" | tar -xz -C /opt/app\n"
    b"heroku config:set VERSION=2 --app x\n"
    b"if [ ! -d /opt/app ]; then\n"
    b"  exit 1\n"
    b"fi\n"
    b"exit 0\n"
)
PAYLOAD = b"\x1f\x8b\x08\x00\xff\xfe\x00heroku config:set NOT_A_COMMAND=1\n\x80\x00" + bytes(range(256))


def _project(tmp_path: Path, files: dict[str, bytes]) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    for name, data in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(data)
    return tmp_path


def _check(project: Path, *args: str):
    return CliRunner().invoke(main, ["check", "--no-cache", "--select", "RPT6", "--format", "json", *args,
                                     str(project)])


def test_latin1_comment_is_linted_and_fixed_byte_for_byte(tmp_path: Path) -> None:
    project = _project(tmp_path, {"scripts/provision.sh": LATIN1_SCRIPT})
    result = _check(project)
    assert result.exit_code == 1
    assert '"code": "RPT601"' in result.output and "E999" not in result.output
    fixed = CliRunner().invoke(main, ["check", "--no-cache", "--select", "RPT6", "--fix", str(project)])
    assert fixed.exit_code == 0, fixed.output
    assert (project / "scripts/provision.sh").read_bytes() == LATIN1_SCRIPT.replace(
        b"--app recette  #", b"--app recette >/dev/null 2>&1  #")  # Latin-1 bytes and CRLF kept


def test_binary_payload_after_exit_is_not_linted_and_is_kept(tmp_path: Path) -> None:
    project = _project(tmp_path, {"install.sh": HEADER + PAYLOAD})
    engine = Engine(Config(root=project))
    findings = engine.lint_path(project / "install.sh", "shell").findings
    assert [(f.line, f.column, f.code) for f in findings] == [(3, 1, "RPT601")]  # not the payload's text
    fixed = CliRunner().invoke(main, ["check", "--no-cache", "--select", "RPT6", "--fix", str(project)])
    assert fixed.exit_code == 0, fixed.output
    assert (project / "install.sh").read_bytes() == HEADER.replace(
        b"--app x\n", b"--app x >/dev/null 2>&1\n") + PAYLOAD


@pytest.mark.parametrize("kind, name", [
    ("shell", "s.sh"), ("makefile", "Makefile"), ("markdown", "README.md"), ("yaml", "ci.yml"),
    ("procfile", "Procfile"),
])
@pytest.mark.parametrize("data", [
    bytes(range(256)) * 8,
    "x: caf\xe9\n".encode("latin-1"),
    "heroku config:set A=1\n".encode("utf-16"),
    b"\xef\xbb\xbf\xff\xfe\x00\x00exit 0\n\x00",
], ids=["all-bytes", "latin1", "utf16", "bom-and-nul"])
def test_non_python_files_are_never_e999(tmp_path: Path, kind: str, name: str, data: bytes) -> None:
    engine = Engine(Config(root=tmp_path))
    codes = [f.code for f in engine.lint_bytes(data, tmp_path / name, kind, name).findings]
    assert "E999" not in codes and "RPT000" not in codes


def test_python_decoding_is_unchanged(tmp_path: Path) -> None:
    engine = Engine(Config(root=tmp_path))
    (finding,) = engine.lint_bytes(b'NAME = "caf\xe9"\n', tmp_path / "a.py", "python", "a.py").findings
    assert finding.code == "E999"


@pytest.mark.parametrize("data, start", [
    (b"echo hi\n", None),  # no NUL: all text
    (b"echo hi\n\x00\x01", None),  # a NUL but no exit line before it: all text
    (b"echo hi\nexit 0\n\x1f\x8b\x00", 15),  # the line that holds the NUL
    (b"exit 1\r\necho later\r\nexit\r\n\x00", 26),  # CRLF
    (b"x\nexit 0  # done\n__ARCHIVE__\n\x00", 29),  # the marker line is text
    (b"x\nexit $?\x1f\x8b\x00", 11),  # the NUL on the exit line: cut at the NUL
    # CPython's test/archivetestdata/exe_with_zip: an `exit` inside an `if`, then the script goes
    # on (`exec` leaves it), then a zip archive whose first line holds no NUL.
    (b"if [ -z $1 ]; then\n  exit 4\nfi\nexec python - <<END\nEND\nPK\x03\x04\n\x00\x00", 60),
    (b"exit_code=1\n\x00", None),  # not an exit command
    (b"  exit\n\x00", 7),
    (b"x\n\x00\nexit 0\n\x00", None),  # the first NUL comes before any exit
])
def test_payload_rule(data: bytes, start: int | None) -> None:
    assert text_payload_start(data) == start


@pytest.mark.parametrize("data", [
    LATIN1_SCRIPT, HEADER + PAYLOAD, b"\xef\xbb\xbfecho caf\xc3\xa9 \xe9\n", bytes(range(256)) * 4, b"",
])
def test_decode_then_encode_gives_the_bytes_back(data: bytes) -> None:
    encoding = "utf-8-sig" if data.startswith(b"\xef\xbb\xbf") else "utf-8"
    assert encode_text(decode_text(data), encoding, data) == data
