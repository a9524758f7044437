"""Discovery walks with ``os.scandir`` (no ``lstat`` per file); it must name exactly the
files, kinds and order that ``os.walk`` (top-down, sorted, no symlinked directories)
and ``Config.is_excluded`` would."""

from __future__ import annotations

import os
from pathlib import Path

from raptor_lint.config import Config
from raptor_lint.discovery import file_kind, iter_files
from conftest import without_permission_override


def _reference(root: Path, config: Config) -> list[tuple[str, str]]:
    found = []
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not config.is_excluded(Path(directory) / d))
        for filename in sorted(filenames):
            path = Path(directory) / filename
            kind = file_kind(path)
            if kind is not None and not config.is_excluded(path):
                found.append((path.as_posix(), kind))
    return found


def _tree(root: Path) -> None:
    files = {
        "pyproject.toml": "[tool.raptor-lint]\nexclude = ['vendored', 'gen_*.py']\n",
        "app/__init__.py": "", "app/z.py": "", "app/a.py": "", "app/gen_models.py": "",
        "app/routes/__init__.py": "", "app/routes/users.py": "", "app/b/c/deep.py": "",
        "vendored/lib.py": "", "docs/runbook.md": "# Runbook\n", "Procfile": "web: gunicorn\n",
        "scripts/deploy": "#!/bin/bash\nheroku config:set A=1\n", "scripts/notes": "plain text\n",
        ".github/workflows/ci.yml": "on: push\n", "Makefile": "all:\n", "setup.cfg": "",
    }
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (root / "app" / "linked.py").symlink_to(root / "app" / "a.py")
    (root / "app" / "dangling.py").symlink_to(root / "missing.py")
    (root / "app" / "outside.py").symlink_to(root / "vendored" / "lib.py")  # resolves into an exclude
    (root / "app" / "loop").symlink_to(root / "app", target_is_directory=True)  # never walked
    (root / "mirror").symlink_to(root / "app" / "routes", target_is_directory=True)


EXPECTED = [  # a directory's files by name, then its subdirectories, depth first
    ("Makefile", "makefile"), ("Procfile", "procfile"), (".github/workflows/ci.yml", "yaml"),
    ("app/__init__.py", "python"), ("app/a.py", "python"), ("app/dangling.py", "python"),
    ("app/linked.py", "python"), ("app/z.py", "python"), ("app/b/c/deep.py", "python"),
    ("app/routes/__init__.py", "python"), ("app/routes/users.py", "python"),
    ("docs/runbook.md", "markdown"), ("scripts/deploy", "shell"),
]


def test_the_walk_names_what_os_walk_and_is_excluded_name(tmp_path: Path, monkeypatch) -> None:
    """Symlinked files are linted unless they resolve into an exclude; symlinked
    directories (``loop``, ``mirror``) are never walked; excluded names and directories
    are pruned; a shebang decides a file without a suffix."""
    _tree(tmp_path)
    config = Config(root=tmp_path, exclude=("vendored", "gen_*.py"))
    monkeypatch.chdir(tmp_path)
    assert [(path.as_posix(), kind) for path, kind in iter_files([Path(".")], config)] == EXPECTED
    for cwd, start in ((tmp_path, Path(".")), (tmp_path / "app", Path("..")), (tmp_path, tmp_path),
                       (tmp_path, Path("app"))):
        monkeypatch.chdir(cwd)
        assert [(path.as_posix(), kind) for path, kind in iter_files([start], config)] == _reference(start, config)


def test_an_entry_that_vanishes_mid_walk_is_not_a_crash(tmp_path: Path, monkeypatch) -> None:
    """Without d_type, DirEntry.is_symlink() stats, and the file may be gone by then:
    os.walk treats that as "not a link", and so does discovery."""
    import raptor_lint.discovery as discovery

    (tmp_path / "app").mkdir()
    for name in ("gone.py", "kept.py"):
        (tmp_path / "app" / name).write_text("")
    real_scandir = os.scandir

    class Vanishing:
        def __init__(self, entry):
            self._entry = entry
            self.name, self.path = entry.name, entry.path

        def is_dir(self):
            return self._entry.is_dir()

        def is_symlink(self):
            if self.name == "gone.py":
                raise FileNotFoundError(self.path)
            return self._entry.is_symlink()

    class Listing:
        def __init__(self, path):
            self._scan = real_scandir(path)

        def __enter__(self):
            return (Vanishing(entry) for entry in self._scan)

        def __exit__(self, *exc):
            self._scan.close()

    monkeypatch.setattr(discovery.os, "scandir", Listing)
    found = [path.name for path, _kind in iter_files([tmp_path], Config(root=tmp_path))]
    assert found == ["gone.py", "kept.py"]


# ------------------------------------------------ issue 18: nothing is skipped silently


def test_an_unreadable_directory_is_one_e902_naming_it(tmp_path: Path) -> None:
    """A directory the user cannot list is one E902 finding naming it (it was skipped
    without a word, its findings hidden); the rest is still linted."""
    import subprocess
    import sys

    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\nselect = ['RPT1']\n")
    for name in ("app/ok/a.py", "app/secret/b.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("_seen = {}\n\n\ndef hit(k):\n    _seen[k] = 1\n")
    (tmp_path / "app" / "secret").chmod(0)
    try:
        proc = subprocess.run([sys.executable, "-m", "raptor_lint", "check", "--no-cache", "."], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120, preexec_fn=without_permission_override)
    finally:
        (tmp_path / "app" / "secret").chmod(0o755)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 1, proc.stderr
    assert len(lines) == 3 and lines[0].startswith("app/ok/a.py:5:5: RPT101 ")
    assert lines[1] == ("app/secret:1:1: E902 cannot list directory: permission denied; its files are not "
                        "linted (fix the permissions or exclude it)")


def test_paths_named_inside_or_as_an_unreadable_directory_are_one_e902_each(tmp_path: Path) -> None:
    """Naming a file inside a directory the user cannot search was `internal error:
    PermissionError`, then a usage error; naming the directory itself was click's "not
    readable" usage error.  Each is one E902 naming it, the other paths still linted (Ruff)."""
    import subprocess
    import sys

    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\nselect = ['RPT1']\n")
    for name in ("ok.py", "secret/b.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("_seen = {}\n\n\ndef hit(k):\n    _seen[k] = 1\n")
    (tmp_path / "secret").chmod(0)
    try:
        proc = subprocess.run([sys.executable, "-m", "raptor_lint", "check", "--no-cache", "secret/b.py", "secret",
                               "ok.py"], cwd=tmp_path, capture_output=True, text=True, timeout=120,
                              preexec_fn=without_permission_override)
    finally:
        (tmp_path / "secret").chmod(0o755)
    assert proc.returncode == 1, proc.stderr
    assert proc.stdout.splitlines()[:3] == [
        "ok.py:5:5: RPT101 " + proc.stdout.splitlines()[0].split(" RPT101 ", 1)[1],
        "secret:1:1: E902 cannot list directory: permission denied; its files are not linted "
        "(fix the permissions or exclude it)",
        "secret/b.py:1:1: E902 cannot read path: permission denied; it is not linted "
        "(fix the permissions or exclude it)",
    ]


def test_a_path_too_long_for_the_system_is_one_e902(tmp_path: Path) -> None:
    """Directories nested past PATH_MAX (4,096 bytes) cannot be listed by path: reported, not skipped."""
    from raptor_lint.config import Config

    deepest = tmp_path
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        for _ in range(24):  # 24 x 201 characters
            os.mkdir("d" * 200, dir_fd=fd)
            next_fd = os.open("d" * 200, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        with open(os.open("deep.py", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd), "w") as handle:
            handle.write("x = 1\n")
    finally:
        os.close(fd)
    (tmp_path / "ok.py").write_text("x = 1\n")
    errors: list[tuple[Path, str]] = []
    found = [path for path, _kind in iter_files([tmp_path], Config(root=tmp_path),
                                                on_error=lambda path, why: errors.append((path, why)))]
    assert found == [tmp_path / "ok.py"]
    assert len(errors) == 1
    path, why = errors[0]
    assert len(str(path)) > 4096 and str(path).startswith(str(tmp_path / ("d" * 200)))
    assert why == (f"cannot list directory: path too long ({len(str(path))} characters, more than the system "
                   "allows); its files are not linted (exclude it)")
    del deepest


def test_a_suffixless_file_is_known_by_its_shebang_without_opening_what_is_not_a_file(tmp_path: Path) -> None:
    """A file without a suffix is a shell script when its first line says so; a FIFO (opening
    it would wait for a writer), a symlink to a device or a directory named like one is not
    opened at all, and is not linted."""
    (tmp_path / "deploy").write_bytes(b"#!/bin/bash\necho hi\n")
    (tmp_path / "tool").write_bytes(b"#!/usr/bin/env python3\nprint(1)\n")
    os.mkfifo(tmp_path / "pipe")
    (tmp_path / "zero").symlink_to("/dev/zero")
    (tmp_path / "dir").mkdir()
    assert file_kind(tmp_path / "deploy") == "shell"
    assert file_kind(tmp_path / "tool") is None  # only shell scripts are found by shebang
    assert file_kind(tmp_path / "tool", explicit=True) == "python"
    for name in ("pipe", "zero", "dir"):
        assert file_kind(tmp_path / name) is None
        assert file_kind(tmp_path / name, explicit=True) == "python"  # then reported as E902
