"""The cache a repository cannot plant (issue 18): where it lives, what it refuses, what it
validates, the racy-clean rule, pruning and ``clean``.

conftest gives every test a private ``XDG_CACHE_HOME``: the default cache lands there.
The attacks are those of the issue: a committed ``.raptor_lint_cache`` symlink, committed
crafted entries, an edit that keeps size and mtime, a cache directory of another user.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli
from raptor_lint.cache import CACHEDIR_TAG, FindingsCache, cache_directory, clear_cache, make_cache, tool_fingerprint
from raptor_lint.config import Config, load_config
from raptor_lint.findings import Finding, Related
from raptor_lint.runner import CheckOptions, run_check

# Two RPT301 findings (lines 3 and 4): a Blueprint prefix the core loop prefixes again.
TWO_FINDINGS = ('from flask import Blueprint\n\n'
                'bp = Blueprint("foo", __name__, url_prefix="/api/internal/foo")\n'
                'other = Blueprint("bar", __name__, url_prefix="/api/internal/bar")\n')
OTHER_UID = 65534


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "checkout"
    (root / "svc").mkdir(parents=True)
    (root / "pyproject.toml").write_text("[project]\nname = 'svc'\n", encoding="utf-8")
    (root / "svc" / "__init__.py").write_text("", encoding="utf-8")
    (root / "svc" / "views.py").write_text(TWO_FINDINGS, encoding="utf-8")
    return root


def _configure_cache_dir(root: Path, value: str) -> None:
    (root / "pyproject.toml").write_text(f"[project]\nname = 'svc'\n\n[tool.raptor-lint]\ncache-dir = {value!r}\n",
                                         encoding="utf-8")


def _age(root: Path, seconds: int = 600) -> None:
    """mtimes in the past: the racy window no longer applies (ctime stays recent, as on a
    real checkout)."""
    past = os.stat(root).st_mtime - seconds
    for path in root.rglob("*.py"):
        os.utime(path, (past, past))


def _files_under(directory: Path) -> list[Path]:
    return sorted(p for p in directory.rglob("*") if not p.is_dir()) if directory.exists() else []


def _findings_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in proc.stdout.decode().splitlines() if line.startswith("::error")]


# ------------------------------------------------------------------ location
def test_the_default_cache_is_outside_the_checkout_and_leaves_it_clean(project: Path) -> None:
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "init"],
                   cwd=project, check=True)
    assert run_cli("check", ".", cwd=project).returncode == 1
    assert run_cli("check", ".", cwd=project).returncode == 1
    status = subprocess.run(["git", "status", "--porcelain", "--ignored"], cwd=project,
                            capture_output=True, text=True, check=True)
    assert status.stdout == ""  # not even an ignored file
    directory = cache_directory(Config(root=project))
    assert directory is not None and project not in directory.parents
    assert directory.parent == Path(os.environ["XDG_CACHE_HOME"]) / "raptor-lint"
    assert directory.name.startswith("checkout-")  # readable: the project's name, then a hash
    assert list(directory.glob("*/*/*.json")) and (directory / "CACHEDIR.TAG").is_file()


def test_a_committed_cache_symlink_gets_nothing_written_through_it(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "home"
    outside.mkdir()
    (project / ".raptor_lint_cache").symlink_to(Path("..") / "home")
    proc = run_cli("check", ".", cwd=project)
    assert proc.returncode == 1 and proc.stdout.decode().count("RPT301") == 2
    assert list(outside.iterdir()) == []


def test_a_configured_cache_dir_that_is_a_symlink_is_refused_with_one_warning(
        project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (project / "cache").symlink_to(outside)
    _configure_cache_dir(project, "cache")
    proc = run_cli("check", "--format", "github", ".", cwd=project)
    assert proc.returncode == 1 and len(_findings_lines(proc)) == 2
    warnings = [line for line in proc.stderr.decode().splitlines() if "warning" in line]
    assert len(warnings) == 1 and "symlink" in warnings[0] and len(warnings[0]) <= 120, warnings
    assert list(outside.iterdir()) == []


def test_a_configured_cache_dir_under_a_symlinked_directory_is_refused(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (project / "build").symlink_to(outside)
    _configure_cache_dir(project, "build/rl-cache")
    proc = run_cli("check", ".", cwd=project)
    assert proc.returncode == 1 and "symlink" in proc.stderr.decode()
    assert list(outside.iterdir()) == []


def test_a_configured_cache_dir_outside_the_project_is_refused(project: Path, tmp_path: Path) -> None:
    _configure_cache_dir(project, "../planted")
    proc = run_cli("check", ".", cwd=project)
    assert proc.returncode == 1 and "not inside the project" in proc.stderr.decode()
    assert not (tmp_path / "planted").exists()


def test_symlinks_planted_inside_the_cache_do_not_redirect_writes(project: Path, tmp_path: Path,
                                                                  monkeypatch) -> None:
    """Every shard directory (and runs/) of this raptor-lint's tool directory is a symlink
    to a directory outside: in the configured cache and where earlier versions kept it."""
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    _configure_cache_dir(project, ".raptor_lint_cache")
    tool = project / ".raptor_lint_cache" / tool_fingerprint()[:20]
    tool.mkdir(parents=True)
    (project / ".raptor_lint_cache" / "CACHEDIR.TAG").write_text(CACHEDIR_TAG, encoding="utf-8")  # looks ours
    for shard in [f"{n:02x}" for n in range(256)] + ["runs"]:
        (tool / shard).symlink_to(outside)
    _age(project)
    monkeypatch.chdir(project)
    for _ in range(2):
        result = run_check(load_config(start=project), CheckOptions(paths=[Path(".")], jobs=1))
        assert [f.line for f in result.findings] == [3, 4]
    assert list(outside.iterdir()) == []


def test_a_cache_dir_of_another_user_is_not_used(project: Path) -> None:
    cache = project / ".rl-cache"
    cache.mkdir()
    os.chown(cache, OTHER_UID, OTHER_UID)
    _configure_cache_dir(project, ".rl-cache")
    proc = run_cli("check", ".", cwd=project)
    assert proc.returncode == 1 and proc.stdout.decode().count("RPT301") == 2
    assert "owned by uid 65534" in proc.stderr.decode()
    assert list(cache.iterdir()) == []


def test_a_default_cache_dir_of_another_user_is_not_used(project: Path) -> None:
    directory = cache_directory(Config(root=project))
    assert directory is not None
    directory.mkdir(parents=True)
    os.chown(directory, OTHER_UID, OTHER_UID)
    assert make_cache(Config(root=project)) is None
    assert list(directory.iterdir()) == []


def test_the_environment_variable_moves_the_cache(project: Path, tmp_path: Path, monkeypatch) -> None:
    target = tmp_path / "ci-cache"
    monkeypatch.setenv("RAPTOR_LINT_CACHE_DIR", str(target))
    assert run_cli("check", ".", cwd=project).returncode == 1
    assert list(target.glob("*/*/*.json"))
    default = Path(os.environ["XDG_CACHE_HOME"]) / "raptor-lint"
    assert not list(default.glob("*/*/*/*.json"))


# ------------------------------------------------------------------ entries
def _rewrite_entries(directory: Path, change, key: bytes | None = None) -> int:
    """Apply ``change`` to every per-file entry's JSON, keeping its first line (the
    signature) or, with ``key``, signing it again with that key.  Snapshots are removed (a
    run over files older than the racy window leaves one, which would serve first)."""
    for snapshot in directory.glob("*/runs/*.json"):
        snapshot.unlink()
    count = 0
    for entry in directory.glob("*/*/*.json"):
        if entry.parent.name == "runs":
            continue
        raw = entry.read_bytes()
        header, body = (b"", raw) if raw.startswith(b"{") else raw.split(b"\n", 1)  # (earlier: no signature)
        data = json.loads(body)
        change(data)
        body = json.dumps(data, separators=(",", ":")).encode()
        if key is not None:
            name = f"{entry.parent.name}/{entry.name}"
            header = hashlib.blake2b(name.encode() + b"\0" + body, key=key, digest_size=32).hexdigest().encode()
        entry.write_bytes(header + b"\n" + body if header else body)
        count += 1
    return count


def _hide_findings(data: dict) -> None:
    data["findings"] = []


def test_crafted_entries_committed_in_the_cache_dir_cannot_hide_findings(project: Path) -> None:
    """A repository commits its cache directory with entries that say "no findings" for the
    file's exact content: ``--format github`` still reports both findings, exit 1."""
    _configure_cache_dir(project, ".raptor_lint_cache")
    assert run_cli("check", ".", cwd=project).returncode == 1
    assert _rewrite_entries(project / ".raptor_lint_cache", _hide_findings) >= 1
    proc = run_cli("check", "--format", "github", ".", cwd=project)
    assert proc.returncode == 1 and len(_findings_lines(proc)) == 2


def test_entries_signed_with_another_users_key_are_misses(project: Path, tmp_path: Path, monkeypatch) -> None:
    """The key lives in the user's cache directory, never in the checkout: entries crafted
    and signed on the attacker's machine, then committed, do not verify on the victim's."""
    _configure_cache_dir(project, ".raptor_lint_cache")
    assert run_cli("check", ".", cwd=project).returncode == 1
    attacker_key = (Path(os.environ["XDG_CACHE_HOME"]) / "raptor-lint" / "key").read_bytes()
    assert _rewrite_entries(project / ".raptor_lint_cache", _hide_findings, key=attacker_key) >= 1
    # Control: with the key that signed them, the crafted entries are well-formed hits.
    assert run_cli("check", ".", cwd=project).returncode == 0
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "victim-cache"))
    proc = run_cli("check", "--format", "github", ".", cwd=project)
    assert proc.returncode == 1 and len(_findings_lines(proc)) == 2


BAD = Finding("svc/views.py", 3, 44, "RPT301", "a message", 3, 63)


@pytest.mark.parametrize("finding", [
    Finding("svc/views.py", -7, 0, "RPT301", "out of range"),
    Finding("svc/views.py", 3, 0, "RPT301", "column 0"),
    Finding("svc/views.py", 99, 1, "RPT301", "past the last line"),
    Finding("svc/views.py", 3, 44, "RPT301", "ends before it starts", 2, 1),
    Finding("svc/views.py", 3, 44, "RPT301", "half an end", 3, None),
    Finding("svc/views.py", 3, 44, "XYZ123", "a code no rule reports"),
], ids=["negative", "column-0", "past-eof", "end-before-start", "half-end", "unknown-code"])
def test_an_entry_with_an_impossible_finding_is_a_miss(project: Path, finding: Finding) -> None:
    cache = FindingsCache(Config(root=project))
    path = project / "svc" / "views.py"
    data = path.read_bytes()
    cache.store(path, data, [BAD, finding], "svc/views.py", used_project=False)
    assert cache.lookup(path, data, "svc/views.py") is None
    cache.store(path, data, [BAD], "svc/views.py", used_project=False)  # control: a valid one
    assert cache.lookup(path, data, "svc/views.py") == [BAD]


def test_notes_and_related_places_round_trip(project: Path) -> None:
    cache = FindingsCache(Config(root=project))
    path = project / "svc" / "views.py"
    data = path.read_bytes()
    finding = Finding("svc/views.py", 3, 44, "RPT301", "short", 3, 63, note="the long story",
                      related=(Related(str(project / "settings.py"), 2, 1, "the prefix comes from here"),))
    cache.store(path, data, [finding], "svc/views.py", used_project=False)
    (got,) = cache.lookup(path, data, "svc/views.py") or [None]
    assert got is not None and got.note == "the long story" and got.related == finding.related


def test_an_entry_that_is_a_fifo_never_blocks_the_run(project: Path) -> None:
    """Opened with O_NONBLOCK and checked to be a regular file: a planted FIFO is a miss."""
    _configure_cache_dir(project, ".raptor_lint_cache")
    cache = FindingsCache(load_config(start=project))
    name = cache.entry_name(project / "svc" / "views.py")
    fifo = project / ".raptor_lint_cache" / tool_fingerprint()[:20] / name
    fifo.parent.mkdir(parents=True)
    (project / ".raptor_lint_cache" / "CACHEDIR.TAG").write_text(CACHEDIR_TAG, encoding="utf-8")
    os.mkfifo(fifo)
    script = ("import sys; from pathlib import Path; from raptor_lint.cache import FindingsCache; "
              "from raptor_lint.config import load_config; root = Path(sys.argv[1]); "
              "c = FindingsCache(load_config(start=root)); "
              "print(c.lookup(root / 'svc/views.py', lambda: b'x', 'svc/views.py'))")
    proc = subprocess.run([sys.executable, "-c", script, str(project)], capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.strip() == "None", proc.stderr


def test_a_fifo_as_the_prune_stamp_in_a_cache_dir_never_blocks_the_run(project: Path) -> None:
    """A repository may commit anything in a ``cache-dir`` inside the project: a ``last-prune``
    that is a FIFO used to be opened for writing without O_NONBLOCK, waiting for a reader
    forever.  It is replaced by a regular stamp, and the run ends as usual."""
    from conftest import BIN

    _configure_cache_dir(project, "c")
    assert run_cli("check", ".", cwd=project).returncode == 1  # makes the cache and its stamp
    stamp = project / "c" / "last-prune"
    stamp.unlink()
    os.mkfifo(stamp)
    try:
        proc = subprocess.run([str(BIN / "raptor-lint"), "check", "."], cwd=project, capture_output=True,
                              timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the run blocked on the FIFO")
    assert proc.returncode == 1 and b"RPT301" in proc.stdout, proc.stderr
    assert stamp.is_file() and not stamp.is_symlink()  # pruned, and stamped again


# ------------------------------------------------------------ racy-clean rule
def test_an_edit_keeping_size_and_mtime_is_reported(project: Path) -> None:
    """An editor, or ``touch -d``, restores the old mtime after a same-size edit: the file
    is old (outside the racy window), but its ctime moved, so its content is hashed."""
    target = project / "svc" / "views.py"
    target.write_text(TWO_FINDINGS.replace('url_prefix="/api/internal/bar"', 'url_prefix="/xyz/internal/bar"'),
                      encoding="utf-8")
    _age(project)
    before = os.stat(target)
    first = run_cli("check", "--format", "github", ".", cwd=project)
    assert len(_findings_lines(first)) == 1
    assert len(_findings_lines(run_cli("check", "--format", "github", ".", cwd=project))) == 1  # warm
    target.write_text(TWO_FINDINGS, encoding="utf-8")
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = os.stat(target)
    assert (after.st_size, after.st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    second = run_cli("check", "--format", "github", ".", cwd=project)
    assert second.returncode == 1 and len(_findings_lines(second)) == 2


def _capture_cache(monkeypatch) -> list[FindingsCache]:
    from raptor_lint import cache as cache_module

    made: list[FindingsCache] = []
    real = cache_module.make_cache

    def capturing(config):
        cache = real(config)
        if cache is not None:
            made.append(cache)
        return cache

    monkeypatch.setattr(cache_module, "make_cache", capturing)
    return made


def test_content_is_hashed_only_in_the_racy_window(project: Path, monkeypatch) -> None:
    for number in range(5):
        (project / "svc" / f"module_{number}.py").write_text(f"VALUE = {number}\n", encoding="utf-8")
    monkeypatch.chdir(project)
    made = _capture_cache(monkeypatch)

    def run() -> int:
        # Part of the project (not its root): per-file look-ups, no snapshot.
        run_check(Config(root=project), CheckOptions(paths=[Path("svc")], jobs=1))
        return made[-1].content_hashes

    from raptor_lint import cache as cache_module

    with monkeypatch.context() as patch:
        patch.setattr(cache_module, "RECENT_NS", 10**18)  # every file inside the racy window
        run()
        assert run() == 7  # a stat within the window is never trusted: every file is hashed
    _age(project)
    assert run() == 7  # the stat changed: hashed once, and the entries take the new stat
    assert run() == 0  # old files whose stat matches: not even read
    older = os.stat(project).st_mtime - 7200
    os.utime(project / "svc" / "module_0.py", (older, older))  # its stat changed (outside the window)
    assert run() == 1  # hashed once, then trusted again
    future = os.stat(project).st_mtime + 3600
    os.utime(project / "svc" / "module_1.py", (future, future))  # an mtime in the future...
    assert run() == 1 and run() == 1  # ...is never trusted


# ------------------------------------------------------------------ pruning
def test_pruning_shrinks_a_cache_past_its_bound(project: Path, monkeypatch) -> None:
    from raptor_lint import cache_prune

    for number in range(60):
        (project / "svc" / f"module_{number}.py").write_text(f"VALUE = {number}\n" * 40, encoding="utf-8")
    _age(project)
    monkeypatch.chdir(project)
    config = Config(root=project)
    run_check(config, CheckOptions(paths=[Path(".")], jobs=1))
    directory = cache_directory(config)
    assert directory is not None
    fd = os.open(directory, os.O_RDONLY)
    try:
        full = cache_prune.cache_size(fd)
        bound = full // 3
        monkeypatch.setattr(cache_prune, "MAX_BYTES", bound)
        run_check(config, CheckOptions(paths=[Path(".")], jobs=1))
        assert cache_prune.cache_size(fd) == full  # pruned at most daily: not due yet
        stamp = directory / cache_prune.STAMP
        old = stamp.stat().st_mtime - 2 * cache_prune.PRUNE_INTERVAL_S
        os.utime(stamp, (old, old))
        result = run_check(config, CheckOptions(paths=[Path(".")], jobs=1))
        assert cache_prune.cache_size(fd) <= bound
    finally:
        os.close(fd)
    assert [f.line for f in result.findings] == [3, 4]  # findings unchanged


def test_pruning_removes_entries_and_other_projects_unused_for_a_month(
        project: Path, tmp_path: Path, monkeypatch) -> None:
    from raptor_lint import cache_prune

    moved = tmp_path / "old-checkout"
    shutil.copytree(project, moved)
    monkeypatch.chdir(moved)
    run_check(Config(root=moved), CheckOptions(paths=[Path(".")], jobs=1))
    monkeypatch.chdir(project)
    run_check(Config(root=project), CheckOptions(paths=[Path(".")], jobs=1))
    old_directory, directory = cache_directory(Config(root=moved)), cache_directory(Config(root=project))
    assert old_directory is not None and directory is not None and old_directory.is_dir()
    month_ago = os.stat(directory).st_mtime - cache_prune.MAX_AGE_S - 3600
    for path in [*old_directory.rglob("*"), *directory.rglob("*")]:
        os.utime(path, (month_ago, month_ago), follow_symlinks=False)
    run_check(Config(root=project), CheckOptions(paths=[Path(".")], jobs=1))
    assert not old_directory.exists()  # the moved checkout's cache is gone
    assert all(os.stat(p).st_mtime > month_ago for p in directory.glob("*/*/*.json"))  # only fresh ones


# -------------------------------------------------------------------- clean
def test_clean_removes_this_projects_cache_wherever_it_lives(project: Path, tmp_path: Path,
                                                             monkeypatch) -> None:
    monkeypatch.chdir(project)
    config = Config(root=project)
    run_check(config, CheckOptions(paths=[Path(".")], jobs=1))
    directory = cache_directory(config)
    assert directory is not None and directory.is_dir()
    legacy = project / ".raptor_lint_cache"
    legacy.mkdir()
    (legacy / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55\n", encoding="utf-8")
    assert clear_cache(config) == [directory, legacy]
    assert not directory.exists() and not legacy.exists()
    assert (Path(os.environ["XDG_CACHE_HOME"]) / "raptor-lint").is_dir()  # other projects' stay


def test_clean_removes_a_configured_cache_dir_without_following_symlinks(project: Path, tmp_path: Path) -> None:
    outside = tmp_path / "home"
    outside.mkdir()
    (outside / "precious").write_text("keep\n", encoding="utf-8")
    (outside / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55\n", encoding="utf-8")
    (project / ".raptor_lint_cache").symlink_to(outside)  # committed: left alone
    _configure_cache_dir(project, "cache")
    tool = project / "cache" / tool_fingerprint()[:20]
    tool.mkdir(parents=True)
    (project / "cache" / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55\n",
                                                    encoding="utf-8")
    (tool / "ab").symlink_to(outside)
    assert clear_cache(load_config(start=project)) == [project / "cache"]
    assert not (project / "cache").exists() and (project / ".raptor_lint_cache").is_symlink()
    assert sorted(p.name for p in outside.iterdir()) == ["CACHEDIR.TAG", "precious"]
    (project / "cache").symlink_to(outside)  # the configured directory itself a symlink
    assert clear_cache(load_config(start=project)) == []
    assert sorted(p.name for p in outside.iterdir()) == ["CACHEDIR.TAG", "precious"]


def test_a_directory_of_the_users_own_is_never_claimed_as_a_cache(project: Path, tmp_path: Path,
                                                                  monkeypatch) -> None:
    """RAPTOR_LINT_CACHE_DIR=$HOME by mistake: no `.gitignore` holding `*` lands there (git
    would ignore the whole directory), nothing is written, pruned or cleaned in it."""
    home = tmp_path / "home"
    (home / "notes").mkdir(parents=True)
    (home / "notes" / "old.txt").write_text("2019\n", encoding="utf-8")
    os.utime(home / "notes" / "old.txt", (0, 0))  # older than any pruning age
    before = sorted(p.relative_to(home) for p in home.rglob("*"))
    monkeypatch.setenv("RAPTOR_LINT_CACHE_DIR", str(home))
    proc = run_cli("check", ".", cwd=project)
    assert proc.returncode == 1 and "is not empty and has no CACHEDIR.TAG" in proc.stderr.decode()
    assert clear_cache(Config(root=project)) == []
    assert sorted(p.relative_to(home) for p in home.rglob("*")) == before


def test_pruning_and_clean_touch_only_what_raptor_lint_made(project: Path, tmp_path: Path, monkeypatch) -> None:
    from raptor_lint import cache_prune

    target = tmp_path / "ci-cache"
    monkeypatch.setenv("RAPTOR_LINT_CACHE_DIR", str(target))
    monkeypatch.chdir(project)
    run_check(Config(root=project), CheckOptions(paths=[Path(".")], jobs=1))
    (target / "README").write_text("the CI's own note\n", encoding="utf-8")
    (target / "other-tool" / "data").mkdir(parents=True)
    (target / "other-tool" / "data" / "old.json").write_text("{}", encoding="utf-8")
    (stale,) = [p.parent / ("0" * 38 + ".json") for p in (target / tool_fingerprint()[:20]).glob("*/*.json")][:1]
    stale.write_text("an entry of a file since deleted", encoding="utf-8")
    for path in (target / "README", target / "other-tool" / "data" / "old.json", stale):
        os.utime(path, (0, 0))  # unused for decades
    os.utime(target / cache_prune.STAMP, (0, 0))  # a prune is due
    run_check(Config(root=project), CheckOptions(paths=[Path(".")], jobs=1))
    assert not stale.exists()
    assert (target / "README").is_file() and (target / "other-tool" / "data" / "old.json").is_file()
    assert clear_cache(Config(root=project)) == [target]
    assert sorted(p.name for p in target.iterdir()) == ["README", "other-tool"]


def test_no_cache_where_directory_descriptors_are_missing(project: Path, monkeypatch) -> None:
    """Without ``dir_fd`` (Windows) a planted symlink could not be kept from redirecting a
    write: no cache rather than a cache that follows links."""
    monkeypatch.setattr(os, "supports_dir_fd", set())
    assert make_cache(Config(root=project)) is None


@pytest.mark.parametrize("changed", ["app/other.py", "docs/ops/runbook.md"])
def test_a_racy_file_an_entry_depends_on_is_compared_by_content(tmp_path: Path, monkeypatch, changed: str) -> None:
    """git's racy-clean rule for the files an entry depends on (other modules, the runbook):
    while their stat is too recent to trust, the entry records their content hashes.  Here the
    stat is made blind (a coarse file system: same size, same timestamps) and every file is
    racy: a same-size edit of a file b.py depends on must still re-lint b.py."""
    from test_cache import FakeChecker

    from raptor_lint import cache as cache_module

    calls: list[str] = []
    monkeypatch.setattr("raptor_lint.engine.checker_classes", lambda: (FakeChecker,))
    monkeypatch.setattr("test_cache.CALLS", calls)
    monkeypatch.setattr(cache_module, "RECENT_NS", 10**18)
    monkeypatch.setattr(cache_module, "_file_token", lambda root, path, st: cache_module._relative(root, path))
    monkeypatch.setattr(cache_module, "_stat_token", lambda path: str(path))
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    (tmp_path / "app").mkdir()
    (tmp_path / "docs" / "ops").mkdir(parents=True)
    (tmp_path / "app" / "b.py").write_text("VALUE = 'USES_PROJECT'  # TODO_CACHE\n", encoding="utf-8")
    (tmp_path / "app" / "other.py").write_text("NAME = 'aaaa'\n", encoding="utf-8")
    (tmp_path / "docs" / "ops" / "runbook.md").write_text("# Runbook aaaa\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)

    def run() -> list[str]:
        calls.clear()
        run_check(Config(root=tmp_path), CheckOptions(paths=[Path("app")], jobs=1))
        return sorted(calls)

    assert run() == ["app/b.py"]
    assert run() == []  # control: unchanged, served although every file is racy
    target = tmp_path / changed
    target.write_text(target.read_text(encoding="utf-8").replace("aaaa", "bbbb"), encoding="utf-8")
    assert run() == ["app/b.py"]


def test_a_cache_file_is_read_only_when_it_is_a_small_regular_file_not_a_link(tmp_path: Path) -> None:
    """Entries and the key are read through ``safe_read.open_regular_file`` without following
    symlinks: a symlink (even to a good file), a FIFO (never opened: it would wait for a
    writer), a directory or a file over the cap is a miss; a regular file is read."""
    from raptor_lint.cache import _read_regular

    (tmp_path / "entry").write_bytes(b"0123456789")
    (tmp_path / "link").symlink_to(tmp_path / "entry")
    (tmp_path / "device").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "fifo")
    (tmp_path / "dir").mkdir()
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        found = _read_regular(fd, "entry", 10)
        assert found is not None and found[0] == b"0123456789" and found[1].st_size == 10
        assert _read_regular(fd, "entry", 9) is None
        for name in ("link", "device", "fifo", "dir", "missing"):
            assert _read_regular(fd, name, 1 << 20) is None, name
    finally:
        os.close(fd)
