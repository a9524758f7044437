"""How a rule family is declared.

A family is one module under ``raptor_lint/rules/`` holding one ``Checker``
subclass.  The checker declares its ``Rule`` objects (code, message, runbook
section, why / bad / good docs) and implements ``check(ctx)``.  Families are
found by ``raptor_lint.registry`` without a central list, so adding a family is
adding a module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, Iterable, Mapping

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.context import FileContext
    from pathlib import Path

    from raptor_lint.findings import Finding, Related
    from raptor_lint.project import ProjectIndex


@dataclass(frozen=True)
class Rule:
    """Declaration of one rule: everything docs, `rule CODE` and tests need."""

    code: str
    name: str
    summary: str
    runbook: str
    why: str
    bad: str
    good: str
    fixable: bool = False
    # The tier of the rule's fix when it has one (``findings.SAFE`` / ``findings.UNSAFE``,
    # Ruff's applicability): a safe fix is applied by ``--fix``, an unsafe one needs
    # ``--unsafe-fixes`` as well.  Shown by ``raptor-lint rule CODE`` and docs/rules.md.
    fix_applicability: str = "safe"
    # File name under which the bad/good examples are checked (decides the file
    # kind and e.g. whether it is a migration).
    example_path: str = "app/example.py"
    # Extra project files (path -> text) the examples need, e.g. a migration.
    example_project: Mapping[str, str] = field(default_factory=dict)
    # Fenced-code language used when rendering the examples in docs/rules.md.
    example_language: str = "python"

    @property
    def anchor(self) -> str:
        return self.code.lower()


class Checker:
    """One rule family.  Subclasses set the class attributes and ``check``."""

    family: ClassVar[str] = ""
    rules: ClassVar[tuple[Rule, ...]] = ()
    # File kinds this family reads: "python", "shell", "makefile", "markdown",
    # "yaml", "procfile".  See raptor_lint.discovery.file_kind.
    file_kinds: ClassVar[frozenset[str]] = frozenset({"python"})

    # The rules the family's pre-filter was written for (it may skip a file only for these).
    # A rule of the family not listed here switches the pre-filter off, so a new rule can
    # never be hidden by a gate that does not know it (tests/test_rule_docs.py also fails
    # until the author lists it).  Families without a pre-filter leave it empty.
    prefilter_rules: ClassVar[frozenset[str]] = frozenset()

    def prefilter(self, text: str) -> bool:
        """Cheap textual test: False means no finding of ``prefilter_rules`` is possible."""
        return True

    @classmethod
    def prefilter_applies(cls) -> bool:
        """Whether the pre-filter knows every rule of the family."""
        return bool(cls.prefilter_rules) and set(cls.codes()) <= cls.prefilter_rules

    def check(self, ctx: "FileContext") -> Iterable["Finding"]:  # pragma: no cover
        raise NotImplementedError

    def before_workers(self, project: "ProjectIndex") -> None:
        """Called once, in the parent process, before a large run forks its worker
        processes: build here the project facts nearly every run needs, so the workers
        inherit them instead of each building its own.  Default: nothing."""

    @classmethod
    def codes(cls) -> tuple[str, ...]:
        return tuple(rule.code for rule in cls.rules)


def with_story(finding: "Finding", note: str | None, related: "Iterable[Related]" = ()) -> "Finding":
    """``finding`` with its story attached (SPEC §7): the message stays the short line (what
    is wrong, what to do, ≤ ~120 characters); ``note`` is this finding's longer story (the
    incident, the PR, why) and ``related`` the other places it names, which ``--format full``,
    SARIF and the editor's hover show.  The rule's general story stays in its docs."""
    from dataclasses import replace

    return replace(finding, note=note, related=tuple(related))


def related_place(path: "str | Path", line: int, column: int, message: str) -> "Related":
    """A ``Related`` place of the finding's story: ``path`` made absolute (the interface's
    convention; a file context's path may be relative to the working directory)."""
    from pathlib import Path

    from raptor_lint.findings import Related

    return Related(str(Path(path).absolute()), line, column, message)
