"""Fork safety (RPT101–RPT104) — runbook: "gunicorn --preload + module-level mutable state".

gunicorn ``--preload`` imports the app once in the master and forks the
workers; every worker then writes to its own copy-on-write copy of module
state.  The checker decides, for every function of a file, whether it runs
*before* the fork (module top level, the app factory's own body, module-level
functions only the factory or the top level call, import-time decorator
registration) or *after* it (everything else), and reports writes to shared
state from after-fork code.

Cost: a cheap ``ast`` gate skips files where no finding is possible; otherwise one
visitor pass collects parent links and the nodes of interest, and libcst's
``ScopeProvider`` says which names resolve to module globals and who references a
function.  Qualified names are not resolved: the few names that matter
(``defaultdict``, ``heapq.heappush``) are matched by their last dotted component.
Callers in other modules come from ``raptor_lint.project.fork_calls``, asked only
for files that have findings.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence

import libcst as cst
from libcst.metadata import GlobalScope, ScopeProvider

from raptor_lint.rules.base import Checker, Rule

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.context import FileContext
    from raptor_lint.findings import Finding
    from raptor_lint.project.fork_calls import Use

RUNBOOK = "gunicorn --preload + module-level mutable state — Raxx policy"

# Calls whose result is a fresh mutable container (matched on the last dotted component).
CONTAINER_CALLS = {
    "dict": "dict", "list": "list", "set": "set", "defaultdict": "defaultdict",
    "OrderedDict": "OrderedDict", "Counter": "Counter", "deque": "deque",
    "ChainMap": "ChainMap", "WeakValueDictionary": "WeakValueDictionary",
    "WeakKeyDictionary": "WeakKeyDictionary", "WeakSet": "WeakSet", "bytearray": "bytearray",
}
# Methods that mutate a dict / list / set / deque / Counter / OrderedDict in place.
MUTATING_METHODS = frozenset({
    "append", "extend", "insert", "pop", "popitem", "clear", "update", "setdefault", "add",
    "discard", "remove", "sort", "reverse", "move_to_end", "appendleft", "extendleft",
    "popleft", "rotate", "subtract", "difference_update", "intersection_update",
    "symmetric_difference_update", "__setitem__", "__delitem__", "__iadd__", "__ior__",
    "__isub__", "__iand__", "__ixor__",
})
# Non-mutating accessors that hand out an element of the container (element mutation).
ELEMENT_ACCESSORS = frozenset({"get"})
# Module functions that mutate their first argument in place.
MUTATING_FUNCTIONS = frozenset({
    "heappush", "heappop", "heapify", "heapreplace", "heappushpop", "insort", "insort_left",
    "insort_right", "shuffle",
})
# Decorators that leave a function callable as before (it still runs where it is called).
TRANSPARENT_DECORATORS = frozenset({
    "lru_cache", "cache", "wraps", "contextmanager", "asynccontextmanager", "overload",
    "staticmethod", "classmethod",
})
# Attribute reads on a function object that neither call it nor let it escape.
HARMLESS_FUNCTION_ATTRS = frozenset({"__name__", "__qualname__", "__doc__", "__module__"})
# app.extensions entries that hold service objects (clients, engines) built in create_app:
# calling their methods (Redis APPEND, Flask-Caching add) is not a write of per-user state.
SERVICE_KEYS = frozenset({
    "cache", "sqlalchemy", "migrate", "mail", "limiter", "celery", "socketio", "babel",
    "login_manager", "cors", "csrf", "jwt", "bcrypt", "marshmallow", "talisman", "compress",
})
SERVICE_KEY_WORDS = frozenset({"redis", "client", "engine", "pool", "db", "sentry", "mongo"})
REDIS_KEY = re.compile(r"redis", re.IGNORECASE)

_FUNCTION_RE = re.compile(r"\b(?:def|lambda)\b")
_STATE_MARKERS = ("global", "extensions", "[", "{", "dict", "list", "set", "Counter", "deque",
                  "ChainMap", "Weak", "bytearray")

SEV1 = "(2026-05-25 SEV-1)"
ADVICE = "keep per-user/session state in Redis with a TTL or in Postgres"


class ForkSafetyChecker(Checker):
    family = "Fork safety"
    file_kinds = frozenset({"python"})
    needs_cst = True
    rules = (
        Rule(
            code="RPT101",
            name="module-state-mutated-after-fork",
            summary="Module-level mutable container (dict/list/set/defaultdict/deque/…) "
                    "mutated in request-time code.",
            runbook=RUNBOOK,
            why=(
                "gunicorn --preload imports the app once in the master and then forks the "
                "workers. Each worker gets a copy-on-write clone of module memory: the first "
                "write to a module-level dict makes a private copy for that worker only. A "
                "WebAuthn challenge stored by worker A is invisible to worker B, so every "
                "signup failed in the 2026-05-25 SEV-1 (PR #2728); a per-user "
                "`trading_mode_override` dict diverged across workers the same way (PR #3030). "
                "Keep per-session state in Redis with a TTL and per-user state in Postgres. "
                "Mutation before the fork (module top level, `create_app()`, helpers only it "
                "calls, import-time registration) is fine, and so is the runbook's local-dev "
                "fallback: a dict written only in the branch where "
                "`app.extensions.get(\"redis_client\")` is absent."
            ),
            bad=(
                "_challenge_store: dict[int, str] = {}  # module-level, initialized once in master\n"
                "\n"
                "\n"
                "def _store_challenge(user_id: int, challenge: str) -> None:\n"
                "    _challenge_store[user_id] = challenge  # writes to *this worker's* private copy\n"
                "\n"
                "\n"
                "def _pop_challenge(user_id: int) -> str | None:\n"
                "    return _challenge_store.pop(user_id, None)\n"
            ),
            good=(
                "import logging\n"
                "\n"
                "from flask import Flask\n"
                "\n"
                "logger = logging.getLogger(__name__)\n"
                "_CHALLENGE_TTL = 60  # seconds\n"
                "_challenge_store_fallback: dict[int, str] = {}  # local dev / CI only\n"
                "\n"
                "\n"
                "def _store_challenge(app: Flask, user_id: int, challenge: str) -> None:\n"
                "    redis = app.extensions.get(\"redis_client\")\n"
                "    if redis:\n"
                "        redis.set(f\"webauthn:reg:challenge:{user_id}\", challenge, ex=_CHALLENGE_TTL)\n"
                "        logger.info(\"webauthn.challenge_stored store=redis user_id=%s\", user_id)\n"
                "    else:\n"
                "        # Local dev / CI: Redis absent, fall back to in-process dict\n"
                "        _challenge_store_fallback[user_id] = challenge\n"
                "        logger.info(\"webauthn.challenge_stored store=local user_id=%s\", user_id)\n"
            ),
        ),
        Rule(
            code="RPT102",
            name="global-rebound-after-fork",
            summary="Module-level name rebound via `global` (incl. `+=` and walrus) in "
                    "request-time code.",
            runbook=RUNBOOK,
            why=(
                "A `global` assignment in a request handler or background task rebinds the "
                "name in one worker only: under gunicorn --preload every worker has its own "
                "module globals after the fork, so counters, \"current\" values and caches "
                "silently diverge between workers. Shared state belongs in Redis or Postgres. "
                "The lazy-init idiom for per-process objects (`if _client is None: _client = "
                "make_client()`, or `if not _client:`) is fine: each worker builds its own."
            ),
            bad=(
                "_last_quote_refresh = 0.0\n"
                "\n"
                "\n"
                "def refresh_quotes(now: float) -> None:\n"
                "    global _last_quote_refresh\n"
                "    _last_quote_refresh = now\n"
            ),
            good=(
                "import redis\n"
                "\n"
                "_client = None\n"
                "\n"
                "\n"
                "def get_client(url: str):\n"
                "    global _client\n"
                "    if _client is None:\n"
                "        _client = redis.Redis.from_url(url)\n"
                "    return _client\n"
            ),
        ),
        Rule(
            code="RPT103",
            name="extensions-written-after-fork",
            summary="Per-user/per-request state written into `app.extensions` / "
                    "`current_app.extensions` in request-time code.",
            runbook=RUNBOOK,
            why=(
                "`app.extensions` is safe for read-only objects built once in `create_app()` "
                "(the Redis client, the Sentry client, the database engine). It is copied into "
                "every worker at the fork like any other module state, so a per-user dict kept "
                "there (`current_app.extensions[\"mode_overrides\"][user_id] = mode`) diverges "
                "between workers. Per-user state belongs in a Postgres row, per-session state "
                "in Redis with a TTL."
            ),
            bad=(
                "from flask import current_app, request\n"
                "\n"
                "\n"
                "def set_trading_mode(user_id: int):\n"
                "    overrides = current_app.extensions[\"trading_mode_overrides\"]\n"
                "    overrides[user_id] = request.json[\"mode\"]\n"
                "    return {\"mode\": overrides[user_id]}\n"
            ),
            good=(
                "import redis\n"
                "from flask import Flask\n"
                "\n"
                "\n"
                "def create_app() -> Flask:\n"
                "    app = Flask(__name__)\n"
                "    app.extensions[\"redis_client\"] = redis.Redis.from_url(\"redis://localhost\")\n"
                "    app.extensions[\"trading_modes\"] = {\"paper\", \"live\"}\n"
                "    return app\n"
            ),
        ),
        Rule(
            code="RPT104",
            name="class-state-mutated-after-fork",
            summary="Class-level mutable attribute mutated at run time through the class or "
                    "`cls`.",
            runbook=RUNBOOK,
            why=(
                "A class attribute is module state with a longer name: `TradingSession._open` "
                "lives in the class object that the master imported, and after the fork every "
                "worker mutates its own copy. A registry filled through `cls` from request "
                "handlers diverges between workers exactly like the 2026-05-25 "
                "`_challenge_store` dict. Keep the state in Redis or Postgres; class-level "
                "tables filled at import time (registration decorators) are fine."
            ),
            bad=(
                "class QuoteThrottle:\n"
                "    _hits: dict[str, int] = {}\n"
                "\n"
                "    @classmethod\n"
                "    def hit(cls, user_id: str) -> int:\n"
                "        cls._hits[user_id] = cls._hits.get(user_id, 0) + 1\n"
                "        return cls._hits[user_id]\n"
            ),
            good=(
                "class StrategyRegistry:\n"
                "    _strategies: dict[str, type] = {}\n"
                "\n"
                "    @classmethod\n"
                "    def register(cls, name: str):\n"
                "        def decorator(strategy: type) -> type:\n"
                "            cls._strategies[name] = strategy\n"
                "            return strategy\n"
                "        return decorator\n"
                "\n"
                "    @classmethod\n"
                "    def get(cls, name: str) -> type:\n"
                "        return cls._strategies[name]\n"
                "\n"
                "\n"
                "@StrategyRegistry.register(\"momentum\")\n"
                "class Momentum:\n"
                "    pass\n"
            ),
        ),
    )

    def prefilter(self, text: str) -> bool:
        # Every finding is a write from a function or lambda body, to a container display /
        # constructor, a `global` name, or `.extensions`.
        if not _FUNCTION_RE.search(text):
            return False
        return any(marker in text for marker in _STATE_MARKERS)

    def check(self, ctx: "FileContext") -> Iterable["Finding"]:
        if ctx.ast_tree is not None and not _may_have_findings(ctx.ast_tree):
            return []
        return _Analysis(ctx).run()


# --------------------------------------------------------------------- cheap ast gate

def _may_have_findings(tree: ast.Module) -> bool:
    """False when no finding is possible, so the scope analysis can be skipped.

    A superset of what the checker reports: any `global`; any `.extensions` inside a
    function; or a mutation-shaped operation inside a function (item store/del, a
    mutating method or function) on a chain that mentions a name bound to a container
    display/constructor anywhere in the file, directly or through a local alias."""
    containers: set[str] = set()
    aliases: list[tuple[str, set[str]]] = []
    mutated: set[str] = set()
    stack: list[tuple[ast.AST, bool]] = [(tree, False)]
    while stack:
        node, in_function = stack.pop()
        if isinstance(node, ast.Global):
            return True
        if isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name)]
            if _ast_is_container(node.value):
                containers.update(names)
            elif in_function and names:
                chain = _ast_chain_names(node.value)
                aliases.extend((name, chain) for name in names)
        if in_function:
            if isinstance(node, ast.Attribute) and node.attr == "extensions":
                return True
            if isinstance(node, ast.Subscript) and isinstance(node.ctx, (ast.Store, ast.Del)):
                mutated |= _ast_chain_names(node.value)
            elif isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Attribute) and func.attr in MUTATING_METHODS:
                    mutated |= _ast_chain_names(func.value)
                elif node.args and _ast_last_name(func) in MUTATING_FUNCTIONS:
                    mutated |= _ast_chain_names(node.args[0])
        inside = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        stack.extend((child, inside) for child in ast.iter_child_nodes(node))
    changed = True
    while changed:
        changed = False
        for name, chain in aliases:
            if name not in containers and not containers.isdisjoint(chain):
                containers.add(name)
                changed = True
    return not containers.isdisjoint(mutated)


def _ast_last_name(node: ast.AST) -> str | None:
    return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None


def _ast_chain_names(node: ast.AST) -> set[str]:
    """Names and attribute names along ``a.b[k].get(x).c`` (not inside slices/arguments)."""
    names: set[str] = set()
    while True:
        if isinstance(node, ast.Name):
            names.add(node.id)
            return names
        if isinstance(node, ast.Attribute):
            names.add(node.attr)
            node = node.value
        elif isinstance(node, ast.Subscript):
            node = node.value
        elif isinstance(node, ast.Call):
            node = node.func
        else:
            return names


def _ast_is_container(node: ast.AST) -> bool:
    if isinstance(node, (ast.Dict, ast.List, ast.Set, ast.DictComp, ast.ListComp, ast.SetComp)):
        return True
    if isinstance(node, ast.IfExp):
        return _ast_is_container(node.body) or _ast_is_container(node.orelse)
    if isinstance(node, ast.Call):
        return _ast_last_name(node.func) in CONTAINER_CALLS
    return False


# ------------------------------------------------------------------------- helpers

def _last_name(node: cst.BaseExpression | None) -> str | None:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return node.attr.value
    return None


def container_kind(value: cst.BaseExpression | None) -> str | None:
    """'dict', 'list', … when ``value`` builds a fresh mutable container."""
    if isinstance(value, (cst.Dict, cst.DictComp)):
        return "dict"
    if isinstance(value, (cst.List, cst.ListComp)):
        return "list"
    if isinstance(value, (cst.Set, cst.SetComp)):
        return "set"
    if isinstance(value, cst.IfExp):
        return container_kind(value.body) or container_kind(value.orelse)
    if isinstance(value, cst.Call):
        return CONTAINER_CALLS.get(_last_name(value.func) or "")
    return None


def _string_value(node: cst.BaseExpression | None) -> str | None:
    if isinstance(node, cst.SimpleString):
        try:
            value = node.evaluated_value
        except Exception:  # noqa: BLE001 - odd literal: treat as unknown
            return None
        return value if isinstance(value, str) else None
    return None


def _subscript_key(node: cst.Subscript) -> str | None:
    if len(node.slice) == 1 and isinstance(node.slice[0].slice, cst.Index):
        return _string_value(node.slice[0].slice.value)
    return None


def _call_first_arg(call: cst.Call) -> cst.BaseExpression | None:
    for arg in call.args:
        if arg.keyword is None and not arg.star:
            return arg.value
        break
    return None


@dataclass
class Mutation:
    node: cst.CSTNode      # where to report
    operation: str        # "item assignment", ".pop()", …
    depth: int            # 0: the container itself; 1+: an element reached from it
    key: str | None       # first string key on the path (extensions entry name)


# ------------------------------------------------------------------------ analysis

class _Collector(cst.CSTVisitor):
    """Parent links and the nodes the rules ask about, in one pass.

    (libcst's ParentNodeProvider gets the same links through ``node.children``, which
    re-visits every node: measured ~3× slower than this stack.)"""

    def __init__(self) -> None:
        super().__init__()
        self.parents: dict[cst.CSTNode, cst.CSTNode] = {}
        self._stack: list[cst.CSTNode] = []
        self.functions: list[cst.FunctionDef] = []
        self.classes: list[cst.ClassDef] = []
        self.attributes: list[cst.Attribute] = []
        self.global_statements: list[cst.Global] = []
        self.bindings: list[cst.CSTNode] = []  # Assign / NamedExpr (Redis client names)

    def on_visit(self, node: cst.CSTNode) -> bool:
        if self._stack:
            self.parents[node] = self._stack[-1]
        self._stack.append(node)
        if isinstance(node, cst.Attribute):
            self.attributes.append(node)
        elif isinstance(node, cst.FunctionDef):
            self.functions.append(node)
        elif isinstance(node, cst.ClassDef):
            self.classes.append(node)
        elif isinstance(node, cst.Global):
            self.global_statements.append(node)
        elif isinstance(node, (cst.Assign, cst.NamedExpr)):
            self.bindings.append(node)
        return True

    def on_leave(self, original_node: cst.CSTNode) -> None:
        self._stack.pop()


class _Analysis:
    def __init__(self, ctx: "FileContext") -> None:
        self.ctx = ctx
        self.module = ctx.module
        collector = _Collector()
        self.module.visit(collector)
        self.parents = collector.parents
        self.scopes = ctx.metadata(ScopeProvider)
        self.global_scope = self.scopes.get(self.module)
        self.factories = set(ctx.config.app_factory)
        self._unit_cache: dict[int, cst.CSTNode] = {}
        self._redis_names: dict[int, set[str]] = {}
        self.before: set[cst.CSTNode] = set()
        self.external_names: list[str] = []
        self.findings: list = []
        self._reported: set[tuple[str, int]] = set()
        self.functions = collector.functions
        self.classes = collector.classes
        self.attributes = collector.attributes
        self.global_statements = collector.global_statements
        self.bindings = collector.bindings

    # ---------------------------------------------------------------- structure
    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self.parents.get(node)

    def unit_of(self, node: cst.CSTNode) -> cst.CSTNode:
        """The function / lambda whose *body* executes ``node``, or the Module.

        Decorators, default values and annotations run where the ``def`` runs; class bodies
        and comprehensions run in their enclosing unit.
        """
        child = node
        parent = self.parent(child)
        path: list[cst.CSTNode] = []
        while parent is not None:
            cached = self._unit_cache.get(id(child))
            if cached is not None:
                unit = cached
                break
            path.append(child)
            if isinstance(parent, (cst.FunctionDef, cst.Lambda)) and child is parent.body:
                unit = parent
                break
            child, parent = parent, self.parent(parent)
        else:
            unit = self.module
        for item in path:
            self._unit_cache[id(item)] = unit
        return unit

    def is_before_fork(self, unit: cst.CSTNode) -> bool:
        return unit is self.module or unit in self.before

    def qualname(self, unit: cst.CSTNode) -> str:
        parts: list[str] = []
        node: cst.CSTNode | None = unit
        first = True
        while node is not None and node is not self.module:
            if isinstance(node, cst.FunctionDef):
                parts.append(node.name.value if first else node.name.value + ".<locals>")
                first = False
            elif isinstance(node, cst.Lambda):
                parts.append("<lambda>" if first else "<lambda>.<locals>")
                first = False
            elif isinstance(node, cst.ClassDef):
                parts.append(node.name.value)
                first = False
            node = self.parent(node)
        return ".".join(reversed(parts)) + "()" if parts else "module top level"

    def _enclosing_class(self, node: cst.CSTNode) -> cst.ClassDef | None:
        """The class whose body directly holds ``node`` (a def or statement), if any."""
        parent = self.parent(node)
        while parent is not None and not isinstance(parent, (cst.ClassDef, cst.FunctionDef,
                                                                 cst.Lambda, cst.Module)):
            parent = self.parent(parent)
        return parent if isinstance(parent, cst.ClassDef) else None

    # ------------------------------------------------------------ before/after fork
    def _function_references(self, func: cst.FunctionDef) -> list[cst.CSTNode] | None:
        scope = self.scopes.get(func)
        if scope is None:
            return None
        refs: dict[int, cst.CSTNode] = {}
        for assignment in scope.assignments[func.name.value]:
            for access in assignment.references:
                refs[id(access.node)] = access.node
        return list(refs.values())

    def _method_references(self, klass: cst.ClassDef, method: cst.FunctionDef) -> list[cst.CSTNode]:
        """``Klass.method`` anywhere, ``cls.method`` / ``self.method`` inside the class.

        Calls on other receivers are not seen (a method name alone says nothing about the
        receiver's class)."""
        name = method.name.value
        refs: dict[int, cst.CSTNode] = {}
        scope = self.scopes.get(klass)
        if scope is not None:
            for assignment in scope.assignments[klass.name.value]:
                if getattr(assignment, "node", None) is not klass:
                    continue
                for access in assignment.references:
                    parent = self.parent(access.node)
                    if isinstance(parent, cst.Attribute) and parent.value is access.node \
                            and parent.attr.value == name:
                        refs[id(parent)] = parent
        for attribute in self.attributes:
            if attribute.attr.value != name or not isinstance(attribute.value, cst.Name):
                continue
            method = self._method_of(attribute, klass)
            if method is not None and method.params.params \
                    and attribute.value.value == method.params.params[0].name.value:
                refs[id(attribute)] = attribute
        return list(refs.values())

    def _method_of(self, node: cst.CSTNode, klass: cst.ClassDef) -> cst.FunctionDef | None:
        """The method of ``klass`` whose body (or a closure in it) executes ``node``."""
        unit = self.unit_of(node)
        while unit is not self.module:
            if isinstance(unit, cst.FunctionDef) and self._enclosing_class(unit) is klass:
                return unit
            unit = self.unit_of(unit)
        return None

    def _reference_invocation(self, ref: cst.CSTNode) -> tuple[str, cst.CSTNode | None]:
        """('call'|'decorator'|'decorator-call', unit) when ``ref`` invokes the function where
        it stands; ('harmless', None) for ``f.__name__``; ('escape', None) otherwise."""
        parent = self.parent(ref)
        if isinstance(parent, cst.Call) and parent.func is ref:
            kind = "decorator-call" if isinstance(self.parent(parent), cst.Decorator) else "call"
            return kind, self.unit_of(parent)
        if isinstance(parent, cst.Decorator) and parent.decorator is ref:
            return "decorator", self.unit_of(parent)
        if isinstance(parent, cst.Attribute) and parent.value is ref \
                and parent.attr.value in HARMLESS_FUNCTION_ATTRS:
            return "harmless", None
        return "escape", None

    def _has_opaque_decorator(self, func: cst.FunctionDef) -> bool:
        for decorator in func.decorators:
            expr = decorator.decorator
            if isinstance(expr, cst.Call):
                expr = expr.func
            if _last_name(expr) not in TRANSPARENT_DECORATORS:
                return True
        return False

    def compute_before_fork(self, external: "dict[str, list[Use]] | None" = None) -> None:
        """Decide which functions run before the fork (``self.before``).

        ``external`` adds the uses other project modules make of this file's functions
        (keyed ``name`` or ``Class.method``), see raptor_lint.project.fork_calls."""
        external = external or {}
        external_name: dict[cst.CSTNode, str] = {}
        factories: set[cst.CSTNode] = set()
        module_functions: list[cst.FunctionDef] = []
        refs: dict[cst.CSTNode, list[cst.CSTNode] | None] = {}
        inner: list[tuple[cst.FunctionDef, cst.FunctionDef]] = []
        for func in self.functions:
            unit = self.unit_of(func)
            if unit is self.module:
                klass = self._enclosing_class(func)
                if func.name.value in self.factories:
                    factories.add(func)
                elif klass is None:
                    module_functions.append(func)
                    refs[func] = self._function_references(func)
                    external_name[func] = func.name.value
                elif any(_last_name(d.decorator) in ("classmethod", "staticmethod")
                         for d in func.decorators):
                    # Called through the class (`Registry.register(...)`, `cls.register`).
                    module_functions.append(func)
                    refs[func] = self._method_references(klass, func)
                    if self.unit_of(klass) is self.module and self._enclosing_class(klass) is None:
                        external_name[func] = f"{klass.name.value}.{func.name.value}"
            elif isinstance(unit, cst.FunctionDef):
                inner.append((func, unit))

        self.external_names = sorted(set(external_name.values()))
        invocations: dict[cst.CSTNode, list[tuple[str, cst.CSTNode | None]]] = {}
        candidates: set[cst.CSTNode] = set()
        for func in module_functions:
            if self._has_opaque_decorator(func):
                continue
            kinds = [self._reference_invocation(ref) for ref in refs[func] or ()]
            # Uses in other modules: before fork stands for "runs where the module top level
            # runs"; after fork for "somewhere no fork-time code reaches".
            kinds += [(use.kind, self.module if use.before_fork else None)
                      for use in external.get(external_name.get(func, ""), ())]
            kinds = [k for k in kinds if k[0] != "harmless"]
            if kinds and all(kind != "escape" for kind, _ in kinds):
                invocations[func] = kinds
                candidates.add(func)

        # A decorator returned by a decorator factory used only as `@factory(...)` runs at
        # decoration time, i.e. where the factory call runs.
        returned: dict[cst.CSTNode, cst.FunctionDef] = {}
        for func, outer in inner:
            if outer not in candidates or self._has_opaque_decorator(func):
                continue
            if not all(kind == "decorator-call" for kind, _ in invocations[outer]):
                continue
            found = self._function_references(func)
            if found and all(self._is_return_in(ref, outer) for ref in found):
                returned[func] = outer
                candidates.add(func)

        before = set(candidates)
        self.before = before | factories
        changed = True
        while changed:
            changed = False
            for func in list(before):
                if func in returned:
                    ok = returned[func] in before
                else:
                    ok = all(unit is self.module or unit in self.before
                             for _, unit in invocations[func])
                if not ok:
                    before.discard(func)
                    self.before.discard(func)
                    changed = True

    def _is_return_in(self, ref: cst.CSTNode, outer: cst.FunctionDef) -> bool:
        parent = self.parent(ref)
        return isinstance(parent, cst.Return) and parent.value is ref and self.unit_of(parent) is outer

    # ------------------------------------------------------------------ mutations
    def find_mutations(self, start: cst.CSTNode, unit: cst.CSTNode,
                       depth: int = 0, key: str | None = None,
                       _seen: set[int] | None = None) -> Iterator[Mutation]:
        """Mutations of the object ``start`` evaluates to, or of an element reached from it
        (subscripts, ``.get()``), following simple local aliases in the same unit."""
        seen = _seen if _seen is not None else set()
        expr: cst.CSTNode = start
        while True:
            parent = self.parent(expr)
            if isinstance(parent, cst.Subscript) and parent.value is expr:
                sub_key = _subscript_key(parent)
                first_key = key if depth else sub_key
                store = self._store_kind(parent)
                if store is not None:
                    yield Mutation(parent, store, depth, first_key)
                    return
                expr, depth, key = parent, depth + 1, first_key
                continue
            if isinstance(parent, cst.Attribute) and parent.value is expr:
                call = self.parent(parent)
                if not (isinstance(call, cst.Call) and call.func is parent):
                    return
                method = parent.attr.value
                arg_key = _string_value(_call_first_arg(call))
                first_key = key if depth else arg_key
                if method in MUTATING_METHODS:
                    yield Mutation(call, f".{method}()", depth, first_key)
                    return
                if method in ELEMENT_ACCESSORS:
                    expr, depth, key = call, depth + 1, first_key
                    continue
                return
            if isinstance(parent, cst.Arg) and parent.value is expr:
                call = self.parent(parent)
                if isinstance(call, cst.Call) and call.args and call.args[0] is parent \
                        and _last_name(call.func) in MUTATING_FUNCTIONS:
                    yield Mutation(call, f"{_last_name(call.func)}()", depth, key)
                return
            if isinstance(parent, cst.Assign) and parent.value is expr:
                yield from self._follow_alias(parent, unit, depth, key, seen)
                return
            return

    def _follow_alias(self, assign: cst.Assign, unit: cst.CSTNode, depth: int,
                      key: str | None, seen: set[int]) -> Iterator[Mutation]:
        if unit is self.module or len(assign.targets) != 1:
            return
        target = assign.targets[0].target
        if not isinstance(target, cst.Name) or id(target) in seen:
            return
        seen.add(id(target))
        scope = self.scopes.get(assign)
        if scope is None or isinstance(scope, GlobalScope):
            return
        assignments = list(scope.assignments[target.value])
        if len(assignments) != 1:
            return  # rebound: the alias may point elsewhere later
        for access in assignments[0].references:
            if self.unit_of(access.node) is unit:
                yield from self.find_mutations(access.node, unit, depth, key, seen)

    def _store_kind(self, subscript: cst.Subscript) -> str | None:
        """How ``subscript`` is written, when it is an assignment/del target."""
        node: cst.CSTNode = subscript
        parent = self.parent(node)
        while isinstance(parent, (cst.Element, cst.StarredElement, cst.Tuple, cst.List)):
            node, parent = parent, self.parent(parent)
        if isinstance(parent, cst.AssignTarget) and parent.target is node:
            return "item assignment"
        if isinstance(parent, cst.AugAssign) and parent.target is node:
            return "augmented item assignment"
        if isinstance(parent, cst.AnnAssign) and parent.target is node:
            return "item assignment"
        if isinstance(parent, cst.Del) and parent.target is node:
            return "del"
        if isinstance(parent, (cst.For, cst.CompFor)) and parent.target is node:
            return "item assignment"
        if isinstance(parent, cst.AsName) and parent.name is node:
            return "item assignment"
        return None

    # ------------------------------------------------------- redis local-dev fallback
    def _redis_client_names(self, unit: cst.CSTNode) -> set[str]:
        cached = self._redis_names.get(id(unit))
        if cached is not None:
            return cached
        names: set[str] = set()
        for binding in self.bindings:
            if not _is_redis_extension_get(binding.value) or self.unit_of(binding) is not unit:
                continue
            if isinstance(binding, cst.Assign):
                if len(binding.targets) == 1 and isinstance(binding.targets[0].target, cst.Name):
                    names.add(binding.targets[0].target.value)
            elif isinstance(binding.target, cst.Name):
                names.add(binding.target.value)
        self._redis_names[id(unit)] = names
        return names

    def _redis_present_test(self, test: cst.BaseExpression, unit: cst.CSTNode) -> bool:
        if isinstance(test, cst.Name):
            return test.value in self._redis_client_names(unit)
        if isinstance(test, cst.NamedExpr):
            return _is_redis_extension_get(test.value)
        if _is_redis_extension_get(test):
            return True
        if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
            comparison = test.comparisons[0]
            if isinstance(comparison.operator, cst.IsNot) and _is_none(comparison.comparator):
                return self._redis_present_test(test.left, unit)
            if isinstance(comparison.operator, cst.In) and _is_extensions(comparison.comparator):
                key = _string_value(test.left)
                return bool(key and REDIS_KEY.search(key))
        return False

    def _redis_absent_test(self, test: cst.BaseExpression, unit: cst.CSTNode) -> bool:
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            return self._redis_present_test(test.expression, unit)
        if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
            comparison = test.comparisons[0]
            if isinstance(comparison.operator, cst.Is) and _is_none(comparison.comparator):
                return self._redis_present_test(test.left, unit)
            if isinstance(comparison.operator, cst.NotIn) and _is_extensions(comparison.comparator):
                key = _string_value(test.left)
                return bool(key and REDIS_KEY.search(key))
        return False

    def in_redis_absent_branch(self, node: cst.CSTNode, unit: cst.CSTNode) -> bool:
        child = node
        parent = self.parent(child)
        while parent is not None and child is not unit:
            if isinstance(parent, cst.If):
                if child is parent.body and self._redis_absent_test(parent.test, unit):
                    return True
                if child is parent.orelse and self._redis_present_test(parent.test, unit):
                    return True
            if isinstance(parent, (cst.IndentedBlock, cst.Module)) and child in parent.body:
                index = next(i for i, stmt in enumerate(parent.body) if stmt is child)
                for earlier in parent.body[:index]:
                    if isinstance(earlier, cst.If) and earlier.orelse is None \
                            and _always_exits(earlier.body) \
                            and self._redis_present_test(earlier.test, unit):
                        return True
            if parent is unit:
                break
            child, parent = parent, self.parent(parent)
        return False

    # --------------------------------------------------------------------- rules
    def report(self, code: str, node: cst.CSTNode, message: str) -> None:
        key = (code, id(node))
        if key in self._reported:
            return
        self._reported.add(key)
        self.findings.append(self.ctx.finding(code, node, message))

    def run(self) -> list:
        if self.global_scope is None:
            return []
        self.compute_before_fork()
        self._check_all()
        if self.findings:
            # A function with no caller here may be called at import time, or only from the
            # app factory, in another module: ask the project (built once per run, and only
            # for files that have findings).
            external = self._external_uses()
            if external:
                self.findings, self._reported = [], set()
                self.compute_before_fork(external)
                self._check_all()
        # Two mutations found from one statement (`_d.setdefault(k, []).append(v)`) start at
        # the same position: keep the first one.
        unique: dict[tuple, object] = {}
        for finding in self.findings:
            unique.setdefault((finding.code, finding.line, finding.column), finding)
        return list(unique.values())

    def _check_all(self) -> None:
        self.check_module_containers()
        self.check_global_rebinding()
        self.check_extensions()
        self.check_class_attributes()

    def _external_uses(self) -> "dict[str, list[Use]]":
        from raptor_lint.project.fork_calls import build_fork_calls

        if self.ctx.project is None or not self.external_names:
            return {}
        return self.ctx.project.get(build_fork_calls).uses_of(self.ctx.path, self.external_names)

    # RPT101 ----------------------------------------------------------------
    def check_module_containers(self) -> None:
        kinds: dict[str, str] = {}
        accesses: dict[str, dict[int, cst.CSTNode]] = {}
        for assignment in self.global_scope.assignments:
            node = getattr(assignment, "node", None)
            if not isinstance(node, cst.Name):
                continue
            kind = container_kind(self._bound_value(node))
            name = assignment.name
            if kind is not None and name not in kinds:
                kinds[name] = kind
            bucket = accesses.setdefault(name, {})
            for access in assignment.references:
                bucket[id(access.node)] = access.node
        for name, kind in kinds.items():
            for ref in accesses.get(name, {}).values():
                unit = self.unit_of(ref)
                if self.is_before_fork(unit):
                    continue
                for mutation in self.find_mutations(ref, unit):
                    if self.in_redis_absent_branch(mutation.node, unit):
                        continue
                    what = (f"module-level {kind} '{name}'" if mutation.depth == 0
                            else f"an element of module-level {kind} '{name}'")
                    self.report("RPT101", mutation.node, (
                        f"{what} is mutated in request-time code '{self.qualname(unit)}'; under "
                        f"gunicorn --preload each worker mutates its own copy {SEV1} — {ADVICE}"
                    ))

    def _bound_value(self, name: cst.Name) -> cst.BaseExpression | None:
        parent = self.parent(name)
        if isinstance(parent, cst.AssignTarget) and parent.target is name:
            assign = self.parent(parent)
            return assign.value if isinstance(assign, cst.Assign) else None
        if isinstance(parent, (cst.AnnAssign, cst.NamedExpr)) and parent.target is name:
            return parent.value
        return None

    # RPT102 ----------------------------------------------------------------
    def check_global_rebinding(self) -> None:
        for assignment in self.global_scope.assignments:
            node = getattr(assignment, "node", None)
            if node is None:
                continue
            unit = self.unit_of(node)
            if unit is self.module or self.is_before_fork(unit):
                continue
            if not self._declared_global(assignment.name, unit):
                continue
            target = node.name if isinstance(node, (cst.FunctionDef, cst.ClassDef)) else node
            augmented = isinstance(self.parent(node), cst.AugAssign)
            if not augmented and self._in_lazy_init(node, unit, assignment.name):
                continue
            self.report("RPT102", target, (
                f"module-level name '{assignment.name}' is rebound via 'global' "
                f"({_binding_form(node, self.parent(node))}) in request-time code "
                f"'{self.qualname(unit)}'; under gunicorn --preload each worker rebinds its own "
                f"copy and the others never see it — keep shared state in Redis or Postgres "
                f"(a per-process client may use the lazy-init idiom 'if {assignment.name} is None:')"
            ))

    def _declared_global(self, name: str, unit: cst.CSTNode) -> bool:
        # A GlobalScope assignment inside a function comes from `global name` in that function.
        for stmt in self.global_statements:
            if self.unit_of(stmt) is unit and any(item.name.value == name for item in stmt.names):
                return True
        return False

    def _in_lazy_init(self, node: cst.CSTNode, unit: cst.CSTNode, name: str) -> bool:
        child = node
        parent = self.parent(child)
        while parent is not None and child is not unit:
            if isinstance(parent, cst.If) and child is parent.body and _is_lazy_test(parent.test, name):
                return True
            if parent is unit:
                break
            child, parent = parent, self.parent(parent)
        return False

    # RPT103 ----------------------------------------------------------------
    def check_extensions(self) -> None:
        for attribute in self.attributes:
            if attribute.attr.value != "extensions" or not _looks_like_app(attribute.value):
                continue
            unit = self.unit_of(attribute)
            if self.is_before_fork(unit):
                continue
            owner = cst.Module([]).code_for_node(attribute)
            for mutation in self.find_mutations(attribute, unit):
                if mutation.key is not None and _is_service_key(mutation.key):
                    continue
                entry = f"{owner}[{mutation.key!r}]" if mutation.key else owner
                self.report("RPT103", mutation.node, (
                    f"per-request state written into {entry} ({mutation.operation}) in "
                    f"request-time code '{self.qualname(unit)}'; app.extensions is copied into "
                    f"each worker at fork, so the other workers never see the write (PR #3030) — "
                    f"keep per-user state in Postgres and per-session state in Redis with a TTL; "
                    f"app.extensions is for read-only objects built in create_app()"
                ))

    # RPT104 ----------------------------------------------------------------
    def check_class_attributes(self) -> None:
        for klass in self.classes:
            attrs = self._class_containers(klass)
            if not attrs:
                continue
            for start, attr in self._class_attribute_uses(klass, attrs):
                unit = self.unit_of(start)
                if self.is_before_fork(unit):
                    continue
                for mutation in self.find_mutations(start, unit):
                    kind = attrs[attr]
                    what = (f"class-level {kind} '{klass.name.value}.{attr}'" if mutation.depth == 0
                            else f"an element of class-level {kind} '{klass.name.value}.{attr}'")
                    self.report("RPT104", mutation.node, (
                        f"{what} is mutated through the class in request-time code "
                        f"'{self.qualname(unit)}'; class attributes are per-process, so under "
                        f"gunicorn --preload each worker mutates its own copy {SEV1} — {ADVICE}"
                    ))

    def _class_containers(self, klass: cst.ClassDef) -> dict[str, str]:
        attrs: dict[str, str] = {}
        body = klass.body.body if isinstance(klass.body, cst.IndentedBlock) else [klass.body]
        for stmt in body:
            smalls = stmt.body if isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)) else ()
            for small in smalls:
                if isinstance(small, cst.Assign):
                    kind = container_kind(small.value)
                    for target in small.targets:
                        if kind and isinstance(target.target, cst.Name):
                            attrs.setdefault(target.target.value, kind)
                elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name):
                    kind = container_kind(small.value)
                    if kind:
                        attrs.setdefault(small.target.value, kind)
        return attrs

    def _class_attribute_uses(self, klass: cst.ClassDef,
                              attrs: dict[str, str]) -> Iterator[tuple[cst.CSTNode, str]]:
        """``Klass.attr``, ``cls.attr``, ``type(self).attr``, ``self.__class__.attr``."""
        scope = self.scopes.get(klass)
        if scope is not None:
            seen: set[int] = set()
            for assignment in scope.assignments[klass.name.value]:
                if getattr(assignment, "node", None) is not klass:
                    continue
                for access in assignment.references:
                    ref = access.node
                    parent = self.parent(ref)
                    if id(ref) not in seen and isinstance(parent, cst.Attribute) \
                            and parent.value is ref and parent.attr.value in attrs:
                        seen.add(id(ref))
                        yield parent, parent.attr.value
        for attribute in self.attributes:
            if attribute.attr.value not in attrs:
                continue
            method = self._method_of(attribute, klass)
            if method is None or not method.params.params:
                continue
            first = method.params.params[0].name.value
            is_class_method = method.name.value in ("__init_subclass__", "__new__", "__class_getitem__") \
                or any(_last_name(d.decorator) == "classmethod" for d in method.decorators)
            base = attribute.value
            if is_class_method and isinstance(base, cst.Name) and base.value == first:
                yield attribute, attribute.attr.value
            elif not is_class_method and _is_class_of(base, first):
                yield attribute, attribute.attr.value


# ---------------------------------------------------------------- small predicates

def _is_service_key(key: str) -> bool:
    words = set(re.split(r"[^a-z0-9]+", key.lower()))
    return key.lower() in SERVICE_KEYS or bool(words & SERVICE_KEY_WORDS) or "redis" in key.lower()


def _is_none(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Name) and node.value == "None"


def _is_extensions(node: cst.BaseExpression) -> bool:
    return isinstance(node, cst.Attribute) and node.attr.value == "extensions"


def _looks_like_app(node: cst.BaseExpression) -> bool:
    name = _last_name(node)
    return bool(name) and "app" in name.lower()


def _is_redis_extension_get(node: cst.BaseExpression | None) -> bool:
    """``<app>.extensions.get("redis_client")`` (any key mentioning redis)."""
    if not isinstance(node, cst.Call) or not isinstance(node.func, cst.Attribute):
        return False
    if node.func.attr.value != "get" or not _is_extensions(node.func.value):
        return False
    key = _string_value(_call_first_arg(node))
    return bool(key and REDIS_KEY.search(key))


def _is_class_of(node: cst.BaseExpression, self_name: str) -> bool:
    """``type(self)`` or ``self.__class__``."""
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Name) and node.func.value == "type":
        args = node.args
        return len(args) == 1 and isinstance(args[0].value, cst.Name) and args[0].value.value == self_name
    return (isinstance(node, cst.Attribute) and node.attr.value == "__class__"
            and isinstance(node.value, cst.Name) and node.value.value == self_name)


def _is_lazy_test(test: cst.BaseExpression, name: str) -> bool:
    """``name is None``, ``name == None``, ``not name`` — or one of them inside an ``or``."""
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.Or):
        return _is_lazy_test(test.left, name) or _is_lazy_test(test.right, name)
    if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
        return isinstance(test.expression, cst.Name) and test.expression.value == name
    if isinstance(test, cst.Comparison) and len(test.comparisons) == 1:
        comparison = test.comparisons[0]
        return (isinstance(test.left, cst.Name) and test.left.value == name
                and isinstance(comparison.operator, (cst.Is, cst.Equal))
                and _is_none(comparison.comparator))
    return False


def _binding_form(node: cst.CSTNode, parent: cst.CSTNode | None) -> str:
    if isinstance(node, cst.FunctionDef):
        return "def"
    if isinstance(node, cst.ClassDef):
        return "class"
    if isinstance(node, (cst.Import, cst.ImportFrom)):
        return "import"
    if isinstance(parent, cst.AugAssign):
        return "augmented assignment"
    if isinstance(parent, cst.NamedExpr):
        return "walrus"
    if isinstance(parent, (cst.For, cst.CompFor)):
        return "for target"
    return "assignment"


def _always_exits(body: cst.BaseSuite) -> bool:
    statements: Sequence[cst.CSTNode]
    if isinstance(body, cst.SimpleStatementSuite):
        statements = body.body
    else:
        if not body.body:
            return False
        last = body.body[-1]
        if not isinstance(last, cst.SimpleStatementLine):
            return False
        statements = last.body
    return bool(statements) and isinstance(statements[-1], (cst.Return, cst.Raise))
