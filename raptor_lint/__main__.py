import os
import sys

# `python -m raptor_lint` puts the working directory -- usually the project being
# linted -- first on sys.path: a module of that project named like one of our
# dependencies (yaml.py, click.py) would be imported, i.e. run, instead.  Drop it,
# as `python -P` does; raptor_lint itself is already imported by now.
if sys.path and os.path.realpath(sys.path[0] or os.curdir) == os.path.realpath(os.getcwd()):
    del sys.path[0]

from raptor_lint.cli import main  # noqa: E402

if __name__ == "__main__":  # pragma: no cover - exercised through subprocess tests
    main()
