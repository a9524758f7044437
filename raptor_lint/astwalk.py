"""A faster ``ast.walk`` for the rule families, and one walk per file instead of one per family.

``ast.walk`` runs two generators per node (``iter_child_nodes``/``iter_fields``) and
visits every expression context (``Load()``), operator and alias: ~17 ms on a 2,000-line
module, and four families used to do it on every file they check.  ``walk`` visits the
same nodes in the same breadth-first order, minus those that no rule looks at (contexts,
operators, import aliases, and the non-node fields), ~3x faster; for a module it also keeps
the result on the tree, so the second family's walk is a list iteration.
"""

from __future__ import annotations

import ast
import contextlib
import gc
from itertools import chain
from typing import Iterable, Iterator

# Fields that never hold a child worth visiting: names, operators and contexts (``ctx``
# singletons), flags.
LEAF_FIELDS = frozenset({
    "ctx", "op", "ops", "id", "attr", "name", "arg", "names", "module", "level", "kind",
    "type_comment", "conversion", "is_async", "kwd_attrs", "rest", "asname", "tag", "lineno",
})
_CHILD_FIELDS: dict[type, tuple[str, ...]] = {}
_CACHE_ATTRIBUTE = "_raptor_lint_descendants"


def child_fields(cls: type) -> tuple[str, ...]:
    """The fields of an ``ast`` node class that may hold child nodes (or lists of them);
    () for leaves and for anything that is not a node (``None``, ``str``)."""
    fields = _CHILD_FIELDS.get(cls)
    if fields is None:
        if not (isinstance(cls, type) and issubclass(cls, ast.AST)) \
                or cls is ast.Constant or cls is ast.MatchSingleton:
            fields = ()
        else:
            fields = tuple(field for field in cls._fields if field not in LEAF_FIELDS)
        _CHILD_FIELDS[cls] = fields  # noqa: RPT101 - a per-process memo of ast classes
    return fields


def children(node: ast.AST) -> list[ast.AST]:
    """The child nodes of ``node`` that matter to name and call analysis, in field order."""
    found: list[ast.AST] = []
    for field in child_fields(type(node)):
        value = getattr(node, field, None)
        if type(value) is list:
            found.extend(item for item in value if item is not None)
        elif value is not None:
            found.append(value)
    return found


def walk(node: ast.AST) -> Iterable[ast.AST]:
    """``node`` and its descendants in ``ast.walk``'s order, without contexts, operators
    and aliases.  A module's walk is computed once and kept on the tree (the list holds
    only descendants, which never point back: no reference cycle)."""
    if isinstance(node, ast.Module):
        descendants = node.__dict__.get(_CACHE_ATTRIBUTE)
        if descendants is None:
            descendants = _descendants(node)
            setattr(node, _CACHE_ATTRIBUTE, descendants)
        return chain((node,), descendants)
    return chain((node,), _descendants(node))


def _descendants(root: ast.AST) -> list[ast.AST]:
    found: list[ast.AST] = []
    append = found.append
    AST = ast.AST
    current: ast.AST = root
    index = 0
    while True:
        for field in child_fields(type(current)):
            value = getattr(current, field, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, AST):
                        append(item)
            elif isinstance(value, AST):
                append(value)
        if index == len(found):
            return found
        current = found[index]
        index += 1


@contextlib.contextmanager
def no_gc() -> Iterator[None]:
    """The cyclic garbage collector off for a while (``Engine.lint_text``: a whole check).
    ``ast`` trees, and everything the rule families build from them, hold no reference
    cycles: reference counting frees them.  But building them allocates so many objects
    that the collector runs over and over, scanning every live object each time it
    reaches the old generation (measured on the benchmark corpus: half of ``ast.parse``'s
    time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
