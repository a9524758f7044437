#!/usr/bin/env python3
"""``make bench-plugin``: what the RPT plugin adds to ``flake8 --select E,F,W``, measured
inside one flake8 process.

``make bench`` times ``flake8 --select E,F,W`` with and without the plugin as two
separate ~90-second runs; on a VM whose speed drifts by more than the target between
two such runs (measured here: 69 s, 79 s and 92 s for the same command in one bench),
their ratio says little.  This runs flake8 once per selection in one process
(``-j1``) over the bench corpus and times, inside that process, the plugin's own
``run()`` calls and the garbage collector (the plugin's other cost: what it keeps
alive is walked by every full collection flake8 triggers).  Both sides of the share
come from the same process, so a drift hits them alike:

    share = (plugin run() + collector time above flake8 alone) / the rest of the run

"Above flake8 alone" compares two processes, so flake8 alone's collector time is first
scaled by the drift between them: the ratio of flake8's own work outside the collector,
which is the same work in both runs.

With ``-j N`` each worker also pays the plugin's per-process start (imports, the
fork-safety word index), once.  Knobs: ``BENCH_REPEAT`` (pairs of runs, default 1;
each run takes ~3 minutes), ``BENCH_CORPUS``, ``BENCH_CACHE`` as for ``make bench``.
Standard library only; not part of ``make test``.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402 - the corpus and environments of `make bench`

# Runs inside the rpt environment's Python: flake8 in-process, with the plugin's run()
# and the collector timed.  Prints one JSON line on stderr (stdout is flake8's report).
PROBE = r"""
import gc, json, sys, time
import raptor_lint.flake8_plugin as plugin

spent = {"run": 0.0, "files": 0, "gc": 0.0, "full_gc": 0.0}
original = plugin.Plugin.run
inside_run = [False]

def timed_run(self):
    start = time.process_time()
    inside_run[0] = True
    try:
        found = list(original(self))
    finally:
        inside_run[0] = False
    spent["run"] += time.process_time() - start
    spent["files"] += 1
    return iter(found)

plugin.Plugin.run = timed_run
started = [0.0]

def on_collection(phase, info):
    # A collection inside run() (the plugin's own gc.collect before a freeze) is already
    # in run()'s time: counting it here too would count it twice.
    if inside_run[0]:
        return
    if phase == "start":
        started[0] = time.process_time()
    else:
        took = time.process_time() - started[0]
        spent["gc"] += took
        if info["generation"] == 2:
            spent["full_gc"] += took

gc.callbacks.append(on_collection)
from flake8.main.cli import main
begin = time.process_time()
main(sys.argv[1:])
spent["total"] = time.process_time() - begin
print(json.dumps(spent), file=sys.stderr)
"""


def measure(python: Path, corpus: Path, select: str) -> dict:
    proc = subprocess.run([str(python), "-c", PROBE, "--isolated", "--exit-zero", "-j1", "--select", select, "."],
                          cwd=corpus, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          env=bench.TOOL_ENV, check=True)
    return json.loads(proc.stderr.strip().splitlines()[-1])


def main() -> int:
    corpus = bench.corpus_from_env()
    rpt = bench.prepare_rpt_env()
    repeat = bench.repeat_from_env(1)
    shares, rows = [], []
    for round_number in range(repeat):
        order = ["E,F,W", "E,F,W,RPT"] if round_number % 2 == 0 else ["E,F,W,RPT", "E,F,W"]
        result = {}
        for select in order:
            bench.say(f"round {round_number + 1}: flake8 -j1 --select {select} (in-process timing)")
            result[select] = measure(rpt / "python", corpus, select)
        alone, with_plugin = result["E,F,W"], result["E,F,W,RPT"]
        # flake8's own work outside the collector is the same in both runs: its ratio is how
        # much the machine's speed drifted between them, and scales flake8 alone's collector.
        drift = (with_plugin["total"] - with_plugin["run"] - with_plugin["gc"]) / (alone["total"] - alone["gc"])
        extra_gc = with_plugin["gc"] - alone["gc"] * drift
        added = with_plugin["run"] + extra_gc
        share = added / (with_plugin["total"] - added)
        shares.append(share)
        rows.append(f"| {round_number + 1} | {with_plugin['files']} | {with_plugin['run']:.2f} | "
                    f"{alone['gc']:.2f} | {with_plugin['gc']:.2f} | {alone['total']:.2f} | "
                    f"{with_plugin['total']:.2f} | {drift:.3f} | {100 * share:+.1f} % |")
    print(f"Corpus: {corpus}; flake8 -j1, one process per run; CPU seconds (process time).\n")
    print("| round | files | plugin run() | collector, E,F,W | collector, +RPT | total, E,F,W | "
          "total, +RPT | speed drift | plugin's share |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print(f"\nThe plugin adds {100 * statistics.median(shares):+.1f} % (median of {len(shares)}) to flake8's "
          "own work in one process; with -j N each worker also pays its start once.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
