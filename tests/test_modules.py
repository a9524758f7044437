"""The import-free cross-module resolver (raptor_lint.project.modules)."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from raptor_lint.config import Config
from raptor_lint.context import FileContext
from raptor_lint.project import ProjectIndex
from raptor_lint.project.modules import ModuleIndex

PROJECT = {
    "pkg/__init__.py": """
        from .settings import API_PREFIX as PREFIX
        from . import settings
    """,
    "pkg/settings.py": """
        API_PREFIX = "/api"
        INTERNAL = f"{API_PREFIX}/internal"
        BETA = INTERNAL + "/beta"
        PERCENT = "/api/%s" % "x"
        FORMAT = "{}/fmt".format(API_PREFIX)
        ACCUMULATED = "/api"
        ACCUMULATED += "/acc"
        REBOUND = "/first"
        REBOUND = "/second"
        if DEBUG:
            CONDITIONAL = "/api/same"
        else:
            CONDITIONAL = "/api/same"
        if DEBUG:
            DIFFERENT = "/api/debug"
        else:
            DIFFERENT = "/api/prod"
        SQL_TEMPLATE = "SELECT * FROM t WHERE id = %s"
        SQL_FSTRING = f"SELECT * FROM {TABLE} WHERE a = 1"
        REPR = f"{API_PREFIX!r}/x"


        class Paths:
            BASE = "/api"
            DEEP = BASE + "/deep"


        class Settings:
            def __init__(self):
                self.prefix = "/api/instance"


        conf = Settings()
        __all__ = ["API_PREFIX", "INTERNAL", "CONDITIONAL"]
        HIDDEN = "/hidden"
    """,
    "pkg/sub/__init__.py": "",
    "pkg/sub/mod.py": """
        from .. import PREFIX
        from ..settings import *
        from ...outside import X
        from pkg.missing import GONE
        import pkg.settings as m
        import pkg.settings
        from pkg import settings as st
        from .cycle_a import LOOP

        V_ALIAS_MODULE = m.BETA
        V_DOTTED = pkg.settings.INTERNAL
        V_CLASS = st.Paths.DEEP
        V_INSTANCE = st.conf.prefix
        V_STAR = CONDITIONAL
        V_STAR_HIDDEN = HIDDEN
        V_GONE = GONE


        def handler(param):
            local = PREFIX + "/local"
            twice = "/a"
            twice += "/b"
            for item in param:
                looped = item
            return local, param, twice, looped


        class View:
            ROUTE = "/api/view"

            def get(self):
                return self.ROUTE
    """,
    "pkg/sub/cycle_a.py": "from .cycle_b import LOOP\n",
    "pkg/sub/cycle_b.py": "from .cycle_a import LOOP\n",
}


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("modules")
    for rel, text in PROJECT.items():
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def text_of(value):
    return None if value is None else (value.text, value.complete)


@pytest.mark.parametrize("name, expected", [
    ("PREFIX", ("/api", True)),                          # relative import of a package re-export
    ("INTERNAL", ("/api/internal", True)),               # star import, f-string
    ("V_ALIAS_MODULE", ("/api/internal/beta", True)),    # import pkg.mod as m; m.CONST
    ("V_DOTTED", ("/api/internal", True)),               # import pkg.mod; pkg.mod.CONST
    ("V_CLASS", ("/api/deep", True)),                    # class attribute using the class scope
    ("V_STAR", ("/api/same", True)),                     # ambiguous binding settled by astroid
    ("V_INSTANCE", ("/api/instance", True)),             # instance attribute: astroid
    ("V_STAR_HIDDEN", None),                             # not in __all__
    ("V_GONE", None),                                    # missing module
    ("X", None),                                         # beyond the top-level package
    ("LOOP", None),                                      # import cycle
    ("NOT_DEFINED", None),
])
def test_module_constants(project: Path, name: str, expected) -> None:
    index = ModuleIndex(project)
    assert text_of(index.string_constant(project / "pkg/sub/mod.py", name)) == expected


@pytest.mark.parametrize("name, expected", [
    ("BETA", ("/api/internal/beta", True)),
    ("PERCENT", ("/api/x", True)),
    ("FORMAT", ("/api/fmt", True)),
    ("ACCUMULATED", ("/api/acc", True)),
    ("REBOUND", ("/second", True)),
    ("DIFFERENT", None),                                  # two values: unknown
    ("SQL_TEMPLATE", ("SELECT * FROM t WHERE id = %s", True)),
    ("REPR", None),                                       # !r changes the text
])
def test_evaluation(project: Path, name: str, expected) -> None:
    index = ModuleIndex(project)
    assert text_of(index.string_constant(project / "pkg/settings.py", name)) == expected


def test_placeholder_semantics(project: Path) -> None:
    index = ModuleIndex(project)
    settings = project / "pkg/settings.py"
    # Without a placeholder an unknown part ends the value; with one it is replaced.
    assert text_of(index.string_constant(settings, "SQL_FSTRING")) == ("SELECT * FROM ", False)
    assert text_of(index.string_constant(settings, "SQL_FSTRING", placeholder=":p")) == (
        "SELECT * FROM :p WHERE a = 1", True)
    tree = ast.parse('x = SQL_TEMPLATE % user_id\ny = "{} and {x}".format(a, x=b)\n')
    index_eval = [index.evaluate(stmt.value, settings) for stmt in tree.body]
    assert [text_of(v) for v in index_eval] == [("SELECT * FROM t WHERE id = ", False), ("", False)]
    with_placeholder = [index.evaluate(stmt.value, settings, placeholder="?") for stmt in tree.body]
    assert [text_of(v) for v in with_placeholder] == [("SELECT * FROM t WHERE id = ?", True), ("? and ?", True)]


def test_imported_string_and_origin(project: Path) -> None:
    index = ModuleIndex(project)
    value = index.imported_string(project / "pkg/sub/mod.py", "settings", 2, "BETA")
    assert value.text == "/api/internal/beta"
    assert value.origin == ((project / "pkg/settings.py").resolve(), 2)
    assert index.imported_string(project / "pkg/sub/mod.py", "nowhere", 2, "BETA") is None
    assert index.imported_string(project / "pkg/sub/mod.py", None, 5, "BETA") is None


def test_function_and_class_scopes(project: Path) -> None:
    index = ModuleIndex(project)
    path = project / "pkg/sub/mod.py"
    tree = index.tree(path)
    returns = [n.value for n in ast.walk(tree) if isinstance(n, ast.Return)]
    local, param, twice, looped = returns[0].elts
    assert text_of(index.evaluate(local, path)) == ("/api/local", True)
    assert index.evaluate(param, path) is None
    assert text_of(index.evaluate(twice, path)) == ("/a/b", True)
    assert index.evaluate(looped, path) is None
    assert text_of(index.evaluate(returns[1], path)) == ("/api/view", True)  # self.ROUTE via astroid


def test_resolve_definitions(project: Path) -> None:
    index = ModuleIndex(project)
    path = project / "pkg/sub/mod.py"
    tree = index.tree(path)
    values = {s.targets[0].id: s.value for s in tree.body if isinstance(s, ast.Assign)}
    found = index.resolve(values["V_ALIAS_MODULE"], path)
    assert (found.path.name, found.name, found.kind, found.line) == ("settings.py", "BETA", "value", 4)
    found = index.resolve(values["V_CLASS"], path)
    assert (found.name, found.kind) == ("Paths.DEEP", "value")
    assert index.resolve(values["V_GONE"], path) is None


def test_in_memory_tree_wins_over_the_file_on_disk(project: Path) -> None:
    index = ModuleIndex(project)
    path = project / "pkg/sub/mod.py"
    text = "from pkg.settings import INTERNAL\nPREFIX = INTERNAL + '/edited'\nuse = PREFIX\n"
    tree = ast.parse(text)
    assert text_of(index.evaluate(tree.body[-1].value, path, tree=tree, text=text)) == (
        "/api/internal/edited", True)


def test_value_of_a_node_of_the_file_being_linted(project: Path) -> None:
    path = project / "pkg/sub/view.py"
    text = "from .. import settings\n\ndef f():\n    prefix = settings.INTERNAL\n    return (  prefix  )\n"
    config = Config(root=project)
    tree = ast.parse(text)
    ctx = FileContext(path=path, display_path="view.py", kind="python", text=text, config=config,
                      project=ProjectIndex(config), ast_tree=tree)
    names = [node for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id == "prefix"]
    assert len(names) == 2
    modules = ctx.project.modules
    assert text_of(modules.value_of_ast(ctx, names[-1])) == ("/api/internal", True)


def test_astroid_is_bounded_to_project_modules(project: Path, monkeypatch) -> None:
    from raptor_lint.project import modules as modules_module

    index = ModuleIndex(project)
    path = project / "pkg/sub/flaskish.py"
    path.write_text("from flask import Flask\nif A:\n    P = Flask.name\nelse:\n    P = Flask.name\n")
    assert index.string_constant(path, "P") is None
    assert "flask" not in index._astroid_modules or index._astroid_modules["flask"] is None
    monkeypatch.setattr(modules_module, "ASTROID_INFERENCE_BUDGET", 0)
    fresh = ModuleIndex(project)
    assert fresh.string_constant(project / "pkg/sub/mod.py", "V_STAR") is None


def test_changed_file_is_reread(project: Path) -> None:
    index = ModuleIndex(project)
    path = project / "pkg/sub/changing.py"
    path.write_text('VALUE = "/one"\n')
    assert index.string_constant(path, "VALUE").text == "/one"
    path.write_text('VALUE = "/two-longer"\n')
    assert index.string_constant(path, "VALUE").text == "/two-longer"


def test_parsed_modules_are_bounded_and_evicted_ones_resolve_the_same(project: Path, monkeypatch) -> None:
    """Memory: a run over thousands of files keeps only a working set of module trees."""
    import raptor_lint.project.modules as modules

    expected = [text_of(ModuleIndex(project).string_constant(project / "pkg/sub/mod.py", name))
                for name in ("PREFIX", "INTERNAL", "V_ALIAS_MODULE", "V_DOTTED", "V_CLASS")]
    monkeypatch.setattr(modules, "MODULE_CACHE_SIZE", 2)
    index = ModuleIndex(project)
    for _ in range(2):  # the second round re-parses what the first evicted
        got = [text_of(index.string_constant(project / "pkg/sub/mod.py", name))
               for name in ("PREFIX", "INTERNAL", "V_ALIAS_MODULE", "V_DOTTED", "V_CLASS")]
        assert got == expected and all(value is not None for value in got)
        assert len(index._modules) <= 2


def test_a_literal_is_its_own_value_without_reading_the_module(project: Path) -> None:
    tree = ast.parse('bp.route("/api/users")\n')
    literal = tree.body[0].value.args[0]
    value = ModuleIndex(project).evaluate(literal, project / "pkg/not_on_disk.py", tree=tree, text="")
    assert value.text == "/api/users" and value.complete
    assert value.origin == ((project / "pkg/not_on_disk.py").resolve(), 1)


REBINDING = """\
TABLE = "users"
CACHE = {}
del CACHE[TABLE]                    # deletes an item: rebinds neither name
GONE = "/gone"
del GONE
_engine = None


def connect():
    global _engine
    import sqlalchemy as _engine    # rebinds the module name at run time


def outer():
    path = "/start"

    def inner():
        nonlocal path
        path = "/changed"
    inner()
    return path                     # inner() may have rebound it: unknown


def plain():
    path = "/start"
    return path
"""


def test_bindings_are_the_semantic_models(tmp_path: Path) -> None:
    """Which statements bind a name, and from which scope, is the file's semantic model's
    answer (raptor_lint.semantic): ``del x[k]`` binds nothing, ``del x`` does, and a
    ``global`` or ``nonlocal`` rebinding from a nested function makes the name unknown."""
    path = tmp_path / "rebinding.py"
    path.write_text(REBINDING)
    index = ModuleIndex(tmp_path, use_astroid=False)
    assert text_of(index.string_constant(path, "TABLE")) == ("users", True)
    assert index.string_constant(path, "GONE") is None
    bindings = index.module_bindings(path)
    assert {"TABLE", "CACHE", "connect", "outer", "plain"} <= set(bindings)
    assert "_engine" not in bindings and "GONE" not in bindings
    tree = index.tree(path)
    returns = {func.name: func.body[-1].value for func in tree.body
               if isinstance(func, ast.FunctionDef) and isinstance(func.body[-1], ast.Return)}
    assert index.evaluate(returns["outer"], path) is None
    assert text_of(index.evaluate(returns["plain"], path)) == ("/start", True)
    found = index.resolve(returns["plain"], path)
    assert (found.kind, found.line, found.scope) == ("value", 25, "plain")


def test_the_linted_files_model_is_reused(project: Path) -> None:
    """The file being linted is looked up in its own semantic model (``ctx.semantic``),
    not in a second one built for the index."""
    path = project / "pkg/sub/view.py"
    text = "from .. import settings\n\ndef f():\n    prefix = settings.INTERNAL\n    return prefix\n"
    config = Config(root=project)
    for built_first in (True, False):
        tree = ast.parse(text)
        ctx = FileContext(path=path, display_path="view.py", kind="python", text=text, config=config,
                          project=ProjectIndex(config), ast_tree=tree)
        model = ctx.semantic if built_first else None
        use = tree.body[-1].body[-1].value
        modules = ctx.project.modules
        assert text_of(modules.value_of_ast(ctx, use)) == ("/api/internal", True)
        assert modules._override_module.model is (model or ctx.__dict__["semantic"])
    tree = ast.parse(text)
    from raptor_lint.semantic import SemanticModel

    model = SemanticModel(tree, text)
    index = ModuleIndex(project)
    use = tree.body[-1].body[-1].value
    assert text_of(index.evaluate(use, path, tree=tree, text=text, semantic=model)) == ("/api/internal", True)
    assert index._override_module.model is model
