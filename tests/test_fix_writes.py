"""Every write to a user's file (``--fix``, other-file fixes) goes through ``raptor_lint.atomic``
(issue 18): no lost editor save, no write through a symlink leaving the project, owner and
group kept, hard links never split, two concurrent runs, nothing left behind.

The concurrent writer is real and deterministic: a thread that saves the file when the write
path's test hook (``atomic.before_final_check``) says the fix is computed and its temporary
file written, i.e. between the read and the rename; no sleep.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import BIN, CAP_CHOWN, without_capabilities
from raptor_lint import atomic
from raptor_lint.cli import main

BAD = 'from flask import Blueprint\n\nbp = Blueprint("orders", __name__, url_prefix="/api/orders")\n'
GOOD = BAD.replace("/api/orders", "/orders")
EDITOR_SAVE = BAD.replace("\n\nbp", "\n\n# a comment typed in the editor\nbp")


def _project(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    return root


def _fix(root: Path, *paths: str):
    cwd = os.getcwd()
    os.chdir(root)
    try:
        return CliRunner().invoke(main, ["check", "--no-cache", "--fix", *(paths or ["."])],
                                  catch_exceptions=False)
    finally:
        os.chdir(cwd)


def _temporaries(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.name.endswith(".raptor-lint.tmp")]


class ConcurrentWriter:
    """A thread that runs ``save`` when the write path reaches its final check, and the hook
    that hands over to it and waits until the save is on disk."""

    def __init__(self, save) -> None:
        self.reached = threading.Event()
        self.saved = threading.Event()
        self.calls = 0
        self.thread = threading.Thread(target=self._run, args=(save,), daemon=True)
        self.thread.start()

    def _run(self, save) -> None:
        if self.reached.wait(timeout=120):
            save()
            self.saved.set()

    def hook(self, real: Path) -> None:
        self.calls += 1
        if self.calls == 1:
            self.reached.set()
            assert self.saved.wait(timeout=120), "the writer thread did not save"


def _save_in_place(path: Path, text: str):
    return lambda: path.write_text(text, encoding="utf-8")


def _save_by_rename(path: Path, text: str):
    """What vim (backupcopy=no) and many IDEs do: write a new file, rename it over."""
    def save() -> None:
        fresh = path.with_name(path.name + ".editor-swap")
        fresh.write_text(text, encoding="utf-8")
        os.replace(fresh, path)
    return save


@pytest.mark.parametrize("how", [_save_in_place, _save_by_rename], ids=["in-place", "by-rename"])
def test_an_editor_save_between_read_and_rename_is_kept(tmp_path: Path, monkeypatch, how) -> None:
    root = _project(tmp_path, {"app/orders.py": BAD})
    target = root / "app/orders.py"
    writer = ConcurrentWriter(how(target, EDITOR_SAVE))
    monkeypatch.setattr(atomic, "before_final_check", writer.hook)
    result = _fix(root)
    assert writer.calls == 1
    assert target.read_text(encoding="utf-8") == EDITOR_SAVE  # the save wins, nothing merged
    assert ("raptor-lint: not fixing app/orders.py: it changed on disk while being fixed; run again\n"
            in result.stderr)
    assert "Fixed 0 findings in 0 files." in result.stderr
    assert "app/orders.py:3:" in result.stdout and result.exit_code == 1  # the finding is still reported
    assert _temporaries(root) == []


def test_the_next_run_fixes_what_the_save_left(tmp_path: Path, monkeypatch) -> None:
    root = _project(tmp_path, {"app/orders.py": BAD})
    target = root / "app/orders.py"
    writer = ConcurrentWriter(_save_in_place(target, EDITOR_SAVE))
    monkeypatch.setattr(atomic, "before_final_check", writer.hook)
    _fix(root)
    monkeypatch.setattr(atomic, "before_final_check", None)
    assert _fix(root).exit_code == 0
    assert target.read_text(encoding="utf-8") == EDITOR_SAVE.replace("/api/orders", "/orders")


def test_an_edit_to_the_runbook_during_an_other_file_fix_is_kept(tmp_path: Path, monkeypatch) -> None:
    from test_other_file_fixes import _cli as other_file_cli, _project as other_file_project

    root = other_file_project(tmp_path)
    runbook = root / "docs/ops/runbook.md"
    edited = runbook.read_text(encoding="utf-8") + "\nA paragraph typed while the fix ran.\n"
    writer = ConcurrentWriter(_save_in_place(runbook, edited))
    monkeypatch.setattr(atomic, "before_final_check", lambda real: writer.hook(real) if real == runbook else None)
    result = other_file_cli(root, "--fix", "--unsafe-fixes", "--select", "RPT502")
    assert runbook.read_text(encoding="utf-8") == edited
    assert ("raptor-lint: not fixing docs/ops/runbook.md: it changed on disk while being fixed; run again"
            in result.stderr)
    assert _temporaries(root) == []


def test_add_noqa_keeps_an_editor_save_and_hard_links(tmp_path: Path, monkeypatch) -> None:
    """--add-noqa writes through the same path as --fix."""
    root = _project(tmp_path / "svc", {"app/orders.py": BAD, "app/linked.py": BAD})
    os.link(root / "app/linked.py", tmp_path / "linked-elsewhere.py")
    target = root / "app/orders.py"
    writer = ConcurrentWriter(_save_in_place(target, EDITOR_SAVE))
    monkeypatch.setattr(atomic, "before_final_check", writer.hook)
    monkeypatch.chdir(root)
    result = CliRunner().invoke(main, ["check", "--no-cache", "--add-noqa", "."], catch_exceptions=False)
    assert target.read_text(encoding="utf-8") == EDITOR_SAVE
    assert (root / "app/linked.py").read_text(encoding="utf-8") == BAD
    assert result.stderr.splitlines()[:2] == [
        "app/linked.py: no noqa comment added: it has 2 hard links (replacing it would split them); edit it by hand",
        "app/orders.py: no noqa comment added: it changed on disk while being fixed; run again"]
    assert _temporaries(root) == []


def test_a_runbook_edited_after_the_rules_read_it_is_not_patched_at_stale_positions(tmp_path: Path,
                                                                                   monkeypatch) -> None:
    """RPT502's line is placed by positions in the runbook as the rules read it; an editor's
    save between that read and the fix's own read would put the line in the wrong place."""
    from raptor_lint import fixes
    from test_other_file_fixes import _cli as other_file_cli, _project as other_file_project

    root = other_file_project(tmp_path)
    runbook = root / "docs/ops/runbook.md"
    edited = "# A new title line typed meanwhile\n" + runbook.read_text(encoding="utf-8")
    fix_other_files = fixes._fix_other_files

    def after_an_editor_save(*args, **kwargs):
        runbook.write_text(edited, encoding="utf-8")
        return fix_other_files(*args, **kwargs)

    monkeypatch.setattr(fixes, "_fix_other_files", after_an_editor_save)
    result = other_file_cli(root, "--fix", "--unsafe-fixes", "--select", "RPT502")
    assert runbook.read_text(encoding="utf-8") == edited
    assert ("raptor-lint: not fixing docs/ops/runbook.md: it changed on disk while being fixed; run again"
            in result.stderr)


def test_a_symlink_to_outside_the_project_is_not_written_through(tmp_path: Path) -> None:
    outside = tmp_path / "outside" / "victim.py"
    outside.parent.mkdir()
    outside.write_text(BAD, encoding="utf-8")
    root = _project(tmp_path / "work" / "svc", {})
    (root / "b").mkdir()
    (root / "b/store.py").symlink_to(Path("../../../outside/victim.py"))
    assert (root / "b/store.py").read_text(encoding="utf-8") == BAD
    result = _fix(root, "b/store.py")
    assert outside.read_text(encoding="utf-8") == BAD
    assert "raptor-lint: not fixing b/store.py: symlink to outside the project\n" in result.stderr
    assert result.exit_code == 1 and (root / "b/store.py").is_symlink()
    assert _temporaries(tmp_path) == []


@pytest.mark.parametrize("project_marker", [True, False], ids=["pyproject", "no-marker"])
def test_a_project_marker_in_a_symlinks_target_does_not_make_the_outside_a_project(
        tmp_path: Path, project_marker: bool) -> None:
    # proj/lib -> ../other, and other/.git: the target is a repository of its own, but it is
    # reached through a symlink out of the project (or out of the working directory).
    other = tmp_path / "other"
    (other / ".git").mkdir(parents=True)
    (other / "x.py").write_text(BAD, encoding="utf-8")
    root = _project(tmp_path / "proj", {}) if project_marker else tmp_path / "proj"
    root.mkdir(exist_ok=True)
    (root / "lib").symlink_to(Path("../other"))
    result = _fix(root, "lib/x.py")
    assert (other / "x.py").read_text(encoding="utf-8") == BAD
    assert "raptor-lint: not fixing lib/x.py: symlink to outside the project\n" in result.stderr
    assert result.exit_code == 1 and (root / "lib").is_symlink()
    assert _temporaries(tmp_path) == []


def test_a_symlink_inside_the_project_fixes_its_target_and_stays_a_link(tmp_path: Path) -> None:
    root = _project(tmp_path, {"app/orders.py": BAD})
    (root / "alias.py").symlink_to(Path("app/orders.py"))
    result = _fix(root, "alias.py")
    assert result.exit_code == 0, result.output
    assert (root / "alias.py").is_symlink() and os.readlink(root / "alias.py") == "app/orders.py"
    assert (root / "app/orders.py").read_text(encoding="utf-8") == GOOD


def test_root_fixing_another_users_file_keeps_its_owner_group_and_mode(tmp_path: Path) -> None:
    assert os.geteuid() == 0, "CI runs as root: this test must not be skipped there"
    root = _project(tmp_path, {"app/orders.py": BAD})
    target = root / "app/orders.py"
    os.chown(target, 65534, 65534)
    target.chmod(0o640)
    inode = target.stat().st_ino
    result = _fix(root)
    assert result.exit_code == 0, result.output
    info = target.stat()
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (65534, 65534, 0o640)
    assert info.st_ino != inode and target.read_text(encoding="utf-8") == GOOD


def test_a_process_that_cannot_keep_the_owner_leaves_the_file_alone(tmp_path: Path) -> None:
    """Without the right to chown, on another user's world-writable file: a rename would hand
    the file to the fixer, so it is refused and said."""
    root = _project(tmp_path, {"app/orders.py": BAD})
    target = root / "app/orders.py"
    os.chown(target, 65534, 65534)
    target.chmod(0o666)
    before = target.stat()
    proc = subprocess.run([str(BIN / "raptor-lint"), "check", "--no-cache", "--fix", "."], cwd=root,
                          capture_output=True, text=True, timeout=120, preexec_fn=without_capabilities(CAP_CHOWN))
    assert ("raptor-lint: not fixing app/orders.py: cannot keep its owner 65534:65534 (run as that user "
            "or as root)\n" in proc.stderr), proc.stderr
    assert proc.returncode == 1
    after = target.stat()
    assert (after.st_ino, after.st_uid, after.st_gid, after.st_mtime_ns) == (
        before.st_ino, 65534, 65534, before.st_mtime_ns)
    assert target.read_text(encoding="utf-8") == BAD and _temporaries(root) == []


def test_a_hard_linked_file_is_not_split(tmp_path: Path) -> None:
    root = _project(tmp_path, {"app/orders.py": BAD})
    target = root / "app/orders.py"
    other_name = tmp_path / "backup-orders.py"
    os.link(target, other_name)
    result = _fix(root, "app")
    assert ("raptor-lint: not fixing app/orders.py: it has 2 hard links (replacing it would split them); "
            "edit it by hand\n" in result.stderr)
    assert target.stat().st_ino == other_name.stat().st_ino and target.stat().st_nlink == 2
    assert target.read_text(encoding="utf-8") == BAD and result.exit_code == 1


def test_a_read_only_file_is_not_replaced_even_by_root(tmp_path: Path) -> None:
    root = _project(tmp_path, {"app/orders.py": BAD})
    target = root / "app/orders.py"
    os.chmod(target, 0o444)
    inode = target.stat().st_ino
    result = _fix(root, "app")
    assert "raptor-lint: not fixing app/orders.py: the file is read-only\n" in result.stderr
    assert target.read_text(encoding="utf-8") == BAD and target.stat().st_ino == inode
    assert result.exit_code == 1 and _temporaries(root) == []


def test_read_for_rewrite_never_opens_a_fifo_nor_reads_past_the_size_limit(tmp_path: Path) -> None:
    from raptor_lint.safe_read import MAX_FILE_BYTES, UnreadableFile

    fifo = tmp_path / "pipe.py"
    os.mkfifo(fifo)  # no writer: an open without O_NONBLOCK, or a read, would hang here
    with pytest.raises(UnreadableFile, match=r"^not a regular file \(a FIFO\)$"):
        atomic.read_for_rewrite(fifo)
    huge = tmp_path / "huge.py"
    with open(huge, "wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is allocated
    with pytest.raises(UnreadableFile, match=r"^larger than 16 MB"):
        atomic.read_for_rewrite(huge)
    with pytest.raises(UnreadableFile, match=r"^it is a directory$"):
        atomic.read_for_rewrite(tmp_path)


def test_two_concurrent_fix_runs_fix_every_file_once(tmp_path: Path) -> None:
    files = {f"app/orders_{number}.py": BAD for number in range(40)}
    files.update({f"scripts/deploy_{number}.sh": "#!/bin/sh\nheroku config:set K=\"$V\" --app a\n"
                  for number in range(40)})
    root = _project(tmp_path, files)
    command = [str(BIN / "raptor-lint"), "check", "--no-cache", "--fix", "--jobs", "1", "."]
    runs = [subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]
    for run, (stdout, stderr) in zip(runs, outputs):
        assert run.returncode in (0, 1), stderr
        assert "internal error" not in stderr and "Traceback" not in stderr
        # Where both runs read the same file, the second one to rename saw the first's write.
        for line in stderr.splitlines()[:-1]:
            assert line.endswith(": it changed on disk while being fixed; run again"), stderr
    for rel in files:
        text = (root / rel).read_text(encoding="utf-8")
        assert text == (GOOD if rel.endswith(".py") else
                        "#!/bin/sh\nheroku config:set K=\"$V\" --app a >/dev/null 2>&1\n"), rel
    assert _temporaries(root) == []
    assert "All checks passed (80 files checked)." in _fix(root).output


SIGTERM_DURING_THE_WRITE = """
import os, signal, sys
from pathlib import Path
from raptor_lint import atomic

target = Path(sys.argv[1])
atomic.before_final_check = lambda real: os.kill(os.getpid(), signal.SIGTERM)  # docker stop, now
atomic.rewrite_file(atomic.read_for_rewrite(target), b"new\\n")
print("the signal was lost", flush=True)
"""


def test_sigterm_in_the_middle_of_a_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    """The default SIGTERM kills at once, so a handler could not clean up: the write path holds
    SIGTERM back while its temporary file exists; the write completes, then the process dies."""
    target = tmp_path / "orders.py"
    target.write_bytes(b"old\n")
    proc = subprocess.run([str(BIN / "python"), "-c", SIGTERM_DURING_THE_WRITE, str(target)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGTERM, proc.stdout + proc.stderr
    assert proc.stdout == ""  # it did die, right after the write
    assert target.read_bytes() == b"new\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["orders.py"]
