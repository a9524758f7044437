"""A JSON list of findings (SPEC §4): path relative to the working directory, with ``/``."""

from __future__ import annotations

import json


def render(result, config, options=None) -> str:
    return json.dumps([f.to_json() for f in result.findings], indent=2) + "\n"
