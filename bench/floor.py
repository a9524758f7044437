#!/usr/bin/env python3
"""``make bench-floor``: what CPython alone costs on the bench corpus, next to Ruff.

The cold target of the performance issue is raptor-lint at ≤ 2× Ruff's wall time.
raptor-lint reports unparsable Python as ``E999`` (SPEC §1), so every Python file of
the corpus goes through CPython's parser at least once, whatever the rule families
then skip.  This times, in alternating rounds and on as many processes as raptor-lint
uses (``--jobs`` default: the cores this process may run on), the floors under any
raptor-lint run:

* ``read``: read every ``.py`` file;
* ``syntax check``: CPython's cheapest pass that accepts exactly the grammar
  (``_symtable.symtable``: the parser without the Python ``ast`` objects, which is what
  raptor-lint runs on a file no family wants);
* ``ast.parse``: the tree the rule families read, for every file;
* raptor-lint's gate: ``ast.parse`` where a family's pre-filter passes, the syntax check
  elsewhere (what a cold run parses before any rule runs; in raptor-lint's bench
  environment, the others in this interpreter);

and Ruff's default rules (``--isolated --no-cache``, concise output), as in ``make
bench``.  Knobs: ``BENCH_REPEAT`` (rounds, default 3), ``BENCH_CORPUS``, ``BENCH_CACHE``.
Not part of ``make test``.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402 - the corpus and environments of `make bench`

# Runs as its own process (timed from outside like every row of `make bench`):
# argv = mode, corpus, processes, this directory (for run.python_files).  Files are
# dealt round-robin, largest first.
PROBE = r"""
import _symtable, ast, os, sys
from multiprocessing import get_context

mode, root, jobs = sys.argv[1], sys.argv[2], int(sys.argv[3])
sys.path.insert(0, sys.argv[4])
from run import python_files

files = sorted(python_files(root), key=lambda path: -os.path.getsize(path))
wanted = None
if mode == "gate":  # raptor-lint's own gate: a tree where a family's pre-filter passes
    from pathlib import Path
    from raptor_lint.config import load_config
    from raptor_lint.engine import Engine, _passes
    from raptor_lint.source import decode_python

    checkers = [c for c in Engine(load_config(Path(root))).checkers if "python" in c.file_kinds]
    wanted = lambda text: any(_passes(checker, text) for checker in checkers)


def work(paths):
    failures = 0
    for path in paths:
        with open(path, "rb") as stream:
            data = stream.read()
        if mode == "read":
            continue
        try:
            if wanted is not None:
                text = decode_python(data)
                if wanted(text):
                    compile(text, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
                else:
                    _symtable.symtable(text, path, "exec")
            elif mode == "symtable":
                _symtable.symtable(data, path, "exec")
            else:
                compile(data, path, "exec", ast.PyCF_ONLY_AST, dont_inherit=True)
        except Exception:
            failures += 1
    return failures


chunks = [files[start::jobs * 8] for start in range(jobs * 8)]
if jobs == 1:
    failed = sum(map(work, chunks))
else:
    with get_context("fork").Pool(jobs) as pool:
        failed = sum(pool.map(work, chunks, chunksize=1))
print(len(files), failed)
"""


def main() -> int:
    repeat = bench.repeat_from_env(3)
    corpus = bench.corpus_from_env()
    peers = bench.prepare_env("peers", bench.read_peers()["peers"])
    # As raptor-lint's default --jobs (raptor_lint.parallel.default_jobs, not importable
    # from the interpreter that runs the benchmarks).
    jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    here = str(Path(__file__).resolve().parent)
    probe = [sys.executable, "-c", PROBE]
    rows = {
        "read": ("read every file", [*probe, "read", str(corpus), str(jobs), here]),
        "symtable": ("syntax check (E999 floor)", [*probe, "symtable", str(corpus), str(jobs), here]),
        "parse": ("ast.parse", [*probe, "parse", str(corpus), str(jobs), here]),
        # In raptor-lint's environment: its pre-filters decide, as in a cold run.
        "gate": ("raptor-lint's gate (ast.parse where a pre-filter passes, else the syntax check)",
                 [str(bench.prepare_rpt_env() / "python"), "-c", PROBE, "gate", str(corpus), str(jobs), here]),
        "ruff": ("ruff default rules (concise)",
                 [str(peers / "ruff"), "check", "--isolated", "--no-cache", "--exit-zero",
                  "--output-format", "concise", "."]),
    }
    walls: dict[str, list[float]] = {key: [] for key in rows}
    cpus: dict[str, list[float]] = {key: [] for key in rows}
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "out"
        for round_number in range(repeat):
            order = list(rows) if round_number % 2 == 0 else list(reversed(rows))
            for key in order:
                bench.say(f"round {round_number + 1}: {rows[key][0]}")
                wall, cpu, _rss, status, tail = bench.run_once(rows[key][1], corpus, out)
                if status != 0:
                    raise SystemExit(f"bench-floor: {rows[key][0]} exited {status}: {tail}")
                walls[key].append(wall)
                cpus[key].append(cpu)
    ruff = statistics.median(walls["ruff"])
    print(f"Corpus: {corpus}; {jobs} processes; {repeat} alternating rounds; medians.\n")
    print("| step | wall (s) | × Ruff | CPU (s) |")
    print("|---|---:|---:|---:|")
    for key, (label, _argv) in rows.items():
        wall = statistics.median(walls[key])
        print(f"| {label} | {wall:.2f} | {wall / ruff:.2f} | {statistics.median(cpus[key]):.2f} |")
    floor = statistics.median(walls["symtable"]) / ruff
    gate = statistics.median(walls["gate"]) / ruff
    print(f"\nBefore any rule runs: syntax-checking every file (what E999 needs) is {floor:.2f}× Ruff's "
          f"whole run on this machine, and raptor-lint's gate (trees for the files the rule families "
          f"read) {gate:.2f}×.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
