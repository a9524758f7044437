"""Blueprints (RPT301–RPT302) — runbook: "Blueprint authoring convention".

The core registration loop mounts every blueprint of ``_core_blueprints`` at
``f"/api{bp.url_prefix}"``.  A blueprint whose ``url_prefix`` already starts
with ``/api`` is served at ``/api/api/…`` and every request falls through to the
static catch-all (the 2026-06-13 beta-digest 404, PR #3556); a route rule that
starts with ``/api/`` ends up at ``/api/<prefix>/api/…``.

Values are resolved statically (literals, module constants, constants imported
from other modules of the project, f-strings and ``+`` whose head resolves).
A blueprint the project index shows registered only outside the core loop is
not reported (see ``raptor_lint.rules.blueprints.registry``).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Iterable, Iterator

from raptor_lint.astwalk import walk
from raptor_lint.context import FileContext
from raptor_lint.findings import Edit, Finding, Fix
from raptor_lint.rules.blueprints.registry import (
    BlueprintRegistry,
    blueprint_class_names,
    blueprint_definition,
    blueprint_registry,
    is_blueprint_call,
    module_level_blueprints,
    url_prefix_argument,
)
from raptor_lint.project.modules import Definition, StringValue
from raptor_lint.rules.base import Checker, Rule, related_place, with_story
from raptor_lint.source import column_of, split_lines
from raptor_lint.strings import fit_message, shorten

RUNBOOK = "Blueprint authoring convention — url_prefix MUST NOT include /api"
ROUTE_METHODS = frozenset({"route", "get", "post", "put", "patch", "delete"})

# Safe: every finding needs a Blueprint call, a ``.url_prefix`` assignment, an
# ``add_url_rule``/``.route`` call or a route decorator (``@bp.get(...)``) in
# this file — even when the value itself is imported and "/api" is not in it.
# Substring tests first (memchr-fast); regexes only on the rare candidates.
_ROUTE_CALL = re.compile(r"\.\s*route\b")
_VERB_ATTRIBUTE = re.compile(r"\.\s*(?:get|post|put|patch|delete)\b")


def _prefilter(text: str) -> bool:
    if "Blueprint" in text or "url_prefix" in text or "add_url_rule" in text:
        return True
    if "route" in text and _ROUTE_CALL.search(text):
        return True
    return "@" in text and _has_verb_decorator(text)


def _has_verb_decorator(text: str) -> bool:
    """A line ``@<something>.get|post|put|patch|delete…`` (a str.find loop: a
    MULTILINE ``^`` regex costs 15× more on a large tree)."""
    if "\r" in text:
        text = text.replace("\r", "\n")
    index = text.find("@")
    while index != -1:
        start = text.rfind("\n", 0, index) + 1
        end = text.find("\n", index)
        if end == -1:
            end = len(text)
        if not text[start:index].strip(" \t\f") and _VERB_ATTRIBUTE.search(text, index, end):
            return True
        index = text.find("@", end)
    return False


_FACTORY = '''\
from flask import Flask

from app.example import survey_bp

_core_blueprints = [survey_bp]


def create_app() -> Flask:
    app = Flask(__name__)
    for bp in _core_blueprints:
        prefixed_url = f"/api{bp.url_prefix}" if bp.url_prefix else "/api"
        app.register_blueprint(bp, url_prefix=prefixed_url)
    return app
'''

RPT301 = Rule(
    code="RPT301",
    name="blueprint-prefix-includes-api",
    summary="Blueprint `url_prefix` starts with the API prefix that the core registration loop adds again.",
    runbook=RUNBOOK,
    why=(
        "The `_core_blueprints` loop in the app factory registers every blueprint at "
        "`f\"/api{bp.url_prefix}\"`. A prefix that already starts with `/api` is served at "
        "`/api/api/…`, so every request falls through to the static catch-all and returns "
        "404 `React build not found` — the 2026-06-13 beta-digest survey outage (PR #3556, "
        "fixed by PR #3558). The value is followed through module constants, imports from "
        "other modules of the project, f-strings and `+`. A blueprint that the project only "
        "registers outside the core loop (`app.register_blueprint(bp)`) is not reported. "
        "The fix drops the leading `/api` when the literal is in the same file; when it comes "
        "from a constant defined in another module the message names that constant."
    ),
    bad='''\
from flask import Blueprint

survey_bp = Blueprint("beta_survey", __name__, url_prefix="/api/internal/beta-survey-data")
''',
    good='''\
from flask import Blueprint

survey_bp = Blueprint("beta_survey", __name__, url_prefix="/internal/beta-survey-data")
''',
    fixable=True,
    example_path="app/example.py",
    example_project={"app/__init__.py": _FACTORY},
)

RPT302 = Rule(
    code="RPT302",
    name="blueprint-route-includes-api",
    summary="Route rule on a blueprint starts with the API prefix (ends up `/api/<prefix>/api/…`).",
    runbook=RUNBOOK,
    why=(
        "Blueprint routes are relative to the blueprint's prefix, which the core registration "
        "loop already mounts under `/api`. `@bp.route(\"/api/summary\")` on a blueprint with "
        "prefix `/internal/digest` is served at `/api/internal/digest/api/summary`, and the "
        "client calling `/api/internal/digest/summary` gets the static catch-all's 404. "
        "Applies to `@bp.route`, `@bp.get/post/put/patch/delete` and `bp.add_url_rule`, for a "
        "rule that is exactly `/api` or starts with `/api/`."
    ),
    bad='''\
from flask import Blueprint

digest_bp = Blueprint("digest", __name__, url_prefix="/internal/digest")


@digest_bp.get("/api/summary")
def summary():
    return {"ok": True}
''',
    good='''\
from flask import Blueprint

digest_bp = Blueprint("digest", __name__, url_prefix="/internal/digest")


@digest_bp.get("/summary")
def summary():
    return {"ok": True}
''',
    example_path="app/example.py",
    example_project={"app/__init__.py": _FACTORY.replace("survey_bp", "digest_bp")},
)


class BlueprintChecker(Checker):
    family = "Blueprints"
    rules = (RPT301, RPT302)

    prefilter_rules = frozenset({"RPT301", "RPT302"})

    def prefilter(self, text: str) -> bool:
        return _prefilter(text)

    def check(self, ctx: FileContext) -> Iterable[Finding]:
        if ctx.ast_tree is None:
            return []
        return list(_FileCheck(ctx, ctx.ast_tree).run())


_DEFINITION_TYPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_DEFINITIONS = frozenset(_DEFINITION_TYPES)


class _FileCheck:
    def __init__(self, ctx: FileContext, tree: ast.Module) -> None:
        self.ctx = ctx
        self.tree = tree  # ctx.ast_tree
        self.modules = ctx.project.modules
        self.api = ctx.config.api_prefix
        self.path = ctx.path.resolve()
        self.lines = split_lines(ctx.text)
        self.names = blueprint_class_names(self.tree)
        self._registry: BlueprintRegistry | None = None

    @property
    def registry(self) -> BlueprintRegistry:
        if self._registry is None:
            self._registry = self.ctx.project.get(blueprint_registry)
        return self._registry

    def run(self) -> Iterator[Finding]:
        ctx = self.ctx
        module_blueprints = module_level_blueprints(self.tree, self.names)
        decorators: set[int] = set()
        wants_301 = ctx.config.is_selected("RPT301")
        wants_302 = ctx.config.is_selected("RPT302")
        # One breadth-first walk: a function is visited before its decorators.  Dispatch
        # on the exact node type (``ast`` classes are never subclassed): this loop sees
        # every node of the file.  The isinstance after each exact-type test only tells
        # the type checker; it runs on the nodes that matched, not on every node.
        definitions, definition_types = _DEFINITIONS, _DEFINITION_TYPES
        Call, Assign = ast.Call, ast.Assign
        for node in walk(self.tree):
            kind = type(node)
            if kind in definitions and isinstance(node, definition_types):
                decorators.update(id(d) for d in node.decorator_list)
            elif kind is Call and isinstance(node, Call):
                if wants_301 and is_blueprint_call(node, self.names):
                    value = url_prefix_argument(node)
                    if value is not None:
                        name = module_blueprints.get(id(node))
                        identity = (self.path, name) if name else None
                        yield from self._check_prefix(value, identity)
                elif wants_302 and isinstance(node.func, ast.Attribute):
                    method = node.func.attr
                    if method in ("route", "add_url_rule") or (
                            method in ROUTE_METHODS and id(node) in decorators):
                        yield from self._check_route(node)
            elif wants_301 and kind is Assign and isinstance(node, Assign):
                for target in node.targets:
                    if isinstance(target, ast.Attribute) and target.attr == "url_prefix":
                        found = self._blueprint(target.value)
                        if found is not None:
                            yield from self._check_prefix(node.value, found.identity)

    def _blueprint(self, expr: ast.AST) -> Definition | None:
        return blueprint_definition(self.modules, expr, self.path, tree=self.tree, text=self.ctx.text)

    def _value(self, node: ast.AST) -> StringValue | None:
        return self.modules.evaluate(node, self.path, tree=self.tree, text=self.ctx.text)

    def _starts_with_api(self, value: StringValue) -> bool:
        text = value.text
        if text == self.api:
            return value.complete  # "/api" + unknown could be "/apiary"
        return text.startswith(self.api + "/")

    # ---------------------------------------------------------------- RPT301
    def _check_prefix(self, node: ast.expr, identity: tuple[Path, str] | None) -> Iterator[Finding]:
        value = self._value(node)
        if value is None or not self._starts_with_api(value):
            return
        if self.registry.status(identity) == "outside":
            return
        shown = _shown(value, 40)
        api = shorten(self.api, 20)
        plan = _FixPlanner(self, node).plan()
        related = []
        fix = None
        if isinstance(plan, Definition):
            name = shorten(plan.name, 30)
            related.append(related_place(plan.path, plan.line, 1,
                                         f"{name} is defined here: drop its leading '{api}'"))
        elif plan is not None:
            description, edits = plan
            fix = Fix(description, tuple(sorted(edits)))
        message = fit_message("url_prefix starts with '{api}': the core loop makes it {path}", api=api,
                              path=f"{api}{shown}")
        note = (f"The core registration loop mounts every blueprint under '{api}', so this one answers at "
                f"{api}{shown} and its routes 404 where clients call them (2026-06-13 beta-digest 404).")
        yield with_story(self.ctx.finding("RPT301", self._span(node), message, fix), note, related)

    # ---------------------------------------------------------------- RPT302
    def _check_route(self, call: ast.Call) -> Iterator[Finding]:
        assert isinstance(call.func, ast.Attribute)
        rule = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "rule"), None)
        if rule is None:
            return
        value = self._value(rule)
        if value is None or not self._starts_with_api(value):
            return
        found = self._blueprint(call.func.value)
        if found is None:
            return  # not (provably) a blueprint: app.route("/api/...") is how /api routes are made
        if self.registry.status(found.identity) == "outside":
            return
        prefix = "<url_prefix>"
        if isinstance(found.node, ast.Call):
            argument = url_prefix_argument(found.node)
            tree = self.tree if found.path == self.path else None
            prefix_value = None
            if argument is not None:
                prefix_value = self.modules.evaluate(argument, found.path, tree=tree,
                                                     text=self.ctx.text if tree is not None else None)
            elif not any(k.arg is None for k in found.node.keywords):
                prefix_value = StringValue("")
            if prefix_value is not None and prefix_value.complete:
                prefix = prefix_value.text
        shown = _shown(value, 30)
        api = shorten(self.api, 20)
        message = fit_message("route '{rule}' starts with '{api}' but its blueprint is already under '{api}'",
                              rule=shown, api=api)
        note = (f"The core registration loop mounts blueprint {found.name} under '{api}', so this route "
                f"answers at {api}{prefix}{value.text}: drop the leading '{api}' from the rule (the "
                f"2026-06-13 beta-digest 404 came from the same doubling).")
        yield with_story(self.ctx.finding("RPT302", self._span(rule), message), note)

    # ---------------------------------------------------------------- helpers
    def column(self, line: int, byte_offset: int) -> int:
        """1-based code-point column of a (line, UTF-8 byte offset) position of ``ast``."""
        return column_of(self.lines[line - 1] if 0 < line <= len(self.lines) else "", byte_offset)

    def _span(self, node: ast.expr) -> tuple[int, int, int, int]:
        line, end_line = node.lineno, node.end_lineno or node.lineno
        return (line, self.column(line, node.col_offset),
                end_line, self.column(end_line, node.end_col_offset or 0))


_STRING_START = re.compile(r"([rRbBuUfF]{0,2})('''|\"\"\"|'|\")")


class _FixPlanner:
    """Where to drop the leading API prefix of a url_prefix value.

    ``plan()`` returns ``(description, edits)`` when the prefix is written in this
    file, the ``Definition`` of the constant when it comes from another module
    (no fix: a fix never edits another file), or None when no safe edit exists.
    """

    def __init__(self, check: _FileCheck, node: ast.expr) -> None:
        self.check = check
        self.node = node
        self.api = check.api
        self.where = ""

    def plan(self) -> tuple[str, list[Edit]] | Definition | None:
        result = self._plan(self.node, top=True, depth=0)
        if isinstance(result, list):
            target = f" in the definition of {self.where}" if self.where else ""
            return (f"Drop the leading '{self.api}' from the url_prefix{target}", result)
        return result

    def _value(self, node: ast.AST) -> StringValue | None:
        return self.check._value(node)

    def _is_exactly_api(self, node: ast.AST) -> bool:
        value = self._value(node)
        return value is not None and value.complete and value.text == self.api

    def _plan(self, node: ast.expr, top: bool, depth: int) -> list[Edit] | Definition | None:
        if depth > 12:
            return None
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return self._literal(node)
        if isinstance(node, ast.JoinedStr):
            literal = self._literal(node)
            if literal is not None or not node.values:
                return literal
            first = node.values[0]
            if isinstance(first, ast.FormattedValue):
                if self._is_exactly_api(first.value):
                    return self._drop_field(node, first)
                return self._plan(first.value, top=False, depth=depth + 1)
            return None
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            if self._is_exactly_api(node.left):
                return self._drop_left_operand(node)
            return self._plan(node.left, top=False, depth=depth + 1)
        if isinstance(node, (ast.Name, ast.Attribute)):
            if top and self._is_exactly_api(node):
                return [self._edit(node, '""')]
            found = self.check.modules.resolve(node, self.check.path, tree=self.check.tree,
                                               text=self.check.ctx.text)
            if found is None or found.kind != "value" or not isinstance(found.node, ast.expr):
                return None
            if found.path != self.check.path:
                return found
            if found.composed:
                return None
            self.where = f"{found.name} (line {found.line})"
            # The constant's own value: replacing it by "" would be wrong, drop the prefix inside.
            return self._plan(found.node, top=False, depth=depth + 1)
        return None

    # ---- edits
    def _position(self, line: int, byte_offset: int) -> tuple[int, int]:
        return (line, self.check.column(line, byte_offset))

    def _edit(self, node: ast.expr, content: str) -> Edit:
        line, column, end_line, end_column = self.check._span(node)
        return Edit(line, column, end_line, end_column, content)

    def _source_from(self, node: ast.expr) -> tuple[int, str, int]:
        """(line, rest of that line from the node, code-point column of the node start)."""
        line = node.lineno
        text = self.check.lines[line - 1] if 0 < line <= len(self.check.lines) else ""
        column = self.check.column(line, node.col_offset) - 1
        return line, text[column:], column

    def _literal(self, node: ast.expr) -> list[Edit] | None:
        """Delete the prefix written at the start of the first string piece."""
        line, rest, column = self._source_from(node)
        match = _STRING_START.match(rest)
        if match is None or "b" in match.group(1).lower():
            return None
        start = match.end()
        if rest[start:start + len(self.api)] != self.api:
            return None
        return [Edit(line, column + start + 1, line, column + start + len(self.api) + 1, "")]

    def _drop_field(self, node: ast.JoinedStr, field: ast.FormattedValue) -> list[Edit] | None:
        """``f"{API_PREFIX}/internal"`` → ``"/internal"``."""
        if field.conversion != -1 or field.format_spec is not None:
            return None
        line, rest, column = self._source_from(node)
        match = _STRING_START.match(rest)
        if match is None or not rest[match.end():].startswith("{"):
            return None
        expr = field.value
        if expr.lineno != line or expr.end_lineno != line:
            return None
        after = self.check.column(line, expr.end_col_offset or 0) - 1 - column
        closing = re.match(r"\s*\}", rest[after:])
        if closing is None:
            return None
        edits = [Edit(line, column + match.end() + 1, line, column + after + closing.end() + 1, "")]
        # With no replacement field left, a plain string is what anyone would write.
        others = [v for v in node.values if isinstance(v, ast.FormattedValue) and v is not field]
        quote = match.group(2)
        end_line = node.end_lineno
        if not others and end_line == line:
            end = self.check.column(line, node.end_col_offset or 0) - 1 - column
            body = rest[after + closing.end():end - len(quote)]
            single_piece = rest[:end].endswith(quote) and quote not in body.replace("\\" + quote, "")
            if single_piece and "{{" not in body and "}}" not in body and "\\N" not in body:
                prefix = match.group(1)
                index = prefix.lower().index("f")
                edits.append(Edit(line, column + index + 1, line, column + index + 2, ""))
        return edits

    def _drop_left_operand(self, node: ast.BinOp) -> list[Edit] | None:
        """``API_PREFIX + "/internal"`` → ``"/internal"``."""
        left, right = node.left, node.right
        start = self._position(left.lineno, left.col_offset)
        middle_start = self._position(left.end_lineno or left.lineno, left.end_col_offset or 0)
        end = self._position(right.lineno, right.col_offset)
        between = _slice(self.check.lines, middle_start, end)
        if between is None or not re.fullmatch(r"[\s\\]*\+[\s\\]*", between):
            return None
        return [Edit(start[0], start[1], end[0], end[1], "")]


def _slice(lines: list[str], start: tuple[int, int], end: tuple[int, int]) -> str | None:
    """Text between two (line, 1-based column) positions."""
    (line, column), (end_line, end_column) = start, end
    if line > end_line or not (0 < line <= len(lines)) or not (0 < end_line <= len(lines)):
        return None
    if line == end_line:
        return lines[line - 1][column - 1:end_column - 1]
    parts = [lines[line - 1][column - 1:], *lines[line:end_line - 1], lines[end_line - 1][:end_column - 1]]
    return "\n".join(parts)


def _shown(value: StringValue, limit: int) -> str:
    """A URL string as a message quotes it: cut to ``limit`` with ``…``, and ``…`` after a
    value known only in part."""
    return shorten(value.text, limit) + ("" if value.complete or len(value.text) > limit else "…")
