"""Redis clients recognised across modules through per-module export summaries.

A module that never mentions redis is analysed only when it imports a name some
other module of the project exports as a client (or a helper returning one);
these projects pin what crosses module boundaries, how far (three imports), and
that nothing is kept per module but the small summaries.
"""

from __future__ import annotations

import ast
import gc
import os
import types
from pathlib import Path
from textwrap import dedent

import pytest

from conftest import lint_project
from raptor_lint.config import Config
from raptor_lint.engine import Engine
from raptor_lint.project import ProjectIndex
from raptor_lint.rules import redis_state

FILES = {
    "pyproject.toml": '[project]\nname = "x"\nversion = "0"\n\n[tool.raptor-lint]\nselect = ["RPT2"]\n',
    "svc/__init__.py": "",
    "svc/clients.py": '''
        import redis
        from flask import current_app

        shared = redis.Redis(host="localhost")
        not_a_client = {}


        def get_client():
            return current_app.extensions.get("redis_client")


        def make_dict():
            return {}
        ''',
    # No module below mentions redis.
    "svc/facade.py": '''
        from svc.clients import get_client, make_dict, not_a_client, shared

        store = shared
        cache = not_a_client


        def client():
            return get_client()


        def plain():
            return make_dict()
        ''',
    "svc/deep.py": '''
        from svc.facade import client


        def again():
            return client()
        ''',
    "svc/deeper.py": '''
        from svc.deep import again


        def once_more():
            return again()
        ''',
    "svc/user.py": '''
        import svc.facade as f
        from svc.deep import again
        from svc.facade import cache, plain, store


        def write(key: str) -> None:
            again().set(key, "1")  # expect: RPT201, RPT205
            f.client().set(key, "1")  # expect: RPT201, RPT205
            f.store.hset(key, "a", "1")  # expect: RPT201
            store.set(key, "1")  # expect: RPT201
            cache.set(key, "1")
            plain().set(key, "1")
        ''',
    "svc/relative.py": '''
        from . import facade
        from .facade import client as fetch


        def write(key: str) -> None:
            facade.client().set(key, "1")  # expect: RPT201, RPT205
            fetch().set(key, "1")  # expect: RPT201, RPT205
            value = fetch().get(key)  # expect: RPT203, RPT205
            return value
        ''',
    "svc/chain.py": '''
        import svc


        def write(key: str) -> None:
            svc.facade.store.set(key, "1")  # expect: RPT201
        ''',
    "svc/too_far.py": '''
        from svc.deeper import once_more


        def write(key: str) -> None:
            # user -> deeper -> deep -> facade -> clients: beyond three imports.
            once_more().set(key, "1")
        ''',
    "svc/lookalike.py": '''
        from svc.facade import plain


        def write(key: str, session) -> None:
            plain().set(key, "1")
            session.get(key)
        ''',
}


def _project(root: Path) -> Path:
    for rel, text in FILES.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def _expected(root: Path) -> set[tuple[str, int, str]]:
    found = set()
    for rel in FILES:
        for number, line in enumerate((root / rel).read_text(encoding="utf-8").splitlines(), 1):
            if "# expect: " in line:
                for code in line.split("# expect: ")[1].split(","):
                    found.add((rel, number, code.strip()))
    return found


def test_clients_cross_modules_up_to_three_imports(tmp_path: Path) -> None:
    root = _project(tmp_path)
    by_file = lint_project(root)
    actual = {(rel, f.line, f.code) for rel, findings in by_file.items() for f in findings}
    assert actual == _expected(root)


def _reachable_ast_nodes(root: object) -> int:
    """``ast`` nodes reachable from ``root`` through data (not through functions, whose
    globals reach every module's caches)."""
    seen: set[int] = set()
    stack = [root]
    count = 0
    skip = (type, str, bytes, int, float, types.FunctionType, types.BuiltinFunctionType,
            types.MethodType, types.ModuleType, types.CodeType)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, skip):
            continue
        seen.add(id(obj))
        if isinstance(obj, ast.AST):
            count += 1
        stack.extend(gc.get_referents(obj))
    return count


def test_summaries_keep_no_tree(tmp_path: Path) -> None:
    """Only small summaries outlive a file: no ``ast`` node of any module stays reachable
    from the run's project index (the old models kept every imported module's tree)."""
    root = _project(tmp_path)
    index = ProjectIndex(Config(root=root, select=("RPT2",)))
    engine = Engine(index.config, project=index)
    user = root / "svc" / "user.py"
    result = engine.lint_path(user, "python")
    # RPT201 on each line; RPT205 on 7 and 8, where the helper may return None.
    assert sorted(f.line for f in result.findings) == [7, 7, 8, 8, 9, 10]
    assert _reachable_ast_nodes(index) == 0
    exports = index.get(redis_state._exports_index)
    facade = (root / "svc" / "facade.py").resolve()
    assert exports.summary(facade, 1) == {
        # (value kind, function kind, the function may return None: RPT205)
        "shared": ("client", None, False), "store": ("client", None, False),  # imported names too
        "get_client": (None, "client", True), "client": (None, "client", True),
    }
    # At the third import no module is followed further: only direct clients count.
    assert exports.summary(facade, 3) == {}


@pytest.mark.parametrize("source", [
    "import os; from svc.facade import store\n\ndef w(k):\n    store.set(k, 1)\n",
    "from svc.facade import \\\n    store\n\ndef w(k):\n    store.set(k, 1)\n",
    "try: from svc.facade import store\nexcept ImportError: store = None\n\ndef w(k):\n    store.set(k, 1)\n",
    "def w(k):\n    from svc.facade import store\n    store.set(k, 1)\n",
    "from svc.facade import (\n    cache,  # a dict\n    store,\n)\n\ndef w(k):\n    store.set(k, 1)\n",
])
def test_odd_import_spellings_reach_the_model(tmp_path: Path, source: str) -> None:
    root = _project(tmp_path)
    (root / "svc" / "odd.py").write_text(source, encoding="utf-8")
    by_file = lint_project(root)
    assert [(f.code) for f in by_file["svc/odd.py"]] == ["RPT201"]


def _reference_roots(root: Path, from_path: Path | None) -> list[Path]:
    roots = [root, root / "src"]
    if from_path is not None:
        directory = Path(from_path).resolve().parent
        while (directory / "__init__.py").exists() and directory != directory.parent:
            directory = directory.parent
        if directory not in roots:
            roots.insert(0, directory)
    return roots


def _reference_find(root: Path, dotted: str, from_path: Path | None) -> Path | None:
    """Python's search asking the file system each time (``ModuleIndex.find_module`` before
    it cached directory listings)."""
    if not dotted or any(not part.isidentifier() for part in dotted.split(".")):
        return None
    for base in _reference_roots(root, from_path):
        candidate = base.joinpath(*dotted.split("."))
        for path in (candidate.parent / (candidate.name + ".py"), candidate / "__init__.py"):
            if path.is_file():
                return path.resolve()
    return None


def _reference_module_name(path: Path) -> str:
    path = Path(path).resolve()
    parts = [] if path.name == "__init__.py" else [path.stem]
    directory = path.parent
    while (directory / "__init__.py").exists() and directory != directory.parent:
        parts.insert(0, directory.name)
        directory = directory.parent
    return ".".join(parts)


def _reference_absolute(from_path: Path, module: str | None, level: int) -> str:
    if level == 0:
        return module or ""
    package = _reference_module_name(from_path).split(".")
    if Path(from_path).name != "__init__.py":
        package = package[:-1]
    if level > 1:
        if level - 1 > len(package):
            return ""
        package = package[: len(package) - (level - 1)]
    return ".".join([*package, *([module] if module else [])])


def _lookup_tree(root: Path) -> None:
    """Packages, namespace directories, a module shadowing a package, symlinked modules,
    packages and ``src``, a broken link, a directory named like a module."""
    _project(root)
    for rel in ("source_tree/top/__init__.py", "source_tree/top/mod.py", "ns/inner/leaf.py",
                "svc/sub/__init__.py", "svc/sub/deep.py", "svc/both.py", "svc/both/__init__.py",
                "lib/pkg/__init__.py", "lib/pkg/x.py", "svc/notmod.py/__init__.py", "svc/plain",
                "real/shared/__init__.py", "real/shared/util.py"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("", encoding="utf-8")
    (root / "src").symlink_to(root / "source_tree", target_is_directory=True)
    (root / "svc" / "linked.py").symlink_to(root / "svc" / "clients.py")
    (root / "svc" / "linkdir").symlink_to(root / "svc" / "sub", target_is_directory=True)
    (root / "svc" / "broken.py").symlink_to(root / "svc" / "missing.py")
    (root / "shared").symlink_to(root / "real" / "shared", target_is_directory=True)


LOOKUP_NAMES = ["svc", "svc.clients", "svc.sub", "svc.sub.deep", "svc.both", "svc.linked", "svc.linkdir",
                "svc.linkdir.deep", "svc.broken", "svc.notmod", "svc.plain", "top", "top.mod", "ns",
                "ns.inner", "ns.inner.leaf", "pkg", "pkg.x", "shared", "shared.util", "real.shared.util",
                "missing", "svc.missing", "redis", "redis_cache", "svc.1bad", "svc..sub", ""]


def _importers(root: Path) -> list[Path | None]:
    return [None, root / "svc" / "user.py", root / "svc" / "__init__.py", root / "svc" / "sub" / "deep.py",
            root / "svc" / "linkdir" / "deep.py", root / "lib" / "pkg" / "x.py", root / "svc" / "linked.py",
            root / "src" / "top" / "mod.py", root / "ns" / "inner" / "leaf.py", root / "shared" / "util.py",
            root / "svc" / ".." / "svc" / "user.py", Path("svc/relative.py")]


@pytest.mark.parametrize("order", [1, -1])
def test_cached_listings_answer_as_the_file_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                   order: int) -> None:
    """``ModuleIndex`` answers from directory listings (a few ``scandir`` calls) exactly as
    asking the file system each time does, in any order of questions; the Redis summaries'
    look-ups are the same answers minus the module itself and ``redis*``."""
    root = tmp_path.resolve()
    _lookup_tree(root)
    monkeypatch.chdir(root)  # a relative importer path, as the engine passes them
    index = ProjectIndex(Config(root=root))
    modules, exports = index.modules, index.get(redis_state._exports_index)
    for importer in _importers(root)[::order]:
        for dotted in LOOKUP_NAMES[::order]:
            expected = _reference_find(root, dotted, importer)
            assert modules.find_module(dotted, importer) == expected, (importer, dotted)
            if importer is None:
                continue
            roots = _reference_roots(root, importer)
            is_dir = bool(dotted) and all(p.isidentifier() for p in dotted.split(".")) and any(
                base.joinpath(*dotted.split(".")).is_dir() for base in roots)
            assert modules.is_package_dir(dotted, importer) == is_dir, (importer, dotted)
            if dotted.startswith("redis") or expected == importer.resolve():
                expected = None
            assert exports.find(dotted, importer) == expected, (importer, dotted)
        if importer is None:
            continue
        assert modules.module_name(importer) == _reference_module_name(importer), importer
        assert modules.real_path(importer) == importer.resolve(), importer
        for module in (None, "clients", "sub.deep"):
            for level in range(4):
                assert modules.absolute_module(importer, module, level) == \
                    _reference_absolute(importer, module, level), (importer, module, level)


def test_listings_see_modules_created_later(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The language server keeps its index until it hears of a change; a module another
    program creates meanwhile is found by a new look-up once the listing is due a check."""
    from raptor_lint.project import modules as modules_module

    root = tmp_path.resolve()
    (root / "svc").mkdir()
    (root / "svc" / "__init__.py").write_text("", encoding="utf-8")
    (root / "svc" / "user.py").write_text("", encoding="utf-8")
    settled = os.stat(root / "svc").st_mtime - 10
    os.utime(root / "svc", (settled, settled))  # listed long after its last change
    index = ProjectIndex(Config(root=root)).modules
    assert index.find_module("svc.later") is None  # lists svc/
    (root / "svc" / "later.py").write_text("", encoding="utf-8")
    (root / "svc" / "later_dir").mkdir()
    monkeypatch.setattr(modules_module, "LISTING_TRUST_SECONDS", 0.0)
    assert index.find_module("svc.later", root / "svc" / "user.py") == root / "svc" / "later.py"
    assert index.is_package_dir("svc.later_dir", root / "svc" / "user.py")
    # The same question as before (its "not found" was memoised), and a removal.
    assert index.find_module("svc.later") == root / "svc" / "later.py"
    (root / "svc" / "later.py").unlink()
    assert index.find_module("svc.later") is None
    assert index.find_module("svc.later", root / "svc" / "user.py") is None
    # svc/ was listed within a timestamp tick of its last change (every listing is, with
    # the tick this long): a change in that same tick (the mtime stays put) must still be seen.
    monkeypatch.setattr(modules_module, "MTIME_TICK_NS", 10**18)
    assert index.find_module("svc.sooner") is None
    listed_at = os.stat(root / "svc").st_mtime_ns
    (root / "svc" / "sooner.py").write_text("", encoding="utf-8")
    os.utime(root / "svc", ns=(listed_at, listed_at))
    assert index.find_module("svc.sooner", root / "lib.py") == root / "svc" / "sooner.py"
    assert index.find_module("svc.sooner") == root / "svc" / "sooner.py"


def test_namespace_packages_and_submodule_chains(tmp_path: Path) -> None:
    root = _project(tmp_path)
    (root / "ns" / "inner").mkdir(parents=True)
    (root / "ns" / "inner" / "conn.py").write_text(
        "from svc.clients import get_client\n\n\ndef connect():\n    return get_client()\n", encoding="utf-8")
    (root / "svc" / "ns_user.py").write_text(
        "from ns import inner\n\n\ndef write(key):\n    inner.conn.connect().set(key, 1)\n", encoding="utf-8")
    by_file = lint_project(root)
    assert [(f.line, f.code) for f in by_file["svc/ns_user.py"]] == [(5, "RPT201"), (5, "RPT205")]


def test_one_semantic_model_per_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The family reads the file's shared model (``ctx.semantic``) and builds none of its
    own; the summaries of a module that mentions redis, one per hop, share one model."""
    from raptor_lint import semantic

    root = _project(tmp_path)
    built: list[str | None] = []
    original = semantic.SemanticModel.__init__

    def counting(self: semantic.SemanticModel, tree: ast.Module, text: str | None = None,
                 package: object = None) -> None:
        built.append(text)
        original(self, tree, text, package)  # type: ignore[arg-type]

    monkeypatch.setattr(semantic.SemanticModel, "__init__", counting)
    index = ProjectIndex(Config(root=root, select=("RPT2",)))
    engine = Engine(index.config, project=index)
    engine.lint_path(root / "svc" / "clients.py", "python")  # imports no project module
    assert len(built) == 1
    built.clear()
    result = engine.lint_path(root / "svc" / "user.py", "python")
    assert sorted(f.line for f in result.findings) == [7, 7, 8, 8, 9, 10]
    # clients.py is reached at hop 3 (user -> deep -> facade -> clients) and at hop 2 (user
    # -> facade -> clients): one parse, one model, both summaries.
    clients = (root / "svc" / "clients.py").resolve()
    exports = index.get(redis_state._exports_index)
    assert exports.summary(clients, 2) and exports.summary(clients, 3)
    assert built.count(clients.read_text(encoding="utf-8")) == 1
