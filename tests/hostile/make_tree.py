"""Build a checkout written by an attacker (issue 18), for `raptor-lint check` to survive.

FIFOs, device symlinks, 1 GB sparse files and unlistable directories cannot be committed, so
the tree is generated: ``python tests/hostile/make_tree.py DIR`` (or ``build(Path)`` from a
test).  Every case is one that hung, blew up memory, crashed or wrote outside the project
before issue 18; ``CASES`` names them, and tests/test_hostile_tree.py holds the run to them.

Layout (``DIR`` is made; nothing is written outside it):

    DIR/app/            the hostile project (pyproject.toml marks its root)
    DIR/outside/        a directory the project's symlinks point into; must stay as built
    DIR/poison_pyproject/, DIR/poison_manifest/
                        projects whose configuration itself is hostile (one line, exit 2)
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

# name -> what it was before issue 18 (for the reader of a failure)
CASES = {
    "recursive_alias_workflow": "CI YAML `x: &a [*a]` with `# heroku config:set`: never finished",
    "billion_laughs_workflow": "9x9 alias fan-out in CI YAML: never finished",
    "fifo_module": "a FIFO named *.py: blocked forever",
    "fifo_migration": "a FIFO as a migration: blocked forever",
    "fifo_gunicorn_config": "a FIFO as the Procfile's -c gunicorn config: blocked forever",
    "zero_migration": "/dev/zero as a migration: MemoryError",
    "zero_module": "/dev/zero as an imported module: MemoryError",
    "zero_gunicorn_config": "/dev/zero as the gunicorn config: MemoryError",
    "quadratic_runbook": "200 KB of unclosed <!--: 29 s",
    "sparse_manifest": "a 1 GB sparse manifest: read whole (a project of its own: exit 2)",
    "cache_symlink": ".raptor_lint_cache -> ../outside: the cache written outside the project",
    "latin1_name": "caf\\xe9.py: SARIF internal error",
    "newline_name": "a newline + ::warning in a file name: GitHub log injection",
    "option_names": "files named --ignore=RPT, --exit-zero, --fix: pre-commit options",
    "unlistable_dir": "a directory nobody can list: skipped without a word",
    "long_path": "a path over 4,096 characters: skipped silently",
    "many_functions": "10,000 functions each assigning a local r: 17 s",
    "huge_module": "a 50,000-line module with 10,000 findings",
    "symlink_outside": "app/store.py -> ../outside/victim.py: --fix wrote through the link",
    "nested_pyproject": "a deeply nested pyproject.toml: RecursionError",
    "nested_manifest": "a deeply nested manifest: RecursionError",
}

# A module with a finding on every run (RPT101: module-level dict mutated in a request).
STATEFUL = '''\
from flask import Blueprint

bp = Blueprint("store", __name__)
_sessions = {}


@bp.route("/login/<user>")
def login(user):
    _sessions[user] = True
    return "ok"
'''

VICTIM = STATEFUL.replace("_sessions", "_victims")


def build(top: Path) -> dict[str, Path]:
    """Make the tree under ``top``; return the paths the test asserts on."""
    top.mkdir(parents=True, exist_ok=True)
    app, outside = top / "app", top / "outside"
    for directory in (app / "app", app / "migrations" / "versions", app / "docs" / "ops",
                      app / ".github" / "workflows", outside):
        directory.mkdir(parents=True, exist_ok=True)
    (app / "pyproject.toml").write_text('[tool.raptor-lint]\nselect = ["RPT", "E"]\n')
    (app / "app" / "__init__.py").write_text("")
    (app / "app" / "views.py").write_text(STATEFUL)

    # ---- YAML that never ends
    (app / ".github" / "workflows" / "deploy.yml").write_text(
        "# heroku config:set SECRET=x\nx: &a [*a]\nsteps:\n  - run: heroku config:set A=1\n")
    laughs = ["# heroku config:set SECRET=x", 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level, name in enumerate("bcdefghi"):
        previous = "abcdefghi"[level]
        laughs.append(f"{name}: &{name} [{', '.join(['*' + previous] * 9)}]")
    laughs.append("steps:\n  - run: echo *i")
    (app / ".github" / "workflows" / "laughs.yml").write_text("\n".join(laughs) + "\n")

    # ---- special files where sources, migrations and the gunicorn config are read
    os.mkfifo(app / "app" / "fifo_module.py")
    os.mkfifo(app / "migrations" / "versions" / "0001_fifo.py")
    os.mkfifo(app / "gunicorn_fifo.py")
    os.symlink("/dev/zero", app / "migrations" / "versions" / "0002_zero.py")
    os.symlink("/dev/zero", app / "app" / "zero_module.py")
    os.symlink("/dev/zero", app / "gunicorn_zero.py")
    (app / "app" / "uses_zero.py").write_text("from app import zero_module\n\nzero_module.thing()\n")
    (app / "Procfile").write_text(
        "web: gunicorn 'app:create_app()' --preload -c gunicorn_zero.py\n"
        "worker: gunicorn 'app:create_app()' --preload -c gunicorn_fifo.py\n")

    # ---- project documents that were read whole or scanned quadratically
    (app / "docs" / "ops" / "runbook.md").write_text("<!--\n" * 40_000)  # 200 KB

    # ---- the cache a repository could plant
    os.symlink("../outside", app / ".raptor_lint_cache")

    # ---- file names are data
    latin1 = os.fsencode(app / "app") + b"/caf\xe9.py"
    with open(latin1, "wb") as handle:
        handle.write(STATEFUL.encode())
    (app / "app" / "evil\n::warning file=x.py,line=1::pwned.py").write_text(STATEFUL)
    for name in ("--ignore=RPT", "--exit-zero", "--fix"):
        (app / name).write_text("x = 1\n")

    # ---- what the walk used to skip without a word
    secret = app / "app" / "secret"
    secret.mkdir()
    (secret / "hidden.py").write_text(STATEFUL)
    secret.chmod(0)
    long_dir = _make_long_path(app / "app" / "deep", total=4_200)

    # ---- bounded work
    (app / "app" / "many_functions.py").write_text(
        "".join(f"def f{i}():\n    r = {{}}\n    r[{i}] = {i}\n    return r\n\n" for i in range(10_000)))
    (app / "app" / "huge.py").write_text(_huge_module(50_000))

    # ---- --fix must not write through a link to outside the project
    (outside / "victim.py").write_text(VICTIM)
    os.symlink("../../outside/victim.py", app / "app" / "store.py")

    # ---- configuration that is itself hostile: separate projects (their run ends in exit 2)
    nested = top / "poison_pyproject"
    nested.mkdir(exist_ok=True)
    (nested / "pyproject.toml").write_text("[tool.raptor-lint]\nx = " + "[" * 100_000 + "]" * 100_000 + "\n")
    (nested / "ok.py").write_text("x = 1\n")
    manifest_project = top / "poison_manifest"
    (manifest_project / "docs" / "ops").mkdir(parents=True, exist_ok=True)
    (manifest_project / "pyproject.toml").write_text("[tool.raptor-lint]\n")
    (manifest_project / "docs" / "ops" / "required-config-vars.yaml").write_text(
        "vars: " + "[" * 50_000 + "]" * 50_000 + "\n")
    (manifest_project / "app.py").write_text(
        "import os\nfrom flask import Flask\n\n\ndef create_app():\n"
        "    app = Flask(__name__)\n    app.config['X'] = os.environ['X']\n    return app\n")
    # A manifest the rules depend on but cannot read is a configuration error (exit 2, one
    # line), as a missing configured file is: so it is a project of its own too.
    sparse_project = top / "poison_sparse_manifest"
    (sparse_project / "docs" / "ops").mkdir(parents=True, exist_ok=True)
    (sparse_project / "pyproject.toml").write_text("[tool.raptor-lint]\n")
    (sparse_project / "app.py").write_text("x = 1\n")
    with open(sparse_project / "docs" / "ops" / "required-config-vars.yaml", "wb") as handle:
        handle.truncate(1 << 30)  # 1 GB, sparse: no disk used
    return {"app": app, "outside": outside, "long_dir": long_dir, "secret": secret,
            "poison_pyproject": nested, "poison_manifest": manifest_project,
            "poison_sparse_manifest": sparse_project}


def _make_long_path(start: Path, *, total: int) -> Path:
    """Directories nested until the path is longer than ``total`` characters (past PATH_MAX),
    made through directory descriptors since no single system call takes the whole path;
    a module with a finding at the bottom."""
    start.mkdir(exist_ok=True)
    fd = os.open(start, os.O_RDONLY | os.O_DIRECTORY)
    path, name = start, "d" * 200
    try:
        while len(str(path)) <= total:
            os.mkdir(name, dir_fd=fd)
            child = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd, path = child, path / name
        out = os.open("state.py", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644, dir_fd=fd)
        try:
            os.write(out, STATEFUL.encode())
        finally:
            os.close(out)
    finally:
        os.close(fd)
    return path


def _huge_module(lines: int) -> str:
    """About ``lines`` lines: request handlers that each mutate module state (a finding each)."""
    head = "from flask import Blueprint\n\nbp = Blueprint('huge', __name__)\n_seen = {}\n\n"
    body = []
    for i in range((lines - 5) // 5):
        body.append(f"@bp.route('/r{i}')\ndef r{i}():\n    _seen[{i}] = True\n    return 'ok'\n\n")
    return head + "".join(body)


def make_traversable(top: Path) -> None:
    """Let an unprivileged user (``nobody``) read the tree, except the unlistable directory:
    the test drops to that user, since root lists a mode-0 directory anyway."""
    for directory, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(directory, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode) or stat.S_ISFIFO(st.st_mode) or name == "secret":
                continue
            os.chmod(path, 0o755 if stat.S_ISDIR(st.st_mode) else 0o644)
    os.chmod(top, 0o755)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: make_tree.py DIR")
    paths = build(Path(sys.argv[1]))
    make_traversable(Path(sys.argv[1]))
    for key, value in paths.items():
        print(f"{key}: {str(value)[:120]}")
