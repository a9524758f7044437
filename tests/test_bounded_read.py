"""Issue 18: every file the linter reads is read bounded — never a hang, never a MemoryError.

Each case builds a real project (real FIFOs, real symlinks to ``/dev/zero``, real sparse
files) and runs ``raptor-lint check`` in a subprocess with a timeout, so a regression
fails the test instead of hanging the suite; the exact finding or message is asserted.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import BIN, without_permission_override
from raptor_lint.safe_read import MAX_FILE_BYTES, UnreadableFile, read_regular_file

# A hang shows as a timeout; a healthy run of these tiny projects takes about a second.
TIMEOUT_SECONDS = 60

FACTORY = textwrap.dedent('''\
    import os

    from flask import Flask


    def create_app():
        app = Flask(__name__)
        app.config["BETA"] = os.environ.get("FLAG_BETA") == "1"
        return app
''')
# Other rules' findings are compared by position and code only (their messages are not this
# file's subject); E902 lines and error lines are compared whole.
RPT501 = "app/__init__.py:8:41: RPT501"
STATE = "_store = {}\n\n\ndef put(k, v):\n    _store[k] = v\n"
RPT101 = "app/state.py:5:5: RPT101"
PROCFILE = "web: gunicorn -c gunicorn.conf.py app:app\n"
RPT602 = "Procfile:1:6: RPT602"
MANIFEST = "docs/ops/required-config-vars.yaml"
RUNBOOK = "docs/ops/runbook.md"


def make_project(root: Path, files: dict[str, str], settings: str = "") -> Path:
    """``files``: path -> text, or ``FIFO`` (a named pipe), or ``-> target`` (a symlink)."""
    (root / "pyproject.toml").write_text(f"[tool.raptor-lint]\n{settings}", encoding="utf-8")
    for relpath, content in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        if content == "FIFO":
            os.mkfifo(path)
        elif content.startswith("-> "):
            path.symlink_to(content[3:])
        else:
            path.write_text(content, encoding="utf-8")
    return root


def check(root: Path, *args: str, preexec_fn=None) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(BIN / "raptor-lint"), "check", "--no-cache", *args, "."], cwd=root,
                          capture_output=True, text=True, timeout=TIMEOUT_SECONDS, preexec_fn=preexec_fn)
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr
    return proc


def findings(proc: subprocess.CompletedProcess) -> list[str]:
    """The finding lines (the summary line dropped); RPT lines cut to ``path:line:col: CODE``."""
    assert proc.returncode == 1, (proc.stdout, proc.stderr)
    return [" ".join(line.split(" ", 2)[:2]) if " RPT" in line else line
            for line in proc.stdout.splitlines()[:-1]]


def error_line(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


# ------------------------------------------------------------------ FIFOs

def test_a_fifo_named_py_is_e902_and_the_cross_module_index_skips_it(tmp_path: Path) -> None:
    """Fork safety's caller index reads every module that may call ``put``: it opened the
    FIFO and waited for a writer forever."""
    make_project(tmp_path, {"app/__init__.py": "", "app/state.py": STATE, "app/stuck.py": "FIFO"})
    assert findings(check(tmp_path)) == [
        RPT101, "app/stuck.py:1:1: E902 cannot read file: not a regular file (a FIFO)"]


def test_a_fifo_migration_is_e902_not_a_hang(tmp_path: Path) -> None:
    make_project(tmp_path, {"app/__init__.py": FACTORY, "migrations/versions/001_init.py": "FIFO"})
    assert findings(check(tmp_path)) == [
        RPT501, "migrations/versions/001_init.py:1:1: E902 cannot read file: not a regular file (a FIFO)"]


def test_a_fifo_gunicorn_config_named_by_the_procfile_is_not_a_hang(tmp_path: Path) -> None:
    """The Procfile's ``-c`` file is read for ``preload_app``; unreadable counts as not set."""
    make_project(tmp_path, {"Procfile": PROCFILE, "gunicorn.conf.py": "FIFO"})
    assert findings(check(tmp_path)) == [
        RPT602, "gunicorn.conf.py:1:1: E902 cannot read file: not a regular file (a FIFO)"]


def test_a_fifo_runbook_is_one_line_naming_it(tmp_path: Path) -> None:
    """The configuration refuses it first; the runbook's reader would too (see the 1 GB case)."""
    make_project(tmp_path, {"app/__init__.py": FACTORY, RUNBOOK: "FIFO"}, f'runbook = "{RUNBOOK}"\n')
    line = error_line(check(tmp_path))
    assert line.startswith(f"raptor-lint: error: {tmp_path / 'pyproject.toml'}: ")
    assert f"runbook' = {tmp_path / RUNBOOK} is not a file" in line.replace("runbook =", "runbook' =")


def test_a_fifo_is_refused_by_the_reader_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.py")
    with pytest.raises(UnreadableFile) as caught:
        read_regular_file(tmp_path / "pipe.py")
    assert str(caught.value) == "not a regular file (a FIFO)"
    assert isinstance(caught.value, OSError)  # code that handles OSError keeps working


# ------------------------------------------------------------------ /dev/zero

def test_dev_zero_as_a_migration_is_e902_not_a_memory_error(tmp_path: Path) -> None:
    make_project(tmp_path, {"app/__init__.py": FACTORY, "migrations/versions/001_init.py": "-> /dev/zero"})
    assert findings(check(tmp_path)) == [
        RPT501, "migrations/versions/001_init.py:1:1: E902 cannot read file: not a regular file (a character device)"]


def test_dev_zero_as_a_module_read_for_cross_module_facts_is_e902(tmp_path: Path) -> None:
    make_project(tmp_path, {"app/__init__.py": "", "app/state.py": STATE, "app/worker.py": "-> /dev/zero"})
    assert findings(check(tmp_path)) == [
        RPT101, "app/worker.py:1:1: E902 cannot read file: not a regular file (a character device)"]


def test_dev_zero_as_the_gunicorn_config_is_not_a_memory_error(tmp_path: Path) -> None:
    make_project(tmp_path, {"Procfile": PROCFILE, "gunicorn.conf.py": "-> /dev/zero"})
    assert findings(check(tmp_path)) == [
        RPT602, "gunicorn.conf.py:1:1: E902 cannot read file: not a regular file (a character device)"]


# ------------------------------------------------------------------ YAML aliases

BILLION_LAUGHS = "\n".join(
    ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    + [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, 9)]
) + "\n"
CI = ".github/workflows/ci.yml"


def test_a_recursive_alias_in_a_ci_workflow_is_e902_at_the_alias(tmp_path: Path) -> None:
    make_project(tmp_path, {CI: "x: &a [*a]\n# heroku config:set\n"})
    assert findings(check(tmp_path)) == [
        f"{CI}:1:8: E902 YAML not read, its commands are not checked: recursive alias *a refers to the node "
        "that contains it"]


def test_a_billion_laughs_ci_workflow_is_e902_at_the_alias_past_the_limit(tmp_path: Path) -> None:
    make_project(tmp_path, {CI: BILLION_LAUGHS + "# heroku config:set\n"})
    assert findings(check(tmp_path)) == [
        f"{CI}:6:10: E902 YAML not read, its commands are not checked: aliases expand to more than 100,000 "
        'nodes (a "billion laughs" document?)']


def test_ci_anchors_and_merge_keys_are_still_read(tmp_path: Path) -> None:
    """A legitimate anchor (GitLab CI's ``<<: *defaults``) is expanded: the command under it
    is checked where it is written."""
    make_project(tmp_path, {".gitlab-ci.yml": textwrap.dedent("""\
        .defaults: &defaults
          script:
            - heroku config:set SECRET=$SECRET
        deploy:
          <<: *defaults
          stage: deploy
        """)})
    assert findings(check(tmp_path, "--select", "RPT601")) == [".gitlab-ci.yml:3:7: RPT601"]


def test_a_recursive_alias_in_the_manifest_is_one_line_naming_it(tmp_path: Path) -> None:
    make_project(tmp_path, {"app/__init__.py": "", MANIFEST: "vars: &a [*a]\n"})
    assert error_line(check(tmp_path)) == (
        f"raptor-lint: error: {tmp_path / MANIFEST}: config manifest not read: recursive alias *a refers to the "
        "node that contains it (line 1, column 11)")


def test_a_billion_laughs_manifest_is_one_line_naming_it(tmp_path: Path) -> None:
    make_project(tmp_path, {"app/__init__.py": "", MANIFEST: BILLION_LAUGHS + "vars: *a8\n"})
    assert error_line(check(tmp_path)) == (
        f"raptor-lint: error: {tmp_path / MANIFEST}: config manifest not read: aliases expand to more than "
        '100,000 nodes (a "billion laughs" document?) (line 6, column 10)')


def test_a_deeply_nested_manifest_is_one_line_naming_it_not_a_recursion_error(tmp_path: Path) -> None:
    make_project(tmp_path, {"app/__init__.py": "", MANIFEST: "vars: " + "[" * 5000 + "]" * 5000 + "\n"})
    assert error_line(check(tmp_path)) == (
        f"raptor-lint: error: {tmp_path / MANIFEST}: config manifest not read: nested deeper than 200 levels "
        "(line 1, column 206)")  # the top mapping is level 1


def test_a_manifest_nested_just_within_the_limit_loads() -> None:
    from raptor_lint.safe_yaml import MAX_DEPTH, safe_load

    assert safe_load("vars: " + "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)) is not None


# ------------------------------------------------------------------ size limits

def _peak_rss_mb_of(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess, float]:
    """Run ``args`` from a fresh Python whose only child it is, so RUSAGE_CHILDREN's peak is
    that run's alone (the test process's own children would pollute it)."""
    probe = textwrap.dedent("""\
        import json, resource, subprocess, sys
        proc = subprocess.run(sys.argv[1:], capture_output=True, text=True, timeout=%d)
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(json.dumps([proc.returncode, proc.stdout, proc.stderr, peak_kb]))
    """) % TIMEOUT_SECONDS
    outer = subprocess.run([sys.executable, "-c", probe, *args], cwd=cwd, capture_output=True, text=True,
                           timeout=TIMEOUT_SECONDS + 30)
    import json

    returncode, stdout, stderr, peak_kb = json.loads(outer.stdout)
    return subprocess.CompletedProcess(args, returncode, stdout, stderr), peak_kb / 1024


@pytest.mark.parametrize("relpath,setting,what", [
    (RUNBOOK, "runbook", "the runbook"),
    (MANIFEST, "config-manifest", "the config manifest"),
])
def test_a_1_gb_sparse_project_file_is_refused_without_reading_it(
        tmp_path: Path, relpath: str, setting: str, what: str) -> None:
    make_project(tmp_path, {"app/__init__.py": FACTORY, relpath: ""}, f'{setting} = "{relpath}"\n')
    os.truncate(tmp_path / relpath, 1 << 30)  # sparse: no disk used
    proc, peak_mb = _peak_rss_mb_of([str(BIN / "raptor-lint"), "check", "--no-cache", "."], tmp_path)
    assert error_line(proc) == (
        f"raptor-lint: error: {tmp_path / relpath}: cannot read {what}: larger than 16 MB (1024.0 MB)")
    assert peak_mb < 300, f"peak RSS {peak_mb:.0f} MB: the file was read"


def test_a_source_over_the_limit_is_e902_naming_the_limit(tmp_path: Path) -> None:
    make_project(tmp_path, {"app/__init__.py": "", "app/huge.py": ""})
    os.truncate(tmp_path / "app/huge.py", MAX_FILE_BYTES + 1)
    assert findings(check(tmp_path)) == [
        f"app/huge.py:1:1: E902 cannot read file: larger than 16 MB ({(MAX_FILE_BYTES + 1) / (1 << 20):.1f} MB)"]


def test_a_file_whose_size_the_os_does_not_report_is_still_capped() -> None:
    """``/proc`` files report size 0: the cap applies while reading, too."""
    with pytest.raises(UnreadableFile, match=r"^larger than 100 bytes$"):
        read_regular_file("/proc/self/maps", limit=100)  # /proc/self/maps is always longer


def test_the_limit_does_not_refuse_the_largest_file_the_engine_can_check() -> None:
    from raptor_lint.engine import MAX_FILE_CHARS

    assert MAX_FILE_BYTES >= 4 * MAX_FILE_CHARS + 3  # 4 bytes a character in UTF-8, and a BOM


# ------------------------------------------------------------------ quadratic regexes

def _seconds_in_child(statement: str, setup: str) -> float:
    """Time ``statement`` in a child process (a regression is slow, not a hang of the suite)."""
    code = f"import time\n{setup}\nstart = time.perf_counter()\n{statement}\nprint(time.perf_counter() - start)\n"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    assert proc.returncode == 0, proc.stderr
    return float(proc.stdout)


def test_a_200_kb_runbook_of_unclosed_comments_is_read_in_well_under_a_second(tmp_path: Path) -> None:
    """``re.sub(r"<!--.*?-->", …, flags=re.S)`` took 29 s on this."""
    make_project(tmp_path, {RUNBOOK: "<!--\n" * 40_000 + "FLAG_BETA\n"}, f'runbook = "{RUNBOOK}"\n')
    setup = (f"from pathlib import Path\nfrom raptor_lint.config import load_config\n"
             f"from raptor_lint.project import ProjectIndex\nfrom raptor_lint.project import runbook\n"
             f"project = ProjectIndex(load_config(Path({str(tmp_path)!r})))")
    seconds = _seconds_in_child("book = runbook.build(project)\nassert book.mentions('FLAG_BETA')", setup)
    assert seconds < 0.3, f"{seconds:.2f} s"  # measured: 0.002 s


def test_a_runbook_heading_with_200_kb_of_blanks_gets_its_fix_in_well_under_a_second() -> None:
    """RPT502's fix finds the checklist headings; the heading regex took 6 s on a 20 KB line."""
    setup = ("from raptor_lint.project.runbook import checklist_addition\n"
             "text = '# Env-bootstrap checklist\\n\\n# a' + ' ' * 200_000 + 'b\\n' + '## (' * 50_000 + '\\n'")
    seconds = _seconds_in_child("checklist_addition(text, 'FLAG_BETA', 'runbook.md')", setup)
    assert seconds < 0.3, f"{seconds:.2f} s"  # measured: 0.01 s


def test_the_linear_heading_parser_reads_what_the_regex_read() -> None:
    from raptor_lint.project.runbook import _atx_heading

    regex = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
    generator = random.Random(18)
    alphabet = ["#", "#", "#", " ", " ", "\t", "a", "(", "\v"]
    for _ in range(20_000):
        line = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 12)))
        match = regex.match(line)
        assert _atx_heading(line) == ((len(match.group(1)), match.group(2) or "") if match else None), repr(line)


def test_the_linear_comment_stripper_strips_what_the_regex_stripped() -> None:
    from raptor_lint.project.runbook import _without_parentheses, without_html_comments

    comments = re.compile(r"<!--.*?-->", re.S)
    parentheses = re.compile(r"\([^)]*\)")
    generator = random.Random(18)
    pieces = ["<!--", "-->", "<!-", "->", "a", "\n", "-", "(", ")", " <!-- x -->"]
    for _ in range(20_000):
        text = "".join(generator.choice(pieces) for _ in range(generator.randint(0, 12)))
        assert without_html_comments(text) == comments.sub(" ", text), repr(text)
        assert _without_parentheses(text) == parentheses.sub(" ", text), repr(text)


# ------------------------------------------------------------------ permissions


def test_an_unreadable_source_is_e902_and_an_unreadable_runbook_one_line(tmp_path: Path) -> None:
    make_project(tmp_path, {"app/__init__.py": FACTORY, "app/secret.py": "x = 1\n", RUNBOOK: "FLAG_BETA\n"},
                 f'runbook = "{RUNBOOK}"\nselect = ["RPT5"]\n')
    (tmp_path / "app/secret.py").chmod(0)
    assert findings(check(tmp_path, preexec_fn=without_permission_override)) == [
        "app/secret.py:1:1: E902 cannot read file: Permission denied (PermissionError)"]
    (tmp_path / RUNBOOK).chmod(0)
    assert error_line(check(tmp_path, preexec_fn=without_permission_override)) == (
        f"raptor-lint: error: {tmp_path / RUNBOOK}: cannot read the runbook: Permission denied (PermissionError)")


def test_a_procfile_line_with_200_kb_of_blanks_is_read_in_well_under_a_second() -> None:
    """``(?P<command>.*?)[ \\t]*$`` took 2 s on 20 KB of blanks (quadratic)."""
    setup = "from raptor_lint.rules.ops_hygiene import _PROCFILE_LINE\nline = 'web: gunicorn' + ' ' * 200_000 + 'x'"
    seconds = _seconds_in_child("assert _PROCFILE_LINE.match(line).group('command').endswith('x')", setup)
    assert seconds < 0.3, f"{seconds:.2f} s"  # measured: 0.005 s


def test_a_migration_of_200_kb_of_create_words_is_read_in_well_under_a_second(tmp_path: Path) -> None:
    """``\\bcreate\\b.*\\btable\\b`` (DOTALL) scanned to the end from every ``create``: 56 KB took 10 s."""
    migration = tmp_path / "001_init.py"
    migration.write_text('"""init"""\nrevision = "001"\nNOTE = """' + "create " * 30_000 + '"""\n', encoding="utf-8")
    setup = (f"from pathlib import Path\nfrom raptor_lint.project.migrations import read_migration\n"
             f"path = Path({str(migration)!r})")
    seconds = _seconds_in_child("assert read_migration(path, '001_init.py').revision == '001'", setup)
    assert seconds < 0.5, f"{seconds:.2f} s"  # measured: 0.03 s


def test_the_linear_ddl_test_says_what_the_regex_said() -> None:
    from raptor_lint.project.migrations import may_create_or_rename_tables

    regex = re.compile(r"(?i)\bcreate\b.*\btable\b|\brename\b", re.S)
    generator = random.Random(18)
    words = ["create", "CREATE", "table", "Table", "rename", "x", "_", "\n", " ", "createtable", "tables"]
    for _ in range(20_000):
        text = "".join(generator.choice(words) for _ in range(generator.randint(0, 8)))
        assert may_create_or_rename_tables(text) == bool(regex.search(text)), repr(text)


def test_a_ci_workflow_over_1_million_characters_is_e902_not_a_minute_of_parsing(tmp_path: Path) -> None:
    """PyYAML's pure-Python parser reads 30-100 KB a second: 1.9 MB took about a minute."""
    make_project(tmp_path, {CI: "# heroku config:set\n" + "a: b\n" * 380_000})
    assert findings(check(tmp_path)) == [
        f"{CI}:1:1: E902 YAML not read, its commands are not checked: more than 1 million characters (PyYAML "
        "would take minutes)"]


def test_a_path_holding_a_nul_byte_is_unreadable_not_a_value_error() -> None:
    with pytest.raises(UnreadableFile, match=r"^the path holds a NUL byte$"):
        read_regular_file("docs/a\0b.md")


def test_the_error_survives_a_trip_to_another_process(tmp_path: Path) -> None:
    import pickle

    os.mkfifo(tmp_path / "pipe.py")
    with pytest.raises(UnreadableFile) as caught:
        read_regular_file(tmp_path / "pipe.py")
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (type(copy), str(copy), copy.path, copy.errno) == (
        UnreadableFile, "not a regular file (a FIFO)", str(tmp_path / "pipe.py"), caught.value.errno)


def test_one_variable_read_in_many_places_checks_the_manifest_edit_once(tmp_path: Path, monkeypatch) -> None:
    """Each check of RPT503's edit parses the whole manifest again (0.26 s for 40 KB)."""
    from raptor_lint.project import manifest as manifest_module

    manifest = manifest_module.Manifest(tmp_path / "m.yaml", "m.yaml", frozenset({"A"}), "vars:\n  - name: A\n")
    parses = []
    real_names_of = manifest_module.names_of
    monkeypatch.setattr(manifest_module, "names_of", lambda text, path: parses.append(1) or real_names_of(text, path))
    edits = {manifest.addition("SECRET_KEY") for _ in range(30)}
    assert len(edits) == 1 and None not in edits
    assert len(parses) == 1
