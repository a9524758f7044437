"""App configuration (RPT505) — runbook: "Env-bootstrap checklist — WebAuthn".

The runbook re-pins the WebAuthn variables from ``os.environ`` *after*
``app.config.from_pyfile()`` so that an instance config cannot silently overwrite
them.  RPT505 checks that ordering in the app factory (``create_app``/``init_app``,
configurable): a key of ``app.config`` set from the environment before a later
config loader that can overwrite it, and never set again after the last such loader.

Read through the file's semantic model (``ctx.semantic``) and the call model
(``raptor_lint.execution``, which decides what the app factory is):

* **the app** — a name the factory binds to ``Flask(...)`` (or to a class of this file
  derived from ``flask.Flask``), a parameter of the factory (``init_app(app)``), and a
  local bound to ``<app>.config``;
* **from the environment** — ``os.environ[...]``, ``os.environ.get/setdefault/pop(...)``,
  ``os.getenv(...)`` anywhere in the value, resolved as qualified names (``from os import
  environ``, ``import os as o``); a name bound to such a value; a call of a function of
  this module that returns one (``_env_flag("X")``);
* **loaders** — ``from_pyfile``/``from_object``/``from_file``/``from_envvar`` can
  overwrite any key; ``update``/``from_mapping`` only the keys they may carry: with
  literal keys only (a dict display, ``dict(...)``, keywords, a name bound to one of
  these) they overwrite exactly those keys, and a key they set from the environment is a
  re-pin, not an overwrite; a mapping the factory's caller passes in
  (``app.config.from_mapping(test_config)``) is the caller's deliberate override;
* **order** — source order of the factory's own body (closures run later), two branches
  of one ``if``/``match``/``try`` never both run.

Loaders in helper functions the factory calls are not followed.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Iterator

from raptor_lint.astwalk import child_fields
from raptor_lint.execution import FACTORY, ExecutionModel
from raptor_lint.rules.base import Checker, Rule, related_place, with_story
from raptor_lint.semantic import (
    FUNCTIONS, Scope, SemanticModel, bound_value, exclusive, reaching_bindings, string_value,
)
from raptor_lint.strings import fit_message, shorten

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.context import FileContext
    from raptor_lint.findings import Finding

RUNBOOK = "Env-bootstrap checklist — WebAuthn"

# Calls and mappings that read the process environment (qualified names).
ENV_CALLS = frozenset({
    "os.getenv", "os.getenvb", "os.environ.get", "os.environ.setdefault", "os.environ.pop",
    "os.environb.get",
})
ENV_MAPPINGS = frozenset({"os.environ", "os.environb"})
# flask.Config loaders that can overwrite any key.
FILE_LOADERS = frozenset({"from_pyfile", "from_object", "from_file", "from_envvar"})
# flask.Config loaders that overwrite the keys of the mapping they are given.
MAPPING_LOADERS = frozenset({"update", "from_mapping"})
FLASK_CLASSES = frozenset({"flask.Flask", "flask.app.Flask", "Flask"})
# How deep names and helper returns are followed to an environment read.
_MAX_HOPS = 3

_BAD = '''\
import os

from flask import Flask


def create_app() -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config["WEBAUTHN_RP_ID"] = os.environ.get("WEBAUTHN_RP_ID", "")
    app.config["WEBAUTHN_ORIGIN"] = os.environ.get("WEBAUTHN_ORIGIN", "")
    # instance/raptor.cfg on the staging dyno still says WEBAUTHN_ORIGIN = ""
    app.config.from_pyfile("raptor.cfg", silent=True)
    return app
'''

_GOOD = '''\
import os

from flask import Flask

WEBAUTHN_VARS = ("WEBAUTHN_RP_ID", "WEBAUTHN_RP_NAME", "WEBAUTHN_ORIGIN")


def create_app() -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.from_pyfile("raptor.cfg", silent=True)
    # Re-pinned from os.environ AFTER from_pyfile(): instance config cannot overwrite them.
    app.config["WEBAUTHN_RP_ID"] = os.environ.get("WEBAUTHN_RP_ID", "")
    app.config["WEBAUTHN_ORIGIN"] = os.environ.get("WEBAUTHN_ORIGIN", "")
    return app
'''

RULES = (
    Rule(
        code="RPT505",
        name="env-config-overwritten",
        summary="In the app factory, an `app.config` key set from the environment before a later "
                "`from_pyfile`/`from_object`/`from_file`/`from_envvar`/`from_mapping`/`update` "
                "that can overwrite it, and not re-pinned after the last such loader.",
        runbook=RUNBOOK,
        why=(
            "The WebAuthn variables are validated at startup and Raptor refuses to boot when one "
            "is empty. The runbook re-pins them from `os.environ` AFTER `from_pyfile()` \"to prevent "
            "instance config from silently overwriting them\": a value set from the environment and "
            "then loaded over by an instance file, a config object or a mapping is not the value the "
            "environment was provisioned with, and nothing says so (the 2026-05-20 staging boot "
            "failure was WEBAUTHN_ORIGIN; see docs/incidents/2026-05-20-staging-webauthn-boot-fail.md). "
            "`from_pyfile`, `from_object`, `from_file` and `from_envvar` can overwrite any key; "
            "`update`/`from_mapping` with literal keys only overwrite those keys, and a mapping the "
            "factory's caller passes in (`create_app(test_config)`) is a deliberate override. Set "
            "the key from the environment after the last loader (or set it again there); a key "
            "read from the environment only after the loaders is fine."
        ),
        bad=_BAD,
        good=_GOOD,
        example_path="raptor_app/__init__.py",
    ),
)


class AppConfigChecker(Checker):
    family = "App configuration"
    rules = RULES
    file_kinds = frozenset({"python"})

    prefilter_rules = frozenset({"RPT505"})

    def prefilter(self, text: str) -> bool:
        # A finding needs an environment read (every spelling names environ or getenv, also
        # in a helper of this module) and a loader call: from_* or update.
        return ("environ" in text or "getenv" in text) and ("from_" in text or "update" in text)

    def check(self, ctx: "FileContext") -> Iterable["Finding"]:
        if ctx.ast_tree is None:
            return []
        model = ctx.semantic
        factories = tuple(ctx.config.app_factory)
        candidates = [func for func in model.functions
                      if func.name in factories and model.unit_of(func) is model.tree]
        if not candidates:
            return []
        execution = ExecutionModel(model, factories)
        findings: list[Finding] = []
        for func in candidates:
            if execution.when(func) == FACTORY:
                findings.extend(_Factory(ctx, model, func).findings())
        return findings


# --------------------------------------------------------------------------- events
@dataclass(frozen=True)
class _Set:
    """``<config>[key] = value`` (or a key of an ``update``/``from_mapping``/``setdefault``)."""

    app: str
    key: str
    node: ast.AST        # where a finding is reported
    label: str           # ``app.config`` as written
    from_env: bool
    overrides: bool      # False for setdefault: it never replaces a loaded value

    @property
    def position(self) -> tuple[int, int]:
        return (getattr(self.node, "lineno"), getattr(self.node, "col_offset"))


@dataclass(frozen=True)
class _Load:
    """A loader call; ``keys`` None when it can overwrite any key, else the keys it sets
    (True: set from the environment — a re-pin of that key)."""

    app: str
    node: ast.Call
    label: str
    method: str
    keys: "dict[str, bool] | None"

    @property
    def position(self) -> tuple[int, int]:
        return (self.node.lineno, self.node.col_offset)

    def overwrites(self, key: str) -> bool:
        return self.keys is None or (key in self.keys and not self.keys[key])


class _Factory:
    """RPT505 in one app factory."""

    def __init__(self, ctx: "FileContext", model: SemanticModel, func: ast.AST) -> None:
        self.ctx = ctx
        self.model = model
        self.func = func
        self.scope: Scope = model.inner_scope[func]
        self._env_helpers: dict[ast.AST, bool] = {}
        self.apps = self._app_names()
        self.aliases = self._config_aliases()

    # ------------------------------------------------------------------ the app
    def _local(self, name: ast.Name) -> bool:
        return self.model.resolve(name)[0] is self.scope

    def _app_names(self) -> set[str]:
        model, func = self.model, self.func
        args = getattr(func, "args")
        params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
        if model.enclosing_class(func) is not None and params:
            params = params[1:]  # self / cls
        names = {param.arg for param in params}
        for name in self.scope.local - names:
            values = self._values(name)
            if values and all(isinstance(v, ast.Call) and self._is_flask(v.func) for v in values):
                names.add(name)
        return names

    def _values(self, name: str) -> list[ast.AST | None]:
        """What each binding of ``name`` in the factory assigns (None: not a plain assignment)."""
        return [bound_value(self.model, node) for node in self.model.bound(self.scope, name)]

    def _is_flask(self, callee: ast.AST, hops: int = 0) -> bool:
        model = self.model
        if model.qualified_name(callee) in FLASK_CLASSES:
            return True
        if hops < _MAX_HOPS and isinstance(callee, ast.Name):
            # A subclass of Flask defined in this module (``class SupersetApp(Flask)``).
            for node in model.resolve(callee)[1]:
                if isinstance(node, ast.ClassDef) and any(self._is_flask(base, hops + 1) for base in node.bases):
                    return True
        return False

    def _config_aliases(self) -> dict[str, str]:
        """Locals bound to ``<app>.config``: alias → app name."""
        aliases: dict[str, str] = {}
        for name in self.scope.local - self.apps:
            values = self._values(name)
            apps = {self._app_of_config(v) for v in values} if values else {None}
            if len(apps) == 1 and None not in apps:
                app = apps.pop()
                assert app is not None
                aliases[name] = app
        return aliases

    def _app_of_config(self, node: ast.AST | None) -> str | None:
        """``app`` when ``node`` is ``app.config`` for an app of the factory."""
        if isinstance(node, ast.Attribute) and node.attr == "config" and isinstance(node.value, ast.Name) \
                and node.value.id in self.apps and self._local(node.value):
            return node.value.id
        return None

    def _config(self, node: ast.AST) -> tuple[str, str] | None:
        """(app, label) when ``node`` is the config of an app of the factory."""
        app = self._app_of_config(node)
        if app is not None:
            return app, f"{app}.config"
        if isinstance(node, ast.Name) and node.id in self.aliases and self._local(node):
            return self.aliases[node.id], node.id
        return None

    # ------------------------------------------------------------------ events
    def _in_body(self, node: ast.AST) -> bool:
        return self.model.unit_of(node) is self.func

    def _events(self) -> tuple[list[_Set], list[_Load]]:
        model = self.model
        sets: list[_Set] = []
        loads: list[_Load] = []
        for subscript in model.subscripts:
            if not isinstance(subscript.ctx, ast.Store) or not self._in_body(subscript):
                continue
            config = self._config(subscript.value)
            statement = model.parent(subscript)
            if config is None or not isinstance(statement, (ast.Assign, ast.AnnAssign)) \
                    or statement.value is None:
                continue
            key = self._key(subscript.slice)
            if key is not None:
                sets.append(_Set(config[0], key, subscript, config[1],
                                 self._from_env(statement.value), True))
        for call in model.calls:
            func = call.func
            if not isinstance(func, ast.Attribute) or not self._in_body(call):
                continue
            config = self._config(func.value)
            if config is None:
                continue
            app, label = config
            method = func.attr
            if method in FILE_LOADERS:
                loads.append(_Load(app, call, label, method, None))
            elif method in MAPPING_LOADERS:
                if self._caller_overrides(call, method):
                    continue
                items = self._mapping_items(call, method)
                keys = None if items is None else {key: self._from_env(value) for key, (_, value) in items.items()}
                loads.append(_Load(app, call, label, method, keys))
                for key, (where, value) in (items or {}).items():
                    if keys is not None and keys[key]:
                        sets.append(_Set(app, key, where, label, True, True))
            elif method == "setdefault" and len(call.args) == 2 and not call.keywords:
                key = self._key(call.args[0])
                if key is not None and self._from_env(call.args[1]):
                    sets.append(_Set(app, key, call, label, True, False))
        return sets, loads

    def _caller_overrides(self, call: ast.Call, method: str) -> bool:
        """``app.config.from_mapping(test_config)``: a mapping the factory's caller passes in
        (a parameter, as given) is the caller's deliberate override, not an instance config."""
        values = [*call.args, *(k.value for k in call.keywords
                                if method == "from_mapping" and k.arg == "mapping")]
        if len(values) != 1 or len(call.args) + len(call.keywords) != 1 or not isinstance(values[0], ast.Name):
            return False
        bindings = self.model.resolve(values[0])[1]
        return bool(bindings) and all(isinstance(node, ast.arg) for node in bindings)

    def _key(self, node: ast.AST) -> str | None:
        """A literal key, or a name bound only to one (``KEY = "WEBAUTHN_ORIGIN"``)."""
        value = string_value(node)
        if value is not None or not isinstance(node, ast.Name):
            return value
        found = {string_value(bound_value(self.model, b)) for b in reaching_bindings(self.model, node)}
        return found.pop() if len(found) == 1 else None

    def _mapping_items(self, call: ast.Call, method: str) -> "dict[str, tuple[ast.AST, ast.AST]] | None":
        """The keys an ``update``/``from_mapping`` call sets: key → (where, value); None when
        they cannot all be told (a mapping from elsewhere, ``**kwargs``)."""
        items: dict[str, tuple[ast.AST, ast.AST]] = {}
        positional: list[ast.AST] = list(call.args)
        for keyword in call.keywords:
            if keyword.arg is None:
                return None
            if method == "from_mapping" and keyword.arg == "mapping":
                positional.append(keyword.value)  # Config.from_mapping(mapping=None, **kwargs)
            else:
                items[keyword.arg] = (keyword, keyword.value)
        if len(positional) > 1:
            return None
        for mapping in positional:
            found = self._literal_mapping(mapping, 0)
            if found is None:
                return None
            items.update(found)
        return items

    def _literal_mapping(self, node: ast.AST | None, hops: int) -> "dict[str, tuple[ast.AST, ast.AST]] | None":
        model = self.model
        if isinstance(node, ast.Dict):
            found: dict[str, tuple[ast.AST, ast.AST]] = {}
            for key, value in zip(node.keys, node.values):
                text = string_value(key)
                if key is None or text is None:
                    return None
                found[text] = (key, value)
            return found
        if isinstance(node, ast.Call) and model.qualified_name(node.func) == "dict" and not node.args \
                and all(k.arg is not None for k in node.keywords):
            return {str(k.arg): (k, k.value) for k in node.keywords}
        if isinstance(node, ast.Name) and hops < _MAX_HOPS:
            bindings = reaching_bindings(model, node)
            if len(bindings) == 1:
                return self._literal_mapping(bound_value(model, bindings[0]), hops + 1)
        return None

    # ------------------------------------------------------------------ environment
    def _from_env(self, expr: ast.AST, hops: int = 0) -> bool:
        """Whether evaluating ``expr`` reads the process environment."""
        model = self.model
        stack = [expr]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Lambda):
                continue  # runs when called, not here
            if isinstance(node, ast.Call):
                if self._imported(node.func) in ENV_CALLS:
                    return True
                if hops < _MAX_HOPS and isinstance(node.func, ast.Name) and self._returns_env(node.func, hops):
                    return True
            elif isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
                if self._imported(node.value) in ENV_MAPPINGS:
                    return True
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and hops < _MAX_HOPS:
                for binding in reaching_bindings(model, node):
                    value = bound_value(model, binding)
                    if value is not None and self._from_env(value, hops + 1):
                        return True
                continue
            for field in child_fields(type(node)):
                value = getattr(node, field, None)
                if type(value) is list:
                    stack.extend(item for item in value if isinstance(item, ast.AST))
                elif isinstance(value, ast.AST):
                    stack.append(value)
        return False

    def _imported(self, expr: ast.AST) -> str | None:
        """The qualified name of ``expr`` when its head is bound by imports only (a class of
        this module named ``os`` is not the os module)."""
        head = expr
        while isinstance(head, ast.Attribute):
            head = head.value
        if not isinstance(head, ast.Name):
            return None
        bindings = self.model.resolve(head)[1]
        if not bindings or not all(isinstance(node, ast.alias) for node in bindings):
            return None
        return self.model.qualified_name(expr)

    def _returns_env(self, callee: ast.Name, hops: int) -> bool:
        """``callee`` is a function of this module whose return value reads the environment."""
        model = self.model
        defs = model.resolve(callee)[1]
        if len(defs) != 1 or not isinstance(defs[0], FUNCTIONS):
            return False
        helper = defs[0]
        known = self._env_helpers.get(helper)
        if known is None:
            self._env_helpers[helper] = False  # recursion guard
            known = any(isinstance(node, ast.Return) and node.value is not None
                        and model.unit_of(node) is helper and self._from_env(node.value, hops + 1)
                        for node in ast.walk(helper))
            self._env_helpers[helper] = known
        return known

    # ------------------------------------------------------------------ findings
    def findings(self) -> Iterator["Finding"]:
        if not self.apps:
            return
        sets, loads = self._events()
        if not loads:
            return
        for early in sets:
            if not early.from_env:
                continue
            later = [load for load in loads if load.app == early.app and load.position > early.position
                     and load.overwrites(early.key) and not self._exclusive(early.node, load.node)]
            if not later:
                continue
            last = max(later, key=lambda load: load.position)
            same_key = [s for s in sets if s.app == early.app and s.key == early.key and s.overrides
                        and s is not early]
            if any(s.position > last.position for s in same_key):
                continue  # re-pinned after the last loader
            if any(early.position < s.position < last.position and not self._exclusive(early.node, s.node)
                   for s in same_key):
                continue  # set again before the loader: that assignment is the one reported
            key = f"{shorten(early.label, 30)}[{shorten(repr(early.key), 40)}]"
            loader, line = f"{last.method}()", last.node.lineno
            line_, column, _, _ = self.model.position(last.node)
            yield with_story(self.ctx.finding(
                "RPT505", early.node,
                fit_message("{key} can be overwritten by " + f"{loader} on line {line}: re-pin it after", key=key),
            ), (f"The value comes from os.environ, and {last.label}.{loader} on line {line} loads instance "
                f"config after it. The runbook re-pins these from os.environ AFTER from_pyfile() so instance "
                f"config cannot silently overwrite them (the 2026-05-20 staging boot failure)."),
                [related_place(self.ctx.path, line_, column, f"{loader} can overwrite {key} here")])

    def _exclusive(self, first: ast.AST, second: ast.AST) -> bool:
        """Two branches of one ``if``/``match``/``try`` statement: never both run."""
        return exclusive(self.model.parents, first, second)
