"""``.gitignore``, ``.ignore`` and ``.git/info/exclude``, as Ruff respects them while walking.

Ruff walks with the ``ignore`` crate's standard filters: ``.ignore`` files count anywhere,
``.gitignore`` files and ``.git/info/exclude`` only inside a git repository (a ``.git``
directory or file in the directory or above it).  The same here, with git's semantics from
``pathspec``'s ``GitIgnoreSpec`` (negation, anchored and directory-only patterns, ``**``):

- a file in a deeper directory overrides a shallower one, ``.ignore`` overrides
  ``.gitignore`` of the same directory, ``.git/info/exclude`` comes last; within a file the
  last matching pattern decides, and ``!pattern`` re-includes;
- an ignored directory is not entered, so nothing below it can be re-included (git's rule);
- the ignore files of the directories above the walked one count too, from the top of the
  repository (outside one: from the project root) down.

Not read: git's global excludes file (``core.excludesFile``) — reading git's configuration
is a process per run.  ``respect-gitignore = false`` turns all of this off.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from pathspec import GitIgnoreSpec

GITIGNORE = ".gitignore"
DOT_IGNORE = ".ignore"
# Ignore files larger than this are not read (a generated gitignore of a few MB would
# make every walk slow; git itself handles them, we skip them).
MAX_IGNORE_FILE_BYTES = 1 << 20


@dataclass(frozen=True)
class Rules:
    """One ignore file: the directory its patterns are relative to, the patterns, and one
    regex matching what any of them matches (``None``: unavailable)."""
    base: str
    spec: "GitIgnoreSpec"
    any_pattern: "Callable[[str], object] | None" = None

    def verdict(self, rel: str) -> bool | None:
        """True: ignored, False: re-included (``!pattern``), None: no pattern matches
        ``rel`` itself (a directory ends with ``/``).  The last pattern that matches the
        path itself decides, as in git; a match through one of its directories does not
        count: the walk decided that directory when it met it (and does not enter an
        ignored one), and a directory named on the command line is walked, as in Ruff.
        Most paths match no pattern: one combined regex says so first, instead of trying
        each pattern in turn (a 90-line .gitignore made a 3,700-file walk ~3x slower)."""
        if self.any_pattern is not None and self.any_pattern(rel) is None:
            return None
        for pattern in reversed(self.spec.patterns):
            regex = getattr(pattern, "regex", None)
            if pattern.include is None or regex is None:
                continue
            match = regex.match(rel)
            # A directory pattern that matched one of the path's directories marks it with a group.
            if match is not None and (not any(match.groupdict().values()) or match.end() == len(rel)):
                return bool(pattern.include)
        return None


# The ignore files in force in a directory, shallowest first.
Scope = tuple[Rules, ...]


class IgnoreFiles:
    """What the ignore files say about the entries of a walk (one per run)."""

    def __init__(self, root: str) -> None:
        # Outside a repository, parents' ``.ignore`` files are read from the project root down.
        self.project_root = root
        self._repo_top: dict[str, str | None] = {}
        self._scopes: dict[str, Scope] = {}

    # ------------------------------------------------------------------ scopes
    def scope_for(self, directory: str) -> Scope:
        """The rules in force for the entries of ``directory`` (absolute, real path): those
        of the directories above it and its own."""
        scope = self._scopes.get(directory)
        if scope is None:
            scope = self.extend(self.inherited(directory), directory, _listing(directory))
            self._scopes[directory] = scope
        return scope

    def inherited(self, directory: str) -> Scope:
        """The rules ``directory`` inherits: its parents' down from the repository's top
        (outside a repository: the project root), and ``.git/info/exclude``."""
        top = self.repo_top(directory) or self.project_root
        parent = os.path.dirname(directory)
        if directory == top or parent == directory or not _inside(directory, top):
            return self._outermost(directory)
        return self.scope_for(parent)

    def _outermost(self, directory: str) -> Scope:
        """``.git/info/exclude`` of the repository whose top ``directory`` is, if it is one."""
        top = self.repo_top(directory)
        if top != directory:
            return ()
        rules = _read_rules(os.path.join(directory, ".git", "info", "exclude"), directory)
        return (rules,) if rules is not None else ()

    def extend(self, scope: Scope, directory: str, names: "set[str] | list[str]") -> Scope:
        """``scope`` with ``directory``'s own ignore files (``names``: its listing; the
        walk already has it, so a directory without ignore files costs three look-ups).
        A directory holding ``.git`` is the top of a repository of its own (a submodule, a
        vendored checkout): as in git, the ignore files above it do not apply inside it."""
        if ".git" in names:
            scope = self._outermost(directory)
        found = []
        if GITIGNORE in names and self.repo_top(directory) is not None:
            found.append(GITIGNORE)
        if DOT_IGNORE in names:
            found.append(DOT_IGNORE)  # after .gitignore: checked first, it wins
        for name in found:
            rules = _read_rules(os.path.join(directory, name), directory)
            if rules is not None:
                scope = (*scope, rules)
        return scope

    def repo_top(self, directory: str) -> str | None:
        """The top of the git repository holding ``directory`` (memoised per directory)."""
        if directory in self._repo_top:
            return self._repo_top[directory]
        parent = os.path.dirname(directory)
        if os.path.lexists(os.path.join(directory, ".git")):
            top: str | None = directory
        elif parent == directory:
            top = None
        else:
            top = self.repo_top(parent)
        self._repo_top[directory] = top
        return top

    # ---------------------------------------------------------------- matching
    @staticmethod
    def ignored(scope: Scope, path: str, is_dir: bool) -> bool:
        """Is ``path`` (absolute, real) ignored by ``scope``?  The deepest ignore file
        with a matching pattern decides; its last matching pattern wins."""
        for rules in reversed(scope):
            rel = path[len(rules.base):].lstrip(os.sep)
            if os.sep != "/":  # pragma: no cover - Windows
                rel = rel.replace(os.sep, "/")
            verdict = rules.verdict(rel + "/" if is_dir else rel)
            if verdict is not None:
                return verdict
        return False

    def is_ignored(self, path: str) -> bool:
        """For a path outside a walk (a file named with ``--force-exclude``): is it, or a
        directory above it up to the repository's top, ignored?"""
        real = os.path.realpath(path)
        directory = os.path.dirname(real)
        top = self.repo_top(directory) or self.project_root
        if self.ignored(self.scope_for(directory), real, os.path.isdir(real)):
            return True
        while _inside(directory, top) and directory != top:
            parent = os.path.dirname(directory)
            if self.ignored(self.scope_for(parent), directory, True):
                return True
            directory = parent
        return False


def _inside(path: str, top: str) -> bool:
    return path == top or path.startswith(top.rstrip(os.sep) + os.sep)


def _listing(directory: str) -> set[str]:
    names = set()
    for name in (GITIGNORE, DOT_IGNORE):
        if os.path.isfile(os.path.join(directory, name)):
            names.add(name)
    return names


def _read_rules(path: str, base: str) -> Rules | None:
    """The patterns of one ignore file; None when it is missing, unreadable, not a regular
    file or too large (an ignore file never stops a run)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return _compile(path, base, info.st_size, info.st_mtime_ns)


# By (path, size, mtime): a long-lived process (the language server, ``--force-exclude``
# asked once per named file) compiles each version of an ignore file once.
@functools.lru_cache(maxsize=256)
def _compile(path: str, base: str, size: int, _mtime_ns: int) -> Rules | None:
    from pathspec import GitIgnoreSpec

    from raptor_lint.safe_read import read_regular_file

    if size > MAX_IGNORE_FILE_BYTES:
        return None
    try:
        data = read_regular_file(path, limit=MAX_IGNORE_FILE_BYTES)  # it may have grown since
    except OSError:  # UnreadableFile
        return None
    lines = data.decode("utf-8", "surrogateescape").splitlines()
    try:
        spec = GitIgnoreSpec.from_lines(lines)
    except Exception:  # noqa: BLE001 - a pattern pathspec cannot compile: ignore the file, as a typo
        return None
    return Rules(base, spec, _any_pattern(spec)) if len(spec) else None


# How pathspec spells "at any depth": a pattern without a slash matches any path component.
_ANY_DEPTH = "^(?:.+/)?"


def _any_pattern(spec: "GitIgnoreSpec") -> "Callable[[str], object] | None":
    """A test that is true when at least one of ``spec``'s patterns matches a path.

    Each pattern's regex is anchored with ``^``; their named groups become plain groups.
    The patterns without a slash (``*.pyc``, ``build/``: most of a .gitignore) start with
    ``(?:.+/)?``, which Python's engine retries at every ``/`` for every pattern: they are
    combined into one regex on the path's last component (its directories were matched
    when the walk entered them, and an ignored one is not entered)."""
    anywhere, anchored = [], []
    for pattern in spec.patterns:
        if pattern.include is None:  # a comment or blank line
            continue
        regex = getattr(pattern, "regex", None)
        if regex is None or "(?P=" in regex.pattern:
            return None
        text = re.sub(r"\(\?P<\w+>", "(?:", regex.pattern)
        tail = text[len(_ANY_DEPTH):]
        if text.startswith(_ANY_DEPTH) and "/" not in tail.replace("(?:/)", "").replace("[^/]", ""):
            anywhere.append(f"(?:{tail})")
        else:
            anchored.append(f"(?:{text})")
    try:
        last = re.compile("^(?:" + "|".join(anywhere) + ")").match if anywhere else None
        full = re.compile("|".join(anchored)).match if anchored else None
    except re.error:
        return None

    def matches(rel: str) -> bool | None:
        if full is not None and full(rel):
            return True
        if last is not None:
            name = rel[rel.rstrip("/").rfind("/") + 1:]
            if last(name):
                return True
        return None

    return matches
