"""What each module of the project exports to the Redis rules (RPT201–RPT205).

The Redis family recognises a client that comes from another module of the project
(``from svc.clients import get_client``; ``store = clients.shared``).  All another
module has to tell is small: which of its top-level names is a client or pipeline
(``shared = redis.Redis()``) and which is a function returning one (and whether that
function may return None instead, RPT205).  A *summary* is exactly that,
``{name: (value kind, function kind, may return None)}`` for the names where either is
known, computed once per module per run from a tree that is dropped right after
(no module's tree outlives its summary).

Hops bound how far imports are followed, as before: the file being linted looks at
summaries at hop 1, a hop-1 summary at hop 2, ...; a summary at ``MAX_HOPS`` follows
no import.  So a module has up to ``MAX_HOPS`` summaries, each memoised.

The gate that keeps this cheap: a module whose text never says "redis" (any case) can
only get a client through an import, and a name another module exports is always
written in the importing text (``from m import name``, ``m.name``).  So such a
module needs a model only when one of the modules its import statements can reach
(``imported_paths``, read from the text: ``from``/``import`` statements and
``pkg.sub.name`` chains on imported packages) has a summary naming something the text
contains; otherwise its summary is empty without a parse.  ``needs_model`` applies the
same test to the file being linted.

The kinds themselves come from the rule family, reading the module's semantic model
(``raptor_lint.semantic``, built here once per parsed module and shared by its hops):
``summarise(model, path, hops)`` is handed in by ``raptor_lint.rules.redis_state``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from raptor_lint.safe_read import read_regular_file
from raptor_lint.semantic import SemanticModel
from raptor_lint.source import SourceError, decode_python, parse_python

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.project import ProjectIndex

MAX_HOPS = 3
Export = tuple  # (value kind | None, function kind | None, function may return None)
Summary = dict  # name -> Export; only names with a known kind
EMPTY: Summary = {}

# ``import`` as a word; the ``from …`` head (if any) is read back on the same line.
_IMPORT_WORD = re.compile(r"import\b")
_FROM_HEAD = re.compile(r"(?:^|[^\w.])from(?=[\s.])\s*([.\s]*[\w.]*?)\s*$")
_IMPORTED = re.compile(r"[ \t]*(\([^)]*\)|[^\n#;]*)")
_COMMENT = re.compile(r"#[^\n]*")
_CONTINUATION = re.compile(r"\\\r?\n")


# After an imported package's name: ``.sub.attr`` (at least two dots: the module part,
# all but the last name, then goes beyond the package).
_CHAIN = r"((?:\s*\.\s*[^\W\d]\w*){2,})"


class RedisExports:
    """Export summaries of the project's modules, memoised for the run."""

    def __init__(self, project: "ProjectIndex",
                 summarise: Callable[[SemanticModel, Path, int], Summary]) -> None:
        self._summarise = summarise
        # path -> (mentions redis, project modules its imports reach)
        self._facts: dict[Path, tuple[bool, tuple[Path, ...]]] = {}
        self._summaries: dict[tuple[Path, int], Summary] = {}
        self._building: list[int] = []  # hops of the summaries being built (a stack)
        self._modules = project.modules
        # (path, len, hash) of a text -> what its imports reach: the file being linted is
        # usually imported by others too, and its text is the file's.
        self._imports: dict[tuple[Path, int, int], tuple[Path, ...]] = {}

    # ------------------------------------------------------------------ lookups
    def find(self, dotted: str, from_path: Path | str) -> Path | None:
        """The project module ``dotted`` as imported from ``from_path`` (resolved), or None
        for names starting with ``redis``, modules outside the project and the module
        itself: the Redis family knows the client library by name,
        and never follows a module into itself."""
        return self._project_module(dotted, from_path, self._modules.real_path(from_path))

    def _project_module(self, dotted: str, importer: Path | str, importer_real: Path) -> Path | None:
        if dotted.startswith("redis"):
            return None
        found = self._modules.find_module(dotted, importer)
        return None if found is None or found == importer_real else found

    def summary(self, path: Path, hops: int) -> Summary:
        """``{name: (value kind, function kind, may return None)}`` of the module at ``path`` (resolved) as seen
        ``hops`` imports away from the file being linted."""
        key = (path, hops)
        found = self._summaries.get(key)
        if found is not None:
            return found
        self._summaries[key] = EMPTY  # hops only grow along imports: never asked while built
        self._building.append(hops)
        try:
            facts, text = self._facts_of(path)
            if facts is not None:
                mentions, targets = facts
                if mentions or self._hot_targets(targets, hops):
                    if text is None:
                        text = _read(path)
                    if text is not None and (mentions or self._names_hot(text, targets, hops)):
                        self._summarise_text(text, path, hops, mentions)
        finally:
            self._building.pop()
        return self._summaries[key]

    def _summarise_text(self, text: str, path: Path, hops: int, mentions: bool) -> None:
        try:
            tree = parse_python(text, str(path))
        except (SourceError, RecursionError, ValueError, MemoryError):
            return  # unparsable: exports nothing known
        modules = self._modules

        def package() -> list[str]:
            try:
                return modules.package(path)
            except (OSError, ValueError, RuntimeError):
                return []

        model = SemanticModel(tree, text, package)
        self._summaries[(path, hops)] = self._summarise_model(model, path, hops)
        if not mentions:
            return
        # A module that mentions redis is usually reached at every hop, the deepest first:
        # the same model serves the other hops, as far as that is exact.  A summary at hop h
        # reads summaries at hops > h only, so it must not be built here while one at a hop
        # above h is still being built (it would read that one's placeholder).
        callers = max(self._building[:-1], default=0)  # [-1]: this one, built above
        for other in range(max(callers, 1), MAX_HOPS + 1):
            if (path, other) not in self._summaries:
                self._summaries[(path, other)] = EMPTY
                self._building.append(other)
                try:
                    self._summaries[(path, other)] = self._summarise_model(model, path, other)
                finally:
                    self._building.pop()

    def _summarise_model(self, model: SemanticModel, path: Path, hops: int) -> Summary:
        try:
            return self._summarise(model, path, hops) or EMPTY
        except RecursionError:
            return EMPTY  # nested too deep for the kind analysis: exports nothing known

    def needs_model(self, text: str, path: Path, hops: int = 0) -> bool:
        """Can a module with this text (not mentioning redis) get a client from an import?"""
        if hops >= MAX_HOPS:
            return False
        targets = self.imported_paths(text, path)
        return self._hot_targets(targets, hops) and self._names_hot(text, targets, hops)

    # ------------------------------------------------------------------ plumbing
    def _hot_targets(self, targets: tuple[Path, ...], hops: int) -> bool:
        return hops < MAX_HOPS and any(self.summary(target, hops + 1) for target in targets)

    def _names_hot(self, text: str, targets: tuple[Path, ...], hops: int) -> bool:
        return any(name in text for target in targets for name in self.summary(target, hops + 1))

    def _facts_of(self, path: Path) -> tuple[tuple[bool, tuple[Path, ...]] | None, str | None]:
        """((mentions redis, project modules its imports reach), its text when just read).
        Like every project fact, kept for the run."""
        facts = self._facts.get(path)
        if facts is not None:
            return facts, None
        text = _read(path)
        facts = (False, ()) if text is None else ("redis" in text.lower(), self.imported_paths(text, path))
        self._facts[path] = facts
        return facts, text

    def imported_paths(self, text: str, path: Path) -> tuple[Path, ...]:
        """Project modules the import statements of ``text`` (the module at ``path``) can
        reach: over-approximated from the text, never missing one the Redis family follows
        (``from m import a`` may import the module ``m.a``; ``import pkg`` then
        ``pkg.sub.f()`` reaches ``pkg.sub``)."""
        key = (self._modules.real_path(path), len(text), hash(text))
        found = self._imports.get(key)
        if found is None:
            # As text: ``ModuleIndex`` keys importers by ``str(path)``, asked below per name.
            found = self._imports[key] = self._imported_paths(text, str(path))
        return found

    def _imported_paths(self, text: str, importer: str) -> tuple[Path, ...]:
        is_dir, absolute = self._modules.is_package_dir, self._modules.absolute_module
        if "\\" in text:
            text = _CONTINUATION.sub(" ", text)
        found: dict[Path, None] = {}
        modules: set[str] = set()
        packages: dict[str, set[str]] = {}  # local name -> dotted packages it may stand for
        for match in _IMPORT_WORD.finditer(text):
            start = match.start()
            if start:
                before = text[start - 1]
                if before.isalnum() or before == "_" or before == ".":
                    continue
            head = text[text.rfind("\n", 0, start) + 1:start]
            from_head = _FROM_HEAD.search(head) if "from" in head else None
            if from_head is not None:  # from <dots>module import a [as b], ...
                spec = from_head.group(1)
                if not spec.isidentifier():
                    spec = "".join(spec.split())
                level = len(spec) - len(spec.lstrip("."))
                base = absolute(importer, spec[level:] or None, level)
                if not base:
                    continue
                modules.add(base)
                if not is_dir(base, importer):
                    continue  # a module, or outside the project: its names are no modules here
            names = _IMPORTED.match(text, match.end()).group(1)  # type: ignore[union-attr]
            if "#" in names:
                names = _COMMENT.sub("", names)
            names = names.strip().strip("()")
            if from_head is None:  # import a.b.c [as d], ...
                for item in names.split(","):
                    words = item.split()
                    if not words:
                        continue
                    parts = words[0].split(".")
                    modules.add(parts[0])
                    for end in range(1, len(parts)):  # a.b needs the directory a
                        if not is_dir(".".join(parts[:end]), importer):
                            break
                        modules.add(".".join(parts[:end + 1]))
                    local, dotted = (words[2], words[0]) if len(words) >= 3 and words[1] == "as" \
                        else (parts[0], parts[0])
                    if is_dir(dotted, importer):
                        packages.setdefault(local, set()).add(dotted)
                continue
            for item in names.split(","):
                words = item.split()
                if not words or not words[0].isidentifier():
                    continue
                dotted = f"{base}.{words[0]}"
                modules.add(dotted)
                if is_dir(dotted, importer):
                    local = words[2] if len(words) >= 3 and words[1] == "as" else words[0]
                    packages.setdefault(local, set()).add(dotted)
        # ``pkg.sub.name`` on an imported package reaches the submodule ``pkg.sub``.
        for local, dotted_names in packages.items():
            if not local.isidentifier():
                continue
            for chain in re.finditer(re.escape(local) + _CHAIN, text):
                start = chain.start()
                if start and (text[start - 1].isalnum() or text[start - 1] in "_."):
                    continue
                attrs = "".join(chain.group(1).split()).strip(".").split(".")
                for dotted in dotted_names:
                    for end in range(1, len(attrs)):
                        modules.add(".".join([dotted, *attrs[:end]]))
        importer_real = self._modules.real_path(importer)
        for dotted in sorted(modules):  # a stable order: summaries are computed in it
            target = self._project_module(dotted, importer, importer_real)
            if target is not None:
                found[target] = None
        return tuple(found)


def _read(path: Path) -> str | None:
    try:
        return decode_python(read_regular_file(path))  # never a FIFO or a device
    except (OSError, SourceError, ValueError):
        return None


__all__ = ["EMPTY", "MAX_HOPS", "RedisExports"]
