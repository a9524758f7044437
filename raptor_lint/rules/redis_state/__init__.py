"""Transient state in Redis (RPT201–RPT205) — runbook: "Required pattern for transient state".

The runbook's canonical pattern (the post-fix ``webauthn_service.py``) is: a
TTL on every write, an atomic ``GETDEL`` for pop, a named log event on a miss,
and a local-dev fallback when ``app.extensions.get("redis_client")`` is None.

The hard part is *not* firing on look-alikes: a call is only a
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
never qualify.  Names, scopes, parents and positions come from the file's shared
semantic model (``raptor_lint.semantic``, ``ctx.semantic``); what is Redis (a client, a
pipeline, a logger, a TTL) is decided here.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Dict, Iterable, Iterator, List, Optional, Tuple, Union

from raptor_lint.astwalk import children
from raptor_lint.strings import shorten
from raptor_lint.findings import UNSAFE, Edit, Fix
from raptor_lint.rules.base import Checker, Rule, related_place, with_story
from raptor_lint.rules.redis_state.exports import MAX_HOPS, RedisExports, Summary
from raptor_lint.semantic import (
    FUNCTIONS, FunctionNode, Scope, SemanticModel, absolute_module, bound_value, contains, exclusive, field_of, is_none,
    last_name, source_segment, string_value,
)

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
# RPT202: a read, then the commands that delete what it read.
POP_PAIRS = {"get": DELETE_METHODS, "hget": frozenset({"hdel"})}
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
_NO_EXPORT = (None, None, False)
_LOGGER_NAME = re.compile(r"(?:^|_)log(?:ger)?s?(?:$|_)|logger$", re.IGNORECASE)


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
        summary="Redis `get` followed by `delete` (or `hget` by `hdel`) of the same key (and "
                "field): not atomic, use `GETDEL`.",
        runbook=RUNBOOK,
        why=(
            "Between the `get` and the `delete` another worker can read the same value, so a "
            "one-time challenge or nonce can be used twice, and a crash between the two leaves "
            "the key behind. `getdel(key)` reads and deletes in a single Redis command "
            "(\"Atomic pop\" in the runbook). `hget` then `hdel` of the same key and field is "
            "the same pop of a hash field: queue both in one MULTI/EXEC pipeline (or use "
            "`HGETDEL`, Redis 8). A read and delete queued together in one MULTI/EXEC pipeline "
            "are not reported. `--fix` (safe) turns `val = r.get(k)` … `r.delete(k)` into "
            "`val = r.getdel(k)` when the delete is a statement of the same block, deletes only "
            "that key, and nothing in between uses the key, rebinds what it is made of, or "
            "leaves the block (except on a miss, `if val is None:`); comments are kept."
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
            "    if redis is None:\n"
            "        return None  # local dev / CI: nonces are not issued without Redis\n"
            "    val = redis.getdel(f\"csrf:nonce:{user_id}\")\n"
            "    if val is None:\n"
            "        current_app.logger.warning(\"csrf.nonce_miss user_id=%s\", user_id)\n"
            "    return val\n"
        ),
        fixable=True,
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
            "    if redis is None:\n"
            "        return None  # local dev / CI: see the RPT205 fallback\n"
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
        fix_applicability=UNSAFE,  # a KeyError becomes a None to handle (RPT205)
    ),
    Rule(
        code="RPT205",
        name="redis-client-without-fallback",
        summary="A Redis client from `…extensions.get(\"redis_client\")` (or a helper returning "
                "it) used where it may be None: no `if client:` guard and no local-dev fallback.",
        runbook=RUNBOOK,
        why=(
            "The Redis client is only registered when `REDIS_URL` is set; local dev, CI and "
            "staging without the Redis add-on run without it, and there "
            "`extensions.get(\"redis_client\")` is None. The runbook's checklist asks: \"Is "
            "there a local-dev fallback for when `REDIS_URL` is absent?\" A command on the "
            "client with no guard is an `AttributeError: 'NoneType' object has no attribute "
            "'set'` on the first request there (and the usual outcome of fixing RPT204 by "
            "switching to `.get`). Guard it as the runbook's pattern does: use the client under "
            "`if client:` / `if client is not None:` and fall back to in-process state in the "
            "else branch, return or raise early (`if client is None: return ...`), or bind "
            "`client = extensions.get(...) or fallback`. A helper of the project that returns "
            "the client (annotated `Redis | None`, or returning `extensions.get(...)`) counts "
            "as the same source. Reported at the first unguarded use (the receiver of the "
            "command), once per assignment."
        ),
        bad=(
            "from flask import current_app\n\n_RATE_WINDOW = 60  # seconds\n\n\n"
            "def count_attempt(user_id: int) -> int:\n"
            "    redis = current_app.extensions.get(\"redis_client\")\n"
            "    attempts = redis.incr(f\"login:attempts:{user_id}\")\n"
            "    redis.expire(f\"login:attempts:{user_id}\", _RATE_WINDOW)\n"
            "    return attempts\n"
        ),
        good=(
            "from collections import Counter\n\nfrom flask import current_app\n\n"
            "_RATE_WINDOW = 60  # seconds\n"
            "_local_attempts: Counter[int] = Counter()  # local dev / CI: one process\n\n\n"
            "def count_attempt(user_id: int) -> int:\n"
            "    redis = current_app.extensions.get(\"redis_client\")\n"
            "    if redis is None:\n"
            "        # Local dev / CI: Redis absent, count in process\n"
            "        _local_attempts[user_id] += 1\n"
            "        return _local_attempts[user_id]\n"
            "    attempts = redis.incr(f\"login:attempts:{user_id}\")\n"
            "    redis.expire(f\"login:attempts:{user_id}\", _RATE_WINDOW)\n"
            "    return attempts\n"
        ),
    ),
)


class RedisStateChecker(Checker):
    family = "Transient state in Redis"
    rules = RULES
    file_kinds = frozenset({"python"})

    prefilter_rules = frozenset({"RPT201", "RPT202", "RPT203", "RPT204", "RPT205"})

    def prefilter(self, text: str) -> bool:
        # Every client source names "redis" (the extension key, the package, an annotation)
        # except a client or helper imported from another module of the project.
        # RPT205 reads any attribute of a client that may be None, so a helper imported
        # from another module can reach it whatever the command: the text gate in check()
        # (needs_model) decides those.
        if "redis" in text.lower():
            return True
        return "import" in text

    def check(self, ctx: "FileContext") -> Iterable["Finding"]:
        if ctx.ast_tree is None:
            return []
        if "redis" not in ctx.text.lower() and (
                ctx.project is None
                or not ctx.project.get(_exports_index).needs_model(ctx.text, ctx.path)):
            return []  # no client can reach this module: skip building the model
        kinds = RedisKinds(ctx.semantic, ctx.path, ctx.project, hops=0)
        return _Analysis(ctx, kinds).run()


def _exports_index(project: "ProjectIndex") -> RedisExports:
    """The run's export summaries (``raptor_lint.rules.redis_state.exports``)."""
    return RedisExports(project, lambda model, path, hops: _summarise(model, path, project, hops))


def _summarise(model: SemanticModel, path: Path, project: "ProjectIndex", hops: int) -> Summary:
    """What another module can import from this one: ``{name: (value kind, function kind)}``
    for its top-level names of a known kind."""
    kinds = RedisKinds(model, path, project, hops)
    scope = model.module_scope
    # The module's names: bound at the top level, or in a function that declares them global.
    names = set(scope.local)
    for statement in model.global_statements:
        names.update(statement.names)
    summary: Summary = {}
    for name in sorted(names):
        value = kinds.name_kind(name, scope)
        function = kinds.exported_function_kind(name)
        if value is not None or function is not None:
            summary[name] = (value, function, function is not None and kinds.exported_function_optional(name))
    return summary


# --------------------------------------------------------------------------- kinds
# How a name gets its value, read off the semantic model's binding nodes:
# ("value", expression) | ("param", annotation, scope it is read in) | ("import", alias)
# | ("def", def node) | ("unknown", None).
_Bind = tuple  # (how, node, scope)
# attr -> [(value, annotation, method scope)] of ``self.attr = …`` in a class's methods.
_SelfAssignments = Dict[str, List[Tuple[Optional[ast.AST], Optional[ast.AST], Scope]]]
# unit -> [(``x.attr`` target, its Assign / AnnAssign)].
_Stores = Dict[ast.AST, List[Tuple[ast.Attribute, Union[ast.Assign, ast.AnnAssign]]]]


class RedisKinds:
    """Answers "is this a Redis client?" for one module, over its ``SemanticModel``."""

    def __init__(self, model: SemanticModel, path: Path, project: "ProjectIndex | None",
                 hops: int) -> None:
        self.sem = model
        self.path = path
        self.project = project
        self.hops = hops
        self._binds_memo: dict[tuple[Scope, str], list[_Bind]] = {}
        self._kind_memo: dict[ast.AST, str | None] = {}
        self._function_memo: dict[ast.AST, str | None] = {}
        self._optional_memo: dict[ast.AST, bool] = {}
        self._in_progress: set[ast.AST] = set()
        self._attribute_memo: dict[tuple[ast.ClassDef, str], str | None] = {}
        self._self_assignment_memo: dict[ast.ClassDef, _SelfAssignments] = {}
        self._methods: dict[ast.AST, tuple[ast.ClassDef, str] | None] = {}
        self._attribute_stores: _Stores | None = None

    # ------------------------------------------------------------------ bindings
    def _scope_of(self, name: ast.Name, scope: Scope | None = None) -> Scope:
        """The scope ``name`` is looked up in (``scope`` for a node of a string annotation,
        which the model never saw)."""
        found = self.sem.name_scope.get(name)
        if found is not None:
            return found
        return scope if scope is not None else self.sem.module_scope

    def lookup(self, name: str, scope: Scope) -> list[_Bind]:
        """How ``name`` used in ``scope`` gets its values ([] when nothing binds it)."""
        sem = self.sem
        owner = sem.owner(name, scope)
        key = (owner, name)
        found = self._binds_memo.get(key)
        if found is None:
            found = self._binds_memo[key] = [
                bind for node in sem.bound(owner, name) for bind in self._classify(node, owner)]
        return found

    def _classify(self, node: ast.AST, owner: Scope) -> tuple[_Bind, ...]:
        sem = self.sem
        kind = type(node)
        if kind is ast.Name:
            assert isinstance(node, ast.Name)
            if type(node.ctx) is ast.Del:
                return ()
            scope = sem.name_scope.get(node, owner)
            parent = sem.parents.get(node)
            if isinstance(parent, ast.Assign) and contains(parent.targets, node):
                return (("value", parent.value, scope),)
            if isinstance(parent, ast.AnnAssign) and parent.target is node:
                annotated: _Bind = ("param", parent.annotation, scope)
                return (annotated, ("value", parent.value, scope)) if parent.value is not None \
                    else (annotated,)
            if isinstance(parent, ast.NamedExpr) and parent.target is node:
                return (("value", parent.value, scope),)
            if isinstance(parent, ast.withitem) and parent.optional_vars is node:
                # A Redis client's / pipeline's __enter__ returns itself.
                return (("value", parent.context_expr, scope),)
            return (("unknown", None, scope),)
        if kind is ast.arg:
            assert isinstance(node, ast.arg)
            return (("param", node.annotation, sem.name_scope.get(node, owner)),)
        if kind is ast.alias:
            return (("import", node, owner),)
        if kind in _DEF_TYPES:
            return (("def", node, owner),)
        return (("unknown", None, owner),)

    def qualified(self, node: ast.AST, scope: Scope | None = None, imported: bool = False) -> str | None:
        """Dotted name of a Name/Attribute chain through imports; None for local variables
        (and, with ``imported``, for a chain whose head is not imported)."""
        attrs: list[str] = []
        while isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        binds = self.lookup(node.id, self._scope_of(node, scope))
        if not binds:
            # Unbound: a runbook-style snippet without its imports.  Never a project
            # module, though: those are only followed through import statements.
            head = None if imported else node.id
        elif all(bind[0] == "import" for bind in binds):
            head = self._import_qualified(binds[0][1])
        else:
            head = None
        if head is None:
            return None
        return ".".join([head, *reversed(attrs)]) if attrs else head

    def _import_qualified(self, alias: ast.alias) -> str | None:
        """The model's import target, except where the family knows less: a relative
        import with no project layout to resolve it, and ``from . import x`` at the top."""
        statement = self.sem.parent(alias)
        if isinstance(statement, ast.ImportFrom) and not self._from_module(statement):
            return None
        return self.sem.import_target(alias)

    def _from_module(self, statement: ast.ImportFrom) -> str | None:
        if statement.level == 0:
            return statement.module
        if self.project is None:
            return None
        return absolute_module(self.sem.package, statement.module, statement.level)

    def _is_imported(self, func: ast.AST, scope: Scope | None = None) -> bool:
        head = func
        while isinstance(head, ast.Attribute):
            head = head.value
        return isinstance(head, ast.Name) and bool(self.lookup(head.id, self._scope_of(head, scope)))

    def string_value(self, node: ast.AST | None) -> str | None:
        literal = string_value(node)
        if literal is not None:
            return literal
        if isinstance(node, ast.Name):
            binds = self.lookup(node.id, self._scope_of(node))
            if len(binds) == 1 and binds[0][0] == "value":
                return string_value(binds[0][1])
        return None

    def is_extension_get(self, node: ast.Call) -> bool:
        """``….extensions.get("redis_client"[, default])``."""
        func = node.func
        return (isinstance(func, ast.Attribute) and func.attr == "get" and _is_extensions(func.value)
                and bool(node.args) and self.string_value(node.args[0]) == EXTENSION_KEY)

    def is_extension_subscript(self, node: ast.AST) -> bool:
        return (isinstance(node, ast.Subscript) and _is_extensions(node.value)
                and self.string_value(node.slice) == EXTENSION_KEY)

    def _self_class(self, name: ast.Name) -> ast.ClassDef | None:
        """The class when ``name`` is the ``self`` of the method whose code reads it."""
        scope: Scope | None = self.sem.name_scope.get(name)
        while scope is not None and scope.kind == "comprehension":
            scope = scope.parent
        if scope is None or scope.kind != "function":
            return None
        method = self._method(scope.node)
        return method[0] if method is not None and method[1] == name.id else None

    def _method(self, function: ast.AST) -> tuple[ast.ClassDef, str] | None:
        """(class, name of its first parameter) of a method, not a static one."""
        if function in self._methods:
            return self._methods[function]
        found = None
        outer = self.sem.def_scope.get(function)
        if outer is not None and outer.kind == "class" and isinstance(function, FUNCTIONS) \
                and isinstance(outer.node, ast.ClassDef):
            args = function.args
            params = [*args.posonlyargs, *args.args, *args.kwonlyargs]
            if params and not _is_staticmethod(function):
                found = (outer.node, params[0].arg)
        self._methods[function] = found
        return found

    # ------------------------------------------------------------------ kinds
    def kind(self, node: ast.AST | None) -> str | None:
        """CLIENT, PIPELINE or None (not provably Redis)."""
        if node is None:
            return None
        memo = self._kind_memo
        if node in memo:
            return memo[node]
        if node in self._in_progress:
            return None
        self._in_progress.add(node)
        try:
            result = self._kind(node)
        finally:
            self._in_progress.discard(node)
        memo[node] = result
        return result

    def _kind(self, node: ast.AST) -> str | None:
        if isinstance(node, (ast.Await, ast.NamedExpr)):
            return self.kind(node.value)
        if isinstance(node, ast.Subscript):
            return CLIENT if self.is_extension_subscript(node) else None
        if isinstance(node, ast.Name):
            return self.name_kind(node.id, self._scope_of(node))
        if isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name):
                cls = self._self_class(node.value)
                if cls is not None:
                    return self.attribute_kind(cls, node.attr)
            return self._imported_value_kind(node)
        if isinstance(node, ast.IfExp):
            kinds = {self.kind(branch) for branch in (node.body, node.orelse) if not is_none(branch)}
            return kinds.pop() if len(kinds) == 1 else None
        if isinstance(node, ast.Call):
            return self._call_kind(node)
        return None

    def _call_kind(self, node: ast.Call) -> str | None:
        func = node.func
        if isinstance(func, ast.Attribute):
            if self.is_extension_get(node):
                return CLIENT
            receiver = self.kind(func.value)
            if receiver == CLIENT and func.attr in {"pipeline", "__enter__"}:
                return PIPELINE if func.attr == "pipeline" else CLIENT
            if receiver == PIPELINE and func.attr not in PIPELINE_TERMINALS:
                return PIPELINE  # queued commands return the pipeline (chaining)
            if receiver is not None:
                return None
        qualified = self.qualified(func)
        if qualified is not None and _is_client_constructor(qualified, self._is_imported(func)):
            return CLIENT
        return self.helper_kind(func)

    def name_kind(self, name: str, scope: Scope) -> str | None:
        binds = self.lookup(name, scope)
        if not binds:
            return None
        kinds: set[str | None] = set()
        for how, node, where in binds:
            if how == "param":
                annotated = self.annotation_kind(node, where)
                if annotated is not None:
                    return annotated  # an annotation says it all
                if node is not None and any(bind[0] == "value" for bind in binds):
                    continue  # ``x: T = value``: judge by the values
                return None  # a parameter nobody annotated as Redis
            if how == "value":
                if is_none(node):
                    continue
                kinds.add(self.kind(node))
            elif how == "import":
                kinds.add(self._import_kind(node))
            else:
                return None
        if len(kinds) == 1:
            return kinds.pop()
        return None

    def attribute_kind(self, cls: ast.ClassDef, attr: str) -> str | None:
        key = (cls, attr)
        if key not in self._attribute_memo:
            self._attribute_memo[key] = None  # recursion guard
            self._attribute_memo[key] = self._attribute_kind(cls, attr)
        return self._attribute_memo[key]

    def _self_assignments(self, cls: ast.ClassDef) -> "_SelfAssignments":
        """attr -> [(value, annotation, method scope)] for every ``self.attr = …`` in the
        class's methods (not in their nested functions or classes)."""
        found = self._self_assignment_memo.get(cls)
        if found is not None:
            return found
        found = self._self_assignment_memo[cls] = {}
        sem = self.sem
        for method in cls.body:
            if not isinstance(method, FUNCTIONS):
                continue
            described = self._method(method)
            if described is None:
                continue
            self_name, method_scope = described[1], sem.inner_scope[method]
            for target, statement in self._stores_by_unit().get(method, ()):
                if (isinstance(target.value, ast.Name) and target.value.id == self_name
                        and sem.enclosing_class(statement) is None):
                    annotation = statement.annotation if isinstance(statement, ast.AnnAssign) else None
                    found.setdefault(target.attr, []).append((statement.value, annotation, method_scope))
        return found

    def _stores_by_unit(self) -> "_Stores":
        """``name.attr = …`` / ``name.attr: T = …`` assignments by the unit that runs them,
        from the model's list of attributes (one pass, the first time a class is asked)."""
        if self._attribute_stores is None:
            stores: _Stores = {}
            parents, units, tree = self.sem.parents, self.sem.units, self.sem.tree
            for node in self.sem.attributes:
                if type(node.ctx) is not ast.Store or type(node.value) is not ast.Name:
                    continue
                statement = parents.get(node)
                if isinstance(statement, ast.Assign):
                    if not contains(statement.targets, node):
                        continue
                elif not isinstance(statement, ast.AnnAssign):
                    continue
                stores.setdefault(units.get(statement, tree), []).append((node, statement))
            self._attribute_stores = stores
        return self._attribute_stores

    def _attribute_kind(self, cls: ast.ClassDef, attr: str) -> str | None:
        class_scope = self.sem.inner_scope.get(cls, self.sem.module_scope)
        kinds: set[str | None] = set()
        for statement in cls.body:
            if (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)
                    and statement.target.id == attr):
                annotated = self.annotation_kind(statement.annotation, class_scope)
                if annotated is not None:
                    return annotated
        for value, annotation, method_scope in self._self_assignments(cls).get(attr, []):
            if annotation is not None:
                annotated = self.annotation_kind(annotation, method_scope)
                if annotated is not None:
                    return annotated
            if value is None or is_none(value):
                continue
            kinds.add(self.kind(value))
        return kinds.pop() if len(kinds) == 1 else None

    def annotation_kind(self, annotation: ast.AST | None, scope: Scope) -> str | None:
        """The kind an annotation states; ``scope`` is where a string annotation's names
        are looked up."""
        if annotation is None:
            return None
        annotation = _parse_string_annotation(annotation)
        if annotation is None:
            return None
        kinds: set[str] = set()
        for member in _union_members(annotation):
            part = _parse_string_annotation(member)
            if part is None:
                return None
            if is_none(part):
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
    def helper_kind(self, func: ast.AST) -> str | None:
        """Kind returned by the function ``func`` names (same module, or a project module)."""
        return self._returned_kind(*self._helper(func))

    def helper_optional(self, func: ast.AST) -> bool:
        """Does the function ``func`` names return a Redis client or None (RPT205)?"""
        return self._returns_optional(*self._helper(func))

    def exported_function_kind(self, name: str) -> str | None:
        """helper_kind of this module's top-level ``name`` (its export summary)."""
        return self._returned_kind(*self._named_function(name, self.sem.module_scope))

    def exported_function_optional(self, name: str) -> bool:
        """helper_optional of this module's top-level ``name`` (its export summary)."""
        return self._returns_optional(*self._named_function(name, self.sem.module_scope))

    def _returned_kind(self, function: FunctionNode | None, export: tuple | None) -> str | None:
        if function is not None:
            return self.function_kind(function)
        return export[1] if export is not None else None

    def _returns_optional(self, function: FunctionNode | None, export: tuple | None) -> bool:
        if function is not None:
            return self.function_optional(function)
        return bool(export[2]) if export is not None and len(export) > 2 else False

    def _named_function(self, name: str, scope: Scope) -> tuple[FunctionNode | None, tuple | None]:
        """The def ``name`` used in ``scope`` stands for in this module, or the export
        summary entry of the function it imports from a project module; (None, None)
        when neither."""
        binds = self.lookup(name, scope)
        if len(binds) != 1:
            return None, None
        how, node, _ = binds[0]
        if how == "def" and isinstance(node, FUNCTIONS):
            return node, None
        if how == "import":
            target = self._foreign(node)
            if target is not None:
                exports, other = target
                return None, exports.get(other, _NO_EXPORT)
        return None, None

    def _helper(self, func: ast.AST) -> tuple[FunctionNode | None, tuple | None]:
        """The def ``func`` names in this module, or the export summary entry of the
        function it names in a project module; (None, None) when neither."""
        if isinstance(func, ast.Name):
            return self._named_function(func.id, self._scope_of(func))
        if isinstance(func, ast.Attribute):
            if isinstance(func.value, ast.Name):
                cls = self._self_class(func.value)
                if cls is not None:
                    for statement in cls.body:
                        if isinstance(statement, FUNCTIONS) and statement.name == func.attr:
                            return statement, None
                    return None, None
            qualified = self.qualified(func, imported=True)
            if qualified and "." in qualified and not qualified.startswith("redis"):
                module, _, name = qualified.rpartition(".")
                summary = self._exports_of(module)
                if summary is not None:
                    return None, summary.get(name, _NO_EXPORT)
        return None, None

    def function_kind(self, function: FunctionNode) -> str | None:
        memo = self._function_memo
        if function in memo:
            return memo[function]
        if function in self._in_progress:
            return None
        self._in_progress.add(function)
        try:
            result = self._function_kind(function)
        finally:
            self._in_progress.discard(function)
        memo[function] = result
        return result

    def _function_kind(self, function: FunctionNode) -> str | None:
        if function.returns is not None:
            outer = self.sem.def_scope.get(function, self.sem.module_scope)
            annotated = self.annotation_kind(function.returns, outer)
            if annotated is not None:
                return annotated
        kinds: set[str | None] = set()
        for statement in _statements(function.body):
            if isinstance(statement, ast.Return) and statement.value is not None \
                    and not is_none(statement.value):
                kinds.add(self.kind(statement.value))
        return kinds.pop() if len(kinds) == 1 else None

    # ------------------------------------------------------------------ None (RPT205)
    def function_optional(self, function: FunctionNode) -> bool:
        """A helper that returns the client or None: it returns a client, and its return
        annotation admits None, or it returns None, or a value that may be None."""
        memo = self._optional_memo
        if function in memo:
            return memo[function]
        memo[function] = False  # recursion guard
        found = False
        if self.function_kind(function) == CLIENT:
            if function.returns is not None and _admits_none(function.returns):
                found = True
            else:
                for statement in _statements(function.body):
                    if not isinstance(statement, ast.Return):
                        continue
                    value = statement.value
                    if value is None or is_none(value) or self.may_be_none(value) or (
                            isinstance(value, ast.Name) and self.unguarded_source(value) is not None):
                        found = True
                        break
        memo[function] = found
        return found

    def may_be_none(self, node: ast.AST | None) -> bool:
        """Is ``node`` a Redis client or None: ``….extensions.get("redis_client")`` (no
        default), or a call of a helper that returns one (``function_optional``)?"""
        while isinstance(node, (ast.Await, ast.NamedExpr)):
            node = node.value
        if not isinstance(node, ast.Call):
            return False
        if self.is_extension_get(node):
            return len(node.args) < 2 or is_none(node.args[1])
        return self.helper_optional(node.func)

    def unguarded_source(self, use: ast.Name) -> ast.Name | None:
        """The binding (its target) of a value that may be None which reaches the load
        ``use`` with no guard in between; None when there is none."""
        sem = self.sem
        owner, nodes = sem.resolve(use)
        unit = sem.unit_of(use)
        at = (use.lineno, use.col_offset)
        for node in nodes:
            if not isinstance(node, ast.Name) or sem.unit_of(node) is not unit \
                    or (node.lineno, node.col_offset) >= at:
                continue
            value = bound_value(sem, node)
            if value is not None and self.may_be_none(value) and not exclusive(sem.parents, node, use) \
                    and not self.guarded(node, use):
                return node
        return None

    def guarded(self, binding: ast.Name | None, use: ast.AST) -> bool:
        """Is ``use`` (a load of the name ``binding`` binds, or the expression itself when
        ``binding`` is None) reached only where it is not None?  Guards: an enclosing
        ``if x:`` / ``if x is not None:`` / ``x and …`` (the else of ``if not x:``), or,
        after the binding, ``if x is None: return|raise|…`` / ``if not x: x = fallback``,
        ``assert x``, or a new binding of the name."""
        sem = self.sem
        subject: object
        if binding is not None:
            subject = binding.id
            walrus = sem.parent(binding)
            site: ast.expr | ast.stmt | None = walrus if isinstance(walrus, ast.NamedExpr) \
                else sem.statement_of(binding)
            assert site is not None
            after = (site.end_lineno or site.lineno, site.end_col_offset or 0)
        else:
            subject, after = _shape(use), (0, 0)
        child: ast.AST = use
        parent = sem.parents.get(child)
        while parent is not None:
            kind = type(parent)
            if kind is ast.If or kind is ast.IfExp or kind is ast.While:
                field = field_of(parent, child)
                if field == "body" and _implies_present(parent.test, True, subject):  # type: ignore[attr-defined]
                    return True
                if field == "orelse" and kind is not ast.While \
                        and _implies_present(parent.test, False, subject):  # type: ignore[attr-defined]
                    return True
            elif kind is ast.BoolOp:
                assert isinstance(parent, ast.BoolOp)
                truth = isinstance(parent.op, ast.And)
                for value in parent.values:
                    if value is child:
                        break
                    if _implies_present(value, truth, subject):
                        return True
            if isinstance(child, ast.stmt):
                field = field_of(parent, child)
                block = getattr(parent, field) if field is not None else None
                if isinstance(block, list):
                    for sibling in block:
                        if sibling is child:
                            break
                        if (sibling.lineno, sibling.col_offset) >= after and _guards(sibling, subject):
                            return True
            if kind in _UNIT_TYPES:
                break
            child, parent = parent, sem.parents.get(parent)
        return False

    def _import_kind(self, alias: ast.alias) -> str | None:
        """Kind of a module-level value imported from a project module (a shared client)."""
        target = self._foreign(alias)
        if target is None:
            return None
        exports, name = target
        return exports.get(name, _NO_EXPORT)[0]

    def _imported_value_kind(self, node: ast.Attribute) -> str | None:
        qualified = self.qualified(node, imported=True)
        if not qualified or "." not in qualified or qualified.startswith("redis"):
            return None
        module, _, name = qualified.rpartition(".")
        exports = self._exports_of(module)
        return exports.get(name, _NO_EXPORT)[0] if exports is not None else None

    def _foreign(self, alias: ast.alias) -> tuple[Summary, str] | None:
        """(summary of the module a ``from … import`` alias imports from, the imported name)."""
        statement = self.sem.parent(alias)
        if self.project is None or not isinstance(statement, ast.ImportFrom):
            return None
        exports = self._exports_of(self._from_module(statement))
        return (exports, alias.name) if exports is not None else None

    def _exports_of(self, dotted: str | None) -> Summary | None:
        """The export summary of project module ``dotted`` one hop further, or None
        (no such module, ``redis.*``, this module itself, or too many hops)."""
        if self.project is None or self.hops >= MAX_MODULE_HOPS or not dotted:
            return None
        index = self.project.get(_exports_index)
        path = index.find(dotted, self.path)
        return index.summary(path, self.hops + 1) if path is not None else None

    # ------------------------------------------------------------------ logging
    def is_log_call(self, node: ast.AST) -> bool:
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            return False
        if node.func.attr not in LOG_METHODS or not (node.args or node.keywords):
            return False
        return self.is_logger(node.func.value)

    def is_logger(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Name) and node.id == "logging":
            return True  # logging.warning(...): the root logger
        name = last_name(node)
        if name is not None and _LOGGER_NAME.search(name):
            return True  # logger, log, _log, LOGGER, current_app.logger, self.logger, audit_log ...
        if isinstance(node, ast.Name):
            return any(how == "value" and self._is_logger_value(value)
                       for how, value, _ in self.lookup(node.id, self._scope_of(node)))
        if isinstance(node, ast.Call):
            return self._is_logger_value(node)
        return False

    def _is_logger_value(self, node: ast.AST | None) -> bool:
        if not isinstance(node, ast.Call):
            return False
        if self.qualified(node.func) in LOGGER_FACTORIES:
            return True
        func = node.func
        return (isinstance(func, ast.Attribute) and func.attr in {"bind", "new", "getChild", "opt"}
                and self.is_logger(func.value))


# --------------------------------------------------------------------------- analysis
@dataclass
class _RedisCall:
    call: ast.Call
    method: str
    receiver: str  # CLIENT or PIPELINE
    order: tuple[int, int]


class _Analysis:
    def __init__(self, ctx: "FileContext", kinds: RedisKinds) -> None:
        self.ctx = ctx
        self.kinds = kinds
        self.sem = kinds.sem
        self._line_starts: list[int] | None = None  # of ctx.text, for the getdel fixes

    def run(self) -> list["Finding"]:
        findings: list[Finding] = []
        for unit, calls in self._redis_calls().items():
            findings.extend(self._ttl(calls))
            findings.extend(self._get_then_delete(calls))
            findings.extend(self._silent_miss(calls, unit))
        if EXTENSION_KEY in self.ctx.text:
            findings.extend(self._subscripts())
        findings.extend(self._without_fallback())
        return findings

    # ------------------------------------------------------------------ plumbing
    def _redis_calls(self) -> dict[ast.AST, list[_RedisCall]]:
        """The Redis commands the rules read (``x.method(...)`` on a client or pipeline), by
        the function, lambda or module whose code holds them, in the order they run.  Calls
        in a class body, and the commands no rule reads, are left alone."""
        groups: dict[ast.AST, list[_RedisCall]] = {}
        parents, tree, kind = self.sem.parents, self.sem.tree, self.kinds.kind
        for node in self.sem.calls:
            func = node.func
            if not isinstance(func, ast.Attribute) or func.attr not in _COMMANDS:
                continue
            holder = parents.get(node)
            while holder is not None and holder is not tree and type(holder) not in _SCOPE_TYPES:
                holder = parents.get(holder)
            if holder is None or type(holder) is ast.ClassDef:
                continue
            receiver = kind(func.value)
            if receiver is not None:
                value = func.value
                order = (value.end_lineno or value.lineno, value.end_col_offset or 0)
                groups.setdefault(holder, []).append(_RedisCall(node, func.attr, receiver, order))
        for calls in groups.values():
            calls.sort(key=lambda c: c.order)
        return groups

    def _segment(self, node: ast.AST) -> str:
        segment = source_segment(self.sem, node)
        return segment if segment is not None else ast.unparse(node)

    def _key(self, node: ast.AST | None) -> object:
        if node is None:
            return None
        if isinstance(node, ast.Name):
            binds = self.kinds.lookup(node.id, self.kinds._scope_of(node))
            if len(binds) == 1 and binds[0][0] == "value":
                node = binds[0][1]  # key = f"..."; redis.set(key, ...) ... expire(f"...")
        return _shape(node)

    def _first_key(self, call: ast.Call) -> ast.AST | None:
        if call.args and not isinstance(call.args[0], ast.Starred):
            return call.args[0]
        for keyword in call.keywords:
            if keyword.arg in {"name", "key"}:
                return keyword.value
        return None

    def _exclusive(self, a: ast.AST, b: ast.AST) -> bool:
        return exclusive(self.sem.parents, a, b)

    # ------------------------------------------------------------------ RPT201
    def _ttl(self, calls: list[_RedisCall]) -> Iterator["Finding"]:
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
                if keys and all(key is not None and self._expired_later(key, call, calls[index + 1:])
                                for key in keys):
                    continue
            else:
                first = self._first_key(call)
                if first is None or self._expired_later(first, call, calls[index + 1:]):
                    continue
            key_text = shorten(self._segment(self._first_key(call) or call), 40)
            if item.method == "set":
                remedy = "pass ex=<seconds> or expire() it"
            else:
                which = "each key" if item.method in {"mset", "msetnx"} else "the key"
                remedy = f"expire() {which} after the {item.method}, in one pipeline"
            yield with_story(self.ctx.finding(
                "RPT201", self.sem.position(call), f"Redis {item.method} of {key_text} has no TTL: {remedy}",
            ), "Transient state that is never popped (an abandoned signup, a dead worker) stays in "
               "Redis forever; the runbook's pattern stores it with a TTL (set(..., ex=60)).")

    def _expired_later(self, key: ast.AST, write: ast.Call, later: list[_RedisCall]) -> bool:
        wanted = self._key(key)
        for item in later:
            if item.method in EXPIRE_METHODS and self._key(self._first_key(item.call)) == wanted:
                if not self._exclusive(write, item.call):
                    return True
        return False

    # ------------------------------------------------------------------ RPT202
    def _get_then_delete(self, calls: list[_RedisCall]) -> Iterator["Finding"]:
        for index, item in enumerate(calls):
            deletes = POP_PAIRS.get(item.method)
            args = item.call.args
            if deletes is None or item.receiver != CLIENT or len(args) != (2 if item.method == "hget" else 1) \
                    or any(isinstance(arg, ast.Starred) for arg in args):
                continue
            wanted = [self._key(arg) for arg in args]
            for later in calls[index + 1:]:
                if later.method not in deletes or self._exclusive(item.call, later.call):
                    continue
                keys = [self._key(arg) for arg in later.call.args]
                if item.method == "hget":
                    if not keys or keys[0] != wanted[0] or wanted[1] not in keys[1:]:
                        continue
                    key, field = (shorten(self._segment(arg), 30) for arg in args)
                    message = (f"hget then hdel of {key}, {field} (line {later.call.lineno}) is not atomic: "
                               f"pop it in one MULTI/EXEC")
                    fix = None
                elif wanted[0] in keys:
                    message = (f"get then {later.method} of {shorten(self._segment(args[0]), 40)} "
                               f"(line {later.call.lineno}) is not atomic: use getdel(key)")
                    fix = self._getdel_fix(item.call, later.call)
                else:
                    continue
                finding = self.ctx.finding("RPT202", self.sem.position(item.call), message, fix=fix)
                line, column, _, _ = self.sem.position(later.call)
                yield with_story(finding, (
                    "Between the read and the delete another worker can read the same value: a "
                    "one-time value (a WebAuthn challenge, a CSRF nonce) is then used twice. "
                    + ("HGETDEL (Redis 8) or a MULTI/EXEC pipeline does both at once." if item.method == "hget"
                       else "GETDEL (Redis 6.2) reads and deletes in one command.")),
                    [related_place(self.ctx.path, line, column, f"the {later.method} of the same key")])
                break

    def _getdel_fix(self, get: ast.Call, delete: ast.Call) -> Fix | None:
        """``val = r.get(k)`` … ``r.delete(k)`` → ``val = r.getdel(k)`` (safe), when the
        two are statements of one block, the read's value is bound to a name, the delete is
        an expression statement deleting only that key, both run on the same client (both
        awaited or neither), and nothing in between uses the key, rebinds what it or the
        client is made of, or leaves the block except on a miss (``if val is None:``)."""
        sem, parents = self.sem, self.sem.parents
        if get.keywords or delete.keywords or len(delete.args) != 1:
            return None
        get_func, delete_func = get.func, delete.func
        assert isinstance(get_func, ast.Attribute) and isinstance(delete_func, ast.Attribute)
        if _shape(get_func.value) != _shape(delete_func.value):
            return None
        get_value: ast.AST = get
        if isinstance(parents.get(get), ast.Await):
            get_value = parents[get]
        delete_value: ast.AST = delete
        if isinstance(parents.get(delete), ast.Await):
            delete_value = parents[delete]
        if (get_value is get) != (delete_value is delete):
            return None
        get_statement, delete_statement = parents.get(get_value), parents.get(delete_value)
        target = _plain_target(get_statement, get_value)
        if target is None or not isinstance(get_statement, (ast.Assign, ast.AnnAssign)) \
                or not isinstance(delete_statement, ast.Expr):
            return None
        holder = parents.get(get_statement)
        if holder is None or parents.get(delete_statement) is not holder:
            return None
        field = field_of(holder, get_statement)
        block = getattr(holder, field) if field is not None else None
        if not isinstance(block, list) or field_of(holder, delete_statement) != field:
            return None
        first = next(i for i, statement in enumerate(block) if statement is get_statement)
        last = next((i for i, statement in enumerate(block) if statement is delete_statement), -1)
        if last <= first or not self._nothing_touches(
                block[first + 1:last], target.id, [get.args[0], delete.args[0], get_func.value]):
            return None
        # The top-level statements holding the pair: all libcst is given.
        outer: list[Any] = [get_statement, delete_statement]
        for index, statement in enumerate(outer):
            while parents.get(statement) is not sem.tree:
                statement = parents[statement]
            outer[index] = statement
        top_first, top_last = outer
        decorators = getattr(top_first, "decorator_list", [])
        chunk_first = min([top_first.lineno, *(d.lineno for d in decorators)])
        if top_first.col_offset != 0:
            return None  # ``x = 1; val = r.get(k)``: not a chunk of whole lines
        from raptor_lint.rules.redis_state.getdel_fix import GetdelSite, getdel_edit, line_starts

        if self._line_starts is None:
            self._line_starts = line_starts(self.ctx.text)
        edit = getdel_edit(self.ctx.text, GetdelSite(
            chunk_first_line=chunk_first,
            chunk_last_line=top_last.end_lineno or top_last.lineno,
            get_statement=sem.position(get_statement)[:2],
            get_call=sem.position(get)[:2],
            delete_call=sem.position(delete)[:2],
            delete_last_line=delete_statement.end_lineno or delete_statement.lineno,
        ), self._line_starts)
        if edit is None:
            return None
        return Fix(description=f"replace get and {delete_func.attr} with one getdel", edits=(edit,))

    def _nothing_touches(self, between: list[ast.stmt], value: str, parts: list[ast.AST]) -> bool:
        """Nothing in ``between`` passes the key to a call (a read or write of it), binds a
        name the key or the client is made of, or leaves the block — except the miss branch
        ``if <value> is None:``, where the key does not exist."""
        keys = {_shape(part) for part in parts[:2]}
        for part in parts[:2]:
            if isinstance(part, ast.Name):
                keys.add(self._key(part))
        names = {node.id for part in parts for node in ast.walk(part) if isinstance(node, ast.Name)}
        stack: list[ast.AST] = list(between)
        while stack:
            node = stack.pop()
            kind = type(node)
            if kind in _SCOPE_TYPES:
                if getattr(node, "name", None) in names:
                    return False
                continue
            if kind in (ast.Return, ast.Raise, ast.Break, ast.Continue, ast.Yield, ast.YieldFrom,
                        ast.Global, ast.Nonlocal):
                return False
            if kind is ast.Name:
                name: Any = node
                if not isinstance(name.ctx, ast.Load) and name.id in names:
                    return False
            if kind is ast.Call:
                call: Any = node
                arguments = [*call.args, *(keyword.value for keyword in call.keywords)]
                if any(_shape(argument) in keys or self._key(argument) in keys for argument in arguments):
                    return False
            if kind is ast.If and _is_miss_test(node, value):  # type: ignore[arg-type]
                stack.append(node.test)  # type: ignore[attr-defined]
                stack.extend(node.orelse)  # type: ignore[attr-defined]
                continue
            stack.extend(children(node))
        return True

    # ------------------------------------------------------------------ RPT203
    def _silent_miss(self, calls: list[_RedisCall], unit: ast.AST) -> Iterator["Finding"]:
        for item in calls:
            if item.method not in READ_METHODS or item.receiver != CLIENT:
                continue
            how = self._miss_outcome(item.call, unit)
            if how is None:
                continue
            yield with_story(self.ctx.finding(
                "RPT203", self.sem.position(item.call),
                f"a miss (None) of this Redis {item.method} is {how} unlogged: on None, "
                f"logger.warning(\"<area>.<thing>_miss\") first",
            ), "An expired or never-stored key looks like any other None, and nothing reaches Sentry: "
               "the runbook logs a named event on a miss (webauthn.challenge_miss) so that alerts "
               "can count them.")

    def _miss_outcome(self, call: ast.Call, unit: ast.AST) -> str | None:
        """None when the miss is handled (or not used); else "returned" / "used"."""
        parents = self.sem.parents
        node: ast.AST = call
        parent = parents.get(node)
        while isinstance(parent, ast.Await):
            node = parent
            parent = parents.get(node)
        if isinstance(parent, ast.NamedExpr):
            test = self._in_test(parent)
            if test is not None:  # if (val := redis.getdel(key)) is None: ...
                return self._branch_outcome(*test)
            return self._name_outcome(parent.target, parent, unit)
        if parent is None or isinstance(parent, ast.Expr):
            return None
        if isinstance(parent, ast.Return):
            return "returned"
        if isinstance(parent, ast.BoolOp) and isinstance(parent.op, ast.Or) and parent.values[-1] is not node:
            return None  # redis.get(key) or default
        if isinstance(parent, ast.Compare) or self._in_test(node) is not None:
            return None  # an existence test / comparison: the None is not passed on
        if isinstance(parent, (ast.Assign, ast.AnnAssign)) and parent.value is node:
            targets = parent.targets if isinstance(parent, ast.Assign) else [parent.target]
            if len(targets) == 1 and isinstance(targets[0], ast.Name):
                return self._name_outcome(targets[0], parent, unit)
            return None
        return "used"

    def _in_test(self, node: ast.AST) -> tuple[ast.If | ast.IfExp | ast.While, str | None] | None:
        """(If/IfExp/While, branch taken on a miss — or None if it depends) when ``node``'s
        value is tested by a condition; None when it is not part of a condition."""
        parents = self.sem.parents
        current = node
        truth: bool | None = False  # truth of ``current`` when the read missed (None)
        while True:
            parent = parents.get(current)
            if parent is None:
                return None
            if isinstance(parent, (ast.If, ast.IfExp, ast.While)) and parent.test is current:
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
                if is_none(other):
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

    def _name_outcome(self, target: ast.Name, assignment: ast.Assign | ast.AnnAssign | ast.NamedExpr,
                      unit: ast.AST) -> str | None:
        """How the value a read assigns to ``target`` is first used in ``unit``."""
        first = self._first_use(target, assignment, unit)
        if first is None or not isinstance(first.ctx, ast.Load):
            return None  # never read, or rebound before being read
        test = self._in_test(first)
        if test is None:
            return "returned" if isinstance(self.sem.parent(first), ast.Return) else "used"
        return self._branch_outcome(*test)

    def _first_use(self, target: ast.Name, assignment: ast.Assign | ast.AnnAssign | ast.NamedExpr,
                   unit: ast.AST) -> ast.Name | None:
        """The first ``Name`` after ``assignment`` in ``unit``'s code (nested functions
        aside) that reads or rebinds the variable ``target`` binds."""
        sem = self.sem
        name = target.id
        owner = sem.owner(name, sem.name_scope.get(target, sem.module_scope))
        start = (assignment.end_lineno or assignment.lineno, assignment.end_col_offset or 0)
        units, tree = sem.units, sem.tree
        first: ast.Name | None = None
        first_at = (0, 0)
        for group in (sem.refs(owner, name), sem.bound(owner, name)):
            for use in group:
                if not isinstance(use, ast.Name) or units.get(use, tree) is not unit:
                    continue
                at = (use.lineno, use.col_offset)
                if at >= start and (first is None or at < first_at):
                    first, first_at = use, at
        return first

    def _branch_outcome(self, construct: ast.If | ast.IfExp | ast.While, side: str | None) -> str | None:
        if side is None or isinstance(construct, ast.While):
            return None  # the miss path depends on other conditions: do not guess
        if isinstance(construct, ast.IfExp):
            branch = construct.body if side == "body" else construct.orelse
            if self._surfaces([branch]):
                return None
            return "returned" if isinstance(self.sem.parent(construct), ast.Return) else "used"
        statements: list[ast.AST] = list(construct.body if side == "body" else construct.orelse)
        if not statements or not _terminates(statements[-1]):
            statements += self._following(construct)
        return None if self._surfaces(statements) else "returned"

    def _following(self, statement: ast.AST) -> list[ast.AST]:
        """The nodes after ``statement`` in the list that holds it (its block)."""
        parent = self.sem.parent(statement)
        field = field_of(parent, statement) if parent is not None else None
        block = getattr(parent, field) if field is not None else None
        if not isinstance(block, list):
            return []
        for index, item in enumerate(block):
            if item is statement:
                return block[index + 1:]
        return []

    def _surfaces(self, nodes: list[ast.AST]) -> bool:
        """Does this miss path log a named event (or raise / abort)?"""
        for node in _walk_code(nodes):
            if isinstance(node, ast.Raise):
                return True
            if isinstance(node, ast.Call):
                if self.kinds.is_log_call(node) or last_name(node.func) == "abort":
                    return True
        return False

    # ------------------------------------------------------------------ RPT205
    def _without_fallback(self) -> Iterator["Finding"]:
        """A client that may be None, used with no guard: reported at the first unguarded
        use (the receiver of ``client.command``) of each binding, or at a command called
        straight on ``extensions.get("redis_client")`` / an optional helper's result."""
        sem, kinds, parents = self.sem, self.kinds, self.sem.parents
        for call in sem.calls:
            node: ast.AST = call
            parent = parents.get(call)
            if isinstance(parent, ast.Await):
                node, parent = parent, parents.get(parent)
            if isinstance(parent, ast.Attribute) and parent.value is node:
                if kinds.may_be_none(node) and not kinds.guarded(None, node):
                    text = shorten(self._segment(node), 45)
                    yield self._fallback_finding(node, parent, (
                        f"{text} may be None (no REDIS_URL): bind it, check it, add a local-dev fallback"))
                continue
            target = _plain_target(parent, node)
            if target is None or not kinds.may_be_none(node):
                continue
            use = self._first_unguarded_use(target)
            if use is not None:
                name = shorten(target.id, 25)
                yield self._fallback_finding(use, parents[use], (
                    f"{name} may be None (no REDIS_URL): use it under `if {name}:` with a local-dev fallback"))

    def _first_unguarded_use(self, target: ast.Name) -> ast.Name | None:
        """The first ``target.attr`` load, in the unit that binds ``target``, that this
        binding reaches with no guard in between."""
        sem = self.sem
        scope = sem.name_scope.get(target, sem.module_scope)
        owner = sem.owner(target.id, scope)
        unit = sem.unit_of(target)
        at = (target.lineno, target.col_offset)
        uses = sorted((ref for ref in sem.refs(owner, target.id)
                       if (ref.lineno, ref.col_offset) > at and sem.unit_of(ref) is unit),
                      key=lambda ref: (ref.lineno, ref.col_offset))
        for ref in uses:
            parent = sem.parents.get(ref)
            if not isinstance(parent, ast.Attribute) or parent.value is not ref:
                continue
            if self._exclusive(target, ref) or self.kinds.guarded(target, ref):
                continue
            if self.kinds.unguarded_source(ref) is target:
                return ref
        return None

    def _fallback_finding(self, receiver: ast.AST, attribute: ast.AST, message: str) -> "Finding":
        line, column, _, _ = self.sem.position(receiver)
        _, _, end_line, end_column = self.sem.position(attribute)
        return with_story(self.ctx.finding("RPT205", (line, column, end_line, end_column), message), (
            "extensions.get(\"redis_client\") is None wherever REDIS_URL is unset (local dev, CI, a "
            "staging app without the Redis add-on): the runbook's pattern checks the client and keeps "
            "an in-process fallback for that case."))

    # ------------------------------------------------------------------ RPT204
    def _subscripts(self) -> Iterator["Finding"]:
        position = self.sem.position
        for node in self.sem.subscripts:
            if not isinstance(node.ctx, ast.Load) or not self.kinds.is_extension_subscript(node):
                continue
            _, _, value_end_line, value_end_col = position(node.value)
            _, _, end_line, end_col = position(node)
            key = self._segment(node.slice)
            fix = None
            if "\n" not in key and key:
                fix = Fix(
                    description=f'replace ["{EXTENSION_KEY}"] with .get({key})',
                    edits=(Edit(value_end_line, value_end_col, end_line, end_col, f".get({key})"),),
                    # A KeyError becomes a None the code must now handle (RPT205): a person
                    # has to add the fallback, so --fix alone does not apply it.
                    applicability=UNSAFE,
                )
            owner = shorten(self._segment(node.value), 30)
            yield with_story(self.ctx.finding(
                "RPT204", position(node),
                f'{owner}["{EXTENSION_KEY}"] raises KeyError without REDIS_URL: use .get()',
                fix=fix,
            ), "REDIS_URL is absent in local dev, CI and staging without the Redis add-on, and the app "
               "then has no redis_client: the runbook's pattern is extensions.get(\"redis_client\") with "
               "an in-process fallback when it is None.")


# --------------------------------------------------------------------------- small helpers
# The commands the rules read; a call of any other method is never looked at.
_COMMANDS = WRITE_METHODS | EXPIRE_METHODS | DELETE_METHODS | READ_METHODS | {"hget", "hdel"}
# What holds a command for the analysis: its function or lambda (a class body: skipped).
_SCOPE_TYPES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef})
_DEF_TYPES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef})
_BLOCK_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")


def _statements(body: list[ast.stmt]) -> Iterator[ast.AST]:
    """The statements of a function body, those of its nested blocks included, not those
    of nested functions or classes (statements only: no expression is visited)."""
    stack: list[ast.AST] = list(reversed(body))
    while stack:
        statement = stack.pop()
        yield statement
        if type(statement) in _DEF_TYPES:
            continue
        for field in _BLOCK_FIELDS:
            block = getattr(statement, field, None)
            if block:
                stack.extend(reversed(block))


# --------------------------------------------------------------------------- None guards (RPT205)
_UNIT_TYPES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.Module})
# Calls that never return: a branch ending in one leaves like ``raise``.
_NO_RETURN = frozenset({"abort", "exit", "_exit"})


def _is_subject(node: ast.AST, subject: object) -> bool:
    """``subject`` is a variable's name (also matched by ``(name := …)``) or an expression's
    shape (``_shape``)."""
    if isinstance(subject, str):
        if isinstance(node, ast.NamedExpr):
            node = node.target
        return isinstance(node, ast.Name) and node.id == subject
    return _shape(node) == subject


def _implies_present(test: ast.AST, truth: bool, subject: object) -> bool:
    """When ``test`` evaluates to ``truth``, is ``subject`` known not to be None?"""
    if _is_subject(test, subject):
        return truth
    if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
        return _implies_present(test.operand, not truth, subject)
    if isinstance(test, ast.BoolOp):
        if isinstance(test.op, ast.And):  # true: every operand was true
            return truth and any(_implies_present(value, True, subject) for value in test.values)
        return not truth and any(_implies_present(value, False, subject) for value in test.values)
    if isinstance(test, ast.Compare) and len(test.ops) == 1:
        left, right, op = test.left, test.comparators[0], test.ops[0]
        if is_none(left):
            left, right = right, left
        if is_none(right) and _is_subject(left, subject):
            if isinstance(op, (ast.IsNot, ast.NotEq)):
                return truth
            if isinstance(op, (ast.Is, ast.Eq)):
                return not truth
        return False
    if isinstance(test, ast.Call) and isinstance(test.func, ast.Name) \
            and test.func.id in {"bool", "isinstance"} and test.args:
        return truth and _is_subject(test.args[0], subject)
    return False


def _guards(statement: ast.stmt, subject: object) -> bool:
    """Does ``statement``, run before a use, make ``subject`` not None there?"""
    if isinstance(statement, ast.Assign):
        return any(_rebinds_target(target, subject) for target in statement.targets)
    if isinstance(statement, ast.AnnAssign):
        return statement.value is not None and _rebinds_target(statement.target, subject)
    if isinstance(statement, ast.Assert):
        return _implies_present(statement.test, True, subject)
    if isinstance(statement, ast.If):
        # The branch that runs when it may be None must leave, or bind a fallback.
        if _implies_present(statement.test, False, subject):
            return _leaves(statement.body) or _rebinds(statement.body, subject)
        if _implies_present(statement.test, True, subject) and statement.orelse:
            return _leaves(statement.orelse) or _rebinds(statement.orelse, subject)
    return False


def _leaves(block: list[ast.stmt]) -> bool:
    if not block:
        return False
    last = block[-1]
    if _terminates(last):
        return True
    if isinstance(last, ast.Expr) and isinstance(last.value, ast.Call):
        return last_name(last.value.func) in _NO_RETURN
    if isinstance(last, ast.If):
        return _leaves(last.body) and _leaves(last.orelse)
    return False


def _rebinds(block: list[ast.stmt], subject: object) -> bool:
    return any(_guards(statement, subject) for statement in _statements(block)
               if isinstance(statement, (ast.Assign, ast.AnnAssign)))


def _rebinds_target(target: ast.AST, subject: object) -> bool:
    if isinstance(target, (ast.Tuple, ast.List)):
        return any(_rebinds_target(element, subject) for element in target.elts)
    if isinstance(target, ast.Starred):
        return _rebinds_target(target.value, subject)
    return isinstance(subject, str) and isinstance(target, ast.Name) and target.id == subject


def _admits_none(annotation: ast.AST) -> bool:
    """``X | None``, ``Optional[X]``, ``Union[X, None]`` (also as strings)."""
    parsed = _parse_string_annotation(annotation)
    if parsed is None:
        return False
    if is_none(parsed):
        return True
    if isinstance(parsed, ast.BinOp) and isinstance(parsed.op, ast.BitOr):
        return _admits_none(parsed.left) or _admits_none(parsed.right)
    if isinstance(parsed, ast.Subscript):
        name = last_name(parsed.value)
        if name == "Optional":
            return True
        if name == "Union":
            inner = parsed.slice
            return any(_admits_none(element) for element in (inner.elts if isinstance(inner, ast.Tuple) else [inner]))
    return False


def _is_miss_test(statement: ast.If, value: str) -> bool:
    """``if <value> is None:`` (or ``== None``)."""
    test = statement.test
    return (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], (ast.Is, ast.Eq))
            and isinstance(test.left, ast.Name) and test.left.id == value and is_none(test.comparators[0]))


def _plain_target(parent: ast.AST | None, value: ast.AST) -> ast.Name | None:
    """``name`` of ``name = value`` / ``name: T = value`` / ``(name := value)``."""
    if isinstance(parent, ast.Assign) and parent.value is value and len(parent.targets) == 1:
        target = parent.targets[0]
    elif isinstance(parent, (ast.AnnAssign, ast.NamedExpr)) and parent.value is value:
        target = parent.target
    else:
        return None
    return target if isinstance(target, ast.Name) else None


def _walk_code(roots: list[ast.AST]) -> Iterator[ast.AST]:
    """The nodes of a few statements or expressions (a miss path), not descending into
    nested functions, lambdas or classes."""
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        yield node
        if type(node) not in _SCOPE_TYPES:
            inner = children(node)
            inner.reverse()
            stack.extend(inner)


def _is_extensions(node: ast.AST) -> bool:
    return (isinstance(node, ast.Attribute) and node.attr == "extensions") or (
        isinstance(node, ast.Name) and node.id == "extensions")


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


def _is_staticmethod(node: FunctionNode) -> bool:
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
    if len(call.args) >= 3 and not is_none(call.args[2]):
        return True
    if len(call.args) >= 4 and not is_none(call.args[3]):
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
        if last_name(annotation.value) in {"Optional", "Union"}:
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
