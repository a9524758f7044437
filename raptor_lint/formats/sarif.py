"""SARIF 2.1.0, for GitHub code scanning and other SARIF viewers.

One run: ``tool.driver`` carries every selected rule (its summary, why, and the
rendered docs as ``help``, which code scanning shows inline; ``helpUri`` only when
``RAPTOR_LINT_DOCS_URL`` says where a team hosts docs/rules.md: a ``pip install`` has no
page of its own to link to).  Each finding is a result with ``ruleId``/``ruleIndex`` and a
region whose columns are 1-based code points (``columnKind``), end exclusive, like the
engine's; its note (the longer story) is the message's ``markdown`` after the short text,
and its related places are ``relatedLocations``.  Artifact URIs are relative to the working
directory (``%SRCROOT%``), with ``/``, percent-encoded from the file name's bytes (a name
that is not UTF-8 stays exact: ``caf%E9.py``).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from raptor_lint import __version__
from raptor_lint.findings import INTERNAL_ERROR, IO_ERROR, SYNTAX_ERROR, Finding, Related

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
INFORMATION_URI = "https://github.com/raptor-lint/raptor-lint"
# The public page of the rule docs (the language server's last resort).  SARIF does not link
# to it: code scanning shows ``help`` itself, and this page is main's, not the installed version's.
RULES_URL = f"{INFORMATION_URI}/blob/main/docs/rules.md"
SRCROOT = "%SRCROOT%"

# The short descriptions of the codes that describe the run rather than a rule (listed only
# when reported; their names are docs.RUN_CODE_NAMES).
_RUN_CODES = {
    SYNTAX_ERROR: "The file does not parse (or decode) as Python.",
    IO_ERROR: "The file cannot be read.",
    INTERNAL_ERROR: "A rule family failed on this file (a raptor-lint bug: please report it); "
                    "the other rules still ran.",
}


def render(result, config, options=None) -> str:
    from raptor_lint.docs import RUN_CODE_NAMES, render_rule, rule_url
    from raptor_lint.registry import all_rules, family_of

    findings: list[Finding] = result.findings
    rules = all_rules()
    reported = {f.code for f in findings}
    codes = sorted({code for code in rules if config.is_selected(code)} | reported)
    descriptors = []
    for code in codes:
        rule = rules.get(code)
        if rule is None:
            name, text = RUN_CODE_NAMES.get(code, code.lower()), _RUN_CODES.get(code, code)
            descriptors.append({
                "id": code,
                "name": name,
                "shortDescription": {"text": text},
                "defaultConfiguration": {"level": "error"},
            })
            continue
        descriptor = {
            "id": code,
            "name": rule.name,
            "shortDescription": {"text": rule.summary},
            "fullDescription": {"text": rule.why.strip()},
            "help": {
                "text": f"{rule.why.strip()}\n\nRunbook: {rule.runbook}",
                "markdown": render_rule(rule, level=2),
            },
            "defaultConfiguration": {"level": "error"},
            "properties": {"tags": [family_of(code)], "runbook": rule.runbook, "fixable": rule.fixable,
                           **({"fixApplicability": rule.fix_applicability} if rule.fixable else {})},
        }
        url = rule_url(rule)
        if url:
            descriptor["helpUri"] = url
        descriptors.append(descriptor)
    index = {code: i for i, code in enumerate(codes)}
    results = [_result(f, index[f.code]) for f in findings]
    document = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "raptor-lint",
                "version": __version__,
                "informationUri": INFORMATION_URI,
                "rules": descriptors,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }
    return json.dumps(document, indent=2) + "\n"


def _location(path: str) -> dict:
    # The name's own bytes (surrogateescape gives back what os.fsdecode kept), percent-encoded:
    # a name that is not UTF-8, or holds a newline or '#', is still one exact, valid URI.
    data = path.replace("\\", "/").encode("utf-8", "surrogateescape")
    return {"uri": quote(data, safe="/"), "uriBaseId": SRCROOT}


def _region(line: int, column: int, end_line: int | None, end_column: int | None) -> dict:
    return {
        "startLine": line,
        "startColumn": column,
        "endLine": end_line if end_line is not None else line,
        "endColumn": end_column if end_column is not None else column,
    }


def _result(finding: Finding, rule_index: int) -> dict:
    out = {
        "ruleId": finding.code,
        "ruleIndex": rule_index,
        "level": "error",
        "message": _message(finding),
        "locations": [{"physicalLocation": {
            "artifactLocation": _location(finding.path),
            "region": _region(finding.line, finding.column, finding.end_line, finding.end_column),
        }}],
    }
    if finding.related:
        out["relatedLocations"] = [_related(index, related) for index, related in enumerate(finding.related, 1)]
    if finding.fix is not None:
        out["fixes"] = [_fix(finding)]
    return out


def _message(finding: Finding) -> dict:
    """The short message; with a note, also as markdown followed by the note (viewers that
    render markdown show the story, the others the one line)."""
    message = {"text": finding.message}
    if finding.note:
        message["markdown"] = f"{finding.message}\n\n{finding.note}"
    return message


def _related(index: int, related: Related) -> dict:
    from raptor_lint.config import relative_posix

    return {
        "id": index,
        "physicalLocation": {
            "artifactLocation": _location(relative_posix(Path(related.path))),
            "region": _region(related.line, related.column, None, None),
        },
        "message": {"text": related.message},
    }


def _fix(finding: Finding) -> dict:
    """SARIF 2.1.0 ``fix`` (§3.55): one ``artifactChange`` per file the edits touch (an
    RPT502/RPT503 fix edits the runbook or the manifest, not the finding's file).  The
    tier is in the property bag (``applicability``, Ruff's word) and, for a reader of the
    description alone, an "(unsafe) " prefix: ``--fix`` applies it only with ``--unsafe-fixes``."""
    from raptor_lint.config import relative_posix

    fix = finding.fix
    assert fix is not None
    changes: dict[str, list[dict]] = {}
    for edit in fix.edits:
        path = finding.path if edit.path is None else relative_posix(Path(edit.path))
        changes.setdefault(path, []).append({
            "deletedRegion": _region(edit.line, edit.column, edit.end_line, edit.end_column),
            "insertedContent": {"text": edit.content},
        })
    description = fix.description if fix.is_safe else f"(unsafe) {fix.description}"
    return {
        "description": {"text": description},
        "artifactChanges": [{"artifactLocation": _location(path), "replacements": replacements}
                            for path, replacements in changes.items()],
        "properties": {"applicability": fix.applicability},
    }
