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
from pathlib import Path
from typing import TYPE_CHECKING, Iterable

from raptor_lint.project.layout import is_test_code
from raptor_lint.execution import ExecutionModel, Use
from raptor_lint.safe_read import read_regular_file
from raptor_lint.semantic import SemanticModel, absolute_module

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.project import ProjectIndex
    from raptor_lint.project.modules import ModuleIndex

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
                # Asked and answered: a name with no use elsewhere maps to [] (the family
                # tells "nobody calls it" from "not asked").
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
            files: Iterable[tuple[Path, str]] = self._project.files \
                if self._project.files is not None else iter_files([self._project.root], self._project.config)
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
                tree = parse_python(decode_python(read_regular_file(path)), str(path))
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

    Where a use runs is decided by the same semantic and call models the family uses on
    the file it checks (``raptor_lint.semantic``, ``raptor_lint.execution``): one
    definition of "before the fork" for both sides of an import.

    Plain tuples of strings and booleans, not NamedTuples or dataclasses: summaries live
    for the whole run, and the cyclic collector stops tracking a plain tuple of atoms,
    so full collections in a flake8 worker do not walk tens of thousands of them
    (tests/test_fork_safety.py)."""
    model = SemanticModel(tree, None, package)
    if not model.imports:
        return {}
    execution = ExecutionModel(model, factories)
    found: dict[str, list[_Site]] = {}

    def add(key: str, site: _Site) -> None:
        found.setdefault(key, []).append(site)

    # A local name is a root: ``from M import N [as L]`` makes ``L`` stand for ``M.N``;
    # ``import D as L`` for the module ``D``; ``import D`` binds ``D``'s top package.
    # Along ``L.a.b.f(...)`` each name may be a function of the module spelled by the
    # names before it (key ``f``), or a method of the class just before it (key
    # ``b.f``); resolution decides which ones are real.
    roots: dict[ast.alias, tuple[str, list[str]]] = {}
    for statement in model.imports:
        for alias in statement.names:
            if alias.name == "*":
                continue
            if isinstance(statement, ast.ImportFrom):
                module = absolute_module(package, statement.module, statement.level)
                if module:
                    roots[alias] = (module, [alias.name])
            elif alias.asname:
                roots[alias] = (alias.name, [])
            else:
                top = alias.name.split(".")[0]
                roots[alias] = (top, [])
    if not roots:
        return {}
    parent_of = model.parents.get
    bound_by_imports = {alias.asname or alias.name.split(".")[0] for alias in roots}
    for name, loads in model.loads.items():
        if name not in bound_by_imports:
            continue  # no import binds this name anywhere: no site
        for node in loads:
            bindings = model.resolve(node)[1]
            root = None
            for binding in bindings:
                if isinstance(binding, ast.alias) and binding in roots:
                    root = roots[binding]
                    break
            if root is None:
                continue
            base, first = root
            names = list(first)
            refs: list[ast.AST] = [node] if first else []
            current: ast.AST = node
            parent = parent_of(current)
            while type(parent) is ast.Attribute and parent.value is current:
                assert isinstance(parent, ast.Attribute)
                current = parent
                names.append(parent.attr)
                refs.append(parent)
                parent = parent_of(current)
            prefix = [base]
            for index, part in enumerate(names):
                kind, where = execution.invocation(refs[index])
                before = kind == "harmless" or (where is not None and execution.is_before_fork(where))
                add(part, (".".join(prefix), part, None, kind, before))
                if index >= 1:
                    owner = names[index - 1]
                    add(f"{owner}.{part}", (".".join(prefix[:-1]), owner, part, kind, before))
                prefix.append(part)
    return {key: tuple(sites) for key, sites in found.items()}


def _read_text(path: Path | str) -> str | None:
    """A file's text as Python reads it (PEP 263 cookie, else UTF-8 with replacement
    characters), NFKC-normalised when it is not: Python normalises identifiers, so the
    names in the text are then spelled as the tree spells them.  None when unreadable."""
    from raptor_lint.source import SourceError, decode_python

    try:
        data = read_regular_file(path)  # never a FIFO or a device (UnreadableFile is an OSError)
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
