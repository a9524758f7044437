"""Static, import-free resolution of string constants across the project's modules.

Raptor code builds URL prefixes and SQL from constants defined elsewhere
(``from raptor_app.settings import API_INTERNAL``).  This resolver reads the
defining module with ``ast`` (never importing it), follows ``from x import``
chains and evaluates literals, f-strings, ``+``, ``%`` and ``.format``.
Unknown parts either stop the value (``placeholder=None``: the known head is
kept and ``complete`` is False) or are replaced by ``placeholder`` (SQL rules
use a bind parameter).
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass
from pathlib import Path

from raptor_lint.source import SourceError, decode_python, parse_python

MAX_DEPTH = 20


@dataclass(frozen=True)
class StringValue:
    text: str
    complete: bool = True
    # Where the value's first literal lives: (path, line) for reporting/debugging.
    origin: tuple[Path, int] | None = None


class ModuleIndex:
    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    # ---------------------------------------------------------------- modules
    def module_name(self, path: Path) -> str:
        """Dotted name of ``path``: its packages (dirs with __init__.py) up to the first non-package."""
        path = path.resolve()
        parts = [] if path.name == "__init__.py" else [path.stem]
        directory = path.parent
        while (directory / "__init__.py").exists() and directory != directory.parent:
            parts.insert(0, directory.name)
            directory = directory.parent
        return ".".join(parts)

    def _search_roots(self, from_path: Path | None) -> list[Path]:
        roots = [self.root, self.root / "src"]
        if from_path is not None:
            directory = from_path.resolve().parent
            while (directory / "__init__.py").exists() and directory != directory.parent:
                directory = directory.parent
            roots.insert(0, directory)
        return roots

    def find_module(self, dotted: str, from_path: Path | None = None) -> Path | None:
        parts = dotted.split(".")
        for base in self._search_roots(from_path):
            candidate = base.joinpath(*parts)
            for path in (candidate.with_suffix(".py"), candidate / "__init__.py"):
                if path.is_file():
                    return path
        return None

    def absolute_module(self, from_path: Path, module: str | None, level: int) -> str:
        if level == 0:
            return module or ""
        package = self.module_name(from_path).split(".")
        if from_path.name != "__init__.py":
            package = package[:-1]
        if level > 1:
            package = package[: len(package) - (level - 1)]
        return ".".join([*package, *([module] if module else [])])

    @functools.lru_cache(maxsize=512)
    def tree(self, path: Path) -> ast.Module | None:
        try:
            return parse_python(decode_python(path.read_bytes()), str(path))
        except (OSError, SourceError):
            return None

    # ---------------------------------------------------------------- values
    def module_bindings(self, path: Path) -> dict[str, ast.AST]:
        """Top-level names of a module: assigned expression or ImportFrom alias."""
        tree = self.tree(path)
        bindings: dict[str, ast.AST] = {}
        if tree is None:
            return bindings
        for node in tree.body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                bindings[node.targets[0].id] = node.value
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                bindings[node.target.id] = node.value
            elif isinstance(node, ast.ImportFrom):
                for alias in node.names:
                    bindings[alias.asname or alias.name] = node
        return bindings

    def string_constant(self, path: Path, name: str, placeholder: str | None = None) -> StringValue | None:
        return self._lookup(path, name, placeholder, 0)

    def imported_string(self, from_path: Path, module: str | None, level: int, name: str,
                        placeholder: str | None = None) -> StringValue | None:
        """Value of ``name`` imported by ``from <level dots><module> import name``."""
        dotted = self.absolute_module(from_path, module, level)
        target = self.find_module(dotted, from_path) if dotted else None
        return self._lookup(target, name, placeholder, 0) if target else None

    def evaluate(self, expr: ast.AST, path: Path, placeholder: str | None = None) -> StringValue | None:
        return self._eval(expr, path, placeholder, 0)

    def _lookup(self, path: Path, name: str, placeholder: str | None, depth: int) -> StringValue | None:
        if depth > MAX_DEPTH:
            return None
        bound = self.module_bindings(path).get(name)
        if bound is None:
            return None
        if isinstance(bound, ast.ImportFrom):
            original = next((a.name for a in bound.names if (a.asname or a.name) == name), name)
            dotted = self.absolute_module(path, bound.module, bound.level)
            target = self.find_module(dotted, path)
            if target is None:
                return None
            return self._lookup(target, original, placeholder, depth + 1)
        return self._eval(bound, path, placeholder, depth + 1)

    def _eval(self, node: ast.AST, path: Path, placeholder: str | None, depth: int) -> StringValue | None:
        if depth > MAX_DEPTH:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return StringValue(node.value, True, (path, node.lineno))
        if isinstance(node, ast.Name):
            return self._lookup(path, node.id, placeholder, depth + 1)
        if isinstance(node, ast.JoinedStr):
            return self._concat(
                [v.value if isinstance(v, ast.FormattedValue) else v for v in node.values],
                path, placeholder, depth, origin_line=node.lineno,
            )
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            return self._concat([node.left, node.right], path, placeholder, depth, origin_line=node.lineno)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mod):
            left = self._eval(node.left, path, placeholder, depth + 1)
            if left is None or placeholder is None:
                return StringValue(left.text.split("%", 1)[0], False, left.origin) if left else None
            return StringValue(_replace_percent(left.text, placeholder), left.complete, left.origin)
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr == "format"):
            base = self._eval(node.func.value, path, placeholder, depth + 1)
            if base is None or placeholder is None:
                return StringValue(base.text.split("{", 1)[0], False, base.origin) if base else None
            return StringValue(_replace_braces(base.text, placeholder), base.complete, base.origin)
        return None

    def _concat(self, parts: list[ast.AST], path: Path, placeholder: str | None, depth: int,
                origin_line: int) -> StringValue | None:
        text = ""
        origin = None
        for part in parts:
            value = self._eval(part, path, placeholder, depth + 1)
            if value is None:
                if placeholder is None:
                    return StringValue(text, False, origin or (path, origin_line)) if text or origin else None
                value = StringValue(placeholder, True)
            text += value.text
            origin = origin or value.origin
            if not value.complete:
                return StringValue(text, False, origin)
        return StringValue(text, True, origin or (path, origin_line))


def _replace_percent(text: str, placeholder: str) -> str:
    import re

    return re.sub(r"%(\([^)]*\))?[-#0 +]*\d*(\.\d+)?[sdifrx%]",
                  lambda m: "%" if m.group(0) == "%%" else placeholder, text)


def _replace_braces(text: str, placeholder: str) -> str:
    import re

    return re.sub(r"\{[^{}]*\}", placeholder, text.replace("{{", "\0").replace("}}", "\1")).replace(
        "\0", "{").replace("\1", "}")
