"""Where a file sits in the project: app code or test code.

Shared by the rule families that only make sense for code that runs in the deployed
service: the project rules (RPT503/RPT504: tests fake the environment and the schema on
purpose) and fork safety (RPT101–RPT104: tests never run under gunicorn).
"""

from __future__ import annotations

from pathlib import PurePosixPath

# Directories whose contents are test code, wherever they sit in the project.
TEST_DIRECTORIES = frozenset({"tests", "test", "testing"})


def is_test_code(relpath: str) -> bool:
    """True for test code: a file under a ``tests``/``test``/``testing`` directory,
    ``test_*.py``, ``*_test.py`` or ``conftest.py`` (``relpath`` uses ``/``)."""
    path = PurePosixPath(relpath)
    if any(part in TEST_DIRECTORIES for part in path.parts[:-1]):
        return True
    name = path.name
    return name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"


def is_app_code(relpath: str) -> bool:
    """Tests are not app code (they fake the environment on purpose, and never run in
    the forked gunicorn workers)."""
    return not is_test_code(relpath)


__all__ = ["TEST_DIRECTORIES", "is_app_code", "is_test_code"]
