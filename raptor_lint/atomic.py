"""Replace a file's content all at once: a reader sees the old bytes or the new, never half.

One routine for the two writers: ``--fix`` (a user's source file: keep its mode, follow a
symlink to the real file, fsync before the rename so a crash cannot leave it empty) and the
findings cache (thousands of small entries that may be lost at any time: no fsync, default
mode).  The temporary file lives in the target's directory, so ``os.replace`` is a rename
on one file system.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def replace_file(path: Path | str, data: bytes, *, keep_mode: bool = True, durable: bool = True) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``.

    ``keep_mode``: ``path`` exists; follow it if it is a symlink and give the new file its
    permission bits.  ``durable``: fsync the data before the rename."""
    target = Path(os.path.realpath(path)) if keep_mode else Path(path)
    mode = stat.S_IMODE(os.stat(target).st_mode) if keep_mode else None
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                             suffix=".raptor-lint.tmp")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(temporary, mode)
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise
