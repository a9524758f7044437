"""Cross-module callers, for the fork-safety rules (RPT101–RPT104).

A helper defined in ``services/cache.py`` and called only from ``create_app()`` in
``raptor_app/__init__.py`` runs before gunicorn forks; so does a registration decorator
defined in one module and applied (``@register_handler("fill")``) at import time in
another.  Within one file the fork-safety checker sees its own callers; this fact adds
the uses of a file's functions *imported* elsewhere in the project, each with where it runs:

    uses_of(path, ["name", "Class.method"]) -> {"name": [Use(kind, before_fork, source)]}

``kind`` is ``call``, ``decorator``, ``decorator-call`` or ``escape`` (passed around as a
value: it may run at any time).  ``before_fork`` is True when the use sits at module top
level, in the app factory's own body, in a class-creation hook (``__init_subclass__``, a
metaclass ``__init__``…), or in a module-level helper that only such code calls (same
file, by name).

One ``ForkCalls`` serves the whole run (``ctx.project.get(build_fork_calls)``); it is an
index from a name to its use sites across the project, built lazily and never per
checked file:

1. On the first question, every Python file of the project is read once and the words
   that could name another module's function are indexed (word -> files): the names in
   its import statements and the names after a dot.  That is the cheap text
   pre-filter: a use of ``f`` from another module is either ``from m import f`` or
   ``….f``.  Test code is left out: tests never run under gunicorn, so a call from a
   test says nothing about the fork.  Only candidate files are ``resolve()``d.
2. A question about ``f`` (or ``Klass.m``) parses with ``ast`` only the files the
   pre-filter names for ``f`` (for ``Klass`` and ``m``), each file once per run: one
   pass turns the file into a small summary, its *sites* (the uses of imported names,
   keyed by the name they import, each with its kind and whether it runs before the
   fork), and the tree is dropped: memory grows with the sites, not with the trees.
3. A site's import is resolved (following ``__init__`` re-exports) only when its name is
   asked about, once per file and name; a module's bindings are read (parsed) only when
   its import statements mention the name, i.e. when it may re-export it.

Not seen: a function re-exported under another name (``from .x import f as g``) and used
as ``g``, and calls through a variable or an instance (``handler = f``; ``obj.method()``).
"""

from __future__ import annotations

import ast
import keyword
import os
import re
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from raptor_lint.astwalk import children
from raptor_lint.project.layout import is_test_code
from raptor_lint.project.modules import absolute_name

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.project import ProjectIndex
    from raptor_lint.project.modules import ModuleIndex

TRANSPARENT_DECORATORS = frozenset({
    "lru_cache", "cache", "wraps", "contextmanager", "asynccontextmanager", "overload",
    "staticmethod", "classmethod",
})
HARMLESS_ATTRS = frozenset({"__name__", "__qualname__", "__doc__", "__module__"})
CLASS_CREATION_HOOKS = frozenset({"__init_subclass__", "__set_name__"})
METACLASS_HOOKS = frozenset({"__new__", "__init__", "__prepare__"})
METACLASS_BASES = frozenset({"type", "ABCMeta", "EnumMeta", "EnumType"})
_FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef)
_DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_MAX_REEXPORT_DEPTH = 10
_WORD = re.compile(r"\w+")
# Where a name of another module can be mentioned at all: after an `import` keyword
# (`from m import (a,\n b)`, `import a.b as c`, `from m import(a)`, backslash
# continuations, `x = 1; import y`, a `)` in a comment) or after a dot (`a.\n  b` inside brackets, comments
# between).  Both start with a literal, which `re` finds with a fast string search; both
# may match more than Python would (in strings, comments): the index is a superset.
_IMPORT_STATEMENT = re.compile(
    r"import(?!\w)(?:[ \t]|\\\r?\n)*(\([^)#]*(?:#[^\r\n]*[\r\n][^)#]*)*\)|[^\n\\]*(?:\\\r?\n[^\n\\]*)*)")
_ATTRIBUTE = re.compile(r"\.(?:[\s\\]|#[^\r\n]*[\r\n])*([^\W\d]\w*)")
# The same for ASCII text (most files), where ASCII classes match the same: ~40% faster.
_ASCII_ATTRIBUTE = re.compile(r"\.(?:[\s\\]|#[^\r\n]*[\r\n])*([A-Za-z_]\w*)", re.ASCII)
# The `from X ` right before an `import` keyword (searched in the text before it), and
# the start of a statement (a plain `import`).  Gaps: whitespace, backslash continuations.
_GAP = r"(?:[ \t\f]|\\\r?\n)"
_FROM_CLAUSE = re.compile(
    r"\bfrom(?!\w)" + _GAP + r"*((?:\." + _GAP + r"*)*(?:[^\W\d]\w*(?:" + _GAP + r"*\." + _GAP
    + r"*[^\W\d]\w*)*)?)" + _GAP + r"*\Z")
_STATEMENT_START = re.compile(r"(?:^|[;:])[ \t\f]*\Z")
_GAPS = re.compile(_GAP)
_ALIAS = re.compile(r"\bas(?:\s|\\)+([^\W\d]\w*)")  # in an import statement's names


@dataclass(frozen=True)
class Use:
    kind: str
    before_fork: bool
    source: Path


class ForkCalls:
    def __init__(self, project: "ProjectIndex") -> None:
        self._project = project
        self._modules: "ModuleIndex | None" = None
        self._factories = frozenset(project.config.app_factory)
        # The word index: files by number, word -> numbers of the files that mention it
        # (in an import statement or after a dot), and word -> files whose import
        # statements mention it (the only ones that can re-export it).
        self._paths: list[str] = []
        self._numbers: dict[str, int] = {}
        self._sizes: dict[str, int] = {}
        self._words: dict[str, tuple[int, ...]] | None = None
        self._imported: dict[str, tuple[int, ...]] = {}
        self._resolved: dict[int, Path | None] = {}
        # Path -> its sites (``_file_sites``), None when it cannot be parsed.
        self._files: dict[Path, "dict[str, tuple[_Site, ...]] | None"] = {}
        # (source, module, name, attribute) -> what a site there refers to (``_target``).
        self._targets: dict[tuple[Path, str, str, str | None], tuple[Path, str] | None] = {}
        # Path -> {name: (module, level, original name)} for its names bound by one
        # unconditional `from module import original as name` (see _reexport).
        self._reexports: dict[Path, dict[str, tuple[str | None, int, str]]] = {}
        self._lock = threading.RLock()
        # How much work the questions caused (tests and profiling read these).
        self.files_indexed = 0
        self.files_parsed = 0

    def uses_of(self, path: Path, names: Iterable[str]) -> dict[str, list[Use]]:
        """Uses, from *other* files of the project, of the functions ``names`` (``f`` or
        ``Class.method``) defined in ``path``.

        A function runs before the fork only if *every* use does, so the search for a
        name stops at its first use that does not (``before_fork`` False): that one use
        decides.  Files already summarised are asked first, then the smallest."""
        try:
            resolved = self.modules.real_path(path)
        except OSError:
            return {}
        found: dict[str, list[Use]] = {}
        with self._lock:
            words = self._word_index()
            for name in sorted(set(names)):
                parts = name.split(".")
                head = parts[0]
                candidates = set(words.get(head, ()))
                for part in parts[1:]:
                    candidates.intersection_update(words.get(part, ()))
                importing = {number for number in candidates.intersection(self._imported.get(head, ()))
                             if self._imports_from(resolved, head, number)}
                uses: list[Use] = []
                # Files that import `head` from its module first; the others must mention
                # the module by name (see _narrow), which may need re-exports resolved.
                for group in (lambda: importing,
                              lambda: self._narrow(resolved, head, candidates - importing)):
                    if self._collect_uses(resolved, name, group(), uses):
                        break
                if uses:
                    found[name] = uses
        return found

    def _collect_uses(self, resolved: Path, name: str, numbers: set[int], uses: list[Use]) -> bool:
        """Add to ``uses`` the uses of ``name`` (of ``resolved``) in the files ``numbers``;
        True as soon as one runs after the fork (it decides)."""
        sources = {source for source in map(self._source, numbers) if source is not None and source != resolved}
        for source in sorted(sources, key=lambda p: (p not in self._files, self._sizes.get(str(p), 0), p)):
            sites = self._sites(source)
            if sites is None:
                continue
            for module, imported, attr, kind, before_fork in sites.get(name, ()):
                if self._target(source, module, imported, attr) == (resolved, name):
                    uses.append(Use(kind, before_fork, source))
                    if not before_fork:
                        return True
        return False

    def _imports_from(self, resolved: Path, head: str, number: int) -> bool:
        """Whether file ``number`` may import ``head`` by name from the module at
        ``resolved`` (or from one that re-exports it): one of its ``from X import``
        statements naming ``head`` resolves there, or one cannot be read from the text
        (kept, to be parsed).  Plain ``import a.head`` statements do not count: such a
        use goes through a dotted path, as _narrow expects."""
        source = self._source(number)
        if source is None or source == resolved:
            return False
        text = _read_text(source)
        if text is None:
            return True
        for match in _IMPORT_STATEMENT.finditer(text):
            group = match.group(1)
            if head not in group or head not in _WORD.findall(group):
                continue
            start = match.start()
            clause = _FROM_CLAUSE.search(text, max(0, start - 512), start)
            if clause is None:
                line = text[max(text.rfind("\n", 0, start), text.rfind("\r", 0, start)) + 1:start]
                if _STATEMENT_START.search(line) is None:
                    return True  # not a statement we can read: keep the file
                continue  # `import a.head`
            module = _GAPS.sub("", clause.group(1))
            dotted = module.lstrip(".")
            absolute = self.modules.absolute_module(source, dotted or None, len(module) - len(dotted))
            if absolute and self._target(source, absolute, head, None) == (resolved, head):
                return True
        return False

    def _narrow(self, resolved: Path, head: str, numbers: set[int]) -> set[int]:
        """The files among ``numbers`` (which do not import ``head`` by name) that can
        refer to ``head`` (``f``, or ``Klass`` of ``Klass.m``) of the module at
        ``resolved``.

        Such a file names ``head`` after a dot, following a module reached by import
        statements and dots (``mod.head``, ``pkg.mod.head``): that module is the
        defining one or one that re-exports ``head`` from it, and the file mentions the
        module's own name (``mod``, or the package's for an ``__init__.py``).
        Re-exporters import ``head`` by name, so they are among the files whose import
        statements mention it; only those whose name would admit a file are resolved."""
        assert self._words is not None
        if not numbers:
            return numbers
        words = self._words
        admitted = numbers.intersection(words.get(_module_word(resolved), ()))
        seen: set[str] = {_module_word(resolved)}
        for number in sorted(self._imported.get(head, ())):
            source = self._source(number)
            if source is None or source == resolved:
                continue
            word = _module_word(source)
            if word in seen:
                continue
            mentioning = numbers.intersection(words.get(word, ()))
            if mentioning - admitted and self._reexport(source, head) == (resolved, head):
                seen.add(word)
                admitted |= mentioning
        return {number for number in admitted if self._reaches(number, head, seen)}

    def _reaches(self, number: int, head: str, modules: set[str]) -> bool:
        """Whether file ``number`` may spell ``root.….module.head`` with ``root`` bound by
        an import and ``module`` one of ``modules`` (the module words of _narrow) or an
        alias bound by an import (``import a.mod as m`` … ``m.head``).  True when the
        text cannot tell (see _dotted_before)."""
        source = self._source(number)
        if source is None:
            return False
        text = _read_text(source)
        if text is None:
            return True
        chains = _dotted_before(text, head)
        if chains is None:
            return True
        if not chains:
            return False
        groups = _IMPORT_STATEMENT.findall(text)
        imported = {word for group in groups for word in _WORD.findall(group)}
        aliases = {alias for group in groups for alias in _ALIAS.findall(group)}
        return any(root in imported and (last in modules or last in aliases) for root, last in chains)

    # ------------------------------------------------------------------ indexes
    @property
    def modules(self) -> "ModuleIndex":
        if self._modules is None:
            self._modules = self._project.modules
        return self._modules

    def _word_index(self) -> dict[str, tuple[int, ...]]:
        """word -> files of the project that import it or use it as an attribute name
        (built once per run, without resolving any path)."""
        if self._words is None:
            from raptor_lint.discovery import PYTHON, iter_files

            root = os.path.join(os.path.abspath(self._project.root), "")
            words: dict[str, list[int]] = {}
            imported: dict[str, list[int]] = {}
            files = self._project.files
            if files is None:
                files = iter_files([self._project.root], self._project.config)
            for path, kind in files:
                if kind != PYTHON:
                    continue
                name = os.path.abspath(path)
                # (is_test_code is only true for paths spelling "test": skip it otherwise)
                if not name.startswith(root) or (
                        "test" in name[len(root):] and is_test_code(name[len(root):].replace(os.sep, "/"))):
                    continue
                text = _read_text(name)
                if text is None:
                    continue
                self.files_indexed += 1
                number = len(self._paths)
                self._paths.append(name)
                self._numbers[name] = number
                self._sizes[name] = len(text)
                in_imports: set[str] = set()
                for statement in _IMPORT_STATEMENT.findall(text):
                    in_imports.update(_WORD.findall(statement))
                for word in in_imports:
                    found = imported.get(word)
                    if found is None:
                        imported[word] = [number]
                    else:
                        found.append(number)
                attributes = (_ASCII_ATTRIBUTE if text.isascii() else _ATTRIBUTE).findall(text)
                for word in in_imports.union(attributes):
                    found = words.get(word)
                    if found is None:
                        words[word] = [number]
                    else:
                        found.append(number)
            # Tuples, not lists: the index lives for the whole run, and the cyclic
            # collector stops tracking a tuple of ints (see _file_sites).
            self._words = {word: tuple(numbers) for word, numbers in words.items()}
            self._imported = {word: tuple(numbers) for word, numbers in imported.items()}
        return self._words

    def warm(self) -> None:
        """Build the word index now (before worker processes fork, so they share it)."""
        self._word_index()

    def _source(self, number: int) -> Path | None:
        """The resolved path of indexed file ``number``; None when it resolves outside the
        project or into test code (a symlink)."""
        if number not in self._resolved:
            found: Path | None = None
            try:
                path = self.modules.real_path_once(self._paths[number])  # memoised here
                if not is_test_code(path.relative_to(self.modules.root).as_posix()):
                    found = path
            except (OSError, ValueError, RuntimeError):
                found = None
            self._resolved[number] = found
        return self._resolved[number]

    def _sites(self, path: Path) -> "dict[str, tuple[_Site, ...]] | None":
        if path not in self._files:
            from raptor_lint.source import SourceError, decode_python, parse_python

            sites = None
            try:
                tree = parse_python(decode_python(path.read_bytes()), str(path))
            except (OSError, SourceError, RecursionError, ValueError, MemoryError):
                tree = None
            self.files_parsed += 1
            if tree is not None:
                sites = _file_sites(tree, self._factories, self.modules.package(path))
            del tree
            self._files[path] = sites
        return self._files[path]

    # --------------------------------------------------------------- resolution
    def _target(self, source: Path, module_name: str, name: str, attr: str | None) -> tuple[Path, str] | None:
        """(defining file, name) a site of ``source`` refers to: ``name`` looked up in the
        absolute module ``module_name`` (defined there or re-exported by it), or
        ``name.attr`` for a method; None when the name is a module or the module is not
        part of the project.  Resolved once per file and key."""
        key = (source, module_name, name, attr)
        if key in self._targets:
            return self._targets[key]
        modules = self.modules
        found: tuple[Path, str] | None = None
        if module_name and name and modules.find_module(f"{module_name}.{name}", source) is None:
            module = modules.find_module(module_name, source)
            if module is not None:
                path, defined = self._reexport(module, name)  # find_module answers resolved
                found = (path, f"{defined}.{attr}" if attr else defined)
        self._targets[key] = found
        return found

    def _reexport(self, path: Path, name: str) -> tuple[Path, str]:
        """Follow ``from .x import name`` re-exports to the module that defines ``name``."""
        modules = self.modules
        for _ in range(_MAX_REEXPORT_DEPTH):
            bound = self._reexported(path, name)
            if bound is None:
                break
            module, level, original = bound
            target = modules.find_module(modules.absolute_module(path, module, level), path)
            if target is None:
                break
            path, name = target, original
        return path, name

    def _reexported(self, path: Path, name: str) -> tuple[str | None, int, str] | None:
        """(module, level, original name) when ``name`` is bound in the module at ``path``
        by one unconditional ``from module import original as name``
        (``ModuleIndex.module_bindings``).  The module is only read when its import
        statements mention ``name``, as the word index knows for the files it holds."""
        number = self._numbers.get(str(path))
        if number is not None and number not in self._imported.get(name, ()):
            return None
        table = self._reexports.get(path)
        if table is None:
            table = {}
            for bound_name, bound in self.modules.module_bindings(path).items():
                if isinstance(bound, ast.ImportFrom):
                    original = next((a.name for a in bound.names if (a.asname or a.name) == bound_name),
                                    bound_name)
                    table[bound_name] = (bound.module, bound.level, original)
            self._reexports[path] = table
        return table.get(name)


def build_fork_calls(project: "ProjectIndex") -> ForkCalls:
    return ForkCalls(project)


# ------------------------------------------------------------------------ one file

# One use of an imported name: (module, name looked up in it, attribute or None, kind,
# runs before the fork).  A plain tuple of atoms (see _file_sites).
_Site = tuple


def _file_sites(tree: ast.Module, factories: frozenset[str], package: list[str]) -> dict[str, tuple[_Site, ...]]:
    """One pass over a file: every use of an imported name, keyed by the name asked
    about (``f``, ``Klass.method``), with its kind and whether it runs before the fork:
    ``{key: ((module, name, attribute, kind, before_fork), ...)}``.  The tree is not kept.

    Plain tuples of strings and booleans, not NamedTuples or dataclasses: summaries live
    for the whole run, and the cyclic collector stops tracking a plain tuple of atoms,
    so full collections in a flake8 worker do not walk tens of thousands of them
    (tests/test_fork_safety.py)."""
    found: dict[str, list[_Site]] = {}
    _Summary(tree, factories, found, package)
    return {key: tuple(sites) for key, sites in found.items()}


# A node's ancestry, without a parents dict: ``(parent, parent's ancestry)``, built once
# per node and shared by its children; None above the module.
_Up = tuple


class _Summary:
    """The pass behind ``_file_sites`` (dropped with the tree once the uses are known)."""

    def __init__(self, tree: ast.Module, factories: frozenset[str],
                 uses: dict[str, list[_Site]], package: list[str]) -> None:
        self.package = package
        self.tree = tree
        self.factories = factories
        self.uses = uses
        loads: list[tuple[ast.Name, _Up, ast.AST]] = []
        imports: list[ast.Import | ast.ImportFrom] = []
        functions: list[tuple[ast.AST, _Up, ast.AST]] = []
        top: _Up = (tree, None)
        stack: list[tuple[ast.AST, _Up, ast.AST]] = [(child, top, tree) for child in tree.body]
        pop, push, extend = stack.pop, stack.append, stack.extend
        while stack:
            node, up, unit = pop()
            kind = type(node)
            if kind is ast.Name:
                if type(node.ctx) is ast.Load:
                    loads.append((node, up, unit))
                continue
            if kind is ast.Attribute:
                push((node.value, (node, up), unit))  # its only child (attr, ctx: leaves)
                continue
            if kind is ast.Constant:
                continue
            if kind is ast.Import or kind is ast.ImportFrom:
                imports.append(node)
                continue
            here = (node, up)
            if kind is ast.FunctionDef or kind is ast.AsyncFunctionDef:
                # Decorators, defaults and annotations run where the `def` runs.
                functions.append((node, up, unit))
                extend((child, here, node) for child in node.body)
                extend((child, here, unit) for child in node.decorator_list)
                push((node.args, here, unit))
                if node.returns is not None:
                    push((node.returns, here, unit))
                continue
            if kind is ast.Lambda:
                push((node.body, here, node))
                push((node.args, here, unit))
                continue
            for child in children(node):
                push((child, here, unit))
        self.before = self._before(functions, loads)
        self._collect(imports, loads)

    def _collect(self, imports: list, loads: list[tuple[ast.Name, _Up, ast.AST]]) -> None:
        """Sites of every load rooted at an imported name.

        A local name is a root: ``from M import N [as L]`` makes ``L`` stand for ``M.N``;
        ``import D as L`` for the module ``D``; ``import D`` binds ``D``'s top package.
        Along ``L.a.b.f(...)`` each name may be a function of the module spelled by the
        names before it (key ``f``), or a method of the class just before it (key
        ``b.f``); resolution decides which ones are real."""
        roots: dict[str, tuple[str, list[str]]] = {}  # local name -> (base module, names)
        package = self.package
        for node in imports:
            if isinstance(node, ast.ImportFrom):
                module = absolute_name(package, node.module, node.level)
                if module:
                    for alias in node.names:
                        if alias.name != "*":
                            roots[alias.asname or alias.name] = (module, [alias.name])
            else:
                for alias in node.names:
                    if alias.asname:
                        roots[alias.asname] = (alias.name, [])
                    else:
                        top = alias.name.split(".")[0]
                        roots[top] = (top, [])
        if not roots:
            return
        for node, up, unit in loads:
            root = roots.get(node.id)
            if root is None:
                continue
            base, first = root
            names = list(first)
            refs: list[tuple[ast.AST, _Up]] = [(node, up)] if first else []
            current: ast.AST = node
            while up is not None and type(up[0]) is ast.Attribute and up[0].value is current:
                current, up = up[0], up[1]
                names.append(current.attr)  # type: ignore[attr-defined]
                refs.append((current, up))
            prefix = [base]
            for index, name in enumerate(names):
                ref, ref_up = refs[index]
                kind, before = self._use(ref, ref_up, unit)
                self._add(name, (".".join(prefix), name, None, kind, before))
                if index >= 1:
                    owner = names[index - 1]
                    self._add(f"{owner}.{name}", (".".join(prefix[:-1]), owner, name, kind, before))
                prefix.append(name)

    def _add(self, key: str, site: _Site) -> None:
        self.uses.setdefault(key, []).append(site)

    def _use(self, ref: ast.AST, up: _Up, unit: ast.AST) -> tuple[str, bool]:
        """(kind, runs before the fork) of one use."""
        kind, where = _classify(ref, up, unit)
        return kind, kind == "harmless" or (where is not None and (where is self.tree or where in self.before))

    def _before(self, functions: list[tuple[ast.AST, _Up, ast.AST]],
                loads: list[tuple[ast.Name, _Up, ast.AST]]) -> set[ast.AST]:
        """Units that run before the fork: the app factory, class-creation hooks of
        classes defined at import time, and module-level helpers only such code (or the
        top level) calls, by name in this file."""
        tree = self.tree
        module_functions = [(func, up) for func, up, unit in functions if unit is tree]
        if not module_functions:
            return set()
        wanted = {func.name for func, _ in module_functions}  # type: ignore[attr-defined]
        loads_by_name: dict[str, list[tuple[ast.Name, _Up, ast.AST]]] = {}
        for load in loads:
            if load[0].id in wanted:
                loads_by_name.setdefault(load[0].id, []).append(load)
        fixed: set[ast.AST] = set()
        helpers: dict[ast.AST, list[tuple[str, ast.AST | None]]] = {}
        for func, up in module_functions:
            name = func.name  # type: ignore[attr-defined]
            klass = _enclosing_class(up)
            if name in self.factories:
                fixed.add(func)
                continue
            if klass is not None:
                if name in CLASS_CREATION_HOOKS or (
                        name in METACLASS_HOOKS
                        and any(_last_name(b) in METACLASS_BASES for b in klass.bases)):
                    fixed.add(func)
                continue
            if _has_opaque_decorator(func):
                continue
            kinds = [_classify(ref, ref_up, unit) for ref, ref_up, unit in loads_by_name.get(name, ())]
            kinds = [k for k in kinds if k[0] != "harmless"]
            if kinds and all(kind != "escape" for kind, _ in kinds):
                helpers[func] = kinds
        before = set(helpers) | fixed
        changed = True
        while changed:
            changed = False
            for func, kinds in helpers.items():
                if func in before and not all(u is tree or u in before for _, u in kinds):
                    before.discard(func)
                    changed = True
        return before


def _classify(ref: ast.AST, up: _Up, unit: ast.AST) -> tuple[str, ast.AST | None]:
    """How ``ref`` (a load, whose unit is ``unit``) uses what it names, and the unit where
    that use runs: ``call`` / ``decorator-call`` (``@factory(...)`` or
    ``factory(...)(target)``: what the factory returns is applied on the spot) /
    ``decorator``; ``harmless`` (``f.__name__``) and ``escape`` (anything else) run nowhere."""
    parent = up[0] if up is not None else None
    if type(parent) is ast.Call and parent.func is ref:
        grand = up[1][0] if up[1] is not None else None
        applied = (isinstance(grand, _DEFS) and any(d is parent for d in grand.decorator_list)) \
            or (type(grand) is ast.Call and grand.func is parent)
        return ("decorator-call" if applied else "call"), unit
    if isinstance(parent, _DEFS) and any(d is ref for d in parent.decorator_list):
        return "decorator", unit
    if type(parent) is ast.Attribute and parent.value is ref and parent.attr in HARMLESS_ATTRS:
        return "harmless", None
    return "escape", None


def _enclosing_class(up: _Up) -> ast.ClassDef | None:
    """The class whose body holds the node with ancestry ``up`` (not across a function)."""
    while up is not None:
        parent = up[0]
        if isinstance(parent, (*_FUNCTIONS, ast.Lambda, ast.Module)):
            return None
        if isinstance(parent, ast.ClassDef):
            return parent
        up = up[1]
    return None


def _has_opaque_decorator(func: ast.AST) -> bool:
    for decorator in func.decorator_list:  # type: ignore[attr-defined]
        expr = decorator.func if isinstance(decorator, ast.Call) else decorator
        if _last_name(expr) not in TRANSPARENT_DECORATORS:
            return True
    return False


def _last_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _read_text(path: Path | str) -> str | None:
    """A file's text as Python reads it (PEP 263 cookie, else UTF-8 with replacement
    characters), NFKC-normalised when it is not: Python normalises identifiers, so the
    names in the text are then spelled as the tree spells them.  None when unreadable."""
    from raptor_lint.source import SourceError, decode_python

    try:
        with open(path, "rb") as stream:
            data = stream.read()
    except OSError:
        return None
    if data.isascii():
        return data.decode("ascii")
    try:
        text = decode_python(data)
    except SourceError:
        text = data.decode("utf-8", errors="replace")
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return text


def _dotted_before(text: str, name: str) -> list[tuple[str, str]] | None:
    """(first, last) name of the dotted chain of every ``first.….last.name`` in
    ``text`` (spaces, backslash continuations and line breaks allowed around the dots);
    occurrences not after a dot, or after a call or subscript (``f().name``), give none.
    Comment lines between the parts are skipped.  None when the text alone cannot tell:
    text that is not NFKC-normalised (see _read_text), a line break after code and a
    ``#`` (a comment may hide a name), a parenthesised chain (``(mod).name``) or a
    parenthesis it cannot match."""
    if not text.isascii() and not unicodedata.is_normalized("NFKC", text):
        return None
    chains: list[tuple[str, str]] = []
    size = len(name)
    start = text.find(name)
    while start != -1:
        end = start + size
        if (start and _is_word_char(text[start - 1])) or (end < len(text) and _is_word_char(text[end])):
            start = text.find(name, end)
            continue
        index = _skip_gap_back(text, start)
        if index is None:
            return None
        first = last = None
        while index >= 0 and text[index] == ".":
            index = _skip_gap_back(text, index)
            if index is None:
                return None
            if index >= 0 and text[index] == ")":
                if not _closes_call(text, index):
                    return None
                first = None  # the chain starts at a call: not an imported name
                break
            stop = index
            while index >= 0 and _is_word_char(text[index]):
                index -= 1
            word = text[index + 1:stop + 1]
            if not word or word[0].isdigit():
                first = None
                break
            last = last or word
            first = word
            index = _skip_gap_back(text, index + 1)
            if index is None:
                return None
        if first is not None and last is not None:
            chains.append((first, last))
        start = text.find(name, end)
    return chains


def _closes_call(text: str, close: int) -> bool:
    """Whether the ``)`` at ``close`` ends a call's arguments (``f(x)``); False for a
    parenthesised expression or a parenthesis it cannot match (strings, comments)."""
    depth = 0
    index = close
    while index >= 0:
        char = text[index]
        if char == ")":
            depth += 1
        elif char == "(":
            depth -= 1
            if depth == 0:
                break
        elif char in "\"'#":
            return False
        index -= 1
    if index < 0:
        return False
    before = _skip_gap_back(text, index)
    if before is None or before < 0:
        return False
    if text[before] in ")]":
        return True
    stop = before
    while before >= 0 and _is_word_char(text[before]):
        before -= 1
    word = text[before + 1:stop + 1]
    return bool(word) and not keyword.iskeyword(word) and not word[0].isdigit()


def _skip_gap_back(text: str, index: int) -> int | None:
    """The index of the last character before ``index`` that is not a space, tab, form
    feed, backslash, line break or comment line (-1 at the start); None at a line break
    after a line with code and ``#`` (a comment may hide a name)."""
    index -= 1
    while index >= 0:
        char = text[index]
        if char in " \t\f\\":
            index -= 1
        elif char == "\n" or char == "\r":
            line_start = max(text.rfind("\n", 0, index), text.rfind("\r", 0, index)) + 1
            line = text[line_start:index]
            if "#" in line:
                if not line.lstrip(" \t\f").startswith("#"):
                    return None  # code, then perhaps a comment: cannot tell where it starts
                index = line_start  # a comment line: skip it
            index -= 1
        else:
            return index
    return index


def _is_word_char(char: str) -> bool:
    """A character that may continue an identifier."""
    return char.isalnum() or char == "_" or (not char.isascii() and ("a" + char).isidentifier())


def _module_word(path: Path) -> str:
    """The last component of the dotted name of the module at ``path``."""
    return path.parent.name if path.name == "__init__.py" else path.stem
