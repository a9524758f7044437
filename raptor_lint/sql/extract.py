"""Find the SQL strings a Python file sends to the database, the way real code builds them.

A *sink* is a call that takes SQL as its first argument (or ``statement=`` /
``sqltext=`` / ``sql=`` / ``query=``): ``text()`` (also ``sa.text``,
``sqlalchemy.text``, ``db.text`` and ``from sqlalchemy import text as t``),
and any ``.execute()`` / ``.executemany()`` / ``.exec_driver_sql()`` method
(``op.execute``, ``session.execute``, ``connection.execute``, cursors).  An
``execute(text(...))`` is one use, reported through the inner ``text()``.

The argument is evaluated statically (``ast`` only, nothing is imported):
string literals (implicit concatenation and triple quotes included),
f-strings, ``+``, ``%``, ``.format()``, ``textwrap.dedent`` / ``.strip()``,
and names: a function's own assignments before the use (``sql += " AND …"``
appends), enclosing functions, module-level constants, and constants
imported from another module of the project (through
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
from typing import TYPE_CHECKING, Iterator

from raptor_lint.source import column_of, lines_at, split_lines
from raptor_lint.sql.parse import ParsedSql, SqlParseCache

if TYPE_CHECKING:  # pragma: no cover
    from sqlglot import exp

    from raptor_lint.context import FileContext
    from raptor_lint.project.modules import ModuleIndex

# What an unknown part of a built string stands for: a bind parameter.
PLACEHOLDER = ":param"

SINK_METHODS = frozenset({"execute", "executemany", "exec_driver_sql"})
SQL_KEYWORDS = ("statement", "sqltext", "sql", "query")
# Names under which SQLAlchemy's ``text`` is commonly reached as an attribute.
SQLALCHEMY_NAMES = frozenset({"sa", "sqlalchemy", "sql", "db", "expression"})

MAX_DEPTH = 30

_SCOPES = (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef,
           ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


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
    kind: str               # "assign", "aug", "import", "other"
    start: tuple[int, int]
    end: tuple[int, int]
    value: ast.AST | None = None      # assigned expression / Import node
    name: str = ""                    # imported name for "import"
    op: ast.operator | None = None    # AugAssign operator


# ------------------------------------------------------------------- file
class SqlFile:
    """Per-file index: parents, name bindings per scope, and the SQL uses found."""

    def __init__(self, tree: ast.Module, path: Path, text: str,
                 modules: "ModuleIndex | None", cache: SqlParseCache) -> None:
        self.tree = tree
        self.path = path
        self.text = text
        self.modules = modules
        self.cache = cache
        self._source_lines: list[str] | None = None
        self.text_names: set[str] = {"text"}
        self.module_names: set[str] = set(SQLALCHEMY_NAMES)
        self.parents: dict[ast.AST, ast.AST] = {}
        # Calls on lines that name a sink (or `server_default`), in source order.
        self.calls: list[ast.Call] = []
        self._bindings: dict[ast.AST, dict[str, list[_Binding]]] = {}
        self._globals: dict[ast.AST, set[str]] = {}
        self._traverse()

    def _traverse(self) -> None:
        """Visit only the statements on lines that can hold a sink (the dominant cost is
        walking the tree); record parents on the way.  Imports are always visited."""
        candidates = _candidate_lines(self.text)
        if not candidates:
            return
        parents = self.parents
        calls = self.calls
        bisect_left = bisect.bisect_left
        count = len(candidates)
        AST, Call, imports = ast.AST, ast.Call, (ast.Import, ast.ImportFrom)
        stack: list[ast.AST] = [self.tree]
        while stack:
            node = stack.pop()
            if isinstance(node, Call):
                calls.append(node)
            elif isinstance(node, imports):
                for alias in node.names:
                    self._note_sqlalchemy_import(node, alias)
                continue
            for name in node._fields:
                value = getattr(node, name, None)
                for child in (value if isinstance(value, list) else (value,)):
                    if not isinstance(child, AST):
                        continue
                    start = getattr(child, "lineno", None)
                    if start is not None and not isinstance(child, imports):
                        index = bisect_left(candidates, start)
                        if index == count or candidates[index] > (getattr(child, "end_lineno", None) or start):
                            continue
                    parents[child] = node
                    stack.append(child)
        calls.sort(key=_start)

    def attach(self, node: ast.AST, parent: ast.AST | None = None) -> None:
        """Record parents for the whole subtree of ``node`` (and ``node``'s own parent):
        needed before resolving names in code the line-pruned traversal skipped."""
        if parent is not None:
            self.parents.setdefault(node, parent)
        self._complete(node)

    def _complete(self, node: ast.AST) -> None:
        """Record parents for the whole subtree of ``node`` (a sink's argument)."""
        stack = [node]
        while stack:
            current = stack.pop()
            for child in ast.iter_child_nodes(current):
                self.parents[child] = current
                stack.append(child)

    def call_sites(self, name: str) -> list[ast.Call]:
        """Module-level-name calls ``name(...)`` anywhere in the file, or [] when ``name`` is
        also used another way (passed as a callback, re-bound ...).  Walks the whole file once."""
        uses = self._name_uses
        sites = uses.get(name, [])
        if any(site is None for site in sites):
            return []
        return [site for site in sites if site is not None]

    @functools.cached_property
    def _name_uses(self) -> dict[str, list[ast.Call | None]]:
        """name -> Call nodes calling it directly (None for any other load of the name)."""
        found: dict[str, list[ast.Call | None]] = {}
        stack: list[ast.AST] = [self.tree]
        while stack:
            node = stack.pop()
            for child in ast.iter_child_nodes(node):
                self.parents[child] = node
                stack.append(child)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
                parent = self.parents.get(node)
                direct = isinstance(parent, ast.Call) and parent.func is node
                found.setdefault(node.id, []).append(parent if direct else None)
        return found

    @functools.cached_property
    def uses(self) -> list[SqlUse]:
        """The SQL uses of the file, in source order of the sink calls."""
        return list(self._find_uses())

    # ------------------------------------------------------------ positions
    def _line(self, lineno: int) -> str:
        if self._source_lines is None:
            self._source_lines = (split_lines(self.text) if "\r" in self.text
                                  else self.text.split("\n"))
        lines = self._source_lines
        return lines[lineno - 1] if 0 < lineno <= len(lines) else ""

    def _column(self, lineno: int, col_offset: int) -> int:
        """ast's UTF-8 byte offset -> 1-based code-point column."""
        return column_of(self._line(lineno), col_offset)

    def position(self, node: ast.AST) -> tuple[int, int, int, int]:
        line, col = node.lineno, node.col_offset  # type: ignore[attr-defined]
        end_line = getattr(node, "end_lineno", None) or line
        end_col = getattr(node, "end_col_offset", None)
        end_col = col if end_col is None else end_col
        return (line, self._column(line, col), end_line, self._column(end_line, end_col))

    # --------------------------------------------------------------- scopes
    def scope_of(self, node: ast.AST) -> ast.AST:
        """Nearest scope node strictly enclosing ``node``."""
        current = self.parents.get(node)
        while current is not None and not isinstance(current, _SCOPES):
            current = self.parents.get(current)
        return current if current is not None else self.tree

    def scope_chain(self, node: ast.AST) -> list[ast.AST]:
        """Scopes whose names ``node`` can see, innermost first (class bodies skipped
        except when ``node`` sits directly in one)."""
        chain: list[ast.AST] = []
        scope = self.scope_of(node)
        first = True
        while True:
            if first or not isinstance(scope, ast.ClassDef):
                chain.append(scope)
            first = False
            if scope is self.tree:
                return chain
            scope = self.scope_of(scope)

    def scope_bindings(self, scope: ast.AST) -> dict[str, list[_Binding]]:
        """name -> bindings (source order) of one scope; collected the first time it is asked.

        Walks the scope's own nodes only (not nested function/class/comprehension
        bodies), recording their parents, so a lookup costs the size of its scope.
        """
        found = self._bindings.get(scope)
        if found is not None:
            return found
        table: dict[str, list[_Binding]] = {}
        self._bindings[scope] = table
        declared = self._globals.setdefault(scope, set())
        stack = [(child, scope) for child in ast.iter_child_nodes(scope)]
        while stack:
            node, parent = stack.pop()
            self.parents.setdefault(node, parent)
            if isinstance(node, ast.Name):
                if isinstance(node.ctx, ast.Store):
                    self._bind_name(table, node, parent)
                continue
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    if alias.name != "*":
                        local = alias.asname or alias.name.split(".")[0]
                        _add(table, local, _Binding("import", _start(node), _end(node), node, alias.name))
            elif isinstance(node, ast.arg) and isinstance(parent, ast.arguments) and isinstance(scope, _FUNCTIONS):
                _add(table, node.arg, _Binding("other", (0, 0), (0, 0)))
            elif isinstance(node, ast.ExceptHandler) and node.name:
                _add(table, node.name, _Binding("other", _start(node), _start(node)))
            elif isinstance(node, (ast.Global, ast.Nonlocal)):
                declared.update(node.names)
            if isinstance(node, _SCOPES):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    _add(table, node.name, _Binding("other", _start(node), _start(node)))
                continue  # its body is its own scope
            stack.extend((child, node) for child in ast.iter_child_nodes(node))
        for entries in table.values():
            entries.sort(key=lambda b: b.start)
        return table

    def declared_global(self, scope: ast.AST, name: str) -> bool:
        self.scope_bindings(scope)
        return name in self._globals.get(scope, ())

    def _bind_name(self, table: dict[str, list[_Binding]], node: ast.Name, parent: ast.AST) -> None:
        if isinstance(parent, ast.Assign) and any(node is target for target in parent.targets):
            binding = _Binding("assign", _start(parent), _end(parent), parent.value)
        elif isinstance(parent, ast.AnnAssign) and parent.target is node:
            if parent.value is None:
                return
            binding = _Binding("assign", _start(parent), _end(parent), parent.value)
        elif isinstance(parent, ast.AugAssign) and parent.target is node:
            binding = _Binding("aug", _start(parent), _end(parent), parent.value, op=parent.op)
        elif isinstance(parent, ast.NamedExpr) and parent.target is node:
            binding = _Binding("assign", _start(parent), _end(parent), parent.value)
        else:
            statement = parent
            while statement is not None and not isinstance(statement, ast.stmt):
                statement = self.parents.get(statement)
            anchor = statement if statement is not None else node
            binding = _Binding("other", _start(anchor), _end(anchor))
        _add(table, node.id, binding)

    def _note_sqlalchemy_import(self, node: ast.Import | ast.ImportFrom, alias: ast.alias) -> None:
        if isinstance(node, ast.Import):
            if alias.name == "sqlalchemy" or alias.name.startswith("sqlalchemy."):
                self.module_names.add(alias.asname or "sqlalchemy")
        elif node.module and (node.module == "sqlalchemy" or node.module.startswith("sqlalchemy.")):
            if alias.name == "text":
                self.text_names.add(alias.asname or "text")
            elif alias.name in ("sql", "expression"):
                self.module_names.add(alias.asname or alias.name)

    # ---------------------------------------------------------------- sinks
    def sink_name(self, call: ast.Call) -> str | None:
        func = call.func
        if isinstance(func, ast.Name):
            if func.id in self.text_names:
                return "text"
            if func.id in SINK_METHODS:
                return func.id
        elif isinstance(func, ast.Attribute):
            if func.attr in SINK_METHODS:
                return func.attr
            if func.attr == "text":
                root = func.value
                while isinstance(root, ast.Attribute):
                    root = root.value
                if isinstance(root, ast.Name) and root.id in self.module_names:
                    return "text"
        return None

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
            self._complete(call)
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
            return _Value(_replace_percent(left.text), left.origin) if left else None
        if isinstance(node, ast.Call):
            return self._evaluate_call(node, depth)
        if isinstance(node, ast.Name):
            return self.lookup(node.id, node, depth + 1)
        if isinstance(node, ast.Attribute):
            return self._module_attribute(node)
        return None

    def _evaluate_call(self, node: ast.Call, depth: int) -> _Value | None:
        func = node.func
        if isinstance(func, ast.Attribute):
            if func.attr == "format":
                base = self.evaluate(func.value, depth + 1)
                return _Value(_replace_braces(base.text), base.origin) if base else None
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

    def lookup(self, name: str, at: ast.AST, depth: int) -> _Value | None:
        use = _start(at)
        chain = self.scope_chain(at)
        for scope in chain:
            if scope is not self.tree and self.declared_global(scope, name):
                scope = self.tree
            entries = self.scope_bindings(scope).get(name)
            if not entries:
                continue
            if scope is self.tree and chain[0] is not self.tree:
                visible = entries  # a function runs after the module body has bound everything
            else:
                visible = [entry for entry in entries if entry.end <= use]
            if not visible:
                return None
            return self._compose(visible, depth)
        return None

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
        entries = [e for scope in self.scope_chain(node)
                   for e in self.scope_bindings(scope).get(root.id, ()) if e.kind == "import"]
        if not entries:
            return None
        binding = entries[-1]
        imported = binding.value
        try:
            if isinstance(imported, ast.ImportFrom):
                dotted = self.modules.absolute_module(self.path, imported.module, imported.level)
                dotted = f"{dotted}.{binding.name}" if dotted else binding.name
            elif isinstance(imported, ast.Import):
                alias = next((a for a in imported.names
                              if (a.asname or a.name.split(".")[0]) == root.id), None)
                if alias is None:
                    return None
                dotted = alias.name if alias.asname else alias.name.split(".")[0]
            else:
                return None
            module_path = self.modules.find_module(".".join([dotted, *parts[:-1]]), self.path)
            if module_path is None:
                return None
            found = self.modules.string_constant(module_path, parts[-1], placeholder=PLACEHOLDER)
        except (OSError, ValueError, RecursionError):
            return None
        if found is None or not found.complete:
            return None
        return _Value(found.text, _EXTERNAL)


def _add(table: dict[str, list[_Binding]], name: str, binding: _Binding) -> None:
    table.setdefault(name, []).append(binding)


# A sink (or server_default) can only be on a line naming one; text() aliases are
# found by the `text as NAME` they are imported with.  Plain substring search
# (a superset of the names as tokens): a regex per line costs more than the walk saved.
_CANDIDATE_WORDS = ("execute", "exec_driver_sql", "text", "server_default")
_TEXT_ALIAS = re.compile(r"text\s+as\s+([A-Za-z_][A-Za-z0-9_]*)")


def _find_all(text: str, word: str) -> Iterator[int]:
    index = text.find(word)
    while index != -1:
        yield index
        index = text.find(word, index + len(word))


def _candidate_lines(text: str) -> list[int]:
    words = list(_CANDIDATE_WORDS)
    for index in _find_all(text, "text"):
        match = _TEXT_ALIAS.match(text, index)
        if match:
            words.append(match.group(1))
    positions = sorted({index for word in words for index in _find_all(text, word)})
    return list(dict.fromkeys(lines_at(text, positions)))  # ascending, each line once


def _start(node: ast.AST) -> tuple[int, int]:
    return (getattr(node, "lineno", 0), getattr(node, "col_offset", 0))


def _end(node: ast.AST) -> tuple[int, int]:
    return (getattr(node, "end_lineno", None) or getattr(node, "lineno", 0),
            getattr(node, "end_col_offset", None) or 0)


def _replace_percent(text: str) -> str:
    """``"... %s ... %(name)s" % args``: each conversion becomes a bind parameter."""
    return re.sub(r"%(\([^)]*\))?[-#0 +]*(\*|\d+)?(\.(\*|\d+))?[hlL]?[diouxXeEfFgGcrsa%]",
                  lambda m: "%" if m.group(0) == "%%" else PLACEHOLDER, text)


def _replace_braces(text: str) -> str:
    """``"... {} ... {name}".format(...)``: each field becomes a bind parameter."""
    text = text.replace("{{", "\0").replace("}}", "\1")
    text = re.sub(r"\{[^{}]*\}", PLACEHOLDER, text)
    return text.replace("\0", "{").replace("\1", "}")


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
        found = SqlFile(ctx.ast_tree, ctx.path, ctx.text, modules, cache)
        _FILES[ctx] = found
    return found


def iter_sql_uses(ctx: "FileContext") -> list[SqlUse]:
    """Every SQL use in the file, in source order of the sink calls."""
    index = sql_file(ctx)
    return list(index.uses) if index is not None else []
