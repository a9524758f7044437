"""Fork safety (RPT101–RPT104) — runbook: "gunicorn --preload + module-level mutable state".

gunicorn ``--preload`` imports the app once in the master and forks the workers; every
worker then writes to its own copy-on-write copy of module state.  The checker decides,
for every function of a file, whether it runs *before* the fork (module top level, the
app factory's own body, module-level functions only such code calls, import-time
decorator registration, class-creation hooks) or *after* it (everything else: request
handlers, the helpers they call, background tasks), and reports writes to shared state
from after-fork code.

Not reported, by design:

* test code (``raptor_lint.project.layout.is_test_code``): tests never run under gunicorn;
* weak containers (``WeakValueDictionary``, ``WeakKeyDictionary``, ``WeakSet``) and
  containers annotated with weak-reference keys or items (``dict[weakref.ref[X], Y]``):
  their entries are tied to objects that live in one process and vanish with them, so
  they are per-process bookkeeping and cannot be the store of record another worker
  would need to see.  Other deliberate per-process caches are findings: silence them
  with ``# noqa: RPT101`` and a reason;
* class-creation hooks (``__init_subclass__``, ``__set_name__``, a metaclass's
  ``__new__``/``__init__``/``__prepare__``) of classes defined at import time run while
  the class statement runs, i.e. before the fork, like the class body itself.

Cost: everything runs on the CPython ``ast`` tree the engine already has (no libcst).
A cheap gate skips files where no finding is possible; otherwise one iterative pass
records parents, execution units and scopes, and names are resolved the way Python's
symbol table does (function locals, ``global``/``nonlocal``, class bodies that do not
enclose their methods, comprehension scopes).  Callers in other modules come from
``raptor_lint.rules.fork_safety.callers`` (one index per run), asked only for files that have
findings.
"""

from __future__ import annotations

import ast
import bisect
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Iterator

from raptor_lint.astwalk import child_fields, children
from raptor_lint.execution import ExecutionModel
from raptor_lint.rules.fork_safety.idioms import LazyInit, always_exits as _always_exits, \
    block_holding as _block_holding, is_resource_value, memo_store, names_a_cache
from raptor_lint.semantic import contains as _contains, first_param as _first_param, is_none as _is_none, \
    last_name as _last_name, string_value as _string_value
from raptor_lint.rules.fork_safety.callers import _ASCII_ATTRIBUTE, _ATTRIBUTE
from raptor_lint.project.layout import is_test_code
from raptor_lint.rules.base import Checker, Rule, with_story
from raptor_lint.source import lines_at
from raptor_lint.strings import fit_message, shorten, with_first_fitting

if TYPE_CHECKING:  # pragma: no cover
    from pathlib import Path

    from raptor_lint.context import FileContext
    from raptor_lint.findings import Finding
    from raptor_lint.project import ProjectIndex
    from raptor_lint.project.modules import ModuleIndex
    from raptor_lint.execution import Use

RUNBOOK = "gunicorn --preload + module-level mutable state — Raxx policy"

# Calls whose result is a fresh mutable container (matched on the last dotted component).
CONTAINER_CALLS = {
    "dict": "dict", "list": "list", "set": "set", "defaultdict": "defaultdict",
    "OrderedDict": "OrderedDict", "Counter": "Counter", "deque": "deque",
    "ChainMap": "ChainMap", "bytearray": "bytearray",
}
# Weak containers are per-process bookkeeping of live objects, not shared state.
WEAK_CONTAINERS = frozenset({"WeakValueDictionary", "WeakKeyDictionary", "WeakSet"})
# Annotations naming a weak reference type (``weakref.ref[X]``), for keys / items.
WEAK_REFERENCE_TYPES = frozenset({"ref", "ReferenceType", "WeakMethod"})
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
# app.extensions entries that hold service objects (clients, engines) built in create_app:
# calling their methods (Redis APPEND, Flask-Caching add) is not a write of per-user state.
SERVICE_KEYS = frozenset({
    "cache", "sqlalchemy", "migrate", "mail", "limiter", "celery", "socketio", "babel",
    "login_manager", "cors", "csrf", "jwt", "bcrypt", "marshmallow", "talisman", "compress",
})
SERVICE_KEY_WORDS = frozenset({"redis", "client", "engine", "pool", "db", "sentry", "mongo"})
REDIS_KEY = re.compile(r"redis", re.IGNORECASE)

# What a container binding needs in the text (the pre-filter): a display or comprehension
# after `=` / `:=` or an `else` (`x = a if b else {}`), or a call of one of CONTAINER_CALLS
# (on the last name, as container_kind: `x.dict()` too).  Whitespace, backslash
# continuations, comments and opening parentheses may come between.  Each pattern starts
# with a literal, which `re` finds with a fast string search.
_COMMENT = r"#[^\r\n]*[\r\n]"  # runs to its line break: no backtracking inside it
_DISPLAY_AFTER = (re.compile(r"=(?:[\s\\(]|" + _COMMENT + r")*[\[{]"),
                  re.compile(r"else(?:[\s\\(]|" + _COMMENT + r")*[\[{]"))
_CONTAINER_CALL_TEXT = tuple((name, re.compile(re.escape(name) + r"(?:[\s\\()]|" + _COMMENT + r")*\("))
                             for name in CONTAINER_CALLS)

_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_UNITS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_UNIT_TYPES = frozenset(_UNITS)

ADVICE = "use Redis (with a TTL) or Postgres"


class ForkSafetyChecker(Checker):
    family = "Fork safety"
    file_kinds = frozenset({"python"})
    rules = (
        Rule(
            code="RPT101",
            name="module-state-mutated-after-fork",
            summary="Module-level mutable container (dict/list/set/defaultdict/deque/…) "
                    "mutated by code that runs after gunicorn forks.",
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
                "calls, import-time registration, class-creation hooks such as "
                "`__init_subclass__` or a metaclass `__init__`) is fine, and so is the runbook's "
                "local-dev fallback: a dict written only in the branch where "
                "`app.extensions.get(\"redis_client\")` is absent. Weak containers "
                "(`WeakValueDictionary`, `WeakKeyDictionary`, `WeakSet`, or a dict annotated with "
                "`weakref.ref` keys) are not reported: their entries die with objects of one "
                "process, so they cannot be state another worker needs. Other deliberate "
                "per-process caches are still reported, with different advice: when the stored "
                "value is computed from the key (a memo), the message says so and suggests "
                "`functools.cache`/`lru_cache`, which makes the per-process intent explicit; state "
                "keyed by user, session or request input gets the runbook's advice. A container "
                "filled once under a lazy-init guard (`if _cfg is None: _cfg = {}; _cfg[k] = v`, or "
                "after `if _names: return _names`) is not reported, nor is code registered with "
                "`os.register_at_fork(after_in_child=…)` or a gunicorn `post_fork` hook. Containers "
                "of another module of the project (`from state import _store`, `state._store`), "
                "`dict.fromkeys(…)`, aliased constructors (`defaultdict as dd`) and default "
                "arguments that alias a container are followed. "
                "The fork-safety rules (RPT101–RPT104) skip test code — files under `tests/`, "
                "`test/` or `testing/`, `test_*.py`, `*_test.py`, `conftest.py` — because tests "
                "never run under gunicorn; for other test layouts use `per-file-ignores` "
                "(`\"qa/*\" = [\"RPT1\"]`)."
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
            summary="Module-level name rebound via `global` (incl. `+=` and walrus) by code "
                    "that runs after gunicorn forks.",
            runbook=RUNBOOK,
            why=(
                "A `global` assignment in a request handler or background task rebinds the "
                "name in one worker only: under gunicorn --preload every worker has its own "
                "module globals after the fork, so counters, \"current\" values and caches "
                "silently diverge between workers. Shared state belongs in Redis or Postgres. "
                "`globals()[\"x\"] = v` counts as a rebinding. Lazy initialisation runs once per "
                "process and is fine in every spelling: `if _client is None:`, `if not _client:`, "
                "a sentinel (`if _x is _MISSING:`), a guard inside `and`/`or`, an early return "
                "(`if _c is not None: return _c` before the creation), and the sibling globals "
                "assigned under the same guard. So is rebinding a global to a per-process resource "
                "(a client, engine, session, pool, lock, thread, executor or logger): the runbook "
                "wants those created per process. A call from an `if __name__ == \"__main__\":` "
                "block does not make a function run before the fork: under gunicorn it never runs."
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
                    "`current_app.extensions` by code that runs after gunicorn forks.",
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
            summary="Class-level mutable attribute mutated through the class or `cls` by code "
                    "that runs after gunicorn forks.",
            runbook=RUNBOOK,
            why=(
                "A class attribute is module state with a longer name: `TradingSession._open` "
                "lives in the class object that the master imported, and after the fork every "
                "worker mutates its own copy. A registry filled through `cls` from request "
                "handlers diverges between workers exactly like the 2026-05-25 "
                "`_challenge_store` dict. Keep the state in Redis or Postgres; class-level "
                "tables filled at import time (registration decorators, `__init_subclass__`, "
                "a metaclass `__init__`) are fine."
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

    prefilter_rules = frozenset({"RPT101", "RPT102", "RPT103", "RPT104"})

    def prefilter(self, text: str) -> bool:
        # Every finding is a write from a function or lambda body to a `global` name, to
        # `.extensions`, or to a name bound to a container display or constructor.
        if "def" not in text and "lambda" not in text:
            return False
        return ("global" in text or "extensions" in text
                or any(pattern.search(text) is not None for pattern in _DISPLAY_AFTER)
                or _mentions_container_call(text)
                or "globals()" in text or "fromkeys" in text or _aliases_container(text)
                # another module's state mutated here (the second gate reads the imports)
                or ("import" in text and _any_state_mutation(text)))

    def before_workers(self, project: "ProjectIndex") -> None:
        # A large run nearly always has a finding whose callers must be looked up in
        # other modules: index the project once here rather than once per worker.
        from raptor_lint.rules.fork_safety.callers import build_fork_calls

        project.get(build_fork_calls).warm()

    def check(self, ctx: "FileContext") -> Iterable["Finding"]:
        tree = ctx.ast_tree
        if tree is None:
            return []
        if is_test_code(ctx.relpath):
            return []
        # The gates below were written for prefilter_rules (RPT101–RPT104): a rule of this
        # family they do not know turns them off, as it turns the pre-filter off.
        if not self.prefilter_applies():
            return _Analysis(ctx, tree).run()
        verdict = _may_mutate_state(tree, ctx.text)
        roots: frozenset[str] | None = None
        if (not verdict or (verdict is not MUTATION_SEEN and not _may_have_findings(tree))) \
                and not _rebinds_through_text(ctx.text):
            # Only another module's state is left; the analysis reuses the roots (RPT101).
            roots = imported_state_roots(tree, ctx.text)
            if not roots:
                return []
        return _Analysis(ctx, tree, roots).run()


# --------------------------------------------------------------------- cheap ast gates

_BLOCK_FIELDS = ("body", "orelse", "finalbody", "handlers", "cases")
_STATEMENT_BLOCKS: dict[type, tuple[str, ...]] = {}  # statement class -> its _BLOCK_FIELDS
# Statements that neither bind a container nor hold statements nor declare `global`.
_PLAIN_STATEMENTS = frozenset({
    ast.Expr, ast.Import, ast.ImportFrom, ast.Return, ast.Pass, ast.Raise, ast.Assert,
    ast.AugAssign, ast.Delete, ast.Break, ast.Continue, ast.Nonlocal,
})


class _Seen:
    """A true verdict that already says what _may_have_findings would."""

    def __bool__(self) -> bool:
        return True


MUTATION_SEEN = _Seen()


def _may_mutate_state(tree: ast.Module, text: str) -> "bool | _Seen":
    """False when no finding is possible; MUTATION_SEEN when the walk of
    _may_have_findings, run on the functions that mention module or class state, sees a
    possible finding; True when only that walk on the whole file can tell.

    It reads the statements (no expression outside those functions) and the text.  A
    finding needs one of:

    * a `global` statement (RPT102, and module state bound in a function): True;
    * a walrus outside function bodies (it may bind module state), or a lambda outside
      the functions (it may mutate state anywhere) with state mentioned anywhere: True;
    * a container bound outside any function body (module level, or in a class body:
      the state RPT101/RPT104 track) that a function body mentions (each mutation does:
      `_store[k] = v`, an alias `d = _store`; a class attribute only after a dot:
      `cls._hits`), or `.extensions` in a function body (RPT103): then the functions
      whose lines mention them are walked.

    Function bodies are the lines of the outermost `def`s; bodies without `class` or
    `global` in them are not entered."""
    module_names: dict[str, int] = {}  # container name -> statements binding it
    class_attributes: set[str] = set()
    functions: list[ast.FunctionDef | ast.AsyncFunctionDef] = []  # the outermost ones
    lambdas = "lambda" in text
    found_lines: list[int] | None = None

    def keyword_lines() -> list[int]:
        """Lines spelling `class` or `global`: the bodies worth entering."""
        nonlocal found_lines
        if found_lines is None:
            found_lines = sorted({*_keyword_lines(text, "class", starts_line=True),
                                  *_keyword_lines(text, "global")})
        return found_lines

    # block, binds state (module level or a class body), inside a def, in a class body
    stack: list[tuple[list, bool, bool, bool]] = [(tree.body, True, False, False)]
    while stack:
        block, state, in_function, in_class = stack.pop()
        for stmt in block:
            kind = type(stmt)
            if kind in _PLAIN_STATEMENTS:
                continue
            if kind is ast.Global:
                return True
            if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
                if not in_function:
                    functions.append(stmt)
                # Inside a body only `global` and class bodies matter: skip bodies whose
                # lines do not spell them.
                if _any_between(keyword_lines(), stmt.lineno, stmt.end_lineno):
                    stack.append((stmt.body, False, True, False))
                continue
            if kind is ast.ClassDef:
                stack.append((stmt.body, True, in_function, True))
                continue
            if state and (kind is ast.Assign or kind is ast.AnnAssign) \
                    and container_kind(stmt.value) is not None:
                for target in (stmt.targets if kind is ast.Assign else (stmt.target,)):
                    if type(target) is not ast.Name:
                        continue
                    if in_class:
                        class_attributes.add(target.id)
                    else:
                        module_names[target.id] = module_names.get(target.id, 0) + 1
                continue
            fields = _STATEMENT_BLOCKS.get(kind)
            if fields is None:
                fields = tuple(f for f in _BLOCK_FIELDS if f in kind._fields)
                _STATEMENT_BLOCKS[kind] = fields  # noqa: RPT101 - a per-process memo
            for field in fields:
                inner = getattr(stmt, field)
                if not inner:
                    continue
                if field == "handlers" or field == "cases":
                    stack.extend((item.body, state, in_function, in_class) for item in inner)
                else:
                    stack.append((inner, state, in_function, in_class))
    extensions, walrus = "extensions" in text, ":=" in text
    if not (module_names or class_attributes or extensions or walrus):
        return False
    if not text.isascii() and not unicodedata.is_normalized("NFKC", text):
        return True  # identifiers are NFKC-normalised: their spelling in the text may differ
    ranges = [(func.lineno, func.end_lineno or func.lineno) for func in functions]
    if walrus and _walrus_outside_bodies(_keyword_lines(text, ":=", whole=False), functions):
        return True
    if lambdas and not all(any(first <= line <= last for first, last in ranges)
                           for line in _keyword_lines(text, "lambda")):
        # A lambda outside the functions: the whole text, and _may_have_findings decides.
        return _mentions_state(text, module_names, class_attributes, extensions)
    # Only the functions that mention the state can mutate it: walk those (the walk
    # _may_have_findings does on the whole file).  No function binds module state
    # without `global`, so any mention in one counts.
    mentions = sorted(_state_lines(text, module_names, class_attributes, extensions))
    relevant = [func for func, (first, last) in zip(functions, ranges) if _any_between(mentions, first, last)]
    if relevant and _mutation_evidence([(func, True, False) for func in relevant],
                                       set(module_names) | class_attributes):
        return MUTATION_SEEN
    return False


# With many module containers the text gate reads the identifiers once instead of searching
# the text once per name (10,000 containers: 10 s of str.find).  ASCII only: there an
# identifier is exactly a run of [A-Za-z0-9_], and a container is mentioned only as one.
_MANY_NAMES = 32
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _state_lines(text: str, module_names: dict[str, int], class_attributes: set[str],
                 extensions: bool) -> set[int]:
    """The lines mentioning a module container (anywhere in a word: a superset), a class
    container after a dot, or `.extensions`."""
    lines: set[int] = set()
    if len(module_names) > _MANY_NAMES and text.isascii():
        lines.update(lines_at(text, [match.start() for match in _IDENTIFIER.finditer(text)
                                     if match.group() in module_names]))
    else:
        for name in module_names:
            lines.update(_keyword_lines(text, name, whole=False))
    wanted = class_attributes | {"extensions"} if extensions else class_attributes
    if wanted:
        pattern = _ASCII_ATTRIBUTE if text.isascii() else _ATTRIBUTE
        starts = [match.start(1) for match in pattern.finditer(text) if match.group(1) in wanted]
        lines.update(lines_at(text, starts))
    return lines


def _mentions_state(text: str, module_names: dict[str, int], class_attributes: set[str],
                    extensions: bool) -> bool:
    """Whether ``text`` mentions a module container (more often than it binds it: every
    whole-word occurrence is one str.count finds, identifiers never overlap), a class
    container after a dot, or `.extensions`."""
    if len(module_names) > _MANY_NAMES and text.isascii():
        mentions: dict[str, int] = {}
        for match in _IDENTIFIER.finditer(text):
            if match.group() in module_names:
                mentions[match.group()] = mentions.get(match.group(), 0) + 1
        if any(mentions.get(name, 0) > count for name, count in module_names.items()):
            return True
    elif any(text.count(name) > count for name, count in module_names.items()):
        return True
    if not (extensions or class_attributes):
        return False
    attributes = set(_ATTRIBUTE.findall(text))
    return (extensions and "extensions" in attributes) or not class_attributes.isdisjoint(attributes)


def _keyword_lines(text: str, word: str, whole: bool = True, starts_line: bool = False) -> list[int]:
    """The numbers (ascending) of the lines where ``word`` stands (as a whole word, unless
    ``whole`` is False; only after indentation with ``starts_line``, as a compound
    statement's keyword does)."""
    offsets: list[int] = []
    start = text.find(word)
    while start != -1:
        end = start + len(word)
        if not whole or _stands_alone(text, start, end, starts_line):
            offsets.append(start)
        start = text.find(word, end)
    return lines_at(text, offsets)


def _stands_alone(text: str, start: int, end: int, starts_line: bool) -> bool:
    """``text[start:end]`` is a whole word (and, with ``starts_line``, first on its line)."""
    before = text[start - 1] if start else " "
    after = text[end] if end < len(text) else " "
    if before.isalnum() or before == "_" or after.isalnum() or after == "_":
        return False
    if starts_line:
        line_start = max(text.rfind("\n", 0, start), text.rfind("\r", 0, start)) + 1
        return not text[line_start:start].strip(" \t\f")
    return True


def _any_between(numbers: list[int], first: int, last: int | None) -> bool:
    """Whether an element of the ascending ``numbers`` lies in ``[first, last]``."""
    index = bisect.bisect_left(numbers, first)
    return index < len(numbers) and numbers[index] <= (last or first)


def _walrus_outside_bodies(lines: list[int], functions: list) -> bool:
    """Whether one of ``lines`` (holding a `:=`) is not in the body of one of
    ``functions`` (after its parameters and return annotation, which are evaluated where
    the `def` runs)."""
    bodies = [(_signature_end(func) + 1, func.end_lineno or func.lineno) for func in functions]
    return not all(any(first <= number <= last for first, last in bodies) for number in lines)


def _signature_end(func: ast.FunctionDef | ast.AsyncFunctionDef) -> int:
    """The last line of a `def`'s parameters and return annotation (evaluated outside it)."""
    args = func.args
    end = func.lineno
    for node in (*args.posonlyargs, *args.args, args.vararg, *args.kwonlyargs, args.kwarg,
                 *args.defaults, *args.kw_defaults, func.returns):
        if node is not None:
            end = max(end, node.end_lineno or end)
    return end


# The second gate (RPT101, RPT102): state this file's own bindings do not show — a
# container of another module (`from state import _store`, `state._store`), module names
# rebound through `globals()`, containers built by `dict.fromkeys` or by an aliased
# constructor (`from collections import defaultdict as dd`).  Text first: an imported
# name must stand right before a mutation (`N[...] =`, `N.attr.append(`…).
_MUTATION_TAIL = (r"(?:\[[^\]\n]*\]\s*(?:[-+|&^]?=(?!=))|\.(?:"
                  + "|".join(sorted(m for m in MUTATING_METHODS if m.isidentifier()))
                  + r")\s*\(|\[[^\]\n]*\]\.(?:append|add|update|setdefault|extend|pop)\s*\()")
# Module state goes by `_private` or `UPPER_CASE` names: another module's container is
# recognised when mutated under such a name (`_store[k] = v`, `state._store.pop(k)`,
# `BLOCKLIST.add(x)`), which keeps this gate from sending every file that imports
# something and mutates anything to the full analysis.  Group 1 or 2: the imported root.
_STATE_NAME = r"(?:_\w+|[A-Z][A-Z0-9_]*[A-Z0-9])"
_IS_STATE_NAME = re.compile(_STATE_NAME + r"\Z")
_TAIL = re.compile(_MUTATION_TAIL)
# `.STATE` + a mutation: starts with a literal dot, which `re` finds fast; the name before
# the dot is checked against the imports afterwards.
_ATTRIBUTE_MUTATION = re.compile(r"\.(?:_\w+|[A-Z][A-Z0-9_]*[A-Z0-9])" + _MUTATION_TAIL)
_NAME_BEFORE_DOT = re.compile(r"([A-Za-z_]\w*)\s*\Z")


def imported_state_roots(tree: ast.Module, text: str) -> frozenset[str]:
    """The names bound by the module's imports that stand right before a mutation:
    ``N[...] = …`` / ``N.append(…)`` for an imported state-named ``N``, or
    ``M.STATE[...] = …`` / ``M.STATE.pop(…)`` for an imported ``M`` (a module).  Only these
    imports can reach another module's container (RPT101): the analysis resolves no other."""
    imported: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            imported.update((alias.asname or alias.name).split(".")[0] for alias in stmt.names
                            if alias.name != "*")
    if not imported:
        return frozenset()
    roots: set[str] = set()
    for name in imported:
        if _IS_STATE_NAME.match(name):
            start = text.find(name)
            while start != -1:
                end = start + len(name)
                before = text[start - 1] if start else " "
                if not (before.isalnum() or before in "_.") and _TAIL.match(text, end):
                    roots.add(name)
                    break
                start = text.find(name, end)
    if "." in text:
        for match in _ATTRIBUTE_MUTATION.finditer(text):
            head = _NAME_BEFORE_DOT.search(text, max(0, match.start() - 80), match.start())
            if head is not None and head.group(1) in imported:
                roots.add(head.group(1))
    return frozenset(roots)


def _any_state_mutation(text: str) -> bool:
    """The pre-filter's text test for the second gate: some `_private`/`UPPER_CASE` name, or
    an attribute so named, stands right before a mutation."""
    return _ATTRIBUTE_MUTATION.search(text) is not None or _DIRECT_STATE_MUTATION.search(text) is not None


_DIRECT_STATE_MUTATION = re.compile(r"(?<![\w.])(?:_\w+|[A-Z][A-Z0-9_]*[A-Z0-9])(?=[\[.])" + _MUTATION_TAIL)
_GLOBALS_WRITE = re.compile(r"globals\(\)\s*\[[^\]\n]*\]\s*=(?!=)|globals\(\)\s*\.\s*(?:update|setdefault|pop)\s*\(")
# A module-level name bound to `dict.fromkeys(...)` (at the start of a line).
_FROMKEYS_BINDING = re.compile(
    r"(?m)^[A-Za-z_]\w*\s*(?::[^=\n]*)?=\s*(?:\w+\.)*(?:dict|OrderedDict|Counter)\.fromkeys\(")
# `from collections import defaultdict as dd` (the collections classes: aliasing a builtin
# container type is rare, and "set as a" is common prose).
_ALIASED_CONTAINERS = tuple((name, re.compile(re.escape(name) + r"\s+as\s+[A-Za-z_]"))
                            for name in ("defaultdict", "OrderedDict", "Counter", "deque", "ChainMap"))


def _aliases_container(text: str) -> bool:
    """One literal-prefixed search per class name (an alternation has no literal prefix for
    `re` to find fast: 20x slower on the corpus)."""
    return any(name in text and pattern.search(text) is not None for name, pattern in _ALIASED_CONTAINERS)


def _rebinds_through_text(text: str) -> bool:
    """The second gate's text tests besides ``imported_state_roots`` (state bound outside
    this file is the rest of it): module names rebound through ``globals()`` (RPT102),
    containers built by ``fromkeys`` or an aliased constructor (RPT101)."""
    return bool(("globals()" in text and _GLOBALS_WRITE.search(text))
                or ("fromkeys" in text and _FROMKEYS_BINDING.search(text))
                or _aliases_container(text))


def _may_have_findings(tree: ast.Module) -> bool:
    """False when no finding is possible, so the scope analysis can be skipped.

    A superset of what the checker reports: any `global`; any `.extensions` inside a
    function; or a mutation-shaped operation inside a function (item store/del, a
    mutating method or function) on a chain that mentions a name bound to a container
    display/constructor outside function bodies (module level, class bodies), directly
    or through a local alias.  Containers bound inside a function are its own locals:
    they are not state another worker could see."""
    return _mutation_evidence([(tree, False, True)], set())


def _mutation_evidence(starts: list[tuple[ast.AST, bool, bool]], containers: set[str]) -> bool:
    """The walk of _may_have_findings from ``starts`` ((node, inside a function or
    lambda, binds state: module level or a class body)), with ``containers`` known."""
    aliases: list[tuple[str, set[str]]] = []
    mutated: set[str] = set()
    # Any node: the walk tells kinds apart with `type(node) is …` (faster than isinstance on
    # this hot path), which mypy does not narrow on.
    stack: list[tuple[Any, bool, bool]] = list(starts)
    push = stack.append
    while stack:
        node, in_function, state = stack.pop()
        kind = type(node)
        if kind is ast.Global:
            return True
        if (kind is ast.Assign or kind is ast.AnnAssign or kind is ast.NamedExpr) \
                and node.value is not None:
            targets = node.targets if kind is ast.Assign else [node.target]
            names = [t.id for t in targets if type(t) is ast.Name]
            if state and _is_container(node.value):
                containers.update(names)
            elif in_function and names:
                source = _chain_names(node.value)
                aliases.extend((name, source) for name in names)
        if in_function:
            chain: set[str] | None = None
            if kind is ast.Attribute:
                if node.attr == "extensions":
                    return True
            elif kind is ast.Subscript:
                if type(node.ctx) is not ast.Load:
                    chain = _chain_names(node.value)
            elif kind is ast.Call:
                func = node.func
                if type(func) is ast.Attribute and func.attr in MUTATING_METHODS:
                    chain = _chain_names(func.value)
                elif node.args and _last_name(func) in MUTATING_FUNCTIONS:
                    chain = _chain_names(node.args[0])
            if chain:
                # Both sets only grow: a container mutated now stays evidence at the end.
                # Stopping here makes the check cheap on the files that do have findings.
                if not containers.isdisjoint(chain):
                    return True
                mutated |= chain
        if kind in _UNIT_TYPES:
            # A parameter defaulting to a container aliases it (`def f(store=_CACHE)`).
            arguments = node.args
            positional = [*arguments.posonlyargs, *arguments.args]
            for param, default in (*zip(positional[len(positional) - len(arguments.defaults):],
                                        arguments.defaults),
                                   *zip(arguments.kwonlyargs, arguments.kw_defaults)):
                if default is not None:
                    aliases.append((param.arg, _chain_names(default)))
            # The body binds the function's own names; decorators, defaults and
            # annotations bind where the `def` runs (a walrus there: module state).
            for field in child_fields(kind):
                value = getattr(node, field, None)
                inner = False if field == "body" else state
                if type(value) is list:
                    for item in value:
                        if item is not None:
                            push((item, True, inner))
                elif value is not None:
                    push((value, True, inner))
            continue
        inside = in_function
        if kind is ast.ClassDef:
            state = True
        for child in children(node):
            push((child, inside, state))
    return not _alias_closure(containers, aliases).isdisjoint(mutated)


def _alias_closure(containers: set[str], aliases: list[tuple[str, set[str]]]) -> set[str]:
    """``containers`` and every alias reached from them (an alias whose chain names one).

    A worklist over the aliases indexed by the names they read: each alias is looked at
    once per name of its chain.  (Re-scanning every alias until nothing changed was
    quadratic on a long chain `a1 = a0; a2 = a1; …` read in reverse order.)"""
    readers: dict[str, list[str]] = {}
    for name, chain in aliases:
        for source in chain:
            readers.setdefault(source, []).append(name)
    pending = list(containers)
    while pending:
        for name in readers.get(pending.pop(), ()):
            if name not in containers:
                containers.add(name)
                pending.append(name)
    return containers


def _mentions_container_call(text: str) -> bool:
    """``dict(``, ``collections.deque (`` …: a CONTAINER_CALLS name, not the tail of a
    longer word (``values_list(``), then a call."""
    for name, pattern in _CONTAINER_CALL_TEXT:
        if name in text:
            for match in pattern.finditer(text):
                start = match.start()
                if start == 0 or not (text[start - 1].isalnum() or text[start - 1] == "_"):
                    return True
    return False


def _chain_names(node: ast.AST) -> set[str]:
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


def _is_container(node: ast.AST) -> bool:
    return container_kind(node) is not None


# ------------------------------------------------------------------------- helpers

def container_kind(value: ast.AST | None) -> str | None:
    """'dict', 'list', … when ``value`` builds a fresh mutable (non-weak) container."""
    if isinstance(value, (ast.Dict, ast.DictComp)):
        return "dict"
    if isinstance(value, (ast.List, ast.ListComp)):
        return "list"
    if isinstance(value, (ast.Set, ast.SetComp)):
        return "set"
    if isinstance(value, ast.IfExp):
        return container_kind(value.body) or container_kind(value.orelse)
    if isinstance(value, ast.Call):
        return CONTAINER_CALLS.get(_last_name(value.func) or "")
    return None


def _has_weak_items(annotation: ast.AST | None, weak_names: frozenset[str]) -> bool:
    """``dict[weakref.ref[X], Y]``, ``Set[ReferenceType[X]]``, ``weakref.WeakSet[X]``…:
    an annotation saying the container's keys (or items) are weak references."""
    if isinstance(annotation, ast.Constant) and isinstance(annotation.value, str):
        try:
            annotation = ast.parse(annotation.value, mode="eval").body
        except (SyntaxError, ValueError):
            return False
    if not isinstance(annotation, ast.Subscript):
        return _is_weak_name(annotation, weak_names) or (
            _last_name(annotation) in WEAK_CONTAINERS)
    if _last_name(annotation.value) in WEAK_CONTAINERS:
        return True
    first = annotation.slice
    if isinstance(first, ast.Tuple):
        if not first.elts:
            return False
        first = first.elts[0]
    if isinstance(first, ast.Subscript):
        first = first.value
    return _is_weak_name(first, weak_names)


def _is_weak_name(node: ast.AST | None, weak_names: frozenset[str]) -> bool:
    """``weakref.ref`` / ``weakref.ReferenceType`` / ``weakref.WeakMethod``, or a name
    imported from ``weakref`` (``from weakref import ref``)."""
    if isinstance(node, ast.Attribute):
        return (node.attr in WEAK_REFERENCE_TYPES and isinstance(node.value, ast.Name)
                and node.value.id == "weakref")
    return isinstance(node, ast.Name) and node.id in weak_names


def _weakref_imports(tree: ast.Module) -> frozenset[str]:
    names: set[str] = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.ImportFrom) and stmt.module == "weakref" and not stmt.level:
            names.update(alias.asname or alias.name for alias in stmt.names
                         if alias.name in WEAK_REFERENCE_TYPES)
    return frozenset(names)


def _subscript_key(node: ast.Subscript) -> str | None:
    return _string_value(node.slice)


def _call_first_arg(call: ast.Call) -> ast.AST | None:
    if call.args and not isinstance(call.args[0], ast.Starred):
        return call.args[0]
    return None


@dataclass
class Mutation:
    node: ast.AST          # where to report
    operation: str        # "item assignment", ".pop()", …
    depth: int            # 0: the container itself; 1+: an element reached from it
    key: str | None       # first string key on the path (extensions entry name)


_NO_NAMES: frozenset[str] = frozenset()  # a unit that binds no Redis client


# ------------------------------------------------------------------------ analysis

class _Analysis:
    def __init__(self, ctx: "FileContext", tree: ast.Module,
                 imported_roots: frozenset[str] | None = None) -> None:
        self.ctx = ctx
        self.module = tree
        self._imported_roots = imported_roots  # imported_state_roots, when the gate computed it
        self.tree = ctx.semantic
        self.parents = self.tree.parents
        self.factories = tuple(ctx.config.app_factory)
        self.weak_names = _weakref_imports(tree)
        self.execution = ExecutionModel(self.tree, self.factories)
        self.lazy = LazyInit(self.tree)
        self._unit_globals: dict[ast.AST, frozenset[str]] | None = None
        self._containers: frozenset[str] | None = None
        self._found: list[tuple[str, str, str, Mutation, ast.AST, str]] = []
        self._memo_verdicts: dict[str, bool] = {}
        self.finding_units: set[ast.AST] = set()
        self.findings: list = []
        self._reported: set[tuple[str, int]] = set()
        self._redis_names: dict[int, set[str]] | None = None  # unit id -> Redis client names

    # ---------------------------------------------------------------- structure
    def parent(self, node: ast.AST) -> ast.AST | None:
        return self.parents.get(node)

    def unit_of(self, node: ast.AST) -> ast.AST:
        return self.tree.unit_of(node)

    def is_before_fork(self, unit: ast.AST) -> bool:
        return self.execution.is_before_fork(unit)

    def qualname(self, unit: ast.AST) -> str:
        return self.tree.qualname(unit)

    def _where(self, node: ast.AST) -> tuple[int, int, int, int]:
        return self.tree.position(node)

    def _method_of(self, node: ast.AST, classes: set[ast.ClassDef]) -> ast.AST | None:
        return self.execution.method_of(node, classes)

    def _class_refs(self, klass: ast.ClassDef) -> list[ast.Name]:
        return self.execution.class_refs(klass)

    # ------------------------------------------------------------------ mutations
    def find_mutations(self, start: ast.AST, unit: ast.AST) -> Iterator[Mutation]:
        """Mutations of the object ``start`` evaluates to, or of an element reached from it
        (subscripts, ``.get()``), following simple local aliases in the same unit.

        Aliases are followed with a worklist, depth first in source order, not by
        recursion: a chain `a1 = a0; a2 = a1; …` of any length is followed."""
        seen: set[int] = set()
        pending: list[tuple[ast.AST, int, str | None]] = [(start, 0, None)]
        while pending:
            expr, depth, key = pending.pop()
            mutation, alias, depth, key = self._mutation_above(expr, depth, key)
            if mutation is not None:
                yield mutation
            elif alias is not None:
                refs = self._alias_refs(alias, unit, seen)
                pending.extend((ref, depth, key) for ref in reversed(refs))

    def _mutation_above(self, expr: ast.AST, depth: int, key: str | None) \
            -> tuple[Mutation | None, ast.Assign | None, int, str | None]:
        """Walk up from ``expr`` through element accesses: the mutation found, or the
        assignment that aliases the value (with the depth and key reached there)."""
        while True:
            parent = self.parent(expr)
            if isinstance(parent, ast.Subscript) and parent.value is expr:
                first_key = key if depth else _subscript_key(parent)
                store = self._store_kind(parent)
                if store is not None:
                    return Mutation(parent, store, depth, first_key), None, depth, key
                expr, depth, key = parent, depth + 1, first_key
                continue
            if isinstance(parent, ast.Attribute) and parent.value is expr:
                call = self.parent(parent)
                if not (isinstance(call, ast.Call) and call.func is parent):
                    return None, None, depth, key
                method = parent.attr
                first_key = key if depth else _string_value(_call_first_arg(call))
                if method in MUTATING_METHODS:
                    return Mutation(call, f".{method}()", depth, first_key), None, depth, key
                if method in ELEMENT_ACCESSORS:
                    expr, depth, key = call, depth + 1, first_key
                    continue
                return None, None, depth, key
            if isinstance(parent, ast.Call) and parent.args and parent.args[0] is expr:
                name = _last_name(parent.func)
                if name in MUTATING_FUNCTIONS:
                    return Mutation(parent, f"{name}()", depth, key), None, depth, key
                return None, None, depth, key
            if isinstance(parent, ast.Assign) and parent.value is expr:
                return None, parent, depth, key
            return None, None, depth, key

    def _alias_refs(self, assign: ast.Assign, unit: ast.AST, seen: set[int]) -> list[ast.Name]:
        """The uses, in ``unit``, of the local name ``assign`` binds once to the value."""
        if unit is self.module or len(assign.targets) != 1:
            return []
        target = assign.targets[0]
        if not isinstance(target, ast.Name) or id(target) in seen:
            return []
        seen.add(id(target))
        scope = self.tree.name_scope.get(target)
        if scope is None:
            return []
        owner = self.tree.owner(target.id, scope)
        if owner.kind == "module" or len(self.tree.bound(owner, target.id)) != 1:
            return []  # module state, or rebound: the alias may point elsewhere later
        return [ref for ref in self.tree.refs(owner, target.id) if self.unit_of(ref) is unit]

    def _store_kind(self, subscript: ast.Subscript) -> str | None:
        """How ``subscript`` is written, when it is an assignment/del target."""
        if isinstance(subscript.ctx, ast.Del):
            return "del"
        if not isinstance(subscript.ctx, ast.Store):
            return None
        node: ast.AST = subscript
        parent = self.parent(node)
        while isinstance(parent, (ast.Tuple, ast.List, ast.Starred)):
            node, parent = parent, self.parent(parent)
        if isinstance(parent, ast.AugAssign) and parent.target is node:
            return "augmented item assignment"
        return "item assignment"

    # ------------------------------------------------------- redis local-dev fallback
    def _redis_client_names(self, unit: ast.AST) -> "set[str] | frozenset[str]":
        """Names bound to ``<app>.extensions.get("redis...")`` in ``unit``: one pass over
        the module's bindings for all units (a pass per unit was quadratic)."""
        if self._redis_names is None:
            by_unit: dict[int, set[str]] = {}
            for binding in self.tree.bindings:
                if not _is_redis_extension_get(binding.value):
                    continue
                if isinstance(binding, ast.Assign):
                    if len(binding.targets) != 1 or not isinstance(binding.targets[0], ast.Name):
                        continue
                    name = binding.targets[0].id
                elif isinstance(binding.target, ast.Name):
                    name = binding.target.id
                else:
                    continue
                by_unit.setdefault(id(self.unit_of(binding)), set()).add(name)
            self._redis_names = by_unit
        return self._redis_names.get(id(unit), _NO_NAMES)

    def _redis_present_test(self, test: ast.AST, unit: ast.AST) -> bool:
        if isinstance(test, ast.Name):
            return test.id in self._redis_client_names(unit)
        if isinstance(test, ast.NamedExpr):
            return _is_redis_extension_get(test.value)
        if _is_redis_extension_get(test):
            return True
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            operator, comparator = test.ops[0], test.comparators[0]
            if isinstance(operator, ast.IsNot) and _is_none(comparator):
                return self._redis_present_test(test.left, unit)
            if isinstance(operator, ast.In) and _is_extensions(comparator):
                key = _string_value(test.left)
                return bool(key and REDIS_KEY.search(key))
        return False

    def _redis_absent_test(self, test: ast.AST, unit: ast.AST) -> bool:
        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not):
            return self._redis_present_test(test.operand, unit)
        if isinstance(test, ast.Compare) and len(test.ops) == 1:
            operator, comparator = test.ops[0], test.comparators[0]
            if isinstance(operator, ast.Is) and _is_none(comparator):
                return self._redis_present_test(test.left, unit)
            if isinstance(operator, ast.NotIn) and _is_extensions(comparator):
                key = _string_value(test.left)
                return bool(key and REDIS_KEY.search(key))
        return False

    def in_redis_absent_branch(self, node: ast.AST, unit: ast.AST) -> bool:
        child = node
        parent = self.parent(child)
        while parent is not None and child is not unit:
            if isinstance(parent, ast.If):
                if _contains(parent.body, child) and self._redis_absent_test(parent.test, unit):
                    return True
                if _contains(parent.orelse, child) and self._redis_present_test(parent.test, unit):
                    return True
            if isinstance(child, ast.stmt):
                block = _block_holding(parent, child)
                for earlier in block:
                    if earlier is child:
                        break
                    if isinstance(earlier, ast.If) and not earlier.orelse \
                            and _always_exits(earlier.body) \
                            and self._redis_present_test(earlier.test, unit):
                        return True
            if parent is unit:
                break
            child, parent = parent, self.parent(parent)
        return False

    # --------------------------------------------------------------------- rules
    def report(self, code: str, node: ast.AST, unit: ast.AST, message: str, note: str | None = None) -> None:
        # One finding per statement (`a = b = {}` rebinding two globals, two mutations
        # found from `_d.setdefault(k, []).append(v)`): the first one found.
        statement = self.tree.statement_of(node)
        key = (code, id(statement if statement is not None else node))
        if key in self._reported:
            return
        self._reported.add(key)
        self.finding_units.add(unit)
        self.findings.append(with_story(self.ctx.finding(code, self._where(node), message), note))

    def run(self) -> list:
        self._check_all()
        if self.findings:
            # A function with no caller here may be called at import time, or only from the
            # app factory, in another module: ask the project (one index per run, asked
            # only for files that have findings).
            external = self._external_uses()
            if external:
                self.findings, self._reported, self.finding_units = [], set(), set()
                self.execution.decide(external)
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
        from raptor_lint.rules.fork_safety.callers import build_fork_calls

        names = self.execution.names_that_decide(self.finding_units)
        if self.ctx.project is None or not names:
            return {}
        return self.ctx.project.get(build_fork_calls).uses_of(self.ctx.path, names)

    def _container(self, bindings: list[ast.AST]) -> str | None:
        """The kind of the first binding that builds a (non-weak) container, or None when
        no binding does or one is declared with weak-reference keys/items."""
        kind = None
        for node in sorted(bindings, key=lambda n: (getattr(n, "lineno", 0), getattr(n, "col_offset", 0))):
            value, annotation = self._bound_value(node)
            if annotation is not None and _has_weak_items(_unwrap_annotation(annotation), self.weak_names):
                return None
            kind = kind or self.container_kind(value)
        return kind

    def container_kind(self, value: ast.AST | None) -> str | None:
        """``container_kind`` with names resolved through the file's imports:
        ``from collections import defaultdict as dd; dd(list)`` and ``dict.fromkeys(...)``."""
        kind = container_kind(value)
        if kind is not None or not isinstance(value, ast.Call):
            return kind
        qualified = self.tree.qualified_name(value.func)
        if qualified is None:
            return None
        head, _, last = qualified.rpartition(".")
        if last == "fromkeys" and head.rpartition(".")[2] in CONTAINER_CALLS:
            return CONTAINER_CALLS[head.rpartition(".")[2]]
        if head in ("collections", "builtins", "") and last in CONTAINER_CALLS:
            return CONTAINER_CALLS[last]
        return None

    def _state_advice(self, kind: str, name: str, mutation: Mutation, unit: ast.AST,
                      where: str) -> tuple[str, str]:
        """The RPT101/RPT104 message and note: a per-process memo is told to say so; other
        state gets the runbook's advice.  Decided per container (``_is_memo``), so every
        finding on one container gives the same advice.  The short message names the
        container (another module's: ``state's dict '_store'``); where it was written and
        why that matters is the note."""
        what = ("" if mutation.depth == 0 else "an element of ") \
            + ("{owner} " if where.endswith("'s") else "") + kind + " '{name}'"
        qualname = self.qualname(unit)
        if self._memo_verdicts.get(name):
            return (fit_message(what + " is a per-process memo: make it functools.cache/lru_cache",
                                owner=where, name=name),
                    f"Written in {qualname} ({mutation.operation}), which runs in each gunicorn worker after "
                    f"the fork. The stored value is computed from the key, so every worker filling its own "
                    f"copy is harmless; functools.cache or lru_cache says so on purpose.")
        return (fit_message(what + " mutated after the fork: " + ADVICE, owner=where, name=name),
                f"Written in {qualname} ({mutation.operation}), which runs in each gunicorn worker after "
                f"the fork: the write changes that worker's copy only, so the other workers never see it. "
                f"The 2026-05-25 SEV-1 lost WebAuthn challenges this way (PR #2728), and a per-user "
                f"trading_mode_override diverged between workers (PR #3030). Per-session state belongs "
                f"in Redis with a TTL, per-user state in Postgres.")

    def _decide_memos(self, found: "list[tuple[str, str, str, Mutation, ast.AST, str]]") -> None:
        """A container is a per-process memo when its name says cache/memo or one of its
        stores computes the value from the key, and no store is keyed by user, session or
        request input or accumulates."""
        verdicts: dict[str, list[bool | None]] = {}
        for _code, name, _kind, mutation, _unit, _where in found:
            verdicts.setdefault(name, []).append(
                memo_store(self.tree, mutation.node, name) if mutation.depth == 0 else None)
        self._memo_verdicts = {
            name: False not in seen and (True in seen or names_a_cache(name.rpartition(".")[2]))
            for name, seen in verdicts.items()}

    def _report_state(self, found: "list[tuple[str, str, str, Mutation, ast.AST, str]]") -> None:
        self._decide_memos(found)
        for code, name, kind, mutation, unit, where in found:
            self.report(code, mutation.node, unit, *self._state_advice(kind, name, mutation, unit, where))

    def _lazily_created(self, name: str, node: ast.AST, unit: ast.AST) -> bool:
        """``node`` (a mutation of module container ``name``) fills an object once per
        process: one the same unit creates under a lazy-init guard (``if _X is None:
        _X = {}; _X[k] = v``) or creates itself before filling it (``global _X; _X = {}``,
        the rebinding is RPT102's), or a container filled under a guard on it or on its
        siblings (``if _names: return _names`` then ``_names.extend(…)``)."""
        rebound = self._globals_of(unit)
        if name in rebound:
            line = getattr(node, "lineno", 0)
            for bound in self.tree.bound(self.tree.module_scope, name):
                if self.unit_of(bound) is unit and getattr(bound, "lineno", line) < line:
                    return True
        # (The union only when this unit rebinds globals: a copy of every container name
        # per mutation was quadratic in a module with thousands of them.)
        containers = self._module_containers()
        return self.lazy.guarded(node, unit, rebound | containers if rebound else containers)

    def _module_containers(self) -> frozenset[str]:
        if self._containers is None:
            module = self.tree.module_scope
            self._containers = frozenset(name for name in module.local
                                         if self._container(self.tree.bound(module, name)) is not None)
        return self._containers

    def _globals_of(self, unit: ast.AST) -> frozenset[str]:
        """The names ``unit`` declares ``global``.  Indexed for every unit in one pass over the
        ``global`` statements (scanning them all per unit was quadratic: 10,000 functions each
        declaring one global took minutes)."""
        if self._unit_globals is None:
            by_unit: dict[ast.AST, set[str]] = {}
            for stmt in self.tree.global_statements:
                by_unit.setdefault(self.unit_of(stmt), set()).update(stmt.names)
            self._unit_globals = {unit: frozenset(names) for unit, names in by_unit.items()}
        return self._unit_globals.get(unit, frozenset())

    # RPT101 ----------------------------------------------------------------
    def check_module_containers(self) -> None:
        module = self.tree.module_scope
        self._found = []
        for name in sorted(module.local):
            kind = self._container(self.tree.bound(module, name))
            if kind is None:
                continue
            for ref in self.tree.refs(module, name):
                self._check_container_use(ref, name, kind, "module-level")
        self._check_imported_containers()
        self._report_state(self._found)

    def _check_container_use(self, ref: ast.AST, name: str, kind: str, where: str) -> None:
        unit = self.unit_of(ref)
        # A default argument (`def f(cache=_CACHE)`) runs where the def does, but the
        # parameter it binds is used in the function's body.
        parameter = self._defaulted_parameter(ref)
        if parameter is not None:
            for inner_ref in self.tree.refs(self.tree.inner_scope[parameter[1]], parameter[0]):
                self._check_container_use(inner_ref, name, kind, where)
            return
        # Mutations first: when code runs is decided only for code that mutates state.
        mutations = list(self.find_mutations(ref, unit))
        if not mutations or self.is_before_fork(unit):
            return
        for mutation in mutations:
            if self.in_redis_absent_branch(mutation.node, unit) \
                    or self._lazily_created(name, mutation.node, unit):
                continue
            self._found.append(("RPT101", name, kind, mutation, unit, where))

    def _defaulted_parameter(self, ref: ast.AST) -> tuple[str, ast.AST] | None:
        """(parameter name, function) when ``ref`` is the default value of a parameter."""
        func = self.parent(ref)
        if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return None
        args = func.args
        positional = [*args.posonlyargs, *args.args]
        for param, default in zip(positional[len(positional) - len(args.defaults):], args.defaults):
            if default is ref:
                return param.arg, func
        for param, kw_default in zip(args.kwonlyargs, args.kw_defaults):
            if kw_default is ref:
                return param.arg, func
        return None

    def _check_imported_containers(self) -> None:
        """Module-level containers of another module of the project, mutated here after the
        fork: ``from state import _store; _store[k] = v`` and ``state._store[k] = v``."""
        if self.ctx.project is None:
            return
        roots = self._imported_roots
        if roots is None:
            roots = imported_state_roots(self.module, self.ctx.text)
        if not roots:
            return
        modules = self.ctx.project.modules
        for statement in self.tree.imports:
            if self.unit_of(statement) is not self.module:
                continue
            for alias in statement.names:
                if alias.name == "*":
                    continue
                local = alias.asname or alias.name.split(".")[0]
                if local not in roots:
                    continue
                refs = [ref for ref in self.tree.refs(self.tree.module_scope, local)
                        if self._may_mutate_through(ref)]
                if not refs:
                    continue
                target = self.tree.import_target(alias)
                if not target:
                    continue
                if isinstance(statement, ast.ImportFrom):
                    module_name, _, attribute = target.rpartition(".")
                    kind = self._foreign_container(modules, module_name, attribute)
                    if kind is not None:
                        for ref in refs:
                            self._check_container_use(ref, attribute, kind, f"{module_name}'s")
                        continue
                    module_path = modules.find_module(target, self.ctx.path)
                else:
                    module_path = modules.find_module(alias.name if alias.asname else target, self.ctx.path)
                if module_path is None:
                    continue
                for ref in refs:
                    attribute_node = self.parent(ref)
                    if isinstance(attribute_node, ast.Attribute) and attribute_node.value is ref:
                        kind = self._container_in(modules, module_path, attribute_node.attr)
                        if kind is not None:
                            self._check_container_use(attribute_node, attribute_node.attr, kind,
                                                      f"{modules.module_name(module_path)}'s")

    def _may_mutate_through(self, ref: ast.AST) -> bool:
        """A use of an imported name that may mutate what it names (or an attribute of it)
        after the fork: worth resolving the import for."""
        if self._defaulted_parameter(ref) is not None:
            return True
        unit = self.unit_of(ref)
        parent = self.parent(ref)
        start = parent if isinstance(parent, ast.Attribute) else ref
        if next(iter(self.find_mutations(start, unit)), None) is None:
            return False
        return not self.is_before_fork(unit)

    def _foreign_container(self, modules: "ModuleIndex", module_name: str, name: str) -> str | None:
        if not module_name:
            return None
        path = modules.find_module(module_name, self.ctx.path)
        return self._container_in(modules, path, name) if path is not None else None

    def _container_in(self, modules: "ModuleIndex", path: "Path", name: str) -> str | None:
        try:
            if path == modules.real_path(self.ctx.path):
                return None
        except (OSError, ValueError, RuntimeError):
            return None
        return self.ctx.project.get(_module_containers_index).kinds(modules, path).get(name)

    def _bound_value(self, node: ast.AST) -> tuple[ast.AST | None, ast.AST | None]:
        """(value, annotation) a Name target is bound to, when it is a simple binding."""
        parent = self.parent(node)
        if isinstance(parent, ast.Assign) and _contains(parent.targets, node):
            return parent.value, None
        if isinstance(parent, ast.AnnAssign) and parent.target is node:
            return parent.value, parent.annotation
        if isinstance(parent, ast.NamedExpr) and parent.target is node:
            return parent.value, None
        return None, None

    # RPT102 ----------------------------------------------------------------
    def check_global_rebinding(self) -> None:
        module = self.tree.module_scope
        for name in sorted(module.local):
            for node in self.tree.bound(module, name):
                unit = self.unit_of(node)
                if unit is self.module:
                    continue
                names = self._globals_of(unit)
                if name not in names:
                    continue
                parent = self.parent(node)
                augmented = isinstance(parent, ast.AugAssign)
                if not augmented and (self.lazy.guarded(node, unit, names)
                                      or self._called_only_under_guard(unit, name)):
                    continue  # lazy initialisation: once per process
                value, _ = self._bound_value(node)
                if not augmented and is_resource_value(value):
                    continue  # a per-process resource (client, engine, lock…) created after the fork
                if self.is_before_fork(unit):
                    continue
                self.report("RPT102", node, unit,
                            *self._rebinding_message(name, _binding_form(node, parent), unit, augmented))
        self._check_globals_subscripts()

    def _assigned_value(self, target: ast.AST) -> ast.AST | None:
        """The value a store target receives (``t = v``, ``a = t = v``)."""
        parent = self.parent(target)
        return parent.value if isinstance(parent, ast.Assign) else None

    def _is_module_value(self, value: ast.AST | None, unit: ast.AST) -> bool:
        """``value`` is a module object: a name an import in ``unit`` binds, a
        ``sys.modules[...]`` entry, or ``importlib.import_module(...)``."""
        if isinstance(value, ast.Name):
            nodes = self.tree.resolve(value)[1]
            return bool(nodes) and all(isinstance(node, ast.alias) and self.unit_of(node) is unit for node in nodes)
        if isinstance(value, ast.Subscript):
            return self.tree.qualified_name(value.value) == "sys.modules"
        if isinstance(value, ast.Call):
            return self.tree.qualified_name(value.func) in ("importlib.import_module", "__import__")
        return False

    def _called_only_under_guard(self, unit: ast.AST, name: str) -> bool:
        """``unit`` is an initialiser every caller here calls under a lazy-init guard on
        ``name`` (``if _db is None: _init_db()``): the rebinding inside runs once per process."""
        if not isinstance(unit, (ast.FunctionDef, ast.AsyncFunctionDef)):
            return False
        refs = self.tree.function_refs(unit)
        if not refs:
            return False
        for ref in refs:
            call = self.parent(ref)
            if not (isinstance(call, ast.Call) and call.func is ref):
                return False
            caller = self.unit_of(call)
            if not self.lazy.guarded(call, caller, self._globals_of(caller) | {name}):
                return False
        return True

    def _rebinding_message(self, name: str, form: str, unit: ast.AST, augmented: bool) -> tuple[str, str]:
        """The RPT102 message (the name, the remedy) and note (where, how, why)."""
        shown = shorten(name, 40)
        message = with_first_fitting(f"global '{shown}' rebound after the fork: use Redis or Postgres",
                                     "" if augmented else f", or lazy-init it (`if {shown} is None:`)",
                                     "" if augmented else ", or lazy-init it")
        note = (f"Rebound in {self.qualname(unit)} ({form}), which runs in each gunicorn worker after the "
                f"fork: only this worker sees the new value, so counters, current values and caches "
                f"diverge between workers.")
        return message, note

    def _check_globals_subscripts(self) -> None:
        """``globals()["x"] = v`` rebinds a module name as ``global x; x = v`` does."""
        for subscript in self.tree.subscripts:
            call = subscript.value
            if not (isinstance(subscript.ctx, (ast.Store, ast.Del)) and isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Name) and call.func.id == "globals" and not call.args):
                continue
            if self.tree.resolve(call.func)[1]:
                continue  # a local `globals`
            unit = self.unit_of(subscript)
            if self.is_before_fork(unit):
                continue
            if isinstance(unit, (ast.FunctionDef, ast.AsyncFunctionDef)) and unit.name == "__getattr__" \
                    and self.unit_of(unit) is self.module:
                continue  # a module __getattr__ (PEP 562) caching a lazy import: once per name
            if self._is_module_value(self._assigned_value(subscript), unit):
                continue  # a lazy import published as a module global: the same in every process
            key = _string_value(subscript.slice)
            if key is None:
                self.report("RPT102", subscript, unit,
                            "module globals rebound through globals()[…] after the fork: use Redis or Postgres",
                            f"Rebound in {self.qualname(unit)}, which runs in each gunicorn worker after the "
                            f"fork: only this worker sees the new value.")
            else:
                self.report("RPT102", subscript, unit, *self._rebinding_message(key, "globals()[…]", unit, False))

    # RPT103 ----------------------------------------------------------------
    def check_extensions(self) -> None:
        for attribute in self.tree.attributes:
            if attribute.attr != "extensions" or not _looks_like_app(attribute.value):
                continue
            unit = self.unit_of(attribute)
            mutations = list(self.find_mutations(attribute, unit))
            if not mutations or self.is_before_fork(unit):
                continue
            owner = _source_name(attribute)
            for mutation in mutations:
                if mutation.key is not None and _is_service_key(mutation.key):
                    continue
                entry = shorten(f"{owner}[{mutation.key!r}]" if mutation.key else owner, 60)
                self.report(
                    "RPT103", mutation.node, unit,
                    f"{entry} written after the fork: use Postgres or Redis",
                    f"Written in {self.qualname(unit)} ({mutation.operation}), which runs in each gunicorn "
                    f"worker after the fork. app.extensions is copied into every worker like any module "
                    f"state, so what one worker stores there the others never see (PR #3030's "
                    f"trading_mode_override diverged this way).")

    # RPT104 ----------------------------------------------------------------
    def check_class_attributes(self) -> None:
        found: list[tuple[str, str, str, Mutation, ast.AST, str]] = []
        for klass in self.tree.classes:
            attrs = self._class_containers(klass)
            if not attrs:
                continue
            for start, attr in self._class_attribute_uses(klass, attrs):
                unit = self.unit_of(start)
                mutations = list(self.find_mutations(start, unit))
                if not mutations or self.is_before_fork(unit):
                    continue
                for mutation in mutations:
                    found.append(("RPT104", f"{klass.name}.{attr}", attrs[attr], mutation, unit, "class-level"))
        self._report_state(found)

    def _class_containers(self, klass: ast.ClassDef) -> dict[str, str]:
        bindings: dict[str, list[ast.AST]] = {}
        for stmt in klass.body:
            if isinstance(stmt, ast.Assign):
                for target in stmt.targets:
                    if isinstance(target, ast.Name):
                        bindings.setdefault(target.id, []).append(target)
            elif isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name) \
                    and stmt.value is not None:
                bindings.setdefault(stmt.target.id, []).append(stmt.target)
        attrs: dict[str, str] = {}
        for name, nodes in bindings.items():
            kind = self._container(nodes)
            if kind:
                attrs[name] = kind
        return attrs

    def _class_attribute_uses(self, klass: ast.ClassDef,
                              attrs: dict[str, str]) -> Iterator[tuple[ast.AST, str]]:
        """``Klass.attr``, ``cls.attr``, ``type(self).attr``, ``self.__class__.attr``."""
        seen: set[int] = set()
        for ref in self._class_refs(klass):
            parent = self.parent(ref)
            if id(ref) not in seen and isinstance(parent, ast.Attribute) \
                    and parent.value is ref and parent.attr in attrs:
                seen.add(id(ref))
                yield parent, parent.attr
        for attribute in self.tree.attributes:
            if attribute.attr not in attrs:
                continue
            method = self._method_of(attribute, {klass})
            if not isinstance(method, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            first = _first_param(method)
            if first is None:
                continue
            is_class_method = method.name in ("__init_subclass__", "__new__", "__class_getitem__") \
                or any(_last_name(d) == "classmethod" for d in method.decorator_list)
            base = attribute.value
            if is_class_method and isinstance(base, ast.Name) and base.id == first:
                yield attribute, attribute.attr
            elif not is_class_method and _is_class_of(base, first):
                yield attribute, attribute.attr


# ---------------------------------------------------------------- small predicates

def _unwrap_annotation(annotation: ast.AST) -> ast.AST:
    """``ClassVar[X]`` / ``Final[X]`` / ``Annotated[X, …]`` → ``X``."""
    while isinstance(annotation, ast.Subscript) \
            and _last_name(annotation.value) in ("ClassVar", "Final", "Annotated"):
        inner = annotation.slice
        annotation = inner.elts[0] if isinstance(inner, ast.Tuple) and inner.elts else inner
    return annotation


def _source_name(node: ast.AST) -> str:
    try:
        return ast.unparse(node)
    except Exception:  # noqa: BLE001 - odd node: a generic name is enough for a message
        return "app.extensions"


def _is_service_key(key: str) -> bool:
    words = set(re.split(r"[^a-z0-9]+", key.lower()))
    return key.lower() in SERVICE_KEYS or bool(words & SERVICE_KEY_WORDS) or "redis" in key.lower()


def _is_extensions(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "extensions"


def _looks_like_app(node: ast.AST) -> bool:
    name = _last_name(node)
    return bool(name) and "app" in name.lower()  # type: ignore[union-attr]


def _is_redis_extension_get(node: ast.AST | None) -> bool:
    """``<app>.extensions.get("redis_client")`` (any key mentioning redis)."""
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    if node.func.attr != "get" or not _is_extensions(node.func.value):
        return False
    key = _string_value(_call_first_arg(node))
    return bool(key and REDIS_KEY.search(key))


def _is_class_of(node: ast.AST, self_name: str) -> bool:
    """``type(self)`` or ``self.__class__``."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "type":
        return (len(node.args) == 1 and not node.keywords and isinstance(node.args[0], ast.Name)
                and node.args[0].id == self_name)
    return (isinstance(node, ast.Attribute) and node.attr == "__class__"
            and isinstance(node.value, ast.Name) and node.value.id == self_name)


def _binding_form(node: ast.AST, parent: ast.AST | None) -> str:
    if isinstance(node, _FUNCTIONS):
        return "def"
    if isinstance(node, ast.ClassDef):
        return "class"
    if isinstance(node, ast.alias):
        return "import"
    if isinstance(node, ast.ExceptHandler):
        return "except … as"
    if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Del):
        return "del"
    if isinstance(parent, ast.AugAssign):
        return "augmented assignment"
    if isinstance(parent, ast.NamedExpr):
        return "walrus"
    if isinstance(parent, (ast.For, ast.AsyncFor, ast.comprehension)) and parent.target is node:
        return "for target"
    return "assignment"


class _ModuleContainers:
    """Run-wide memo: the module-level containers of each project module another module's
    code mutates (``{name: kind}``), read from the module index's bindings once per path."""

    def __init__(self) -> None:
        self._kinds: dict[object, dict[str, str]] = {}

    def kinds(self, modules: "ModuleIndex", path: "Path") -> dict[str, str]:
        found = self._kinds.get(path)
        if found is None:
            try:
                bindings = modules.module_bindings(path)
            except (OSError, ValueError, RuntimeError, RecursionError):
                bindings = {}
            found = {name: kind for name, value in bindings.items()
                     if not isinstance(value, ast.stmt) and (kind := container_kind(value)) is not None}
            self._kinds[path] = found
        return found


def _module_containers_index(project: "ProjectIndex") -> _ModuleContainers:
    return _ModuleContainers()
