"""Find the SQL strings a Python file sends to the database, the way real code builds them.

A *sink* is a call that takes SQL as its first argument (or ``statement=`` /
``sqltext=`` / ``sql=`` / ``query=``): SQLAlchemy's ``text()`` however the file
imports it (``sa.text``, ``sqlalchemy.sql.text``, ``from sqlalchemy import text
as t``: qualified names of the file's semantic model, ``ctx.semantic``) and
Flask-SQLAlchemy's ``db.text``, and any ``.execute()`` / ``.executemany()`` /
``.exec_driver_sql()`` method (``op.execute``, ``session.execute``,
``connection.execute``, cursors).  An ``execute(text(...))`` is one use,
reported through the inner ``text()``.

The argument is evaluated statically (``ast`` only, nothing is imported):
string literals (implicit concatenation and triple quotes included),
f-strings, ``+``, ``%``, ``.format()``, ``textwrap.dedent`` / ``.strip()``,
and names, resolved by the semantic model: a function's own assignments before
the use (``sql += " AND …"`` appends), enclosing functions, module-level
constants, and constants imported from another module of the project (through
``ctx.project.modules``).  Anything unknown inside a string (an f-string
placeholder, a ``%s`` operand, a variable part of a ``+``) becomes the bind
parameter ``PLACEHOLDER``; an argument with no string literal at all is not
SQL we can see, and is skipped.

Each use is reported at the first line of the string literal that carries
the SQL (for implicit concatenation or ``+``, the first literal piece), as the
SPEC asks.  When that literal lives in another module, the use is reported at
the argument in this file.
"""

from __future__ import annotations

import ast
import bisect
import functools
import re
import textwrap
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from raptor_lint.semantic import Scope, SemanticModel, bindings_in_order, reaching_bindings
from raptor_lint.source import lines_at
from raptor_lint.sql.parse import ParsedSql, SqlParseCache
from raptor_lint.strings import replace_braces, replace_percent

if TYPE_CHECKING:  # pragma: no cover
    from sqlglot import exp

    from raptor_lint.context import FileContext
    from raptor_lint.project.modules import ModuleIndex

# What an unknown part of a built string stands for: a bind parameter.
PLACEHOLDER = ":param"

SINK_METHODS = frozenset({"execute", "executemany", "exec_driver_sql"})
SQL_KEYWORDS = ("statement", "sqltext", "sql", "query")
# Packages whose ``….text`` is SQLAlchemy's ``text()`` (SQLModel re-exports it).
TEXT_PACKAGES = frozenset({"sqlalchemy", "sqlmodel"})
# Names under which SQLAlchemy's ``text`` is commonly reached as an attribute: ``db`` is
# Flask-SQLAlchemy's; the others count when the file does not bind them (a star import).
SQLALCHEMY_NAMES = frozenset({"sa", "sqlalchemy", "sql", "db", "expression"})

MAX_DEPTH = 30


@dataclass(eq=False)
class SqlUse:
    """One SQL string reaching one sink call.

    ``text`` is the SQL as the database would see it, unknown parts replaced by
    ``PLACEHOLDER``; ``line``/``column`` (1-based, code points) and
    ``end_line``/``end_column`` locate the string literal that carries it (or
    the call argument when the literal is in another module: ``external``).
    ``parsed``/``statements`` come from the run's parse cache.
    """

    text: str
    line: int
    column: int
    end_line: int
    end_column: int
    sink: str               # "text", "execute", "executemany", "exec_driver_sql"
    call: ast.Call          # the sink call
    argument: ast.expr      # the expression passed as SQL
    external: bool
    cache: SqlParseCache = field(repr=False)

    @property
    def parsed(self) -> ParsedSql:
        return self.cache.parse(self.text)

    @property
    def statements(self) -> "tuple[exp.Expression, ...]":
        """Statement roots (empty when the string is not parsable SQL)."""
        return self.parsed.statements

    @property
    def position(self) -> tuple[int, int, int, int]:
        return (self.line, self.column, self.end_line, self.end_column)


# ------------------------------------------------------------------ values
_EXTERNAL = "external"


@dataclass
class _Value:
    text: str
    # Position (ast node) of the first literal piece, _EXTERNAL, or None (no literal yet).
    origin: "ast.AST | str | None"


@dataclass
class _Binding:
    kind: str                         # "assign", "aug", "import", "other"
    value: ast.AST | None = None      # assigned expression / Import node
    name: str = ""                    # imported name for "import"
    op: ast.operator | None = None    # AugAssign operator


# ------------------------------------------------------------------- file
class SqlFile:
    """Per-file index: the calls on lines that can hold a sink, and the SQL uses found.

    Parents, scopes, bindings, qualified names and positions come from the file's shared
    semantic model (``semantic``: ``ctx.semantic`` when built by ``sql_file``), which is
    built the first time a question needs it: a file whose sinks all take plain literals
    at known positions asks only for positions."""

    def __init__(self, tree: ast.Module, path: Path, text: str,
                 modules: "ModuleIndex | None", cache: SqlParseCache,
                 semantic: "SemanticModel | Callable[[], SemanticModel | None] | None" = None) -> None:
        self.tree = tree
        self.path = path
        self.text = text
        self.modules = modules
        self.cache = cache
        # The model, or a callable that gives it (None: build one for this tree).
        self._semantic: "SemanticModel | Callable[[], SemanticModel | None] | None" = semantic
        # Calls on lines that name a sink (or `server_default`), in source order.
        self.calls: list[ast.Call] = []
        # Names imported as `text as NAME` (any module: the model tells which are SQLAlchemy's).
        self._text_aliases: set[str] = set()
        # Dialect guards before each statement of a block (sql.guards._guards_before), by
        # id of the block's list: (position of each statement, running intersection).
        self.guard_blocks: dict[int, tuple[dict[int, int], list[frozenset[str]]]] = {}
        # The dialects that can run the module at all (sql.guards.module_dialects).
        self.module_dialects: frozenset[str] | None = None
        self._traverse()

    @functools.cached_property
    def semantic(self) -> SemanticModel:
        source, self._semantic = self._semantic, None
        found = source() if callable(source) else source
        if found is None:
            found = SemanticModel(self.tree, self.text, self._package)
        return found

    def _package(self) -> list[str]:
        try:
            return self.modules.package(self.path) if self.modules is not None else []
        except (OSError, ValueError, RuntimeError):
            return []

    @property
    def parents(self) -> dict[ast.AST, ast.AST]:
        return self.semantic.parents

    def _traverse(self) -> None:
        """Visit only the statements on lines that can hold a sink (the dominant cost is
        walking the tree): a file's sinks are found without building its semantic model."""
        candidates, self._text_aliases = _candidates(self.text)
        if not candidates:
            return
        calls = self.calls
        bisect_left = bisect.bisect_left
        count = len(candidates)
        AST, Call, imports = ast.AST, ast.Call, (ast.Import, ast.ImportFrom)
        stack: list[ast.AST] = [self.tree]
        while stack:
            node = stack.pop()
            if isinstance(node, Call):
                calls.append(node)
            for name in node._fields:
                value = getattr(node, name, None)
                for child in (value if isinstance(value, list) else (value,)):
                    if not isinstance(child, AST) or isinstance(child, imports):
                        continue
                    start = getattr(child, "lineno", None)
                    if start is not None:
                        index = bisect_left(candidates, start)
                        if index == count or candidates[index] > (getattr(child, "end_lineno", None) or start):
                            continue
                    stack.append(child)
        calls.sort(key=lambda call: (call.lineno, call.col_offset))

    def attach(self, node: ast.AST, parent: ast.AST | None = None) -> None:
        """Kept for callers of the line-pruned index: the semantic model has every parent."""

    def call_sites(self, name: str) -> list[ast.Call]:
        """Calls ``name(...)`` of the module-level ``name``, or [] when it is also used
        another way (passed as a callback, stored ...)."""
        model = self.semantic
        sites: list[ast.Call] = []
        for load in model.refs(model.module_scope, name):
            parent = model.parent(load)
            if not (isinstance(parent, ast.Call) and parent.func is load):
                return []
            sites.append(parent)
        return sites

    @functools.cached_property
    def uses(self) -> list[SqlUse]:
        """The SQL uses of the file, in source order of the sink calls."""
        return list(self._find_uses())

    def position(self, node: ast.AST) -> tuple[int, int, int, int]:
        return self.semantic.position(node)

    # --------------------------------------------------------------- scopes
    def scope_chain(self, node: ast.Name) -> list[Scope]:
        """Scopes whose names the Name ``node`` can see, innermost first (class bodies
        skipped except when ``node`` sits directly in one)."""
        model = self.semantic
        scope: Scope | None = model.name_scope.get(node, model.module_scope)
        chain: list[Scope] = []
        while scope is not None:
            if not chain or scope.kind != "class":
                chain.append(scope)
            scope = scope.parent
        return chain

    def scope_bindings(self, scope: Scope) -> "_ScopeBindings":
        """``.get(name)``: the bindings (source order) of ``name`` that belong to ``scope``."""
        return _ScopeBindings(self, scope)

    def binding(self, node: ast.AST) -> _Binding:
        """What a binding node of the model gives its name: an assigned expression, an
        ``+=``-style update, an import, or something unknown."""
        if isinstance(node, ast.Name):
            parent = self.semantic.parent(node)
            if isinstance(parent, ast.Assign) and any(node is target for target in parent.targets):
                return _Binding("assign", parent.value)
            if isinstance(parent, (ast.AnnAssign, ast.NamedExpr)) and parent.target is node:
                return _Binding("assign", parent.value)
            if isinstance(parent, ast.AugAssign) and parent.target is node:
                return _Binding("aug", parent.value, op=parent.op)
        elif isinstance(node, ast.alias):
            return _Binding("import", self.semantic.parent(node), node.name)
        return _Binding("other")

    # ---------------------------------------------------------------- sinks
    def sink_name(self, call: ast.Call) -> str | None:
        func = call.func
        if isinstance(func, ast.Name):
            if (func.id == "text" or func.id in self._text_aliases) and self._is_text(func):
                return "text"
            if func.id in SINK_METHODS:
                return func.id
        elif isinstance(func, ast.Attribute):
            if func.attr in SINK_METHODS:
                return func.attr
            if func.attr == "text" and self._is_text(func):
                return "text"
        return None

    def _is_text(self, func: ast.Name | ast.Attribute) -> bool:
        """Is ``func`` SQLAlchemy's ``text``: ``text``/``sa.text``/``sqlalchemy.sql.text``
        through the imports (``from sqlalchemy import text as t`` included), an unbound
        ``text`` (a star import), an unbound ``sa``/``sql``/``expression``, or Flask-
        SQLAlchemy's ``db.text`` (``db`` is the app's ``SQLAlchemy()``, bound by an
        assignment or imported from the app: no import path leads to sqlalchemy)."""
        root: ast.AST = func
        while isinstance(root, ast.Attribute):
            root = root.value
        if not isinstance(root, ast.Name):
            return False
        if root is not func and root.id == "db":
            return True
        model = self.semantic
        qualified = model.qualified_name(func)
        if qualified is None:
            return False
        if qualified == "text":
            return True
        head = qualified.split(".", 1)[0]
        if head in TEXT_PACKAGES:
            return qualified.endswith(".text")
        return head == root.id and head in SQLALCHEMY_NAMES and not model.resolve(root)[1]

    @staticmethod
    def sql_argument(call: ast.Call) -> ast.expr | None:
        if call.args:
            first = call.args[0]
            return None if isinstance(first, ast.Starred) else first
        for keyword in call.keywords:
            if keyword.arg in SQL_KEYWORDS:
                return keyword.value
        return None

    def _find_uses(self) -> Iterator[SqlUse]:
        for call in self.calls:
            sink = self.sink_name(call)
            if sink is None:
                continue
            argument = self.sql_argument(call)
            if argument is None:
                continue
            if sink != "text" and isinstance(argument, ast.Call) and self.sink_name(argument) == "text":
                continue  # execute(text("...")): the inner text() is the use
            try:
                value = self.evaluate(argument)
            except RecursionError:
                value = None
            if value is None or value.origin is None:
                continue
            if value.origin == _EXTERNAL:
                where, external = self.position(argument), True
            else:
                where, external = self.position(value.origin), False  # type: ignore[arg-type]
            yield SqlUse(value.text, *where, sink=sink, call=call, argument=argument,
                         external=external, cache=self.cache)

    # ----------------------------------------------------------- evaluation
    def evaluate(self, node: ast.AST, depth: int = 0) -> _Value | None:
        """The string ``node`` evaluates to, unknown parts as PLACEHOLDER (None: not a string)."""
        if depth > MAX_DEPTH:
            return None
        if isinstance(node, ast.Constant):
            return _Value(node.value, node) if isinstance(node.value, str) else None
        if isinstance(node, ast.JoinedStr):
            parts = []
            for piece in node.values:
                if isinstance(piece, ast.Constant) and isinstance(piece.value, str):
                    parts.append(piece.value)
                else:
                    parts.append(PLACEHOLDER)
            return _Value("".join(parts), node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            left = self.evaluate(node.left, depth + 1)
            right = self.evaluate(node.right, depth + 1)
            if left is None and right is None:
                return None
            left = left or _Value(PLACEHOLDER, None)
            right = right or _Value(PLACEHOLDER, None)
            return _Value(left.text + right.text, left.origin or right.origin)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            left = self.evaluate(node.left, depth + 1)
            return _Value(replace_percent(left.text, PLACEHOLDER), left.origin) if left else None
        if isinstance(node, ast.Call):
            return self._evaluate_call(node, depth)
        if isinstance(node, ast.Name):
            return self.lookup(node, depth + 1)
        if isinstance(node, ast.Attribute):
            return self._module_attribute(node)
        return None

    def _evaluate_call(self, node: ast.Call, depth: int) -> _Value | None:
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr == "format":
                base = self.evaluate(func.value, depth + 1)
                return _Value(replace_braces(base.text, PLACEHOLDER), base.origin) if base else None
            if func.attr in ("strip", "lstrip", "rstrip") and not node.args:
                base = self.evaluate(func.value, depth + 1)
                return _Value(getattr(base.text, func.attr)(), base.origin) if base else None
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in ("dedent", "cleandoc") and len(node.args) == 1:
            base = self.evaluate(node.args[0], depth + 1)
            if base is None:
                return None
            return _Value(textwrap.dedent(base.text) if name == "dedent" else _cleandoc(base.text), base.origin)
        return None

    def lookup(self, name: ast.Name, depth: int) -> _Value | None:
        """The string ``name`` holds: its bindings that reach the use, the last assignment
        extended by the ``+=`` after it."""
        reaching = reaching_bindings(self.semantic, name)
        return self._compose([self.binding(node) for node in reaching], depth) if reaching else None

    def _compose(self, entries: list[_Binding], depth: int) -> _Value | None:
        base_index = max((i for i, e in enumerate(entries) if e.kind != "aug"), default=None)
        if base_index is None:
            return None
        base = entries[base_index]
        if base.kind == "assign" and base.value is not None:
            value = self.evaluate(base.value, depth + 1)
        elif base.kind == "import":
            value = self._imported(base)
        else:
            return None
        for entry in entries[base_index + 1:]:
            if value is None or not isinstance(entry.op, ast.Add) or entry.value is None:
                return None
            extra = self.evaluate(entry.value, depth + 1) or _Value(PLACEHOLDER, None)
            value = _Value(value.text + extra.text, value.origin or extra.origin)
        return value

    def _imported(self, binding: _Binding) -> _Value | None:
        node = binding.value
        if self.modules is None or not isinstance(node, ast.ImportFrom):
            return None
        try:
            found = self.modules.imported_string(self.path, node.module, node.level, binding.name,
                                                 placeholder=PLACEHOLDER)
        except (OSError, ValueError, RecursionError):
            return None
        if found is None or not found.complete:
            return None
        return _Value(found.text, _EXTERNAL)

    def _module_attribute(self, node: ast.Attribute) -> _Value | None:
        """``queries.UPSERT_SQL`` where ``queries`` is a module of the project."""
        if self.modules is None:
            return None
        parts = [node.attr]
        root = node.value
        while isinstance(root, ast.Attribute):
            parts.insert(0, root.attr)
            root = root.value
        if not isinstance(root, ast.Name):
            return None
        model = self.semantic
        owner, _ = model.resolve(root)
        imports = [found for found in bindings_in_order(model, owner, root.id) if isinstance(found, ast.alias)]
        if not imports:
            return None
        dotted = model.import_target(imports[-1])
        if dotted is None:
            return None
        try:
            module_path = self.modules.find_module(".".join([dotted, *parts[:-1]]), self.path)
            if module_path is None:
                return None
            found = self.modules.string_constant(module_path, parts[-1], placeholder=PLACEHOLDER)
        except (OSError, ValueError, RecursionError):
            return None
        if found is None or not found.complete:
            return None
        return _Value(found.text, _EXTERNAL)


class _ScopeBindings:
    """One scope's bindings, by name (what ``SqlFile.scope_bindings`` returns)."""

    __slots__ = ("index", "scope")

    def __init__(self, index: SqlFile, scope: Scope) -> None:
        self.index, self.scope = index, scope

    def get(self, name: str, default: "list[_Binding] | None" = None) -> "list[_Binding] | None":
        found = bindings_in_order(self.index.semantic, self.scope, name)
        return [self.index.binding(node) for node in found] if found else default


# A sink (or server_default) can only be on a line naming one; text() aliases are
# found by the `text as NAME` they are imported with (not `gettext as _`: each alias
# costs a look-up in the semantic model).  Plain substring search (a superset of the
# names as tokens): a regex per line costs more than the walk saved.
_CANDIDATE_WORDS = ("execute", "exec_driver_sql", "text", "server_default")
_TEXT_ALIAS = re.compile(r"(?<![A-Za-z0-9_])text\s+as\s+([A-Za-z_][A-Za-z0-9_]*)")


def _find_all(text: str, word: str) -> Iterator[int]:
    index = text.find(word)
    while index != -1:
        yield index
        index = text.find(word, index + len(word))


def _candidates(text: str) -> tuple[list[int], set[str]]:
    """The lines that can hold a sink (ascending, each once), and the `text as NAME` names."""
    aliases = set()
    for index in _find_all(text, "text"):
        match = _TEXT_ALIAS.match(text, index)
        if match:
            aliases.add(match.group(1))
    words = [*_CANDIDATE_WORDS, *aliases]
    positions = sorted({index for word in words for index in _find_all(text, word)})
    return list(dict.fromkeys(lines_at(text, positions))), aliases


def _cleandoc(text: str) -> str:
    import inspect

    return inspect.cleandoc(text)


# ------------------------------------------------------------------ entry
_FILES: "weakref.WeakKeyDictionary[FileContext, SqlFile]" = weakref.WeakKeyDictionary()


def sql_file(ctx: "FileContext") -> SqlFile | None:
    """The file's SQL index (built once per FileContext); None when it is not parsed Python."""
    if ctx.ast_tree is None:
        return None
    found = _FILES.get(ctx)
    if found is None:
        modules = getattr(ctx.project, "modules", None)
        cache = ctx.project.get(SqlParseCache)
        found = SqlFile(ctx.ast_tree, ctx.path, ctx.text, modules, cache, _shared_model(ctx))
        _FILES[ctx] = found
    return found


def _shared_model(ctx: "FileContext") -> "Callable[[], SemanticModel | None]":
    """``ctx.semantic``, the model every family shares, asked for when first needed.  Through
    a weak reference: ``_FILES`` keeps the index while ``ctx`` lives, so the index must not
    keep ``ctx`` alive."""
    ref = weakref.ref(ctx)

    def model() -> "SemanticModel | None":
        found = ref()
        return found.semantic if found is not None else None

    return model


def iter_sql_uses(ctx: "FileContext") -> list[SqlUse]:
    """Every SQL use in the file, in source order of the sink calls."""
    index = sql_file(ctx)
    return list(index.uses) if index is not None else []
