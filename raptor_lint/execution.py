"""The call model: which code of a file runs before gunicorn forks, and which after.

gunicorn ``--preload`` imports the app in the master and then forks the workers, so code
runs at one of these times:

* **import or decoration time** — module top level; decorators applied at module level,
  including what a decorator factory returns (``@d`` and ``@d(...)``), classmethod
  decorators reached through a subclass (``@Sub.register``); registration decorators
  nobody in the project calls (they are applied by plugins at import time); class-creation
  hooks (``__init_subclass__``, ``__set_name__``, a metaclass's ``__new__``/``__init__``);
  constructors and lambdas called only at module level;
* **the app factory** (``create_app``/``init_app``, configurable), and what only it
  reaches: module-level helpers it calls, private methods it calls through ``self.``/
  ``cls.``;
* **right after the fork, once per process** — functions registered with
  ``os.register_at_fork(after_in_child=…)`` and gunicorn's server hooks (``post_fork``,
  ``post_worker_init``…): they set per-process state up, which is what they are for;
* **after the fork** — everything else: request handlers, the helpers they call,
  background tasks, functions passed around as values.

The body of an ``if __name__ == "__main__":`` block runs only as a script: under gunicorn
it never runs, so a call from it makes nothing "before the fork" (SPEC §7).

A function is before the fork when every use of it invokes it (call, decorator) from
code that is itself before the fork; one escape (passed as a value, stored) makes it
after.  Uses in other modules of the project come from the fork-safety family's caller
index (``external``), asked only for the functions that decide a finding.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from typing import Iterable, Mapping

from raptor_lint.semantic import DEFS, FUNCTIONS, SemanticModel, contains, first_param, last_name, string_value

# Decorators that leave a function callable as before (it still runs where it is called).
TRANSPARENT_DECORATORS = frozenset({
    "lru_cache", "cache", "wraps", "contextmanager", "asynccontextmanager", "overload",
    "staticmethod", "classmethod", "cached_property", "property", "abstractmethod",
})
# Attribute reads on a function object that neither call it nor let it escape.
HARMLESS_FUNCTION_ATTRS = frozenset({"__name__", "__qualname__", "__doc__", "__module__"})
# Methods Python calls while a class statement runs (the class body's own time).
CLASS_CREATION_HOOKS = frozenset({"__init_subclass__", "__set_name__"})
METACLASS_HOOKS = frozenset({"__new__", "__init__", "__prepare__"})
METACLASS_BASES = frozenset({"type", "ABCMeta", "EnumMeta", "EnumType"})
# Methods a class call runs: constructors.
CONSTRUCTORS = frozenset({"__init__", "__new__", "__post_init__"})
# gunicorn server hooks (a config module's functions): master-side hooks run before the
# fork, worker-side ones once per worker right after it — per-process set-up either way.
# pre_request/post_request run per request: not listed.
GUNICORN_HOOKS = frozenset({
    "on_starting", "on_reload", "when_ready", "pre_fork", "post_fork", "post_worker_init",
    "worker_int", "worker_abort", "pre_exec", "child_exit", "worker_exit", "nworkers_changed",
    "on_exit",
})
# os.register_at_fork's keywords: each callable runs around a fork, once per process.
AT_FORK_KEYWORDS = frozenset({"before", "after_in_child", "after_in_parent"})

IMPORT_TIME = "import"
FACTORY = "factory"
FORK_HOOK = "fork-hook"
AFTER_FORK = "after-fork"


@dataclass(frozen=True)
class Use:
    """A use of a function from another module: ``kind`` (call, decorator,
    decorator-call, escape) and whether the code holding it runs before the fork."""

    kind: str
    before_fork: bool
    source: object = None


class ExecutionModel:
    """When each function, lambda and method of one file runs (see the module docstring)."""

    def __init__(self, model: SemanticModel, factories: Iterable[str],
                 external: "Mapping[str, list[Use]] | None" = None) -> None:
        self.model = model
        self.module = model.tree
        self.factories = frozenset(factories)
        self._bases: dict[ast.ClassDef, list[ast.ClassDef]] | None = None
        self._descendants: dict[ast.ClassDef, set[ast.ClassDef]] | None = None
        self._attributes_by_name: dict[str, list[ast.Attribute]] | None = None
        self._main_guards: list[ast.If] | None = None
        # Filled by decide(): the functions whose callers decide them, their external
        # names (``f``, ``Klass.m``) and their callers' units, for the family's question
        # to the caller index.
        self.external_name: dict[ast.AST, str] = {}
        self.external_names: list[str] = []
        self.caller_units: dict[ast.AST, list[ast.AST | None]] = {}
        self.returned: dict[ast.AST, ast.AST] = {}
        self.fixed: dict[ast.AST, str] = {}
        self.before: set[ast.AST] = set()
        # Decided on the first question about a function (most files a gate lets through
        # never ask: no mutation of state is found in them).
        self._external = external
        self._decided = False

    # ------------------------------------------------------------------ answers
    def is_before_fork(self, unit: ast.AST) -> bool:
        """True when ``unit`` (a function, lambda or the module) runs before the fork or
        once per process right after it: state it writes is not per-request state."""
        if unit is self.module:
            return True
        if not self._decided:
            self.decide(self._external)
        return unit in self.before

    def when(self, unit: ast.AST) -> str:
        if unit is self.module:
            return IMPORT_TIME
        if not self._decided:
            self.decide(self._external)
        if unit in self.fixed:
            return self.fixed[unit]
        return IMPORT_TIME if unit in self.before else AFTER_FORK

    def in_main_guard(self, node: ast.AST) -> bool:
        """Inside the body of a module-level ``if __name__ == "__main__":``."""
        guards = self._main_guard_blocks()
        if not guards:
            return False
        line = getattr(node, "lineno", None)
        if line is None:
            return False
        for guard in guards:
            first, last = guard.body[0].lineno, guard.body[-1].end_lineno or guard.lineno
            if first <= line <= last:
                return True
        return False

    # ---------------------------------------------------------------- structure
    def _main_guard_blocks(self) -> list[ast.If]:
        if self._main_guards is None:
            self._main_guards = [stmt for stmt in self.module.body
                                 if isinstance(stmt, ast.If) and _is_main_test(stmt.test)]
        return self._main_guards

    def _class_bases(self) -> dict[ast.ClassDef, list[ast.ClassDef]]:
        """Base classes defined in this file (``class B(A)``, ``class B(A[int])``)."""
        if self._bases is None:
            model = self.model
            by_name: dict[str, list[ast.ClassDef]] = {}
            for klass in model.classes:
                if model.def_scope.get(klass) is model.module_scope:
                    by_name.setdefault(klass.name, []).append(klass)
            self._bases = {}
            for klass in model.classes:
                found: list[ast.ClassDef] = []
                for base in klass.bases:
                    if isinstance(base, ast.Subscript):
                        base = base.value
                    if isinstance(base, ast.Name):
                        found.extend(c for c in by_name.get(base.id, ()) if c is not klass)
                self._bases[klass] = found
        return self._bases

    def ancestors(self, klass: ast.ClassDef) -> set[ast.ClassDef]:
        bases = self._class_bases()
        seen: set[ast.ClassDef] = set()
        stack = list(bases.get(klass, ()))
        while stack:
            current = stack.pop()
            if current not in seen:
                seen.add(current)
                stack.extend(bases.get(current, ()))
        return seen

    def descendants(self, klass: ast.ClassDef) -> set[ast.ClassDef]:
        if self._descendants is None:
            found: dict[ast.ClassDef, set[ast.ClassDef]] = {}
            for other in self.model.classes:
                for ancestor in self.ancestors(other):
                    found.setdefault(ancestor, set()).add(other)
            self._descendants = found
        return self._descendants.get(klass, set())

    def related_classes(self, klass: ast.ClassDef) -> set[ast.ClassDef]:
        """``klass``, its ancestors and its descendants in this file: where ``self.m()`` /
        ``cls.m()`` may dispatch to ``klass.m``."""
        return {klass} | self.ancestors(klass) | self.descendants(klass)

    def _is_metaclass(self, klass: ast.ClassDef) -> bool:
        for candidate in (klass, *self.ancestors(klass)):
            for base in candidate.bases:
                if last_name(base) in METACLASS_BASES:
                    return True
        return False

    def _is_class_creation_hook(self, klass: ast.ClassDef, func: ast.AST) -> bool:
        name = getattr(func, "name", "")
        return name in CLASS_CREATION_HOOKS or (name in METACLASS_HOOKS and self._is_metaclass(klass))

    def class_refs(self, klass: ast.ClassDef) -> list[ast.Name]:
        return self.model.function_refs(klass)

    def method_references(self, klass: ast.ClassDef, method: ast.AST) -> list[ast.AST]:
        """``Klass.method`` (or ``Sub.method`` for a subclass defined here) anywhere;
        ``cls.method`` / ``self.method`` inside the class, its ancestors or its descendants
        in this file (virtual dispatch: ``cls._register()`` in a base class's
        ``__init_subclass__`` calls each subclass's ``_register``).

        Calls on other receivers are not seen (a method name alone says nothing about the
        receiver's class)."""
        model = self.model
        name = getattr(method, "name", "")
        refs: dict[int, ast.AST] = {}
        related = self.related_classes(klass)
        for owner in {klass} | self.descendants(klass):
            for ref in self.class_refs(owner):
                parent = model.parent(ref)
                if isinstance(parent, ast.Attribute) and parent.value is ref and parent.attr == name:
                    refs[id(parent)] = parent
        if self._attributes_by_name is None:
            by_name: dict[str, list[ast.Attribute]] = {}
            for attribute in model.attributes:
                if isinstance(attribute.value, ast.Name):
                    by_name.setdefault(attribute.attr, []).append(attribute)
            self._attributes_by_name = by_name
        for attribute in self._attributes_by_name.get(name, ()):
            assert isinstance(attribute.value, ast.Name)
            owner_method = self.method_of(attribute, related)
            if owner_method is not None and first_param(owner_method) == attribute.value.id:
                refs[id(attribute)] = attribute
        return list(refs.values())

    def method_of(self, node: ast.AST, classes: set[ast.ClassDef]) -> ast.AST | None:
        """The method of one of ``classes`` whose body (or a closure in it) executes ``node``."""
        model = self.model
        unit = model.unit_of(node)
        while unit is not self.module:
            if isinstance(unit, FUNCTIONS) and model.enclosing_class(unit) in classes:
                return unit
            unit = model.unit_of(unit)
        return None

    def _constructor_references(self, klass: ast.ClassDef) -> list[ast.AST]:
        """Uses of ``klass`` and of its subclasses here that call it (``Klass(...)``) or
        let it escape: what decides where its constructor runs."""
        refs: list[ast.AST] = []
        for owner in {klass} | self.descendants(klass):
            for ref in self.class_refs(owner):
                parent = self.model.parent(ref)
                if isinstance(parent, ast.Attribute) and parent.value is ref:
                    continue  # Klass.attr: not an instantiation
                if isinstance(parent, ast.ClassDef) and contains(parent.bases, ref):
                    continue  # a subclass statement: its own uses are listed
                refs.append(ref)
        return refs

    def invocation(self, ref: ast.AST) -> tuple[str, ast.AST | None]:
        """('call'|'decorator'|'decorator-call', unit) when ``ref`` invokes the function where
        it stands; ('harmless', None) for ``f.__name__`` and for uses in a ``__main__``
        block (under gunicorn it never runs); ('escape', None) otherwise.

        ``factory(...)`` is a decorator-call when what it returns is applied on the spot:
        ``@factory(...)`` or ``factory(...)(target)``."""
        model = self.model
        if self._main_guard_blocks() and model.unit_of(ref) is self.module and self.in_main_guard(ref):
            return "harmless", None
        parent = model.parent(ref)
        if isinstance(parent, ast.Call) and parent.func is ref:
            grand = model.parent(parent)
            applied = (isinstance(grand, DEFS) and contains(grand.decorator_list, parent)) \
                or (isinstance(grand, ast.Call) and grand.func is parent)
            return ("decorator-call" if applied else "call"), model.unit_of(parent)
        if isinstance(parent, DEFS) and contains(parent.decorator_list, ref):
            return "decorator", model.unit_of(ref)
        if isinstance(parent, ast.Attribute) and parent.value is ref \
                and parent.attr in HARMLESS_FUNCTION_ATTRS:
            return "harmless", None
        return "escape", None

    @staticmethod
    def has_opaque_decorator(func: ast.AST) -> bool:
        for decorator in getattr(func, "decorator_list", ()):
            expr = decorator.func if isinstance(decorator, ast.Call) else decorator
            if last_name(expr) not in TRANSPARENT_DECORATORS:
                return True
        return False

    def _returned_by(self, ref: ast.AST, outer: ast.AST) -> bool:
        """``ref`` is what ``outer`` returns (``return ref``, ``return a if c else ref``,
        ``return x or ref``)."""
        model = self.model
        node = ref
        parent = model.parent(node)
        while isinstance(parent, (ast.IfExp, ast.BoolOp)) and node is not getattr(parent, "test", None):
            node, parent = parent, model.parent(parent)
        return isinstance(parent, ast.Return) and parent.value is node and model.unit_of(parent) is outer

    # ------------------------------------------------------------- fork hooks
    def _fork_hooks(self) -> set[ast.AST]:
        """Functions and lambdas registered with ``os.register_at_fork``, and gunicorn
        server hooks defined at module level."""
        model = self.model
        hooks: set[ast.AST] = set()
        for func in model.functions:
            if func.name in GUNICORN_HOOKS and model.unit_of(func) is self.module \
                    and model.enclosing_class(func) is None and func.args.args:
                hooks.add(func)
        for call in model.calls:
            if last_name(call.func) != "register_at_fork":
                continue
            for keyword in call.keywords:
                if keyword.arg not in AT_FORK_KEYWORDS:
                    continue
                value = keyword.value
                if isinstance(value, ast.Lambda):
                    hooks.add(value)
                elif isinstance(value, ast.Name):
                    for node in model.resolve(value)[1]:
                        if isinstance(node, FUNCTIONS):
                            hooks.add(node)
        return hooks

    # ------------------------------------------------------------------ decide
    def decide(self, external: "Mapping[str, list[Use]] | None" = None) -> None:
        """Decide which functions run before the fork (``self.before``).

        ``external`` adds the uses other project modules make of this file's functions
        (keyed ``name`` or ``Class.method``); a key present with no uses says the
        project was asked and has none."""
        self._decided = True
        model = self.model
        module = self.module
        external = external or {}
        external_name: dict[ast.AST, str] = {}
        fixed: dict[ast.AST, str] = {}
        candidates_refs: dict[ast.AST, list[ast.AST]] = {}
        inner: list[tuple[ast.AST, ast.AST]] = []
        for hook in self._fork_hooks():
            fixed[hook] = FORK_HOOK
        for func in model.functions:
            if func in fixed:
                continue
            unit = model.unit_of(func)
            if unit is module:
                klass = model.enclosing_class(func)
                if func.name in self.factories:
                    fixed[func] = FACTORY
                elif klass is None:
                    candidates_refs[func] = list(model.function_refs(func))
                    external_name[func] = func.name
                elif model.unit_of(klass) is module and self._is_class_creation_hook(klass, func):
                    fixed[func] = IMPORT_TIME
                elif any(last_name(d) in ("classmethod", "staticmethod") for d in func.decorator_list):
                    # Called through the class (`Registry.register(...)`, `cls.register`).
                    candidates_refs[func] = self.method_references(klass, func)
                    if model.enclosing_class(klass) is None:
                        external_name[func] = f"{klass.name}.{func.name}"
                elif func.name in CONSTRUCTORS and model.unit_of(klass) is module:
                    # Runs where the class is called (`Klass(...)`), subclasses included.
                    candidates_refs[func] = self._constructor_references(klass)
                    if model.enclosing_class(klass) is None:
                        external_name[func] = klass.name
                else:
                    # A helper of the class body itself (`@_lifecycle_event` on the methods
                    # below it) runs while the class statement runs; a private method is
                    # reached through `self.`/`cls.` (from the app factory, say).  A public
                    # method may be called on instances elsewhere: not decided here.
                    in_body = list(model.function_refs(func))
                    private = func.name.startswith("_") and not func.name.endswith("__")
                    # In a class with an app-factory method (a Flask extension's init_app),
                    # methods reached through self. from it run with the factory too.
                    factory_class = any(isinstance(item, FUNCTIONS) and item.name in self.factories
                                        for item in klass.body)
                    if in_body or private or (factory_class and not func.name.startswith("__")):
                        candidates_refs[func] = in_body + self.method_references(klass, func)
            elif isinstance(unit, FUNCTIONS):
                inner.append((func, unit))
        # Lambdas bound to a module-level name: they run where that name is called.
        for lam in model.lambdas:
            if lam in fixed or model.unit_of(lam) is not module:
                continue
            assign = model.parent(lam)
            if isinstance(assign, ast.Assign) and assign.value is lam and len(assign.targets) == 1 \
                    and isinstance(assign.targets[0], ast.Name):
                owner, nodes = model.resolve(assign.targets[0])
                if owner is model.module_scope and len(nodes) == 1:
                    candidates_refs[lam] = list(model.refs(owner, assign.targets[0].id))

        self.external_names = sorted(set(external_name.values()))
        self.external_name = external_name
        self.fixed = fixed
        invocations: dict[ast.AST, list[tuple[str, ast.AST | None]]] = {}
        candidates: set[ast.AST] = set()
        self.caller_units = {}
        for candidate, refs in candidates_refs.items():
            if self.has_opaque_decorator(candidate):
                continue
            kinds = [self.invocation(ref) for ref in refs]
            self.caller_units[candidate] = [unit for _, unit in kinds]
            # Uses in other modules: before fork stands for "runs where the module top level
            # runs"; after fork for "somewhere no fork-time code reaches".
            name = external_name.get(candidate, "")
            kinds += [(use.kind, module if use.before_fork else None) for use in external.get(name, ())]
            kinds = [k for k in kinds if k[0] != "harmless"]
            if kinds and all(kind != "escape" for kind, _ in kinds):
                invocations[candidate] = kinds
                candidates.add(candidate)
            elif not kinds and name in external and _is_registration_decorator(candidate):
                # A decorator nobody in the project applies: plugins apply it at import time.
                fixed[candidate] = IMPORT_TIME

        # A function defined in a decorator factory and returned by it runs where what the
        # factory returns is applied: at decoration time when the factory is only used as
        # `@factory`/`@factory(...)`; calls of it inside the factory run with the factory.
        returned: dict[ast.AST, ast.AST] = {}
        self.returned = {}
        for nested, outer in inner:
            if self.has_opaque_decorator(nested):
                continue
            found = model.function_refs(nested)
            if not found:
                continue
            calls_inside: list[tuple[str, ast.AST | None]] = []
            escapes = conditional = False
            for ref in found:
                if self._returned_by(ref, outer):
                    conditional = conditional or not isinstance(model.parent(ref), ast.Return)
                    continue
                kind, where = self.invocation(ref)
                if kind in ("call", "decorator", "decorator-call") and where is outer:
                    calls_inside.append((kind, where))
                elif kind != "harmless":
                    escapes = True
            if escapes or len(calls_inside) == len(found):
                continue
            self.returned[nested] = outer  # decides with its factory's callers
            # `@factory(...)` applies what it returns on the spot.  A plain `@factory`
            # makes what it returns the decorated function (called later, after the fork),
            # unless the return is the optional-arguments idiom
            # (`return decorator(func) if func is not None else decorator`).
            applied = ("decorator-call", "decorator") if conditional else ("decorator-call",)
            if outer in invocations and all(kind in applied for kind, _ in invocations[outer]):
                returned[nested] = outer
                candidates.add(nested)

        before = set(candidates)
        self.before = before | set(fixed)
        self._drop_callers_after_fork(before, invocations, returned)

    def _drop_callers_after_fork(self, before: set[ast.AST],
                                 invocations: "dict[ast.AST, list[tuple[str, ast.AST | None]]]",
                                 returned: dict[ast.AST, ast.AST]) -> None:
        """Remove from ``before`` (and ``self.before``) every candidate with a caller that is
        not itself before the fork, until none is left: the greatest set where every caller
        is the module top level or another member.

        A worklist: a candidate is looked at again only when one of its callers left the set.
        (Re-scanning every candidate until nothing changed was quadratic on a call chain,
        one candidate leaving per pass: 10,000 functions calling the next took minutes.)"""
        module = self.module

        def runs_before(decided: ast.AST) -> bool:
            if decided in returned:
                return returned[decided] in self.before
            return all(unit is module or unit in self.before for _, unit in invocations[decided])

        dependents: dict[ast.AST, list[ast.AST]] = {}
        for decided in before:
            callers = [returned[decided]] if decided in returned else [unit for _, unit in invocations[decided]]
            for unit in callers:
                if unit is not None and unit is not module:
                    dependents.setdefault(unit, []).append(decided)
        pending = [decided for decided in before if not runs_before(decided)]
        while pending:
            decided = pending.pop()
            if decided not in before:
                continue
            before.discard(decided)
            self.before.discard(decided)
            pending.extend(dependent for dependent in dependents.get(decided, ())
                           if dependent in before and not runs_before(dependent))

    def names_that_decide(self, finding_units: Iterable[ast.AST]) -> list[str]:
        """External names (``f``, ``Klass.m``) of the functions whose callers elsewhere could
        move a finding before the fork: the functions holding findings and, transitively,
        the functions that call them (a function is before the fork only when all its
        callers are) or return them as decorators.  Other functions need no question.

        Nor do functions that run after the fork whatever other modules do (used as a
        value here, called from code that runs after the fork, an opaque decorator):
        they are found by deciding once with every external name given a use that runs
        before the fork — an upper bound of what any answer can move before it."""
        if not self._decided:
            self.decide(self._external)
        units: set[ast.AST] = set()
        frontier = list(finding_units)
        while frontier:
            unit = frontier.pop()
            if unit is self.module or unit in units:
                continue
            units.add(unit)
            if unit in self.returned:
                frontier.append(self.returned[unit])
            frontier.extend(caller for caller in self.caller_units.get(unit, ()) if caller is not None)
        asked = [unit for unit in units if unit in self.external_name]
        if not asked:
            return []
        actual = (self.before, self.fixed, self.caller_units, self.returned)
        before_anyway = Use("call", True)
        self.decide({name: [before_anyway] for name in self.external_names})
        possible = self.before
        self.before, self.fixed, self.caller_units, self.returned = actual
        names = {self.external_name[unit] for unit in asked if unit in possible}
        # A registration decorator with no use here is decided by the project's answer too.
        names |= {self.external_name[unit] for unit in asked
                  if _is_registration_decorator(unit) and not self.caller_units.get(unit)}
        return sorted(names)


def _is_main_test(test: ast.AST) -> bool:
    """``__name__ == "__main__"`` (either side)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    left, right = test.left, test.comparators[0]
    return ((isinstance(left, ast.Name) and left.id == "__name__" and string_value(right) == "__main__")
            or (isinstance(right, ast.Name) and right.id == "__name__" and string_value(left) == "__main__"))


def _is_registration_decorator(func: ast.AST) -> bool:
    """A module-level function shaped like a decorator: it returns its first parameter
    (``def register(f): REGISTRY[...] = f; return f``) or a function it defines (a
    decorator factory)."""
    if not isinstance(func, FUNCTIONS):
        return False
    param = first_param(func)
    defined = {stmt.name for stmt in func.body if isinstance(stmt, FUNCTIONS)}
    for node in ast.walk(func):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Name):
            if node.value.id == param or node.value.id in defined:
                return True
    return False
