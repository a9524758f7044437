"""The findings cache (in the user's cache directory): hits, every kind of invalidation, fixes
round-tripping, corruption and deletion mid-run, concurrent writers, self-ignoring.

A stand-in rule family (RPT990) keeps these tests independent of the real
families: it reports each ``TODO_CACHE`` line with a fix, consults a project fact
on files that say ``USES_PROJECT``, and counts its calls so a test can tell a
cache hit (not linted) from a miss.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

from raptor_lint.cache import FindingsCache, cache_directory
from raptor_lint.config import Config
from raptor_lint.findings import Edit, Finding, Fix
from raptor_lint.rules.base import Checker, Rule
from raptor_lint.runner import CheckOptions, run_check

CALLS: list[str] = []


def _fact(index) -> int:
    return sum(1 for p in Path(index.root).rglob("*.py"))


class FakeChecker(Checker):
    family = "cache-test"
    rules = (Rule("RPT990", "cache-test", "test", "test", "test", "x", "y", fixable=True),)
    prefilter_rules = frozenset({"RPT990"})

    def prefilter(self, text: str) -> bool:
        return "TODO_CACHE" in text or "USES_PROJECT" in text

    def check(self, ctx):
        CALLS.append(ctx.relpath)
        if "USES_PROJECT" in ctx.text:
            ctx.project.get(_fact)
        for number, line in enumerate(ctx.lines, 1):
            column = line.find("TODO_CACHE")
            if column >= 0:
                fix = Fix("drop the marker", (Edit(number, column + 1, number, column + 11, "DONE_CACHE"),))
                yield ctx.finding("RPT990", (number, column + 1, number, column + 11), "a marker — ünïcode", fix)


@pytest.fixture
def fake_family(monkeypatch):
    monkeypatch.setattr("raptor_lint.engine.checker_classes", lambda: (FakeChecker,))
    CALLS.clear()
    yield CALLS


@pytest.fixture
def project(tmp_path: Path, monkeypatch) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    app = tmp_path / "app"
    app.mkdir()
    (app / "a.py").write_text("x = 1  # TODO_CACHE\n\n\ny = 2  # TODO_CACHE\n", encoding="utf-8")
    (app / "b.py").write_text("VALUE = 'USES_PROJECT'  # TODO_CACHE\n", encoding="utf-8")
    (app / "clean.py").write_text("def add(a, b):\n    return a + b\n", encoding="utf-8")
    (app / "broken.py").write_text("def broken(:\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _cache(project: Path) -> Path:
    """This project's cache directory (conftest points the user cache directory at a tmp dir)."""
    directory = cache_directory(Config(root=project))
    assert directory is not None
    return directory


def _entry_body(entry: Path) -> dict:
    """An entry's JSON (the first line is its signature)."""
    return json.loads(entry.read_bytes().partition(b"\n")[2])


def _run(project: Path, use_cache: bool = True, **changes):
    config = Config(root=project).replace(**changes) if changes else Config(root=project)
    result = run_check(config, CheckOptions(paths=[Path(".")], use_cache=use_cache, jobs=1))
    return [(f.path, f.line, f.column, f.end_line, f.end_column, f.code, f.message, f.fix)
            for f in result.findings]


def test_second_run_is_served_from_the_cache_with_fixes_intact(project, fake_family) -> None:
    first = _run(project)
    assert sorted(fake_family) == ["app/a.py", "app/b.py"]
    assert any(item[-1] is not None for item in first)
    assert any(item[5] == "E999" for item in first)
    fake_family.clear()
    second = _run(project)
    assert fake_family == []  # nothing linted again
    assert second == first
    assert [item[-1] for item in second] == [item[-1] for item in first]  # Fix/Edit compare by value


def test_no_cache_neither_reads_nor_writes(project, fake_family) -> None:
    _run(project, use_cache=False)
    assert not _cache(project).exists()
    _run(project)
    fake_family.clear()
    _run(project, use_cache=False)
    assert sorted(fake_family) == ["app/a.py", "app/b.py"]


def test_cache_directory_ignores_itself(project, fake_family) -> None:
    _run(project)
    directory = _cache(project)
    assert directory.joinpath(".gitignore").read_text().splitlines()[-1] == "*"
    assert directory.joinpath("CACHEDIR.TAG").read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")


def test_changed_content_is_linted_again(project, fake_family) -> None:
    first = _run(project)
    (project / "app" / "a.py").write_text("x = 1\n\n\ny = 2  # TODO_CACHE\n", encoding="utf-8")
    fake_family.clear()
    second = _run(project)
    # a.py changed; b.py consulted the project, whose state changed with a.py.
    assert sorted(fake_family) == ["app/a.py", "app/b.py"]
    assert second != first and ("app/a.py", 4) in {(p, line) for p, line, *_ in second}


def test_changed_configuration_misses(project, fake_family) -> None:
    _run(project)
    fake_family.clear()
    _run(project, api_prefix="/v2")
    assert sorted(fake_family) == ["app/a.py", "app/b.py"]


def test_changed_project_facts_miss(project, fake_family) -> None:
    runbook = project / "docs" / "ops" / "runbook.md"
    runbook.parent.mkdir(parents=True)
    runbook.write_text("# Runbook\n", encoding="utf-8")
    versions = project / "migrations" / "versions"
    versions.mkdir(parents=True)
    _run(project)
    fake_family.clear()
    _run(project)
    assert fake_family == []
    (versions / "0001_add_flag.py").write_text("revision = '0001'\n", encoding="utf-8")
    _run(project)
    assert sorted(fake_family) == ["app/a.py", "app/b.py"]  # every entry depends on the facts
    fake_family.clear()
    runbook.write_text("# Runbook\n\nFLAG_NEW\n", encoding="utf-8")
    _run(project)
    assert sorted(fake_family) == ["app/a.py", "app/b.py"]


def test_files_that_consulted_the_project_depend_on_other_files(project, fake_family) -> None:
    _run(project)
    (project / "app" / "new_module.py").write_text("NAME = 'x'\n", encoding="utf-8")
    fake_family.clear()
    _run(project)
    # b.py asked a project fact: any change in the project re-lints it; a.py did not.
    assert fake_family == ["app/b.py"]


@pytest.mark.parametrize("garbage", [b"", b"{", b"not json", b"[]", b'{"v": 1}', b"\xff\xfe\x00",
                                     b'{"v":1,"path":1,"content":2,"facts":3,"project":null,"findings":[[1]]}'])
def test_corrupt_entries_are_misses_and_get_rewritten(project, fake_family, garbage: bytes) -> None:
    first = _run(project)
    entries = list(_cache(project).rglob("*.json"))
    assert len(entries) == 4  # a.py, b.py, clean.py, broken.py (E999 is cached too)
    for entry in entries:
        entry.write_bytes(garbage)
    fake_family.clear()
    assert _run(project) == first
    assert sorted(fake_family) == ["app/a.py", "app/b.py"]
    fake_family.clear()
    assert _run(project) == first
    assert fake_family == []


def test_entry_with_valid_shape_but_wrong_content_hash_is_a_miss(project, fake_family) -> None:
    _run(project)
    for entry in _cache(project).rglob("*.json"):
        signature = entry.read_bytes().partition(b"\n")[0]
        data = _entry_body(entry)
        data["content"] = "0" * 40
        data["findings"] = []
        entry.write_bytes(signature + b"\n" + json.dumps(data).encode())
    fake_family.clear()
    assert any(item[5] == "RPT990" for item in _run(project))
    assert sorted(fake_family) == ["app/a.py", "app/b.py"]


def test_cache_deleted_mid_run_is_harmless(project, fake_family, monkeypatch) -> None:
    import shutil

    first = _run(project)
    original = FakeChecker.check

    def deleting_check(self, ctx):
        shutil.rmtree(_cache(project), ignore_errors=True)
        return list(original(self, ctx))

    monkeypatch.setattr(FakeChecker, "check", deleting_check)
    (project / "app" / "a.py").write_text("x = 1  # TODO_CACHE\n", encoding="utf-8")
    (project / "app" / "b.py").write_text("y = 1  # TODO_CACHE\n", encoding="utf-8")
    second = _run(project)
    assert second != first and {p for p, *_ in second if p.endswith(("a.py", "b.py"))} == {"app/a.py", "app/b.py"}
    monkeypatch.setattr(FakeChecker, "check", original)
    assert _run(project) == second


def test_unwritable_cache_location_is_skipped(project, fake_family) -> None:
    _cache(project).parent.mkdir(parents=True)
    _cache(project).write_text("a file where the directory should be\n", encoding="utf-8")
    first = _run(project)
    fake_family.clear()
    assert _run(project) == first
    assert sorted(fake_family) == ["app/a.py", "app/b.py"]


def test_internal_errors_are_not_cached(project, fake_family, monkeypatch) -> None:
    def failing_check(self, ctx):
        raise RuntimeError("boom")

    original = FakeChecker.check
    monkeypatch.setattr(FakeChecker, "check", failing_check)
    assert any(item[5] == "RPT000" for item in _run(project))
    monkeypatch.setattr(FakeChecker, "check", original)
    fake_family.clear()
    assert not any(item[5] == "RPT000" for item in _run(project))
    assert sorted(fake_family) == ["app/a.py", "app/b.py"]


def test_display_path_follows_the_working_directory(project, fake_family, monkeypatch) -> None:
    _run(project)
    monkeypatch.chdir(project / "app")
    config = Config(root=project)
    result = run_check(config, CheckOptions(paths=[Path(".")], jobs=1))
    assert {f.path for f in result.findings} == {"a.py", "b.py", "broken.py"}


# ----------------------------------------------------------- concurrency
def _hammer(root: str, rounds: int, seed: int, queue) -> None:
    config = Config(root=Path(root))
    cache = FindingsCache(config)
    path = Path(root) / "app" / "a.py"
    bad = 0
    for number in range(rounds):
        data = f"# version {seed}-{number}\n".encode()
        findings = [Finding("app/a.py", 1, 1, "RPT990", f"message {seed}-{number}")]
        cache.store(path, data, findings, "app/a.py", used_project=False)
        got = cache.lookup(path, data, "app/a.py")
        if got is not None and got != findings:
            bad += 1
    queue.put(bad)


def test_concurrent_writers_never_produce_a_torn_entry(project) -> None:
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
    queue = context.Queue()
    workers = [context.Process(target=_hammer, args=(str(project), 60, seed, queue)) for seed in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [queue.get(timeout=5) for _ in workers] == [0, 0, 0]
    leftovers = [p for p in _cache(project).rglob("*.raptor-lint.tmp")]
    assert leftovers == []
    # Whatever entry won, it is complete and readable.
    for entry in _cache(project).rglob("*.json"):
        _entry_body(entry)
    assert os.listdir(_cache(project))


# ----------------------------------------------------------- warm-run speed
def _age(project: Path, seconds: int = 60) -> None:
    """Give every project file an mtime in the past (files written just now never trust
    their stat: they may change again within the same mtime tick)."""
    past = os.stat(project).st_mtime - seconds
    for path in project.rglob("*.py"):
        os.utime(path, (past, past))


def test_unchanged_files_are_not_even_read_on_a_warm_run(project, fake_family, monkeypatch) -> None:
    from raptor_lint import parallel

    _age(project)
    first = _run(project)
    reads: list[str] = []
    real = parallel.read_source
    monkeypatch.setattr(parallel, "read_source", lambda path: reads.append(str(path)) or real(path))
    fake_family.clear()
    assert _run(project) == first
    assert reads == [] and fake_family == []


def test_a_file_changed_without_a_new_mtime_or_size_is_caught_when_written_recently(
        project, fake_family) -> None:
    """Same size, same mtime (a coarse-grained file system, or a tool restoring mtimes):
    entries of files written within the last seconds do not trust the stat."""
    first = _run(project)
    target = project / "app" / "a.py"
    before = os.stat(target)
    target.write_text(target.read_text(encoding="utf-8").replace("x = 1", "z = 1"), encoding="utf-8")
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert os.stat(target).st_size == before.st_size
    fake_family.clear()
    assert _run(project) == first  # same findings...
    assert "app/a.py" in fake_family  # ...but linted again, not served from the stale stat


def _spy_lookups(monkeypatch) -> list[str]:
    """Record the per-file look-ups (they still answer)."""
    looked_up: list[str] = []
    real = FindingsCache.lookup
    monkeypatch.setattr(FindingsCache, "lookup",
                        lambda self, path, *args, **kwargs: looked_up.append(Path(path).as_posix())
                        or real(self, path, *args, **kwargs))
    return looked_up


def _snapshots(project: Path) -> list[Path]:
    return list(_cache(project).glob("*/runs/*.json"))


def test_a_warm_run_over_an_unchanged_project_reads_one_snapshot(project, fake_family, monkeypatch) -> None:
    _age(project)
    first = _run(project)
    assert len(_snapshots(project)) == 1
    looked_up = _spy_lookups(monkeypatch)
    fake_family.clear()
    assert _run(project) == first
    assert looked_up == [] and fake_family == []  # no per-file entry opened, nothing linted
    # From another working directory (display paths follow it) the snapshot still serves.
    monkeypatch.chdir(project / "app")
    config = Config(root=project)
    result = run_check(config, CheckOptions(paths=[Path("..")], jobs=1))
    assert sorted({f.path for f in result.findings}) == ["a.py", "b.py", "broken.py"]
    assert looked_up == [] and fake_family == []


def test_any_change_in_the_project_falls_back_to_the_per_file_entries(project, fake_family, monkeypatch) -> None:
    _age(project)
    _run(project)
    target = project / "app" / "a.py"
    target.write_text("x = 1\n", encoding="utf-8")  # its TODO_CACHE markers are gone
    _age(project)
    looked_up = _spy_lookups(monkeypatch)
    fake_family.clear()
    found = _run(project)
    assert sorted(set(looked_up)) == ["app/a.py", "app/b.py", "app/broken.py", "app/clean.py"]
    # a.py changed; b.py consulted the project, whose state changed: both linted again.
    assert sorted(fake_family) == ["app/b.py"] and not [f for f in found if f[0] == "app/a.py"]
    looked_up.clear()
    assert _run(project) == found and looked_up == []  # the new snapshot serves the next run


def test_a_snapshot_does_not_outlive_the_project_facts(project, fake_family) -> None:
    """The config manifest is read by project rules but is not itself a linted file: a
    change to it alone must still stop the snapshot from serving."""
    from raptor_lint.config import DEFAULT_CONFIG_MANIFEST

    manifest = project / DEFAULT_CONFIG_MANIFEST
    manifest.parent.mkdir(parents=True)
    manifest.write_text("variables: []\n", encoding="utf-8")
    _age(project)
    _run(project)
    fake_family.clear()
    _run(project)
    assert fake_family == []
    manifest.write_text("variables: [{name: NEW_VAR}]\n", encoding="utf-8")
    _run(project)
    assert sorted(fake_family) == ["app/a.py", "app/b.py"]


@pytest.mark.parametrize("garbage", [b"", b"{", b"[]", b'{"v": 1}', b"\xff\xfe"])
def test_a_corrupt_snapshot_is_a_miss(project, fake_family, garbage: bytes) -> None:
    _age(project)
    first = _run(project)
    (snapshot,) = _snapshots(project)
    snapshot.write_bytes(garbage)
    fake_family.clear()
    assert _run(project) == first and fake_family == []  # the per-file entries serve


def test_no_snapshot_of_recent_files_nor_of_part_of_the_project(project, fake_family, monkeypatch) -> None:
    _run(project)  # files written just now: their stat may not show the next change
    assert _snapshots(project) == []
    _age(project)
    monkeypatch.chdir(project / "app")
    run_check(Config(root=project), CheckOptions(paths=[Path(".")], jobs=1))  # not the root
    assert _snapshots(project) == []


def test_project_state_from_the_run_equals_a_walk_of_the_project(project, monkeypatch) -> None:
    from raptor_lint.cache import project_state_fingerprint, stat_or_none
    from raptor_lint.discovery import iter_files

    config = Config(root=project)
    walked = project_state_fingerprint(config)
    for cwd in (project, project / "app"):
        monkeypatch.chdir(cwd)
        files = [path for path, _ in iter_files([Path(os.path.relpath(project))], config)]
        assert project_state_fingerprint(config, {str(p): stat_or_none(p) for p in files}) == walked
    (project / "app" / "new.py").write_text("NEW = 1\n", encoding="utf-8")
    assert project_state_fingerprint(config) != walked


def test_an_interrupted_entry_write_leaves_no_temporary_file(project, monkeypatch) -> None:
    """The cache writes through raptor_lint.atomic like --fix: a failed rename is cleaned up."""
    def failing_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", failing_replace)
    cache = FindingsCache(Config(root=project))
    cache.store(project / "app" / "a.py", b"x = 1\n", [], "app/a.py", used_project=False)
    assert list(_cache(project).rglob("*.raptor-lint.tmp")) == []
    assert list(_cache(project).rglob("*.json")) == []


def test_library_versions_read_from_dist_info_names_match_importlib_metadata() -> None:
    """The cache key's library versions come from directory names (importlib.metadata costs
    ~0.1 s to import): they must be the versions pip installed."""
    from importlib import metadata

    from raptor_lint.cache import _LIBRARIES, _dist_key, _library_versions

    found = _library_versions()
    assert {name: found.get(_dist_key(name)) for name in _LIBRARIES} == \
        {name: metadata.version(name) for name in _LIBRARIES}


@pytest.mark.parametrize("hidden_by", ["gitignore", "extend-exclude"])
@pytest.mark.parametrize("target", ["hub/routes/imported_abs.py", "."])
def test_a_module_discovery_skips_still_invalidates_the_entries_that_import_it(
        tmp_path: Path, monkeypatch, hidden_by: str, target: str) -> None:
    """The resolver reads any module an import names, linted or not (a gitignored generated
    ``_version.py``, a ``local_settings.py``): the project state covers it, so editing it
    re-lints its importers — in a run of one file and in a run of the whole project (the
    snapshot)."""
    import shutil

    from raptor_lint.config import load_config

    root = tmp_path / "bp"
    shutil.copytree(Path(__file__).parent / "fixtures" / "blueprints", root)
    (root / ".git").mkdir()  # the ignore files apply inside a repository
    if hidden_by == "gitignore":
        (root / ".gitignore").write_text("hub/settings.py\n", encoding="utf-8")
    else:
        pyproject = root / "pyproject.toml"
        pyproject.write_text(pyproject.read_text(encoding="utf-8")
                             + 'extend-exclude = ["hub/settings.py"]\n', encoding="utf-8")
    past = os.stat(root).st_mtime - 600  # out of the racy window: the stats alone decide
    for path in root.rglob("*"):
        os.utime(path, (past, past))
    monkeypatch.chdir(root)

    def rpt301_in_imported_abs(use_cache: bool = True) -> bool:
        result = run_check(load_config(start=root), CheckOptions(paths=[Path(target)], use_cache=use_cache,
                                                                 jobs=1))
        assert "hub/settings.py" not in {f.path for f in result.findings}  # not linted itself
        return ("hub/routes/imported_abs.py", "RPT301") in {(f.path, f.code) for f in result.findings}

    assert rpt301_in_imported_abs()
    assert rpt301_in_imported_abs()  # served from the cache (the snapshot, for ".")
    settings = root / "hub" / "settings.py"
    settings.write_text(settings.read_text(encoding="utf-8").replace(
        'INTERNAL = f"{API_PREFIX}/internal"', 'INTERNAL = "/internal"'), encoding="utf-8")
    assert not rpt301_in_imported_abs(use_cache=False)  # control: the edit removes the finding
    assert not rpt301_in_imported_abs()
