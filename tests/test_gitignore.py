"""Exclusion as in Ruff (issue 17): ``exclude`` replaces the defaults, ``extend-exclude``
adds to them, and the ignore files are respected — ``.gitignore`` and ``.git/info/exclude``
inside a git repository, ``.ignore`` anywhere — with git's own semantics."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from raptor_lint.config import DEFAULT_EXCLUDE, Config, load_config
from raptor_lint.discovery import file_kind, iter_files

from conftest import REPO

GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


def write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def found(root: Path, config: Config, start: Path | None = None) -> list[str]:
    return sorted(path.relative_to(root).as_posix() for path, _kind in iter_files([start or root], config))


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "raptor_lint", "check", "--no-cache", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def test_the_readmes_config_example_keeps_the_default_excludes(tmp_path: Path) -> None:
    """The README's own example once said ``exclude = [".venv", "build"]``, which drops
    ``.git``, ``venv``, ``site-packages``... (277 findings in 1,110 files instead of 14)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("\n## Configuration"):]
    example = re.search(r"```toml\n(\[tool\.raptor-lint\]\n.*?)```", section, re.S)
    assert example is not None, "the Configuration section has a [tool.raptor-lint] example"
    (tmp_path / "pyproject.toml").write_text(example.group(1), encoding="utf-8")
    for name in ("migrations/versions", "docs/ops"):
        (tmp_path / name).mkdir(parents=True, exist_ok=True)
    (tmp_path / "docs/ops/runbook.md").write_text("# Runbook\n")
    (tmp_path / "docs/ops/required-config-vars.yaml").write_text("vars: []\n")
    config = load_config(start=tmp_path)
    for default in DEFAULT_EXCLUDE:
        assert default in config.exclude
    for directory in (".git", ".venv", "venv", "site-packages", "node_modules", "build", "app/__pycache__"):
        assert config.is_excluded(tmp_path / directory / "x.py"), directory
    assert not config.is_excluded(tmp_path / "app" / "views.py")
    # `exclude` replaces the defaults (Ruff's meaning): the README must not show it as the way to add one.
    write(tmp_path, {"venv/lib.py": "", "gen/g.py": "", "app/a.py": ""})
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\nexclude = ['gen']\n")
    assert found(tmp_path, load_config(start=tmp_path)) == ["app/a.py", "docs/ops/runbook.md", "venv/lib.py"]


IGNORED_TREE = {
    ".gitignore": "generated/\n*.gen.py\n/top_only.py\nbuild*/\n# a comment\n\\#hash.py\n",
    "app/.gitignore": "!keep.gen.py\nlocal/*.py\n!local/wanted.py\n",
    "app/a.py": "", "app/x.gen.py": "", "app/keep.gen.py": "", "app/top_only.py": "",
    "app/local/drop.py": "", "app/local/wanted.py": "", "app/#hash.py": "",
    "app/deeper/y.gen.py": "", "app/deeper/keep.gen.py": "",
    "generated/gen.py": "", "src/generated/g.py": "", "top_only.py": "",
    "builder.py": "", "build_out/b.py": "", "docs/run.md": "# x\n", "docs/.ignore": "",
    "info_excluded.py": "", "scripts/deploy.sh": "echo\n",
    "vendor/.gitignore": "*\n!.gitignore\n", "vendor/lib.py": "",
    "more/.gitignore": "**/gen/*.py\n[Tt]mp*.py\nx/**/z.py\n*.egg-info/\ndocs/\n",
    "more/a/gen/g.py": "", "more/gen.py": "", "more/Tmp1.py": "", "more/tmp.sh": "",
    "more/x/y/z.py": "", "more/x/z.py": "", "more/y/z.py": "", "more/p.egg-info/m.py": "", "more/docs/d.md": "",
}


def test_a_gitignored_file_is_not_linted_and_discovery_agrees_with_git(tmp_path: Path) -> None:
    """Nested .gitignore files, negation, anchored and directory-only patterns, an escaped
    ``#``, ``.git/info/exclude``: discovery names exactly the files git does not ignore."""
    write(tmp_path, IGNORED_TREE)
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True, env=GIT_ENV)
    (tmp_path / ".git" / "info").mkdir(exist_ok=True)
    (tmp_path / ".git" / "info" / "exclude").write_text("info_excluded.py\n")
    listed = subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=tmp_path,
                            capture_output=True, text=True, check=True, env=GIT_ENV).stdout.split()
    by_git = sorted(name for name in listed if file_kind(tmp_path / name) is not None)
    ours = found(tmp_path, Config(root=tmp_path))
    assert ours == by_git
    assert ours == ["app/a.py", "app/deeper/keep.gen.py", "app/keep.gen.py", "app/local/wanted.py",
                    "app/top_only.py", "builder.py", "docs/run.md", "more/gen.py", "more/tmp.sh", "more/y/z.py",
                    "scripts/deploy.sh"]
    # Walking from inside the repository applies the ignore files above the start too.
    assert found(tmp_path, Config(root=tmp_path), tmp_path / "app") == [
        "app/a.py", "app/deeper/keep.gen.py", "app/keep.gen.py", "app/local/wanted.py",
        "app/top_only.py"]
    # The CLI: the gitignored generated/gen.py is not reported; named explicitly it is, unless
    # --force-exclude (as Ruff).
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\nselect = ['RPT1']\n")
    (tmp_path / "generated" / "gen.py").write_text("_seen = {}\n\n\ndef hit(k):\n    _seen[k] = 1\n")
    walked = cli(tmp_path, ".")
    assert walked.returncode == 0 and "gen.py" not in walked.stdout
    named = cli(tmp_path, "generated/gen.py")
    assert named.returncode == 1 and named.stdout.startswith("generated/gen.py:5:5: RPT101 ")
    forced = cli(tmp_path, "--force-exclude", "generated/gen.py")
    assert forced.returncode == 0 and "gen.py" not in forced.stdout


def test_gitignore_counts_only_inside_a_repository_and_dot_ignore_everywhere(tmp_path: Path) -> None:
    """Ruff's rule (the ``ignore`` crate's ``require_git``): outside a git repository a
    ``.gitignore`` is just a file; ``.ignore`` is read with or without git."""
    write(tmp_path, {".gitignore": "generated/\n", ".ignore": "scratch.py\n", "generated/gen.py": "",
                     "scratch.py": "", "app.py": ""})
    assert found(tmp_path, Config(root=tmp_path)) == ["app.py", "generated/gen.py"]
    (tmp_path / ".git").mkdir()  # a repository (a `.git` file, as in a worktree, counts too)
    assert found(tmp_path, Config(root=tmp_path)) == ["app.py"]
    # `.ignore` outranks the `.gitignore` of its directory (the ignore crate's precedence).
    (tmp_path / ".ignore").write_text("scratch.py\n!generated/\n")
    assert found(tmp_path, Config(root=tmp_path)) == ["app.py", "generated/gen.py"]


def test_respect_gitignore_false_turns_the_ignore_files_off(tmp_path: Path) -> None:
    write(tmp_path, {".gitignore": "generated/\n", ".ignore": "scratch.py\n", "generated/gen.py": "",
                     "scratch.py": "", "app.py": "",
                     "pyproject.toml": "[tool.raptor-lint]\nrespect-gitignore = false\n"})
    (tmp_path / ".git").mkdir()
    assert found(tmp_path, load_config(start=tmp_path)) == ["app.py", "generated/gen.py", "scratch.py"]
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\nrespect-gitignore = 'maybe'\n")
    with pytest.raises(Exception, match="key 'respect-gitignore': expected true or false"):
        load_config(start=tmp_path)


def test_a_nested_repository_has_its_own_ignore_files(tmp_path: Path) -> None:
    """As in git, the outer repository's .gitignore does not reach into a nested repository
    (a submodule, a vendored checkout); the nested one's own files do."""
    write(tmp_path, {".gitignore": "*.gen.py\n", "outer.gen.py": "", "app.py": "",
                     "sub/.gitignore": "local.py\n", "sub/inner.gen.py": "", "sub/local.py": "", "sub/kept.py": ""})
    for repository in (tmp_path, tmp_path / "sub"):
        subprocess.run(["git", "init", "-q", str(repository)], check=True, env=GIT_ENV)
    assert found(tmp_path, Config(root=tmp_path)) == ["app.py", "sub/inner.gen.py", "sub/kept.py"]
    assert found(tmp_path, Config(root=tmp_path), tmp_path / "sub") == ["sub/inner.gen.py", "sub/kept.py"]
    inner = subprocess.run(["git", "ls-files", "--others", "--exclude-standard"], cwd=tmp_path / "sub",
                           capture_output=True, text=True, check=True, env=GIT_ENV).stdout.split()
    assert sorted(name for name in inner if name.endswith(".py")) == ["inner.gen.py", "kept.py"]


def test_a_directory_named_on_the_command_line_is_walked_even_if_ignored(tmp_path: Path) -> None:
    """As Ruff: a named path is never filtered itself (without --force-exclude); below it,
    only what a pattern matches directly is skipped — whether the directory was ignored by
    a pattern at any depth (``build*/``) or an anchored one (``docs/_build/``)."""
    write(tmp_path, {".gitignore": "build*/\ndocs/_build/\n*.gen.py\n", "build_out/b.py": "",
                     "build_out/x.gen.py": "", "docs/_build/c.py": "", "app.py": ""})
    (tmp_path / ".git").mkdir()
    assert found(tmp_path, Config(root=tmp_path)) == ["app.py"]
    assert found(tmp_path, Config(root=tmp_path), tmp_path / "build_out") == ["build_out/b.py"]
    assert found(tmp_path, Config(root=tmp_path), tmp_path / "docs" / "_build") == ["docs/_build/c.py"]
    assert found(tmp_path, Config(root=tmp_path), tmp_path / "docs") == []


def test_an_ignore_file_that_is_not_a_small_regular_file_is_skipped(tmp_path: Path, monkeypatch) -> None:
    """An ignore file never stops a walk: a FIFO ``.ignore`` is not opened (it would wait for
    a writer), one over the size cap is not read; a sibling that is fine still counts."""
    from raptor_lint import ignorefiles

    monkeypatch.setattr(ignorefiles, "MAX_IGNORE_FILE_BYTES", 64)
    write(tmp_path, {"pyproject.toml": "[tool.raptor-lint]\n", "a/skip.py": "", "a/keep.py": "",
                     "b/skip.py": "", "b/keep.py": "", "c/skip.py": "", "c/keep.py": "",
                     "b/.ignore": "skip.py\n" + "#" * 100 + "\n", "c/.ignore": "skip.py\n"})
    os.mkfifo(tmp_path / "a" / ".ignore")
    assert found(tmp_path, load_config(start=tmp_path)) == ["a/keep.py", "a/skip.py", "b/keep.py",
                                                            "b/skip.py", "c/keep.py"]
