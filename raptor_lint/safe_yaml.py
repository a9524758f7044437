"""YAML read with alias expansion and nesting bounded.

PyYAML's ``SafeLoader`` is safe against code execution, not against size: an alias is a
reference, so ``x: &a [*a]`` composes into a node graph with a cycle (a walk without a
visited set never ends), and nine lines of nine aliases each (a "billion laughs"
document) compose into ~400 million references for a walk to visit.  Deep nesting runs
the composer, which is recursive, out of stack (``RecursionError``).  All three are
valid YAML, so like ``kubectl`` ("document contains excessive aliasing") and go-yaml
this loader refuses them while composing, with a ``YAMLRefused`` naming the position:

* an alias to a node that contains it (a recursive alias);
* more than ``MAX_ALIAS_EXPANSION`` nodes reached through aliases in one document
  (each alias counts the size of its anchored node with its own aliases expanded);
* nesting deeper than ``MAX_DEPTH`` collections;
* a text of more than ``MAX_YAML_CHARS`` (1 million) characters: PyYAML's pure-Python
  parser (the composer hooks need it) reads 30-100 KB a second, so the 16 MB a read allows
  (or the 2 million characters the engine lints) would take minutes; 1 million takes 10-30 s.
  GitLab itself refuses a CI file over 2 MB (``max_yaml_size_bytes``); CI files and
  manifests are kilobytes.

Legitimate anchors (GitLab CI's ``<<: *defaults``, a shared ``env:``) expand to a few
hundred nodes.  ``YAMLRefused`` is a ``yaml.MarkedYAMLError``: code that handles
``yaml.YAMLError`` keeps working, and ``problem``/``problem_mark`` give the reason and the
position.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.error import MarkedYAMLError
from yaml.events import AliasEvent, CollectionStartEvent

MAX_ALIAS_EXPANSION = 100_000
MAX_DEPTH = 200
MAX_YAML_CHARS = 1_000_000


class YAMLRefused(MarkedYAMLError):
    """Valid YAML the linter will not expand; ``problem`` is the one-line reason,
    ``problem_mark`` (0-based line and column) where it was found."""

    def __init__(self, problem: str, mark: Any) -> None:
        super().__init__(problem=problem, problem_mark=mark)

    @property
    def line(self) -> int:
        """1-based line of the offending alias or collection."""
        return self.problem_mark.line + 1 if self.problem_mark is not None else 1

    @property
    def column(self) -> int:
        """1-based column of the offending alias or collection."""
        return self.problem_mark.column + 1 if self.problem_mark is not None else 1

    def describe(self) -> str:
        """``reason (line L, column C)`` (the reason alone when it is about the whole text):
        one line for a message that names the file first."""
        if self.problem_mark is None:
            return str(self.problem)
        return f"{self.problem} (line {self.line}, column {self.column})"


class BoundedSafeLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` whose composer refuses recursive aliases, alias fan-out past
    ``MAX_ALIAS_EXPANSION`` nodes and nesting past ``MAX_DEPTH`` (``YAMLRefused``).

    Each composed node's expanded size (itself plus its children, aliases counted at
    their anchor's expanded size) is summed on a stack of counters as the composer
    returns; an alias adds its anchor's size to the document's alias budget.
    """

    def __init__(self, stream: Any) -> None:
        super().__init__(stream)
        self._sizes: list[int] = []  # one counter per collection being composed
        self._anchor_sizes: dict[str, int] = {}
        self._open_anchors: set[str] = set()
        self._expanded = 0

    def compose_document(self) -> Any:
        self._sizes, self._anchor_sizes, self._open_anchors, self._expanded = [], {}, set(), 0
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()
        if isinstance(event, AliasEvent):
            anchor = event.anchor or ""
            if anchor in self._open_anchors:
                raise YAMLRefused(f"recursive alias *{anchor} refers to the node that contains it",
                                  event.start_mark)
            size = self._anchor_sizes.get(anchor, 1)
            self._expanded += size
            if self._expanded > MAX_ALIAS_EXPANSION:
                raise YAMLRefused(f"aliases expand to more than {MAX_ALIAS_EXPANSION:,} nodes "
                                  f"(a \"billion laughs\" document?)", event.start_mark)
            node = super().compose_node(parent, index)
            self._count(size)
            return node
        anchor = event.anchor
        collection = isinstance(event, CollectionStartEvent)
        if collection:
            if len(self._sizes) >= MAX_DEPTH:
                raise YAMLRefused(f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
            self._sizes.append(0)
            if anchor is not None:
                self._open_anchors.add(anchor)
        try:
            node = super().compose_node(parent, index)
        finally:
            if collection:
                size = 1 + self._sizes.pop()
                if anchor is not None:
                    self._open_anchors.discard(anchor)
        if not collection:
            size = 1
        if anchor is not None:
            self._anchor_sizes[anchor] = size
        self._count(size)
        return node

    def _count(self, size: int) -> None:
        if self._sizes:
            self._sizes[-1] += size


def safe_load(text: str) -> Any:
    """``yaml.safe_load(text)`` with ``BoundedSafeLoader``: ``YAMLRefused`` (a
    ``yaml.YAMLError``) instead of a hang or a ``RecursionError``."""
    return _guarded(text, lambda: yaml.load(text, Loader=BoundedSafeLoader))


def compose_all(text: str) -> list[Any]:
    """Every document's root node (``yaml.compose_all``), composed with ``BoundedSafeLoader``:
    the node graph has no cycle and its expansion is bounded."""
    return _guarded(text, lambda: list(yaml.compose_all(text, Loader=BoundedSafeLoader)))


def _guarded(text: str, load: Any) -> Any:
    if len(text) > MAX_YAML_CHARS:
        raise YAMLRefused(f"more than {MAX_YAML_CHARS // 1_000_000} million characters (PyYAML would take minutes)",
                          None)
    try:
        return load()
    except RecursionError:  # the constructor's own recursion, on a stack already deep
        raise YAMLRefused(f"nested too deeply to read (the limit is {MAX_DEPTH} levels)", None) from None
