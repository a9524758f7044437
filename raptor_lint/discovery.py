"""Which files to lint, and what kind each one is."""

from __future__ import annotations

import errno
import os
import sys
from pathlib import Path, PurePosixPath
from typing import Callable, Iterator

from raptor_lint.config import Config
from raptor_lint.ignorefiles import IgnoreFiles, Scope
from raptor_lint.safe_read import open_regular_file

PYTHON = "python"
SHELL = "shell"
MAKEFILE = "makefile"
MARKDOWN = "markdown"
YAML = "yaml"
PROCFILE = "procfile"

_CI_YAML_DIRS = (".github/workflows", ".circleci", ".buildkite")
_CI_YAML_NAMES = {".gitlab-ci.yml", ".gitlab-ci.yaml", ".travis.yml", "bitbucket-pipelines.yml",
                  "azure-pipelines.yml", "heroku.yml"}


def file_kind(path: Path | str, *, explicit: bool = False, content: bytes | None = None) -> str | None:
    """The kind of ``path`` by name (or its shebang), or None for files no rule reads.

    ``content`` is the file's text when it does not come from disk (standard input):
    its shebang is read from there, not from a file that may not exist or differ."""
    posix = PurePosixPath(Path(path).as_posix())
    return _kind(posix.name, posix.suffix.lower(), lambda: str(posix.parent), path, explicit, content)


def _suffix(name: str) -> str:
    """``PurePath(name).suffix`` for a plain file name, without building a path object."""
    index = name.rfind(".")
    return name[index:] if 0 < index < len(name) - 1 else ""


def _kind(name: str, suffix: str, parent: "Callable[[], str]", path: Path | str, explicit: bool,
          content: bytes | None = None) -> str | None:
    if suffix == ".py":
        return PYTHON
    if suffix in {".sh", ".bash"}:
        return SHELL
    if name == "Makefile" or name == "makefile" or name == "GNUmakefile" or suffix == ".mk":
        return MAKEFILE
    if suffix in {".md", ".markdown"}:
        return MARKDOWN
    if name == "Procfile" or name.startswith("Procfile."):
        return PROCFILE
    if suffix in {".yml", ".yaml"} and (
        name in _CI_YAML_NAMES or any(part in parent() for part in _CI_YAML_DIRS)
    ):
        return YAML
    if explicit:
        if suffix in {".yml", ".yaml"}:
            return YAML
        return _kind_from_shebang(Path(path), content) or PYTHON
    if not suffix and _kind_from_shebang(Path(path), content) == SHELL:
        return SHELL
    return None


def _kind_from_shebang(path: Path, content: bytes | None = None) -> str | None:
    if content is not None:
        first = content[:200].split(b"\n", 1)[0]
    else:
        # Non-blocking, regular files only: opening a FIFO for reading would wait for a writer.
        # Any size: only the first line is read (a file too large to lint is reported as such).
        try:
            fd = open_regular_file(path, limit=sys.maxsize)
        except OSError:
            return None
        try:
            first = os.read(fd, 200).split(b"\n", 1)[0]
        except OSError:
            return None
        finally:
            os.close(fd)
    if first.startswith(b"#!"):
        if any(shell in first for shell in (b"/sh", b"bash", b"zsh", b"env sh")):
            return SHELL
        if b"python" in first:
            return PYTHON
    return None


# ``on_error(path, message)``: a directory discovery could not read (E902 for the runner).
OnError = Callable[[Path, str], None]


def iter_files(paths: list[Path], config: Config, on_error: OnError | None = None) -> Iterator[tuple[Path, str]]:
    """Yield (path, kind) for every lintable file below ``paths``, each once.

    Directories are walked without following symlinks, so symlink loops cannot
    trap the walk; explicitly named files are always linted.  What ``exclude`` and
    ``extend-exclude`` match is skipped, and so is what the ignore files say (unless
    ``respect-gitignore = false``; see raptor_lint.ignorefiles).  Order: a directory's
    files by name, then its subdirectories by name (``os.walk`` top-down, sorted).
    A directory that cannot be listed (permissions, a path too long for the system) is
    passed to ``on_error`` with the reason: its findings are not silently hidden.
    """
    seen: set[str] = set()
    ignore_files = IgnoreFiles(os.path.realpath(config.root)) if config.respect_gitignore else None
    for root in paths:
        try:
            is_dir = root.is_dir()
        except OSError as exc:  # a parent that cannot be searched, a name too long
            if on_error is not None:
                on_error(root, unreadable_message(exc, str(root), directory=False))
            continue
        if is_dir:
            excluded = _Excluder(config)
            walk = _walk(str(root), excluded, ignore_files, on_error)
            for base, directory, names, symlinks, scope, real_dir in walk:
                absolute_dir = os.path.abspath(directory)
                for filename in names:
                    # Strings first: most names are decided without building a path object.
                    kind = _kind(filename, _suffix(filename).lower(),
                                 lambda: Path(directory).as_posix(),
                                 os.path.join(directory, filename), False)
                    if kind is None or excluded(directory, filename, filename in symlinks):
                        continue
                    # Only the files a rule reads are matched against the ignore files.
                    if scope and IgnoreFiles.ignored(scope, os.path.join(real_dir, filename), False):
                        continue
                    key = os.path.normcase(os.path.join(absolute_dir, filename))
                    if key not in seen:
                        seen.add(key)
                        yield base / filename, kind
        else:
            key = os.path.normcase(os.path.abspath(root))
            if key not in seen:
                seen.add(key)
                yield root, file_kind(root, explicit=True) or PYTHON


def is_excluded_path(path: Path, config: Config) -> bool:
    """``--force-exclude`` for a path named on the command line: excluded by ``exclude``/
    ``extend-exclude``, or ignored by an ignore file (itself or a directory above it)."""
    if config.is_excluded(path):
        return True
    if not config.respect_gitignore:
        return False
    try:
        return IgnoreFiles(os.path.realpath(config.root)).is_ignored(str(path))
    except OSError:
        return False


def unreadable_message(exc: OSError, path: str, *, directory: bool = True) -> str:
    """One line for E902: what could not be read, and why, in words a user acts on."""
    what = "cannot list directory" if directory else "cannot read path"
    # A directory hides its files; a path named on the command line is only itself.
    lost = "its files are not linted" if directory else "it is not linted"
    if exc.errno == errno.EACCES or exc.errno == errno.EPERM:
        return f"{what}: permission denied; {lost} (fix the permissions or exclude it)"
    if exc.errno == errno.ENAMETOOLONG:
        return (f"{what}: path too long ({len(os.path.abspath(path))} characters, more than the system "
                f"allows); {lost} (exclude it)")
    return f"{what}: {exc.strerror or exc}; {lost}"


def _walk(top: str, excluded: "_Excluder", ignore_files: IgnoreFiles | None,
          on_error: OnError | None) -> Iterator[tuple[Path, str, list[str], set[str], Scope, str]]:
    """(directory as a Path, as text, its non-directory names sorted, the ones that are
    symlinks, the ignore rules in force there, its real path) for ``top`` and every
    directory below it that is neither excluded nor ignored, like
    ``os.walk(top, followlinks=False)`` with sorted names.  ``os.scandir`` tells symlinks
    from the directory listing: no ``lstat`` per file (a third of a warm run's walk).
    Ignored directories are pruned here; files are matched by the caller, only those a
    rule reads."""
    real_top = os.path.realpath(top)
    top_scope: Scope = ignore_files.inherited(real_top) if ignore_files is not None else ()
    pending: list[tuple[str, str, Scope]] = [(top, real_top, top_scope)]
    while pending:
        directory, real_directory, scope = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
        except FileNotFoundError:
            continue  # vanished mid-walk: as os.walk
        except OSError as exc:
            if on_error is not None:
                on_error(Path(directory), unreadable_message(exc, directory))
            continue
        if ignore_files is not None:
            scope = ignore_files.extend(scope, real_directory, [entry.name for entry in entries])
        names: list[str] = []
        subdirectories: list[str] = []
        symlinks: set[str] = set()
        for entry in entries:
            try:
                is_dir = entry.is_dir()  # follows symlinks, like os.walk's dirnames
            except OSError:
                is_dir = False
            try:
                is_link = entry.is_symlink()
            except OSError:  # vanished mid-walk (no d_type to answer from): as os.walk
                is_link = False
            if is_dir:
                if not is_link and not excluded(directory, entry.name, False) and not (
                        scope and IgnoreFiles.ignored(scope, os.path.join(real_directory, entry.name), True)):
                    subdirectories.append(entry.name)
            else:
                names.append(entry.name)
                if is_link:
                    symlinks.add(entry.name)
        names.sort()
        yield Path(directory), directory, names, symlinks, scope, real_directory
        pending.extend((os.path.join(directory, name), os.path.join(real_directory, name), scope)
                       for name in sorted(subdirectories, reverse=True))


class _Excluder:
    """``config.is_excluded(Path(directory) / name)`` for the entries of a walk, with
    each directory resolved once instead of every entry (``Path.resolve`` costs an
    ``lstat`` per path component)."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.fast = os.sep == "/"
        self.root = os.path.realpath(config.root) if self.fast else ""
        self._real_dirs: dict[str, str] = {}

    def __call__(self, directory: str, name: str, is_link: bool) -> bool:
        path = os.path.join(directory, name)
        if not self.fast:  # pragma: no cover - Windows: the plain, slower test
            return self.config.is_excluded(Path(path))
        if is_link:
            real = os.path.realpath(path)
        else:
            real_dir = self._real_dirs.get(directory)
            if real_dir is None:
                real_dir = self._real_dirs[directory] = os.path.realpath(directory)
            real = os.path.join(real_dir, name)
        if real == self.root:
            rel = "."
        elif real.startswith(self.root.rstrip("/") + "/"):
            rel = real[len(self.root.rstrip("/")) + 1:]
        else:
            rel = Path(path).as_posix()
        return self.config.excluded_name_rel(name, rel)


def unreadable_result(path: Path, message: str):
    """The run's E902 result for a directory discovery could not read (``on_error``)."""
    from raptor_lint.config import relative_posix
    from raptor_lint.engine import FileResult
    from raptor_lint.findings import IO_ERROR, Finding

    display = relative_posix(path)
    return FileResult(path, display, "directory", [Finding(display, 1, 1, IO_ERROR, message)])
