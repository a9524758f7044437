"""Transient state in Redis (RPT201–RPT204) — runbook: "Required pattern for transient state".

The runbook's canonical pattern (the post-fix ``webauthn_service.py``) is: a
TTL on every write, an atomic ``GETDEL`` for pop, a named log event on a miss,
and a local-dev fallback when ``app.extensions.get("redis_client")`` is None.

Everything here works on the CPython ``ast`` tree the engine already built (no
libcst parse).  The hard part is *not* firing on look-alikes: a call is only a
Redis command when its receiver is provably a Redis client (or a pipeline
from one):

* ``….extensions.get("redis_client")`` / ``….extensions["redis_client"]``;
* ``redis.Redis(...)``, ``redis.StrictRedis(...)``, ``redis.from_url(...)``,
  ``Redis.from_url(...)``, ``RedisCluster(...)`` (also from ``redis.asyncio``);
* a parameter, class attribute or ``self.x`` annotated as a Redis client or
  pipeline, or ``self.x`` only ever assigned a client;
* a name only ever bound to a client (``None`` aside — the lazy-init idiom);
* a call of a function (same module, or imported from a module of the project)
  annotated to return a client or whose every ``return`` returns one;
* ``client.pipeline()`` — a pipeline; a command queued on a pipeline returns it.

``dict.get``, ``set.add``, ``requests.get``, ``session.get`` and cache objects
never qualify.  Positions come from ``ast`` (UTF-8 byte columns, converted to
code points).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator

from raptor_lint.astwalk import child_fields as _child_fields, children, walk
from raptor_lint.findings import Edit, Fix
from raptor_lint.rules.redis_state.exports import MAX_HOPS, RedisExports, Summary
from raptor_lint.rules.base import Checker, Rule
from raptor_lint.source import column_of, split_lines

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.context import FileContext
    from raptor_lint.findings import Finding
    from raptor_lint.project import ProjectIndex

RUNBOOK = "Required pattern for transient state"
EXTENSION_KEY = "redis_client"

CLIENT = "client"
PIPELINE = "pipeline"

# Commands that write a key and cannot carry a TTL themselves (except SET's ex=/px=/...).
WRITE_METHODS = frozenset({
    "set", "setnx", "mset", "msetnx", "hset", "hsetnx", "hmset", "lpush", "rpush", "sadd",
    "zadd", "incr", "incrby", "incrbyfloat", "decr", "decrby", "append",
})
TTL_KEYWORDS = ("ex", "px", "exat", "pxat", "keepttl")
EXPIRE_METHODS = frozenset({"expire", "pexpire", "expireat", "pexpireat"})
DELETE_METHODS = frozenset({"delete", "unlink"})
READ_METHODS = frozenset({"get", "getdel"})
LOG_METHODS = frozenset({
    "debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log", "msg",
})
LOGGER_FACTORIES = frozenset({
    "logging.getLogger", "structlog.get_logger", "structlog.getLogger", "structlog.wrap_logger",
    "structlog.stdlib.get_logger", "celery.utils.log.get_task_logger", "get_task_logger",
})
# What follows ``redis.`` (after an optional submodule) in a client constructor.
CLIENT_CONSTRUCTORS = frozenset({
    "Redis", "StrictRedis", "RedisCluster", "from_url", "Redis.from_url",
    "StrictRedis.from_url", "RedisCluster.from_url",
})
# Accepted without an import (runbook-style snippets): distinctive names only.
BARE_CONSTRUCTORS = frozenset({
    "Redis", "StrictRedis", "RedisCluster", "Redis.from_url", "StrictRedis.from_url",
    "RedisCluster.from_url",
})
REDIS_SUBMODULES = ("redis.asyncio.client", "redis.asyncio.cluster", "redis.asyncio",
                    "redis.client", "redis.cluster", "redis")
CLIENT_TYPES = frozenset({"Redis", "StrictRedis", "RedisCluster"})
PIPELINE_TYPES = frozenset({"Pipeline", "ClusterPipeline"})
PIPELINE_TERMINALS = frozenset({"execute", "reset", "watch", "unwatch", "multi", "__exit__"})
MAX_MODULE_HOPS = MAX_HOPS
_NO_EXPORT = (None, None)
_LOGGER_NAME = re.compile(r"(?:^|_)log(?:ger)?s?(?:$|_)|logger$", re.IGNORECASE)

_PREFILTER_METHODS = re.compile(
    r"\.(?:" + "|".join(sorted(WRITE_METHODS | READ_METHODS | {"pipeline"})) + r")\s*\("
)


# --------------------------------------------------------------------------- rules
RULES = (
    Rule(
        code="RPT201",
        name="redis-write-without-ttl",
        summary="Redis `set`/`hset`-style write with no TTL (`ex=`, `px=`, `exat=`, `pxat=`, "
                "`keepttl=`, `setex`, or a later `expire` of the key in the same function).",
        runbook=RUNBOOK,
        why=(
            "Transient state (a WebAuthn challenge, a CSRF nonce) is written once and popped "
            "once; when the pop never comes (the user abandons signup, a worker dies) a key "
            "without a TTL stays in Redis forever. The runbook's pattern bounds every key: "
            "`redis.set(key, value, ex=_CHALLENGE_TTL)`. `setex`/`psetex`, `keepttl=True`, or "
            "an `expire` of the same key later in the same function (for example in the same "
            "MULTI/EXEC pipeline) are fine."
        ),
        bad=(
            "from flask import current_app\n\n\n"
            "def store_nonce(user_id: int, nonce: str) -> None:\n"
            "    redis = current_app.extensions.get(\"redis_client\")\n"
            "    if redis:\n"
            "        redis.set(f\"csrf:nonce:{user_id}\", nonce)\n"
        ),
        good=(
            "from flask import current_app\n\n_NONCE_TTL = 300  # seconds\n\n\n"
            "def store_nonce(user_id: int, nonce: str) -> None:\n"
            "    redis = current_app.extensions.get(\"redis_client\")\n"
            "    if redis:\n"
            "        redis.set(f\"csrf:nonce:{user_id}\", nonce, ex=_NONCE_TTL)\n"
        ),
    ),
    Rule(
        code="RPT202",
        name="redis-get-then-delete",
        summary="Redis `get` followed by `delete` of the same key: not atomic, use `GETDEL`.",
        runbook=RUNBOOK,
        why=(
            "Between the `get` and the `delete` another worker can read the same value, so a "
            "one-time challenge or nonce can be used twice, and a crash between the two leaves "
            "the key behind. `getdel(key)` reads and deletes in a single Redis command "
            "(\"Atomic pop\" in the runbook). A `get` and `delete` queued together in one "
            "MULTI/EXEC pipeline are not reported."
        ),
        bad=(
            "from flask import current_app\n\n\n"
            "def pop_nonce(user_id: int) -> bytes | None:\n"
            "    redis = current_app.extensions.get(\"redis_client\")\n"
            "    val = redis.get(f\"csrf:nonce:{user_id}\")\n"
            "    redis.delete(f\"csrf:nonce:{user_id}\")\n"
            "    if val is None:\n"
            "        current_app.logger.warning(\"csrf.nonce_miss user_id=%s\", user_id)\n"
            "    return val\n"
        ),
        good=(
            "from flask import current_app\n\n\n"
            "def pop_nonce(user_id: int) -> bytes | None:\n"
            "    redis = current_app.extensions.get(\"redis_client\")\n"
            "    val = redis.getdel(f\"csrf:nonce:{user_id}\")\n"
            "    if val is None:\n"
            "        current_app.logger.warning(\"csrf.nonce_miss user_id=%s\", user_id)\n"
            "    return val\n"
        ),
    ),
    Rule(
        code="RPT203",
        name="redis-silent-miss",
        summary="A Redis `getdel`/`get` miss is returned or used without a named log event "
                "on the miss path (reported at the read).",
        runbook=RUNBOOK,
        why=(
            "A silent `None` is what hid the 2026-05-25 SEV-1 (every signup's challenge "
            "missed). The runbook requires a positive diagnostic signal: on a miss, log a named "
            "event (`logger.warning(\"webauthn.challenge_miss ...\")`) that Sentry can alert on. "
            "Log events are calls on `current_app.logger`, `logging.getLogger(...)` loggers, "
            "structlog loggers (any `logger`/`log` object); a `raise` or `abort()` on the miss "
            "path also surfaces the miss. Reads used only as an existence test "
            "(`if redis.get(key):`) or with a default (`redis.get(key) or b\"0\"`) are not "
            "reported."
        ),
        bad=(
            "from flask import Flask\n\n\n"
            "def pop_challenge(app: Flask, user_id: int) -> str | None:\n"
            "    redis = app.extensions.get(\"redis_client\")\n"
            "    val = redis.getdel(f\"webauthn:reg:challenge:{user_id}\")\n"
            "    return val.decode() if val else None\n"
        ),
        good=(
            "import logging\n\nfrom flask import Flask\n\nlogger = logging.getLogger(__name__)\n\n\n"
            "def pop_challenge(app: Flask, user_id: int) -> str | None:\n"
            "    redis = app.extensions.get(\"redis_client\")\n"
            "    val = redis.getdel(f\"webauthn:reg:challenge:{user_id}\")\n"
            "    if val is None:\n"
            "        logger.warning(\"webauthn.challenge_miss store=redis user_id=%s\", user_id)\n"
            "    return val.decode() if val else None\n"
        ),
    ),
    Rule(
        code="RPT204",
        name="redis-client-subscript",
        summary="`…extensions[\"redis_client\"]` raises when `REDIS_URL` is absent; use "
                "`.get(\"redis_client\")` with a local-dev fallback.",
        runbook=RUNBOOK,
        why=(
            "The Redis client is only registered when `REDIS_URL` is set. Local dev, CI and "
            "staging (no Redis add-on, by design) run without it, so a subscript raises "
            "`KeyError` on the first request that touches the path. Read it with "
            "`.get(\"redis_client\")` and fall back to in-process state when it is None, as the "
            "runbook's pattern does. `--fix` rewrites the subscript to `.get(...)`; handling "
            "the None is yours to write."
        ),
        bad=(
            "from flask import current_app\n\n\n"
            "def remember_device(user_id: int, token: str) -> None:\n"
            "    redis = current_app.extensions[\"redis_client\"]\n"
            "    redis.set(f\"device:{user_id}\", token, ex=86400)\n"
        ),
        good=(
            "from flask import current_app\n\n_local_devices: dict[int, str] = {}\n\n\n"
            "def remember_device(user_id: int, token: str) -> None:\n"
            "    redis = current_app.extensions.get(\"redis_client\")\n"
            "    if redis:\n"
            "        redis.set(f\"device:{user_id}\", token, ex=86400)\n"
            "    else:\n"
            "        # Local dev / CI: Redis absent, fall back to in-process dict\n"
            "        _local_devices[user_id] = token\n"
        ),
        fixable=True,
    ),
)


class RedisStateChecker(Checker):
    family = "Transient state in Redis"
    rules = RULES
    file_kinds = frozenset({"python"})
    needs_cst = False

    def prefilter(self, text: str) -> bool:
        # Every client source names "redis" (the extension key, the package, an annotation)
        # except a client or helper imported from another module of the project.
        if "redis" in text.lower():
            return True
        return "import" in text and _PREFILTER_METHODS.search(text) is not None

    def check(self, ctx: "FileContext") -> Iterable["Finding"]:
        tree = ctx.ast_tree
        if tree is None:
            return []
        if "redis" not in ctx.text.lower() and (
                ctx.project is None
                or not ctx.project.get(_exports_index).needs_model(ctx.text, ctx.path)):
            return []  # no client can reach this module: skip building the model
        model = ModuleModel(tree, ctx.path, ctx.project, hops=0)
        try:
            return list(_Analysis(ctx, model).run())
        finally:
            model.release()


def _exports_index(project: "ProjectIndex") -> RedisExports:
    """The run's export summaries (``raptor_lint.rules.redis_state.exports``)."""
    return RedisExports(project, lambda tree, path, hops: _summarise(tree, path, project, hops))


def _summarise(tree: ast.Module, path: Path, project: "ProjectIndex", hops: int) -> Summary:
    """What another module can import from this one: ``{name: (value kind, function kind)}``
    for its top-level names of a known kind.  The model (and ``tree``) is dropped after."""
    model = ModuleModel(tree, path, project, hops, analysis=False)
    scope = model.module_scope
    summary: Summary = {}
    try:
        for name in list(scope.bindings):
            value = model.name_kind(name, scope)
            function = model.exported_function_kind(name)
            if value is not None or function is not None:
                summary[name] = (value, function)
    finally:
        model.release()
    return summary


# --------------------------------------------------------------------------- model
@dataclass
class _Binding:
    """One way a name gets its value in a scope."""

    how: str  # "value" | "param" | "import" | "def" | "unknown"
    node: ast.AST | None = None  # value expression / annotation / def node
    scope: "_Scope | None" = None  # where ``node`` is evaluated
    qualified: str | None = None  # for imports
    level: int = 0  # relative-import level
    module: str | None = None  # the ``from`` module of an import


class _Scope:
    def __init__(self, node: ast.AST, parent: "_Scope | None", cls: ast.ClassDef | None) -> None:
        self.node = node
        self.parent = parent
        self.cls = cls  # class whose method this is (for ``self.x``)
        self.bindings: dict[str, list[_Binding]] = {}
        self.globals: set[str] = set()
        self.nonlocals: set[str] = set()
        self.self_name: str | None = None

    def bind(self, name: str, binding: _Binding) -> None:
        self.bindings.setdefault(name, []).append(binding)


class ModuleModel:
    """Names, imports, scopes and parents of one module; answers "is this a Redis client?"."""

    def __init__(self, tree: ast.Module, path: Path, project: "ProjectIndex | None", hops: int,
                 analysis: bool = True) -> None:
        # ``analysis=False``: only kinds are asked (an export summary): no parent links.
        self.tree = tree
        self.path = path
        self.project = project
        self.hops = hops
        self.parents: dict[ast.AST, tuple[ast.AST, str]] = {}
        self._links = self.parents if analysis else None
        self.scopes: dict[ast.AST, _Scope] = {}
        self.scope_of_node: dict[ast.AST, _Scope] = {}  # of each Subscript (RPT204)
        self.classes: dict[str, ast.ClassDef] = {}
        self._kind_memo: dict[tuple[int, int], str | None] = {}
        self._attribute_memo: dict[tuple[int, str], str | None] = {}
        self._self_assignment_memo: dict[int, dict] = {}
        self._in_progress: set[tuple[int, int]] = set()
        self.module_scope = _Scope(tree, None, None)
        self.scopes[tree] = self.module_scope
        self._build(tree, self.module_scope, None)
        # ``global x`` in a function binds the module's x.
        for scope in list(self.scopes.values()):
            for name in scope.globals:
                for binding in scope.bindings.pop(name, []):
                    self.module_scope.bind(name, binding)

    def release(self) -> None:
        """Break the scope <-> binding reference cycles (a binding points to the scope it
        is evaluated in), so reference counting frees the model and the tree it holds as
        soon as the check ends, instead of the cyclic collector later."""
        for scope in self.scopes.values():
            scope.bindings.clear()
        self.scopes.clear()
        self.scope_of_node.clear()

    # ------------------------------------------------------------------ building
    def _build(self, node: ast.AST, scope: _Scope, cls: ast.ClassDef | None) -> None:
        links = self._links
        visit = self._visit
        for field in _child_fields(type(node)):
            value = getattr(node, field, None)
            if value is None:
                continue
            if type(value) is list:
                for child in value:
                    if child is not None:
                        if links is not None:
                            links[child] = (node, field)
                        visit(child, scope, cls)
            else:
                if links is not None:
                    links[value] = (node, field)
                visit(value, scope, cls)

    def _visit(self, node: ast.AST, scope: _Scope, cls: ast.ClassDef | None) -> None:
        kind = type(node)
        if kind not in _BINDING_NODES:  # most nodes: nothing to record, just descend
            if kind is ast.Subscript:
                self.scope_of_node[node] = scope
            self._build(node, scope, cls)
            return
        links = self._links
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            scope.bind(node.name, _Binding("def", node, scope))
            for decorator in node.decorator_list:
                if links is not None:
                    links[decorator] = (node, "decorator_list")
                self._visit(decorator, scope, cls)
            for default in [*node.args.defaults, *(d for d in node.args.kw_defaults if d)]:
                if links is not None:
                    links[default] = (node.args, "defaults")
                self._visit(default, scope, cls)
            if node.returns is not None:
                if links is not None:
                    links[node.returns] = (node, "returns")
            # A method's name lives in the class body; its body sees the enclosing scope.
            in_class = isinstance(scope.node, ast.ClassDef)
            inner = _Scope(node, scope.parent if in_class else scope, cls if in_class else None)
            self.scopes[node] = inner
            all_args = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
            if inner.cls is not None and all_args and not _is_staticmethod(node):
                inner.self_name = all_args[0].arg
            for arg in [*all_args, node.args.vararg, node.args.kwarg]:
                if arg is not None:
                    inner.bind(arg.arg, _Binding("param", arg.annotation, inner))
            for statement in node.body:
                if links is not None:
                    links[statement] = (node, "body")
                self._visit(statement, inner, None)
            return
        if isinstance(node, ast.Lambda):
            inner = _Scope(node, scope, None)
            self.scopes[node] = inner
            for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs,
                        node.args.vararg, node.args.kwarg]:
                if arg is not None:
                    inner.bind(arg.arg, _Binding("param", None, inner))
            if links is not None:
                links[node.body] = (node, "body")
            self._visit(node.body, inner, None)
            return
        if isinstance(node, ast.ClassDef):
            scope.bind(node.name, _Binding("def", node, scope))
            if scope is self.module_scope:
                self.classes[node.name] = node
            for decorator in [*node.decorator_list, *node.bases, *node.keywords]:
                if links is not None:
                    links[decorator] = (node, "bases")
                self._visit(decorator, scope, cls)
            # The class body is not a scope methods can see; its names are class attributes.
            body_scope = _Scope(node, scope, None)
            self.scopes[node] = body_scope
            for statement in node.body:
                if links is not None:
                    links[statement] = (node, "body")
                self._visit(statement, body_scope, node)
            return
        if isinstance(node, ast.Global):
            scope.globals.update(node.names)
        elif isinstance(node, ast.Nonlocal):
            scope.nonlocals.update(node.names)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    scope.bind(alias.asname, _Binding("import", qualified=alias.name))
                else:
                    top = alias.name.split(".")[0]
                    scope.bind(top, _Binding("import", qualified=top))
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    continue
                prefix = node.module or ""
                qualified = f"{prefix}.{alias.name}" if prefix and node.level == 0 else None
                scope.bind(alias.asname or alias.name, _Binding(
                    "import", qualified=qualified, level=node.level, module=node.module,
                    node=ast.Constant(alias.name)))
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                self._bind_target(target, node.value, scope)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            scope.bind(node.target.id, _Binding("param", node.annotation, scope))
            if node.value is not None:
                scope.bind(node.target.id, _Binding("value", node.value, scope))
        elif isinstance(node, ast.AugAssign):
            self._bind_target(node.target, None, scope)
        elif isinstance(node, ast.NamedExpr):
            scope.bind(node.target.id, _Binding("value", node.value, scope))
        elif isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
            self._bind_target(node.target, None, scope)
        elif isinstance(node, (ast.With, ast.AsyncWith)):
            for item in node.items:
                if item.optional_vars is not None:
                    # A Redis client's / pipeline's __enter__ returns itself.
                    self._bind_target(item.optional_vars, item.context_expr, scope)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            scope.bind(node.name, _Binding("unknown"))
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and getattr(node, "name", None):
            scope.bind(node.name, _Binding("unknown"))
        self._build(node, scope, cls)

    def _bind_target(self, target: ast.AST, value: ast.AST | None, scope: _Scope) -> None:
        if isinstance(target, ast.Name):
            scope.bind(target.id, _Binding("value" if value is not None else "unknown", value, scope))
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._bind_target(element, None, scope)
        elif isinstance(target, ast.Starred):
            self._bind_target(target.value, None, scope)

    # ------------------------------------------------------------------ lookups
    def lookup(self, name: str, scope: _Scope) -> tuple[list[_Binding], _Scope] | None:
        current: _Scope | None = scope
        while current is not None:
            if name in current.globals:
                current = self.module_scope
                continue
            if name in current.bindings and name not in current.nonlocals:
                return current.bindings[name], current
            current = current.parent
        return None

    def qualified(self, node: ast.AST, scope: _Scope, imported: bool = False) -> str | None:
        """Dotted name of a Name/Attribute chain through imports; None for local variables
        (and, with ``imported``, for a chain whose head is not imported)."""
        if isinstance(node, ast.Attribute):
            head = self.qualified(node.value, scope, imported)
            return f"{head}.{node.attr}" if head else None
        if isinstance(node, ast.Name):
            found = self.lookup(node.id, scope)
            if found is None:
                # Unbound: a runbook-style snippet without its imports.  Never a project
                # module, though: those are only followed through import statements.
                return None if imported else node.id
            bindings, _ = found
            imports = [b for b in bindings if b.how == "import"]
            if imports and len(imports) == len(bindings):
                return imports[0].qualified or self._relative_qualified(imports[0])
            return None
        return None

    def _relative_qualified(self, binding: _Binding) -> str | None:
        if self.project is None or not isinstance(binding.node, ast.Constant):
            return None
        module = self.project.modules.absolute_module(self.path, binding.module, binding.level)
        return f"{module}.{binding.node.value}" if module else None

    def string_value(self, node: ast.AST | None, scope: _Scope) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.Name):
            found = self.lookup(node.id, scope)
            if found and len(found[0]) == 1 and found[0][0].how == "value":
                value = found[0][0].node
                if isinstance(value, ast.Constant) and isinstance(value.value, str):
                    return value.value
        return None

    def is_extensions(self, node: ast.AST) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "extensions") or (
            isinstance(node, ast.Name) and node.id == "extensions")

    def is_extension_subscript(self, node: ast.AST, scope: _Scope) -> bool:
        return (isinstance(node, ast.Subscript) and self.is_extensions(node.value)
                and self.string_value(node.slice, scope) == EXTENSION_KEY)

    # ------------------------------------------------------------------ kinds
    def kind(self, node: ast.AST | None, scope: _Scope) -> str | None:
        """CLIENT, PIPELINE or None (not provably Redis)."""
        if node is None:
            return None
        key = (id(node), id(scope))
        if key in self._kind_memo:
            return self._kind_memo[key]
        if key in self._in_progress:
            return None
        self._in_progress.add(key)
        try:
            result = self._kind(node, scope)
        finally:
            self._in_progress.discard(key)
        self._kind_memo[key] = result
        return result

    def _kind(self, node: ast.AST, scope: _Scope) -> str | None:
        if isinstance(node, ast.Await):
            return self.kind(node.value, scope)
        if isinstance(node, ast.NamedExpr):
            return self.kind(node.value, scope)
        if isinstance(node, ast.Subscript):
            return CLIENT if self.is_extension_subscript(node, scope) else None
        if isinstance(node, ast.Name):
            return self.name_kind(node.id, scope)
        if isinstance(node, ast.Attribute):
            if (isinstance(node.value, ast.Name) and scope.self_name == node.value.id
                    and scope.cls is not None):
                return self.attribute_kind(scope.cls, node.attr)
            return self._imported_value_kind(node, scope)
        if isinstance(node, ast.IfExp):
            kinds = {self.kind(branch, scope) for branch in (node.body, node.orelse)
                     if not _is_none(branch)}
            return kinds.pop() if len(kinds) == 1 else None
        if isinstance(node, ast.Call):
            return self._call_kind(node, scope)
        return None

    def _call_kind(self, node: ast.Call, scope: _Scope) -> str | None:
        func = node.func
        if isinstance(func, ast.Attribute):
            if (func.attr == "get" and self.is_extensions(func.value) and node.args
                    and self.string_value(node.args[0], scope) == EXTENSION_KEY):
                return CLIENT
            receiver = self.kind(func.value, scope)
            if receiver == CLIENT and func.attr in {"pipeline", "__enter__"}:
                return PIPELINE if func.attr == "pipeline" else CLIENT
            if receiver == PIPELINE and func.attr not in PIPELINE_TERMINALS:
                return PIPELINE  # queued commands return the pipeline (chaining)
            if receiver is not None:
                return None
        qualified = self.qualified(func, scope)
        if qualified is not None and _is_client_constructor(qualified, self._is_imported(func, scope)):
            return CLIENT
        return self.helper_kind(func, scope)

    def _is_imported(self, func: ast.AST, scope: _Scope) -> bool:
        head = func
        while isinstance(head, ast.Attribute):
            head = head.value
        return isinstance(head, ast.Name) and self.lookup(head.id, scope) is not None

    def name_kind(self, name: str, scope: _Scope) -> str | None:
        found = self.lookup(name, scope)
        if found is None:
            return None
        bindings, _ = found
        kinds: set[str | None] = set()
        for binding in bindings:
            if binding.how == "param":
                annotated = self.annotation_kind(binding.node, binding.scope or scope)
                if annotated is not None:
                    return annotated  # an annotation says it all
                if binding.node is not None and any(b.how == "value" for b in bindings):
                    continue  # ``x: T = value``: judge by the values
                return None  # a parameter nobody annotated as Redis
            if binding.how == "value":
                if _is_none(binding.node):
                    continue
                kinds.add(self.kind(binding.node, binding.scope or scope))
            elif binding.how == "import":
                kinds.add(self._import_kind(binding))
            else:
                return None
        if len(kinds) == 1:
            return kinds.pop()
        return None

    def attribute_kind(self, cls: ast.ClassDef, attr: str) -> str | None:
        key = (id(cls), attr)
        if key not in self._attribute_memo:
            self._attribute_memo[key] = None  # recursion guard
            self._attribute_memo[key] = self._attribute_kind(cls, attr)
        return self._attribute_memo[key]

    def _self_assignments(self, cls: ast.ClassDef) -> dict[str, list[tuple[ast.AST | None, ast.AST | None, _Scope]]]:
        """attr -> [(value, annotation, method scope)] for every ``self.attr = …`` in the class."""
        if id(cls) in self._self_assignment_memo:
            return self._self_assignment_memo[id(cls)]
        found: dict[str, list[tuple[ast.AST | None, ast.AST | None, _Scope]]] = {}
        for method in cls.body:
            if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            method_scope = self.scopes.get(method)
            if method_scope is None or method_scope.self_name is None:
                continue
            for node in _walk_scope(method):
                pairs: list[tuple[ast.AST, ast.AST | None, ast.AST | None]] = []
                if isinstance(node, ast.Assign):
                    pairs = [(t, node.value, None) for t in node.targets]
                elif isinstance(node, ast.AnnAssign):
                    pairs = [(node.target, node.value, node.annotation)]
                for target, value, annotation in pairs:
                    if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                            and target.value.id == method_scope.self_name):
                        found.setdefault(target.attr, []).append((value, annotation, method_scope))
        self._self_assignment_memo[id(cls)] = found
        return found

    def _attribute_kind(self, cls: ast.ClassDef, attr: str) -> str | None:
        class_scope = self.scopes.get(cls)
        kinds: set[str | None] = set()
        for statement in cls.body:
            if (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                    and statement.target.id == attr):
                annotated = self.annotation_kind(statement.annotation, class_scope or self.module_scope)
                if annotated is not None:
                    return annotated
        for value, annotation, method_scope in self._self_assignments(cls).get(attr, []):
            if annotation is not None:
                annotated = self.annotation_kind(annotation, method_scope)
                if annotated is not None:
                    return annotated
            if value is None or _is_none(value):
                continue
            kinds.add(self.kind(value, method_scope))
        return kinds.pop() if len(kinds) == 1 else None

    def annotation_kind(self, annotation: ast.AST | None, scope: _Scope) -> str | None:
        if annotation is None:
            return None
        annotation = _parse_string_annotation(annotation)
        if annotation is None:
            return None
        kinds: set[str] = set()
        for part in _union_members(annotation):
            part = _parse_string_annotation(part)
            if part is None:
                return None
            if _is_none(part):
                continue
            base = part.value if isinstance(part, ast.Subscript) else part
            qualified = self.qualified(base, scope)
            if qualified is None:
                return None
            kind = _type_kind(qualified, self._is_imported(base, scope))
            if kind is None:
                return None
            kinds.add(kind)
        return kinds.pop() if len(kinds) == 1 else None

    # ------------------------------------------------------------------ helpers
    def helper_kind(self, func: ast.AST, scope: _Scope) -> str | None:
        """Kind returned by the function ``func`` names (same module, or a project module)."""
        if isinstance(func, ast.Name):
            found = self.lookup(func.id, scope)
            if found is None:
                return None
            bindings, _ = found
            if len(bindings) != 1:
                return None
            binding = bindings[0]
            if binding.how == "def" and isinstance(binding.node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                return self.function_kind(binding.node)
            if binding.how == "import":
                target = self._foreign(binding)
                if target is not None:
                    exports, name = target
                    return exports.get(name, _NO_EXPORT)[1]
            return None
        if isinstance(func, ast.Attribute):
            if (isinstance(func.value, ast.Name) and scope.self_name == func.value.id
                    and scope.cls is not None):
                for statement in scope.cls.body:
                    if (isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef))
                            and statement.name == func.attr):
                        return self.function_kind(statement)
                return None
            qualified = self.qualified(func, scope, imported=True)
            if qualified and "." in qualified and not qualified.startswith("redis"):
                module, _, name = qualified.rpartition(".")
                exports = self._exports_of(module)
                if exports is not None:
                    return exports.get(name, _NO_EXPORT)[1]
        return None

    def function_kind(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
        key = (id(function), 0)
        if key in self._kind_memo:
            return self._kind_memo[key]
        if key in self._in_progress:
            return None
        self._in_progress.add(key)
        try:
            result = self._function_kind(function)
        finally:
            self._in_progress.discard(key)
        self._kind_memo[key] = result
        return result

    def _function_kind(self, function: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
        scope = self.scopes.get(function)
        if scope is None:
            return None
        outer = scope.parent or self.module_scope
        annotated = self.annotation_kind(function.returns, outer) if function.returns else None
        if annotated is not None:
            return annotated
        kinds: set[str | None] = set()
        for node in _walk_scope(function):
            if isinstance(node, ast.Return) and node.value is not None and not _is_none(node.value):
                kinds.add(self.kind(node.value, scope))
        return kinds.pop() if len(kinds) == 1 else None

    def exported_function_kind(self, name: str) -> str | None:
        found = self.module_scope.bindings.get(name)
        if not found or len(found) != 1:
            return None
        binding = found[0]
        if binding.how == "def" and isinstance(binding.node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return self.function_kind(binding.node)
        if binding.how == "import":
            target = self._foreign(binding)
            if target is not None:
                exports, other = target
                return exports.get(other, _NO_EXPORT)[1]
        return None

    def _import_kind(self, binding: _Binding) -> str | None:
        """Kind of a module-level value imported from a project module (a shared client)."""
        target = self._foreign(binding)
        if target is None:
            return None
        exports, name = target
        return exports.get(name, _NO_EXPORT)[0]

    def _imported_value_kind(self, node: ast.Attribute, scope: _Scope) -> str | None:
        qualified = self.qualified(node, scope, imported=True)
        if not qualified or "." not in qualified or qualified.startswith("redis"):
            return None
        module, _, name = qualified.rpartition(".")
        exports = self._exports_of(module)
        return exports.get(name, _NO_EXPORT)[0] if exports is not None else None

    def _foreign(self, binding: _Binding) -> tuple[Summary, str] | None:
        """(summary of the module ``binding`` imports from, the imported name)."""
        if self.project is None or not isinstance(binding.node, ast.Constant):
            return None
        dotted = self.project.modules.absolute_module(self.path, binding.module, binding.level)
        exports = self._exports_of(dotted)
        return (exports, binding.node.value) if exports is not None else None

    def _exports_of(self, dotted: str) -> Summary | None:
        """The export summary of project module ``dotted`` one hop further, or None
        (no such module, ``redis.*``, this module itself, or too many hops)."""
        if self.project is None or self.hops >= MAX_MODULE_HOPS:
            return None
        index = self.project.get(_exports_index)
        path = index.find(dotted, self.path)
        return index.summary(path, self.hops + 1) if path is not None else None

    # ------------------------------------------------------------------ logging
    def is_log_call(self, node: ast.AST, scope: _Scope) -> bool:
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            return False
        if node.func.attr not in LOG_METHODS or not (node.args or node.keywords):
            return False
        return self.is_logger(node.func.value, scope)

    def is_logger(self, node: ast.AST, scope: _Scope) -> bool:
        if isinstance(node, ast.Name) and node.id == "logging":
            return True  # logging.warning(...): the root logger
        name = node.attr if isinstance(node, ast.Attribute) else node.id if isinstance(node, ast.Name) else None
        if name is not None and _LOGGER_NAME.search(name):
            return True  # logger, log, _log, LOGGER, current_app.logger, self.logger, audit_log ...
        if isinstance(node, ast.Name):
            found = self.lookup(node.id, scope)
            if found:
                return any(b.how == "value" and self._is_logger_value(b.node, b.scope or scope)
                           for b in found[0])
        if isinstance(node, ast.Call):
            return self._is_logger_value(node, scope)
        return False

    def _is_logger_value(self, node: ast.AST | None, scope: _Scope) -> bool:
        if not isinstance(node, ast.Call):
            return False
        qualified = self.qualified(node.func, scope)
        if qualified in LOGGER_FACTORIES:
            return True
        func = node.func
        return (isinstance(func, ast.Attribute) and func.attr in {"bind", "new", "getChild", "opt"}
                and self.is_logger(func.value, scope))


# --------------------------------------------------------------------------- analysis
@dataclass
class _RedisCall:
    call: ast.Call
    method: str
    receiver: str  # CLIENT or PIPELINE
    order: tuple[int, int]


class _Analysis:
    def __init__(self, ctx: "FileContext", model: ModuleModel) -> None:
        self.ctx = ctx
        self.model = model
        self.lines = split_lines(ctx.text)
        self._name_index: dict[ast.AST, dict[str, list[ast.Name]]] = {}
        # Attribute calls by enclosing scope node (``_attribute_calls``); False when a call
        # has no parent link (then each scope is walked).
        self._call_groups: dict[ast.AST, list[ast.Call]] | bool | None = None

    def run(self) -> Iterator["Finding"]:
        findings: list[Finding] = []
        for scope_node, scope in self.model.scopes.items():
            if isinstance(scope_node, ast.ClassDef):
                continue
            calls = self._redis_calls(scope_node, scope)
            if calls:
                findings.extend(self._ttl(calls, scope))
                findings.extend(self._get_then_delete(calls, scope))
                findings.extend(self._silent_miss(calls, scope))
        if EXTENSION_KEY in self.ctx.text:
            findings.extend(self._subscripts())
        return iter(findings)

    # ------------------------------------------------------------------ plumbing
    def _col(self, line: int, byte_offset: int) -> int:
        return column_of(self.lines[line - 1] if 0 < line <= len(self.lines) else "", byte_offset)

    def _pos(self, node: ast.AST) -> tuple[int, int, int, int]:
        end_line = node.end_lineno or node.lineno
        return (node.lineno, self._col(node.lineno, node.col_offset),
                end_line, self._col(end_line, node.end_col_offset or node.col_offset))

    def _segment(self, node: ast.AST) -> str:
        line, col, end_line, end_col = self._pos(node)
        if line == end_line:
            return self.lines[line - 1][col - 1:end_col - 1]
        return ast.unparse(node)

    def _attribute_calls(self, scope_node: ast.AST) -> list[ast.Call]:
        """The ``x.method(...)`` calls ``_walk_scope(scope_node)`` would find, for every scope
        from one pass over the file's shared walk (each call goes to the nearest enclosing
        scope node, as ``_walk_scope`` assigns it); the per-scope walk when a call has no
        parent link."""
        if self._call_groups is None:
            self._call_groups = self._group_calls()
        groups = self._call_groups
        if groups is False:
            return [node for node in _walk_scope(scope_node)
                    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)]
        return groups.get(scope_node, [])

    def _group_calls(self) -> "dict[ast.AST, list[ast.Call]] | bool":
        parents = self.model.parents
        tree = self.model.tree
        groups: dict[ast.AST, list[ast.Call]] = {}
        for node in walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            link = parents.get(node)
            while link is not None and type(link[0]) not in _SCOPE_TYPES and link[0] is not tree:
                link = parents.get(link[0])
            if link is None:
                return False
            groups.setdefault(link[0], []).append(node)
        return groups

    def _redis_calls(self, scope_node: ast.AST, scope: _Scope) -> list[_RedisCall]:
        calls = []
        for node in self._attribute_calls(scope_node):
            receiver = self.model.kind(node.func.value, scope)
            if receiver is not None:
                value = node.func.value
                order = (value.end_lineno or value.lineno, value.end_col_offset or 0)
                calls.append(_RedisCall(node, node.func.attr, receiver, order))
        calls.sort(key=lambda c: c.order)
        return calls

    def _key(self, node: ast.AST | None, scope: _Scope) -> object:
        if node is None:
            return None
        if isinstance(node, ast.Name):
            found = self.model.lookup(node.id, scope)
            if found and len(found[0]) == 1 and found[0][0].how == "value":
                node = found[0][0].node  # key = f"..."; redis.set(key, ...) ... expire(f"...")
        return _shape(node)

    def _first_key(self, call: ast.Call) -> ast.AST | None:
        if call.args and not isinstance(call.args[0], ast.Starred):
            return call.args[0]
        for keyword in call.keywords:
            if keyword.arg in {"name", "key"}:
                return keyword.value
        return None

    def _exclusive(self, a: ast.AST, b: ast.AST) -> bool:
        """True when a and b sit in branches of one statement that never both run."""
        chain_b = {id(node): field for node, field in self._ancestry(b)}
        for node, field in self._ancestry(a):
            if id(node) not in chain_b:
                continue
            other = chain_b[id(node)]
            if isinstance(node, (ast.If, ast.IfExp)):
                return {field, other} == {"body", "orelse"}
            if isinstance(node, ast.Try):
                return {field, other} == {"handlers", "orelse"} or field == other == "handlers"
            if isinstance(node, ast.Match):
                return field == other == "cases"
            return False
        return False

    def _ancestry(self, node: ast.AST) -> list[tuple[ast.AST, str]]:
        chain = []
        current = node
        while current in self.model.parents:
            parent, field = self.model.parents[current]
            chain.append((parent, field))
            current = parent
        return chain

    # ------------------------------------------------------------------ RPT201
    def _ttl(self, calls: list[_RedisCall], scope: _Scope) -> Iterator["Finding"]:
        for index, item in enumerate(calls):
            call = item.call
            if item.method not in WRITE_METHODS:
                continue
            if any(k.arg is None for k in call.keywords) or any(isinstance(a, ast.Starred) for a in call.args):
                continue  # **options / *args: cannot tell
            if item.method == "set" and _set_has_ttl(call):
                continue
            if item.method in {"mset", "msetnx"}:
                mapping = call.args[0] if call.args else None
                keys = list(mapping.keys) if isinstance(mapping, ast.Dict) else []
                if keys and None not in keys and all(
                    self._expired_later(k, call, calls[index + 1:], scope) for k in keys
                ):
                    continue
            else:
                key = self._first_key(call)
                if key is None or self._expired_later(key, call, calls[index + 1:], scope):
                    continue
            key_text = _shorten(self._segment(self._first_key(call) or call))
            if item.method == "set":
                remedy = "pass ex=<seconds> (or use setex), or expire() the key later in this function"
            else:
                remedy = f"expire() the key right after the {item.method} (in the same pipeline)"
            yield self.ctx.finding(
                "RPT201", self._pos(call),
                f"Redis {item.method} of {key_text} has no TTL: transient state that is never "
                f"popped (an abandoned signup, a dead worker) stays in Redis forever; {remedy}",
            )

    def _expired_later(self, key: ast.AST, write: ast.Call, later: list[_RedisCall], scope: _Scope) -> bool:
        wanted = self._key(key, scope)
        for item in later:
            if item.method in EXPIRE_METHODS and self._key(self._first_key(item.call), scope) == wanted:
                if not self._exclusive(write, item.call):
                    return True
        return False

    # ------------------------------------------------------------------ RPT202
    def _get_then_delete(self, calls: list[_RedisCall], scope: _Scope) -> Iterator["Finding"]:
        for index, item in enumerate(calls):
            if item.method != "get" or item.receiver != CLIENT or len(item.call.args) != 1:
                continue
            wanted = self._key(item.call.args[0], scope)
            for later in calls[index + 1:]:
                if later.method not in DELETE_METHODS:
                    continue
                if any(self._key(arg, scope) == wanted for arg in later.call.args) \
                        and not self._exclusive(item.call, later.call):
                    yield self.ctx.finding(
                        "RPT202", self._pos(item.call),
                        f"Redis get of {_shorten(self._segment(item.call.args[0]))} then "
                        f"{later.method} of the same key (line {later.call.lineno}) is not atomic: "
                        f"another worker can read the value in between (a one-time challenge "
                        f"used twice); use getdel(key), one command that reads and deletes",
                    )
                    break

    # ------------------------------------------------------------------ RPT203
    def _silent_miss(self, calls: list[_RedisCall], scope: _Scope) -> Iterator["Finding"]:
        for item in calls:
            if item.method not in READ_METHODS or item.receiver != CLIENT:
                continue
            how = self._miss_outcome(item.call, scope)
            if how is None:
                continue
            yield self.ctx.finding(
                "RPT203", self._pos(item.call),
                f"a miss of this Redis {item.method} (None) is {how} without a named log event: "
                f"an expired or never-stored key looks like any other None and nothing reaches "
                f"Sentry; on None, log a named event (logger.warning(\"<area>.<thing>_miss "
                f"...\")) before returning",
            )

    def _miss_outcome(self, call: ast.Call, scope: _Scope) -> str | None:
        """None when the miss is handled (or not used); else "returned" / "used"."""
        node: ast.AST = call
        parent, field = self.model.parents.get(node, (None, ""))
        while isinstance(parent, ast.Await):
            node = parent
            parent, field = self.model.parents.get(node, (None, ""))
        if isinstance(parent, ast.NamedExpr):
            test = self._in_test(parent)
            if test is not None:  # if (val := redis.getdel(key)) is None: ...
                return self._branch_outcome(*test, scope)
            return self._name_outcome(parent.target.id, parent, scope)
        if parent is None or isinstance(parent, ast.Expr):
            return None
        if isinstance(parent, ast.Return):
            return "returned"
        if isinstance(parent, ast.BoolOp) and isinstance(parent.op, ast.Or) and parent.values[-1] is not node:
            return None  # redis.get(key) or default
        if isinstance(parent, ast.Compare) or self._in_test(node) is not None:
            return None  # an existence test / comparison: the None is not passed on
        if isinstance(parent, (ast.Assign, ast.AnnAssign)) and field == "value":
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            if len(targets) == 1 and isinstance(targets[0], ast.Name):
                return self._name_outcome(targets[0].id, parent, scope)
            return None
        return "used"

    def _in_test(self, node: ast.AST) -> tuple[ast.AST, str | None] | None:
        """(If/IfExp/While, branch taken on a miss — or None if it depends) when ``node``'s
        value is tested by a condition; None when it is not part of a condition."""
        current = node
        truth: bool | None = False  # truth of ``current`` when the read missed (None)
        while True:
            parent, field = self.model.parents.get(current, (None, ""))
            if parent is None:
                return None
            if isinstance(parent, (ast.If, ast.IfExp, ast.While)) and field == "test":
                return parent, None if truth is None else ("body" if truth else "orelse")
            if isinstance(parent, ast.UnaryOp) and isinstance(parent.op, ast.Not):
                truth = None if truth is None else not truth
            elif isinstance(parent, ast.NamedExpr):
                pass
            elif isinstance(parent, ast.BoolOp):
                if isinstance(parent.op, ast.And):
                    truth = False if truth is False else None
                else:
                    truth = True if truth is True else None
            elif isinstance(parent, ast.Compare) and current is node and len(parent.ops) == 1:
                op = parent.ops[0]
                other = parent.comparators[0] if parent.left is node else parent.left
                if _is_none(other):
                    truth = isinstance(op, (ast.Is, ast.Eq))
                elif isinstance(op, (ast.Eq, ast.Is, ast.In)):
                    truth = False
                elif isinstance(op, (ast.NotEq, ast.IsNot, ast.NotIn)):
                    truth = True
                else:
                    return None
            else:
                return None
            current = parent

    def _name_outcome(self, name: str, assignment: ast.AST, scope: _Scope) -> str | None:
        start = (assignment.end_lineno or assignment.lineno, assignment.end_col_offset or 0)
        uses = self._uses_in_next_statements(name, assignment, start)
        if uses is None:
            uses = [node for node in self._names_in(scope.node).get(name, ())
                    if (node.lineno, node.col_offset) >= start]
        if not uses or not isinstance(uses[0].ctx, ast.Load):
            return None  # never read, or rebound before being read
        first = uses[0]
        test = self._in_test(first)
        if test is None:
            parent, _ = self.model.parents.get(first, (None, ""))
            return "returned" if isinstance(parent, ast.Return) else "used"
        return self._branch_outcome(*test, scope)

    def _uses_in_next_statements(self, name: str, assignment: ast.AST,
                                 start: tuple[int, int]) -> list[ast.Name] | None:
        """The uses of ``name`` in the first statement after ``assignment`` (in its block)
        that has any, in source order; None when no later statement of the block has one
        (then the whole scope is searched).  Statements of a block follow each other in the
        source, so that statement holds the first use: usually the very next one
        (``cached = r.get(k)`` / ``if cached is None:``), found without walking the scope."""
        for statement in self._following(assignment):
            found = [node for node in _walk_scope(statement, include_root=True)
                     if type(node) is ast.Name and node.id == name
                     and (node.lineno, node.col_offset) >= start]
            if found:
                found.sort(key=_source_order)
                return found
        return None

    def _names_in(self, scope_node: ast.AST) -> dict[str, list[ast.Name]]:
        """The ``Name`` nodes of one scope by identifier, in source order: one walk of the
        scope, shared by every assignment whose uses are looked up in it."""
        index = self._name_index.get(scope_node)
        if index is None:
            index = {}
            for node in _walk_scope(scope_node):
                if type(node) is ast.Name:
                    index.setdefault(node.id, []).append(node)
            for uses in index.values():
                uses.sort(key=_source_order)
            self._name_index[scope_node] = index
        return index

    def _branch_outcome(self, construct: ast.AST, side: str | None, scope: _Scope) -> str | None:
        if side is None or isinstance(construct, ast.While):
            return None  # the miss path depends on other conditions: do not guess
        if isinstance(construct, ast.IfExp):
            branch = construct.body if side == "body" else construct.orelse
            if self._surfaces([branch], scope):
                return None
            holder = self.model.parents.get(construct, (None, ""))[0]
            return "returned" if isinstance(holder, ast.Return) else "used"
        statements = list(construct.body if side == "body" else construct.orelse)
        if not statements or not _terminates(statements[-1]):
            statements += self._following(construct)
        return None if self._surfaces(statements, scope) else "returned"

    def _following(self, statement: ast.AST) -> list[ast.AST]:
        parent, field = self.model.parents.get(statement, (None, ""))
        block = getattr(parent, field, None) if parent is not None else None
        if not isinstance(block, list) or statement not in block:
            return []
        return block[block.index(statement) + 1:]

    def _surfaces(self, nodes: list[ast.AST], scope: _Scope) -> bool:
        """Does this miss path log a named event (or raise / abort)?"""
        for root in nodes:
            for node in _walk_scope(root, include_root=True):
                if isinstance(node, ast.Raise):
                    return True
                if isinstance(node, ast.Call):
                    if self.model.is_log_call(node, scope):
                        return True
                    func = node.func
                    name = (func.attr if isinstance(func, ast.Attribute)
                            else func.id if isinstance(func, ast.Name) else "")
                    if name == "abort":
                        return True
        return False

    # ------------------------------------------------------------------ RPT204
    def _subscripts(self) -> Iterator["Finding"]:
        for node in walk(self.model.tree):
            if not isinstance(node, ast.Subscript) or not isinstance(node.ctx, ast.Load):
                continue
            scope = self.model.scope_of_node.get(node, self.model.module_scope)
            if not self.model.is_extension_subscript(node, scope):
                continue
            _, _, value_end_line, value_end_col = self._pos(node.value)
            _, _, end_line, end_col = self._pos(node)
            key = self._segment(node.slice)
            fix = None
            if "\n" not in key and key:
                fix = Fix(
                    description=f'replace ["{EXTENSION_KEY}"] with .get({key})',
                    edits=(Edit(value_end_line, value_end_col, end_line, end_col, f".get({key})"),),
                )
            owner = _shorten(self._segment(node.value))
            yield self.ctx.finding(
                "RPT204", self._pos(node),
                f'{owner}["{EXTENSION_KEY}"] raises KeyError when REDIS_URL is absent (local dev, '
                f'CI, staging without the Redis add-on); use {owner}.get("{EXTENSION_KEY}") and '
                f"handle None with a local-dev fallback",
                fix=fix,
            )


# --------------------------------------------------------------------------- small helpers
_SCOPE_NODES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)


_SCOPE_TYPES = frozenset(_SCOPE_NODES)
# Nodes whose visit binds a name or opens a scope; every other node is only descended into.
_BINDING_NODES = frozenset({
    ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.Global, ast.Nonlocal,
    ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.AugAssign, ast.NamedExpr, ast.For,
    ast.AsyncFor, ast.comprehension, ast.With, ast.AsyncWith, ast.ExceptHandler, ast.MatchAs,
    ast.MatchStar,
})


def _walk_scope(root: ast.AST, include_root: bool = False) -> Iterator[ast.AST]:
    """Nodes of one scope, not descending into nested functions, lambdas or classes
    (pre-order, in field order; operator and ``ctx`` nodes left out)."""
    if include_root:
        yield root
        if type(root) in _SCOPE_TYPES:
            return
    stack = children(root)
    stack.reverse()
    while stack:
        node = stack.pop()
        yield node
        if type(node) not in _SCOPE_TYPES:
            inner = children(node)
            if inner:
                inner.reverse()
                stack.extend(inner)


def _shape(node: object) -> object:
    """A hashable picture of an expression without positions: equal for two spellings of
    the same key.  (``ast.dump`` gave the same, but each call leaves a reference cycle
    behind, its recursive closure, and costs more.)"""
    if isinstance(node, ast.AST):
        return (type(node).__name__, *(_shape(getattr(node, field, None)) for field in node._fields))
    if isinstance(node, list):
        return tuple(_shape(item) for item in node)
    if node is None or type(node) is str:
        return node
    return type(node).__name__, repr(node)  # 1, 1.0 and True are equal, but not the same key


def _source_order(node: ast.AST) -> tuple[int, int]:
    return node.lineno, node.col_offset


def _is_none(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is None


def _is_staticmethod(node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(isinstance(d, ast.Name) and d.id == "staticmethod" for d in node.decorator_list)


def _terminates(statement: ast.AST) -> bool:
    return isinstance(statement, (ast.Return, ast.Raise, ast.Continue, ast.Break))


def _set_has_ttl(call: ast.Call) -> bool:
    for keyword in call.keywords:
        if keyword.arg in TTL_KEYWORDS and not (
            isinstance(keyword.value, ast.Constant) and keyword.value.value in (None, False)
        ):
            return True
    # redis-py: set(name, value, ex=None, px=None, nx=False, xx=False, keepttl=False, ...)
    if len(call.args) >= 3 and not _is_none(call.args[2]):
        return True
    if len(call.args) >= 4 and not _is_none(call.args[3]):
        return True
    return False


def _parse_string_annotation(annotation: ast.AST) -> ast.AST | None:
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            return ast.parse(annotation.value.strip(), mode="eval").body
        except SyntaxError:
            return None
    return annotation


def _union_members(annotation: ast.AST) -> list[ast.AST]:
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return _union_members(annotation.left) + _union_members(annotation.right)
    annotation = _parse_string_annotation(annotation) or annotation
    if isinstance(annotation, ast.Subscript):
        base = annotation.value
        name = base.attr if isinstance(base, ast.Attribute) else base.id if isinstance(base, ast.Name) else ""
        if name in {"Optional", "Union"}:
            inner = annotation.slice
            elements = inner.elts if isinstance(inner, ast.Tuple) else [inner]
            return [member for element in elements for member in _union_members(element)]
    return [annotation]


def _strip_redis_module(qualified: str) -> str | None:
    for module in REDIS_SUBMODULES:
        if qualified.startswith(module + "."):
            return qualified[len(module) + 1:]
    return None


def _is_client_constructor(qualified: str, bound: bool) -> bool:
    rest = _strip_redis_module(qualified)
    if rest is not None:
        return rest in CLIENT_CONSTRUCTORS
    return not bound and qualified in BARE_CONSTRUCTORS


def _type_kind(qualified: str, bound: bool) -> str | None:
    rest = _strip_redis_module(qualified)
    if rest is None:
        if bound:
            return None
        rest = qualified if qualified in CLIENT_TYPES else None
        if rest is None:
            return None
    if rest in CLIENT_TYPES:
        return CLIENT
    if rest in PIPELINE_TYPES:
        return PIPELINE
    return None


def _shorten(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
