"""The runbook (its env-bootstrap checklist), built once per run.

RPT502 asks whether the runbook mentions a flag in its ``FLAG_X`` spelling, as
a whole token (``FLAG_BETA`` does not match ``FLAG_BETA_DIGEST``).  Markdown
comments (``<!-- … -->``) are not text a reader provisions from, so they do not
count.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from raptor_lint.config import ConfigError
from raptor_lint.project.migrations import project_relpath, tokens_of

if TYPE_CHECKING:  # pragma: no cover
    from raptor_lint.project import ProjectIndex

_HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)


@dataclass(frozen=True)
class Runbook:
    path: Path
    relpath: str
    text: str
    tokens: frozenset[str]

    def mentions(self, token: str) -> bool:
        return token in self.tokens


def build(project: "ProjectIndex") -> Runbook | None:
    """ProjectIndex fact: None when the default runbook is absent; ConfigError when a
    configured one is missing or unreadable."""
    path = project.config.resolved_runbook()
    if path is None:
        return None
    try:
        text = path.read_bytes().decode("utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the runbook: {exc.strerror or type(exc).__name__}") from None
    visible = _HTML_COMMENT.sub(" ", text)
    return Runbook(path=path, relpath=project_relpath(path, project.config.root), text=text,
                   tokens=frozenset(tokens_of(visible)))
