"""The runbook's meaning of "state", for the fork-safety rules: what runs once per process,
what is a per-process resource, and what a per-process memo looks like.

The runbook forbids module-level state "that must be consistent across processes" and
allows objects created once and used read-only.  Three idioms decide a finding:

* **lazy initialisation** runs once per process, whatever the spelling: ``if X is None:``,
  ``if not X:``, a sentinel (``if X is _MISSING:``), a guard inside ``and``/``or``, an
  early return (``if X is not None: return X`` and the creation after it), the sibling
  names assigned under the same guard, and the first fill of an object created under it;
* **per-process resources** — clients, engines, sessions, pools, connections, locks,
  threads, executors, loggers — must be created per process: rebinding a global to a new
  one after the fork is what the runbook asks for, not a divergence;
* a **per-process memo** (the stored value is computed from the key) is still module
  state written after the fork, but the advice differs: make the per-process intent
  explicit with ``functools.cache``/``lru_cache``; state keyed by user, session or request
  input gets the runbook's advice (Redis with a TTL, Postgres).
"""

from __future__ import annotations

import ast
import re

from raptor_lint.semantic import SemanticModel, contains, is_none, last_name

# Constructors of per-process resources, matched on the callee's last name (a word of it).
RESOURCE_CALL = re.compile(
    r"(?:^|_)(?:client|engine|session|sessionmaker|pool|connect|connection|lock|rlock|semaphore|"
    r"condition|event|thread|executor|logger|getlogger|redis|from_url|socket|channel|producer|"
    r"consumer|tracer|meter|queue|loop|scheduler|driver|transport|backend)s?(?:$|_)",
    re.IGNORECASE)
RESOURCE_CLASS = re.compile(
    r"(?:Client|Engine|Session|Pool|Connection|Lock|RLock|Semaphore|Condition|Event|Thread|"
    r"Executor|Logger|Redis|Socket|Channel|Producer|Consumer|Tracer|Queue|Loop|Scheduler|"
    r"Driver|Transport)$")
# Key names that say the state is per user, session or request (never a memo).
PER_USER_NAME = re.compile(r"user|session|request|token|challenge|account|customer|tenant|client_id|ip|g$",
                           re.IGNORECASE)
# Container names that say the author meant a cache.
CACHE_NAME = re.compile(r"cache|memo|lru", re.IGNORECASE)
# Names a sentinel object goes by (``_MISSING = object()``).
SENTINEL_NAME = re.compile(r"sentinel|missing|unset|notset|not_set|marker|undefined|_nothing", re.IGNORECASE)


def is_resource_value(value: ast.AST | None) -> bool:
    """``create_engine(...)``, ``redis.Redis(...)``, ``threading.Lock()``,
    ``ThreadPoolExecutor(...)``, ``logging.getLogger(...)``, ``sessionmaker(...)()`` …"""
    while isinstance(value, ast.Await):
        value = value.value
    if not isinstance(value, ast.Call):
        return False
    func = value.func
    if isinstance(func, ast.Call):  # sessionmaker(bind=engine)()
        return is_resource_value(func)
    name = last_name(func) or ""
    return bool(RESOURCE_CLASS.search(name) or RESOURCE_CALL.search(_snake(name)))


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()


class LazyInit:
    """Answers "does this statement run at most once per process because of a lazy-init
    guard?" for one file."""

    def __init__(self, model: SemanticModel) -> None:
        self.model = model
        self._sentinels: set[str] | None = None

    def guarded(self, node: ast.AST, unit: ast.AST, names: set[str] | frozenset[str]) -> bool:
        """``node`` (in ``unit``) sits under a lazy-init guard on one of ``names``: in the
        body of ``if <unset test>:``, in the ``else`` of ``if <set test>:``, or after an
        early ``if <set test>: return …`` in an enclosing block."""
        if not names:
            return False
        model = self.model
        child = node
        parent = model.parent(child)
        while parent is not None and child is not unit:
            if isinstance(parent, ast.If):
                if contains(parent.body, child) and self._tests(parent.test, names, unset=True):
                    return True
                if contains(parent.orelse, child) and self._tests(parent.test, names, unset=False):
                    return True
            if isinstance(child, ast.stmt):
                for earlier in block_holding(parent, child):
                    if earlier is child:
                        break
                    if isinstance(earlier, ast.If) and always_exits(earlier.body) \
                            and self._tests(earlier.test, names, unset=False):
                        return True
            if parent is unit:
                break
            child, parent = parent, model.parent(parent)
        return False

    def _tests(self, test: ast.AST, names: set[str] | frozenset[str], unset: bool) -> bool:
        """``test`` is true only when one of ``names`` is unset (``unset``) / set."""
        if isinstance(test, ast.BoolOp):
            # `X is None and flag`: the body still runs only while X is unset (an `or` too:
            # `X is None or stale` re-creates — once per process per staleness).
            return any(self._tests(value, names, unset) for value in test.values)
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            return self._tests(test.operand, names, not unset)
        if isinstance(test, ast.NamedExpr):
            return self._tests(test.target, names, unset)
        if isinstance(test, ast.Name):
            return not unset and test.id in names
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            left, operator, right = test.left, test.ops[0], test.comparators[0]
            if isinstance(left, ast.Call):
                left = self._accessor_of(left) or left
            if not (isinstance(left, ast.Name) and left.id in names):
                return False
            if not self._is_unset_value(right):
                return False
            if isinstance(operator, (ast.Is, ast.Eq)):
                return unset
            if isinstance(operator, (ast.IsNot, ast.NotEq)):
                return not unset
        if isinstance(test, ast.Call):
            # An accessor of the global (`if _get_listener() is not None: return`).
            read = self._accessor_of(test)
            return read is not None and self._tests(read, names, unset)
        return False

    def _accessor_of(self, call: ast.Call) -> ast.Name | None:
        """For ``f()`` with no arguments, where ``f`` is a module-level function whose every
        ``return`` returns the same global name: that name (as read by the return)."""
        if call.args or call.keywords or not isinstance(call.func, ast.Name):
            return None
        nodes = self.model.resolve(call.func)[1]
        if len(nodes) != 1 or not isinstance(nodes[0], (ast.FunctionDef, ast.AsyncFunctionDef)):
            return None
        returned: ast.Name | None = None
        for stmt in ast.walk(nodes[0]):
            if isinstance(stmt, ast.Return):
                if not isinstance(stmt.value, ast.Name) or (returned is not None and stmt.value.id != returned.id):
                    return None
                returned = stmt.value
        return returned

    def _is_unset_value(self, node: ast.AST) -> bool:
        if is_none(node):
            return True
        if isinstance(node, ast.Name):
            return node.id in self.sentinels() or bool(SENTINEL_NAME.search(node.id))
        return False

    def sentinels(self) -> set[str]:
        """Module-level names bound to ``object()``."""
        if self._sentinels is None:
            found: set[str] = set()
            for stmt in self.model.tree.body:
                if isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Call) \
                        and last_name(stmt.value.func) == "object" and not stmt.value.args:
                    found.update(t.id for t in stmt.targets if isinstance(t, ast.Name))
            self._sentinels = found
        return self._sentinels


def memo_store(model: SemanticModel, mutation_node: ast.AST, container: str) -> bool | None:
    """For a store into ``container``: True when the stored value is computed from the key
    (``_cache[key] = compute(key)``, ``_cache.setdefault(key, build(key))``,
    ``result = f(key); _cache[key] = result``), False when it is keyed by user, session or
    request input or accumulates (``counts[k] = counts.get(k, 0) + 1``) — state — and None
    when the statement says neither (an eviction, a ``.clear()``, a value not derived from
    the key)."""
    key: ast.AST | None = None
    value: ast.AST | None = None
    if isinstance(mutation_node, ast.Subscript):
        statement = model.parent(mutation_node)
        if isinstance(statement, ast.Assign) and contains(statement.targets, mutation_node):
            key, value = mutation_node.slice, statement.value
    elif isinstance(mutation_node, ast.Call) and isinstance(mutation_node.func, ast.Attribute) \
            and mutation_node.func.attr in ("setdefault", "__setitem__") and len(mutation_node.args) == 2:
        key, value = mutation_node.args
    if key is None or value is None:
        return None
    key_names = _names(key) - {container}
    if not key_names:
        return None
    if any(PER_USER_NAME.search(name) for name in key_names):
        return False  # keyed by user, session or request input: state, not a memo
    if container.rpartition(".")[2] in _names(value):
        return False  # accumulates: state
    wanted = ast.dump(key)
    for source in (value, *_local_sources(model, value, mutation_node)):
        if any(ast.dump(node) == wanted for node in ast.walk(source) if type(node) is type(key)):
            return True
    return None


def names_a_cache(name: str) -> bool:
    """``_cache``, ``_SERVER_INFO_CACHE``, ``_memo``, ``lru``: the author says it is a cache."""
    return CACHE_NAME.search(name) is not None


def _names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}


def _local_sources(model: SemanticModel, value: ast.AST, at: ast.AST) -> list[ast.AST]:
    """The values the locals in ``value`` were computed from (one plain assignment back;
    tuple unpacking and loop targets say nothing about which part came from where)."""
    found: list[ast.AST] = []
    unit = model.unit_of(at)
    for name in (n for n in ast.walk(value) if isinstance(n, ast.Name)):
        owner, nodes = model.resolve(name)
        if owner.node is not unit or len(nodes) > 3:
            continue
        for bound in nodes:
            statement = model.parent(bound)
            if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and statement.targets[0] is bound:
                found.append(statement.value)
            elif isinstance(statement, ast.AnnAssign) and statement.value is not None:
                found.append(statement.value)
    return found


def block_holding(parent: ast.AST, child: ast.AST) -> list:
    """The statement list of ``parent`` (body/orelse/finalbody) that holds ``child``."""
    for field in ("body", "orelse", "finalbody"):
        block = getattr(parent, field, None)
        if isinstance(block, list) and contains(block, child):
            return block
    return []


def always_exits(body: list) -> bool:
    return bool(body) and isinstance(body[-1], (ast.Return, ast.Raise))
