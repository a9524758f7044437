"""Sweep raptor-lint over real code nobody here wrote; any internal error fails it.

    python tools/sweep.py                 # the running interpreter's standard library,
                                          # plus the benchmark corpus when present
    python tools/sweep.py DIR ...         # other trees
    python tools/sweep.py --sample 40     # every n-th file, 40 files in all (a smoke test)

The benchmark corpus is ``$BENCH_CORPUS``, else the performance benchmark's cache
(``$BENCH_CACHE/corpus``, default ``~/.cache/raptor-lint-bench/corpus``) when it
has been built by ``make bench``.  Each tree is linted as its own project with the
default configuration (every rule), without the findings cache, by worker
processes (``--jobs``, default: the number of CPUs).

Prints, per tree: files, lines, findings per rule code, seconds, the slowest
files, the files not checked because of the documented limit (RPT000 "file not
checked": over 2 million characters) and the internal errors (any other RPT000:
an exception inside a rule or the engine, a rule family that nests too deeply
even on the large helper stack, or a file that killed its worker process).  Exit status 1 when there is
any internal error, each listed with its message; 0 otherwise.  E999/E902 are
findings here, not failures: the stdlib's own test suite ships files that are
deliberately unparsable or mis-encoded.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import subprocess
import sys
import sysconfig
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

INTERNAL_ERROR = "RPT000"


@dataclass
class FileOutcome:
    path: str
    lines: int = 0
    codes: list[str] = field(default_factory=list)
    internal: list[str] = field(default_factory=list)  # "line:col message" of each RPT000 bug
    limits: list[str] = field(default_factory=list)  # RPT000 for the documented size limit
    crashed: str = ""  # set when linting the file killed the process
    seconds: float = 0.0


@dataclass
class TreeReport:
    root: Path
    files: int = 0
    lines: int = 0
    seconds: float = 0.0
    per_code: collections.Counter = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)
    limits: list[str] = field(default_factory=list)
    slowest: list[tuple[float, str, int]] = field(default_factory=list)


def default_trees() -> list[Path]:
    trees = [Path(sysconfig.get_paths()["stdlib"])]
    corpus = os.environ.get("BENCH_CORPUS")
    if corpus:
        trees.append(Path(corpus))
    else:
        cache = Path(os.environ.get("BENCH_CACHE") or
                     Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "raptor-lint-bench")
        if (cache / "corpus").is_dir():
            trees.append(cache / "corpus")
    return trees


def discover(root: Path) -> list[Path]:
    from raptor_lint.config import Config
    from raptor_lint.discovery import iter_files

    # Every file of the tree: an installed stdlib may sit below a repository whose
    # .gitignore lists it (pyenv: `/versions`), which would leave nothing to sweep.
    return [path for path, _kind in iter_files([root], Config(root=root, respect_gitignore=False))]


# ------------------------------------------------------------------ workers
_ENGINES: dict = {}


def _engine(root: Path):
    if root not in _ENGINES:
        from raptor_lint.config import Config
        from raptor_lint.engine import Engine

        _ENGINES[root] = Engine(Config(root=root))  # noqa: RPT101 - one engine per worker process
    return _ENGINES[root]


def lint_one(root: Path, path: Path) -> FileOutcome:
    from raptor_lint.discovery import file_kind

    outcome = FileOutcome(path.relative_to(root).as_posix())
    try:
        data = path.read_bytes()
        outcome.lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    except OSError:
        pass
    kind = file_kind(path, explicit=True) or "python"
    started = time.perf_counter()
    result = _engine(root).lint_path(path, kind, outcome.path)
    outcome.seconds = time.perf_counter() - started
    for finding in result.findings:
        outcome.codes.append(finding.code)
        if finding.code == INTERNAL_ERROR:
            where = f"{finding.line}:{finding.column} {finding.message}"
            (outcome.limits if _is_limit(finding.message) else outcome.internal).append(where)
    return outcome


def _is_limit(message: str) -> bool:
    """RPT000 for the documented limit (a file too large to lint), as opposed to an
    exception inside a rule or the engine: a bug."""
    return message.startswith("file not checked: ")


def lint_chunk(root: Path, paths: list[Path]) -> list[FileOutcome]:
    return [lint_one(root, path) for path in paths]


def _isolated(root: Path, path: Path) -> FileOutcome:
    """Lint one file in a fresh process, to tell which file killed a worker."""
    code = (
        "import dataclasses, json, sys; sys.path.insert(0, sys.argv[1]); import sweep; "
        "from pathlib import Path; "
        "print(json.dumps(dataclasses.asdict(sweep.lint_one(Path(sys.argv[2]), Path(sys.argv[3])))))"
    )
    proc = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(root), str(path)],
                          capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        outcome = FileOutcome(path.relative_to(root).as_posix())
        outcome.crashed = f"the process died (exit status {proc.returncode}): {proc.stderr.strip()[-300:]}"
        return outcome
    return FileOutcome(**json.loads(proc.stdout.splitlines()[-1]))


# ------------------------------------------------------------------ driver
def sweep_tree(root: Path, jobs: int, sample: int | None, out) -> TreeReport:
    root = root.resolve()
    report = TreeReport(root)
    started = time.perf_counter()
    paths = discover(root)
    if sample is not None and len(paths) > sample:
        step = len(paths) / sample
        paths = [paths[int(i * step)] for i in range(sample)]
    outcomes: list[FileOutcome] = []
    chunks = [paths[i:i + 8] for i in range(0, len(paths), 8)]
    if jobs > 1 and len(chunks) > 1:
        done: set[Path] = set()
        try:
            with ProcessPoolExecutor(max_workers=jobs) as pool:
                futures = {pool.submit(lint_chunk, root, chunk): chunk for chunk in chunks}
                for future in as_completed(futures):
                    outcomes.extend(future.result())
                    done.update(futures[future])
                    _progress(len(done), len(paths), started)
        except BrokenProcessPool:
            print("  a worker process died: re-linting the remaining files one process each", file=out)
            outcomes.extend(_isolated(root, path) for path in paths if path not in done)
    else:
        for path in paths:
            outcomes.append(lint_one(root, path))
            _progress(len(outcomes), len(paths), started)
    report.seconds = time.perf_counter() - started
    for outcome in outcomes:
        report.files += 1
        report.lines += outcome.lines
        report.per_code.update(outcome.codes)
        for message in outcome.internal:
            report.failures.append(f"{outcome.path}:{message}")
        for message in outcome.limits:
            report.limits.append(f"{outcome.path}:{message}")
        if outcome.crashed:
            report.failures.append(f"{outcome.path}: {outcome.crashed}")
    report.slowest = sorted(((o.seconds, o.path, o.lines) for o in outcomes), reverse=True)[:5]
    return report


def _progress(done: int, total: int, started: float) -> None:
    """A line on stderr every ~5 % (a full sweep takes a while)."""
    step = max(1, total // 20)
    if done == total or done // step != (done - 1) // step:
        print(f"  ... {done:,}/{total:,} files, {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)


def print_report(report: TreeReport, jobs: int, out) -> None:
    print(f"{report.root}", file=out)
    print(f"  files {report.files:,}  lines {report.lines:,}  seconds {report.seconds:.1f}"
          f"  ({jobs} worker{'s' if jobs != 1 else ''})", file=out)
    findings = sum(report.per_code.values())
    print(f"  findings {findings:,}" + (":" if findings else ""), file=out)
    for code, count in sorted(report.per_code.items()):
        print(f"    {code:<7} {count:>7,}", file=out)
    print("  slowest files:", file=out)
    for seconds, path, lines in report.slowest:
        print(f"    {seconds:7.2f} s  {path} ({lines:,} lines)", file=out)
    print(f"  files not checked (documented limit, not failures) {len(report.limits)}", file=out)
    for limit in report.limits:
        print(f"    {limit}", file=out)
    print(f"  internal errors {len(report.failures)}", file=out)
    for failure in report.failures:
        print(f"    {failure}", file=out)


def main(argv: list[str] | None = None, out=None) -> int:
    out = out or sys.stdout
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trees", nargs="*", type=Path, help="directories (default: stdlib + corpus)")
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sample", type=int, help="lint only this many files per tree, evenly spread")
    args = parser.parse_args(argv)
    trees = args.trees or default_trees()
    failures = 0
    total = time.perf_counter()
    for tree in trees:
        if not tree.is_dir():
            print(f"sweep: not a directory: {tree}", file=sys.stderr)
            return 2
        report = sweep_tree(tree, max(1, args.jobs), args.sample, out)
        print_report(report, max(1, args.jobs), out)
        failures += len(report.failures)
    print(f"total seconds {time.perf_counter() - total:.1f}; internal errors {failures}", file=out)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
