#!/usr/bin/env python3
"""``make bench``: raptor-lint against Ruff and flake8 on real third-party code.

Standard library only.  Steps:

1. corpus: ``pip download --no-deps --require-hashes -r bench/corpus.lock`` into a
   cache outside the repository (``$BENCH_CACHE``, default
   ``~/.cache/raptor-lint-bench``), check every wheel's sha256 against the lock,
   unpack the ``.py`` files (once).  ``BENCH_CORPUS=dir`` lints another tree instead.
2. tools: three virtualenvs in the cache, from ``bench/peers.txt`` — ``peers``
   (Ruff, flake8), ``bugbear`` (flake8 + flake8-bugbear) and ``rpt`` (flake8 +
   this checkout of raptor-lint, editable).  flake8 runs every installed plugin
   whatever ``--select`` says, hence one environment per plugin set.
3. timing: every command once per round, rounds rotate the order (so load drifts
   spread over all tools); median wall time and peak RSS (``os.wait4``: the largest
   resident set of the process and any child it waited for — worker pools
   included, not summed).  Output goes to a file (no terminal rendering cost).

Knobs: ``BENCH_REPEAT`` (rounds, default 3), ``BENCH_SLOW_REPEAT`` (rounds that
also run the ~60-90 s flake8 default and bugbear commands, default 1),
``BENCH_SKIP`` (comma-separated row keys to leave out, e.g. ``bugbear,flake8``),
``BENCH_CORPUS``, ``BENCH_CACHE``.  Not part of ``make test``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCH = REPO / "bench"
LOCK = BENCH / "corpus.lock"
PEERS = BENCH / "peers.txt"
CACHE = Path(os.environ.get("BENCH_CACHE") or
             Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "raptor-lint-bench")
SKIP_DIRS = {".git", ".hg", ".svn", ".venv", "venv", "__pycache__", "node_modules", "build", "dist",
             ".tox", ".nox", ".eggs", "site-packages", ".raptor_lint_cache", ".ruff_cache"}


def say(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ------------------------------------------------------------------ corpus
def read_lock() -> list[tuple[str, str]]:
    entries = []
    for line in LOCK.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            requirement, _, digest = line.partition(" --hash=sha256:")
            entries.append((requirement.strip(), digest.strip()))
    return entries


def prepare_corpus() -> Path:
    entries = read_lock()
    wheels = CACHE / "wheels"
    corpus = CACHE / "corpus"
    stamp = corpus / ".bench-lock"
    lock_digest = hashlib.sha256(LOCK.read_bytes()).hexdigest()
    if stamp.is_file() and stamp.read_text() == lock_digest:
        return corpus
    wheels.mkdir(parents=True, exist_ok=True)
    have = {sha256_file(p): p for p in wheels.glob("*.whl")}
    if not all(digest in have for _, digest in entries):
        say(f"downloading the corpus wheels into {wheels} (pinned by version and sha256)")
        subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                        "--require-hashes", "--only-binary=:all:", "-d", str(wheels), "-r", str(LOCK)],
                       check=True)
        have = {sha256_file(p): p for p in wheels.glob("*.whl")}
    missing = [req for req, digest in entries if digest not in have]
    if missing:
        raise SystemExit(f"bench: no wheel with the locked sha256 for {', '.join(missing)}")
    if corpus.exists():
        shutil.rmtree(corpus)
    corpus.mkdir(parents=True)
    for requirement, digest in entries:
        wheel = have[digest]
        target = corpus / requirement.replace("==", "-")
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.infolist():
                name = member.filename
                if not name.endswith(".py") or name.startswith("/") or ".." in Path(name).parts:
                    continue
                dest = target / name
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(archive.read(member))
    # The corpus is its own project root for raptor-lint (its cache lives in the user's cache
    # directory, keyed by this root); Ruff and flake8 run with --isolated and ignore this file.
    (corpus / "pyproject.toml").write_text("[tool.raptor-lint]\n", encoding="utf-8")
    stamp.write_text(lock_digest)
    return corpus


def corpus_from_env() -> Path:
    """``BENCH_CORPUS`` when set (it must be a directory), else the pinned corpus."""
    if not os.environ.get("BENCH_CORPUS"):
        return prepare_corpus()
    corpus = Path(os.environ["BENCH_CORPUS"]).resolve()
    if not corpus.is_dir():
        raise SystemExit(f"bench: BENCH_CORPUS={corpus} is not a directory")
    return corpus


def repeat_from_env(default: int) -> int:
    """``BENCH_REPEAT`` rounds (at least one)."""
    return max(1, int(os.environ.get("BENCH_REPEAT", str(default))))


def python_files(corpus: Path | str) -> list[str]:
    """Every ``.py`` file below ``corpus``, outside ``SKIP_DIRS``."""
    found: list[str] = []
    for directory, dirnames, filenames in os.walk(corpus):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS]
        found.extend(os.path.join(directory, name) for name in filenames if name.endswith(".py"))
    return found


def corpus_size(corpus: Path) -> tuple[int, int]:
    files = lines = 0
    for path in python_files(corpus):
        files += 1
        with open(path, "rb") as handle:
            lines += handle.read().count(b"\n")
    return files, lines


# ------------------------------------------------------------------- tools
def read_peers() -> dict[str, list[str]]:
    envs: dict[str, list[str]] = {}
    for line in PEERS.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            env, requirement = line.split(None, 1)
            envs.setdefault(env, []).append(requirement.strip())
    return envs


def prepare_env(name: str, requirements: list[str], editable: Path | None = None) -> Path:
    suffix = f"-{hashlib.sha256(str(editable).encode()).hexdigest()[:8]}" if editable else ""
    venv = CACHE / f"venv-{name}{suffix}"
    key = json.dumps([requirements, str(editable),
                      hashlib.sha256((editable / "pyproject.toml").read_bytes()).hexdigest() if editable else ""])
    stamp = venv / ".bench-stamp"
    if stamp.is_file() and stamp.read_text() == key:
        return venv / "bin"
    say(f"creating the {name} environment in {venv}")
    if venv.exists():
        shutil.rmtree(venv)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *requirements, *(["-e", str(editable)] if editable else [])], check=True)
    stamp.write_text(key)
    return venv / "bin"


def prepare_rpt_env() -> Path:
    """The environment with this checkout installed (editable), its bytecode written
    before anything is timed (see TOOL_ENV)."""
    rpt = prepare_env("rpt", read_peers()["rpt"], editable=REPO)
    subprocess.run([str(rpt / "python"), "-m", "compileall", "-q", str(REPO / "raptor_lint")],
                   env=TOOL_ENV, check=False, stdout=subprocess.DEVNULL)
    return rpt


# ------------------------------------------------------------------ timing
@dataclass
class Row:
    key: str
    label: str
    argv: list[str]
    slow: bool = False
    # raptor-lint exits 2 when a rule family failed on some file (RPT000 findings,
    # counted and shown under the table); the run itself is still complete.
    ok_status: tuple[int, ...] = (0,)
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    rss_kb: list[int] = field(default_factory=list)
    outputs: list[int] = field(default_factory=list)
    failed: str = ""
    internal_errors: int = 0


# Tools run as users run them: Python may write its bytecode cache.  Some sandboxes and CI
# images set PYTHONDONTWRITEBYTECODE, which makes every run of an editable install (this
# checkout) recompile its modules from source (~0.25 s per process); pip-installed peers
# ship compiled bytecode either way.
TOOL_ENV = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}


def run_once(argv: list[str], cwd: Path, out_path: Path) -> tuple[float, float, int, int, str]:
    """(wall seconds, CPU seconds, peak RSS in KiB, exit status, stderr tail) of one command.
    CPU: user + system time of the process and the children it waited for (workers)."""
    with open(out_path, "wb") as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=TOOL_ENV)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read()[-2000:].decode("utf-8", "replace")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss, proc.returncode, tail


def _has_summary(path: Path) -> bool:
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    return bool(lines) and lines[-1].startswith(("Found ", "All checks passed"))


def count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


def main() -> int:
    repeat = repeat_from_env(3)
    slow_repeat = max(0, min(repeat, int(os.environ.get("BENCH_SLOW_REPEAT", "1"))))
    skip = {s.strip() for s in os.environ.get("BENCH_SKIP", "").split(",") if s.strip()}
    CACHE.mkdir(parents=True, exist_ok=True)

    corpus = corpus_from_env()
    envs = read_peers()
    peers = prepare_env("peers", envs["peers"])
    bugbear = prepare_env("bugbear", envs["bugbear"]) if "bugbear" not in skip else None
    rpt = prepare_rpt_env()
    files, lines = corpus_size(corpus)

    target = "."
    rl = str(rpt / "raptor-lint")
    rows = [
        Row("cold", "raptor-lint cold (--no-cache)", [rl, "check", "--no-cache", "--exit-zero", target],
            ok_status=(0, 2)),
        Row("warm", "raptor-lint warm (cache)", [rl, "check", "--exit-zero", target], ok_status=(0, 2)),
        Row("ruff", "ruff default rules (concise)",
            [str(peers / "ruff"), "check", "--isolated", "--no-cache", "--exit-zero",
             "--output-format", "concise", target]),
        Row("ruff-full", "ruff default rules (full output)",
            [str(peers / "ruff"), "check", "--isolated", "--no-cache", "--exit-zero", target]),
        Row("efw", "flake8 --select E,F,W",
            [str(peers / "flake8"), "--isolated", "--exit-zero", "--select", "E,F,W", target]),
        Row("efw-rpt", "flake8 --select E,F,W,RPT (plugin)",
            [str(rpt / "flake8"), "--isolated", "--exit-zero", "--select", "E,F,W,RPT", target]),
        Row("flake8", "flake8 default", [str(peers / "flake8"), "--isolated", "--exit-zero", target], slow=True),
    ]
    if bugbear is not None:
        rows.append(Row("bugbear", "flake8 --select B (bugbear)",
                        [str(bugbear / "flake8"), "--isolated", "--exit-zero", "--select", "B", target], slow=True))
    rows = [row for row in rows if row.key not in skip]

    out_dir = Path(tempfile.mkdtemp(prefix="raptor-lint-bench-"))
    say(f"corpus {corpus}: {files} files, {lines} lines; {repeat} round(s), "
        f"{slow_repeat} with the slow flake8 rows; load average {os.getloadavg()[0]:.2f}")
    # Prime (untimed): fills raptor-lint's cache for the warm row, checks warm == cold.
    if any(r.key == "warm" for r in rows):
        say("priming raptor-lint's cache (untimed)")
        cold_out, warm_out = out_dir / "prime-cold.txt", out_dir / "prime-warm.txt"
        run_once([rl, "check", "--no-cache", "--exit-zero", target], corpus, cold_out)
        run_once([rl, "check", "--exit-zero", target], corpus, warm_out)
        run_once([rl, "check", "--exit-zero", target], corpus, warm_out)
        if cold_out.read_bytes() != warm_out.read_bytes():
            say("WARNING: the cached run's output differs from the uncached run's")

    for round_number in range(repeat):
        shift = round_number % len(rows)
        for row in rows[shift:] + rows[:shift]:
            if row.failed or (row.slow and round_number >= slow_repeat):
                continue
            out_path = out_dir / f"{row.key}.txt"
            wall, cpu, rss, status, tail = run_once(row.argv, corpus, out_path)
            if status not in row.ok_status or (status and not _has_summary(out_path)):
                row.failed = f"exit {status}: {tail.strip().splitlines()[-1] if tail.strip() else ''}"
                say(f"{row.label}: FAILED ({row.failed})")
                continue
            row.walls.append(wall)
            row.cpus.append(cpu)
            row.rss_kb.append(rss)
            row.outputs.append(count_lines(out_path))
            row.internal_errors = out_path.read_bytes().count(b": RPT000 ")
            say(f"round {round_number + 1}: {row.label}: {wall:.2f} s, CPU {cpu:.2f} s, {rss / 1024:.0f} MB")

    reference = next((r for r in rows if r.key == "ruff" and r.walls), None)
    ref_wall = statistics.median(reference.walls) if reference else None
    # Ruff's default (full) output prints a code frame per finding: on this corpus most of
    # its time.  raptor-lint prints one line per finding, like --output-format concise, so
    # the concise row is the main reference; the full-output ratio is shown beside it.
    full = next((r for r in rows if r.key == "ruff-full" and r.walls), None)
    full_wall = statistics.median(full.walls) if full else None
    lines_out = [
        f"Corpus: {files:,} files, {lines:,} lines ({corpus}); {os.cpu_count()} CPUs, "
        f"load average at the end {os.getloadavg()[0]:.2f}.",
        "Median wall time of the rounds; CPU = median user + system time of the process and its "
        "workers; peak RSS = largest single process (os.wait4); "
        "× Ruff = median / Ruff's (concise output, --no-cache); × Ruff full = the same against Ruff's default output.",
        "",
        "| command | runs | median wall (s) | × Ruff | × Ruff full | CPU (s) | peak RSS (MB) | output lines |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        if row.failed and not row.walls:
            lines_out.append(f"| {row.label} | 0 | failed: {row.failed} | | | | | |")
            continue
        if not row.walls:
            continue
        median = statistics.median(row.walls)
        ratio = f"{median / ref_wall:.2f}" if ref_wall else "-"
        ratio_full = f"{median / full_wall:.2f}" if full_wall else "-"
        lines_out.append(f"| {row.label} | {len(row.walls)} | {median:.2f} | {ratio} | {ratio_full} | "
                         f"{statistics.median(row.cpus):.2f} | {max(row.rss_kb) / 1024:.0f} | {row.outputs[-1]} |")
    for row in rows:
        if row.internal_errors:
            lines_out.append(f"\n{row.label}: {row.internal_errors} RPT000 (a rule family failed on a file; "
                             "exit status 2)")
    by_key = {r.key: r for r in rows if r.walls}
    if "efw" in by_key and "efw-rpt" in by_key:
        base, plugin = by_key["efw"], by_key["efw-rpt"]

        def overhead(a: float, b: float) -> str:
            return f"{100 * (b - a) / a:+.1f} %"

        paired = " / ".join(overhead(a, b) for a, b in zip(base.walls, plugin.walls))
        lines_out.append("")
        lines_out.append(
            f"RPT plugin overhead on flake8 --select E,F,W: wall "
            f"{overhead(statistics.median(base.walls), statistics.median(plugin.walls))} (medians; per round "
            f"{paired}), CPU {overhead(statistics.median(base.cpus), statistics.median(plugin.cpus))} "
            "(medians: the plugin's whole cost, less sensitive than wall time to the machine's "
            "speed drifting between two 90-second runs).")
    table = "\n".join(lines_out)
    print(table)
    results = {
        "corpus": str(corpus), "files": files, "lines": lines, "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "rows": {r.key: {"label": r.label, "walls": r.walls, "cpus": r.cpus, "rss_kb": r.rss_kb,
                         "failed": r.failed}
                 for r in rows},
    }
    (CACHE / "last-results.json").write_text(json.dumps(results, indent=2))
    shutil.rmtree(out_dir, ignore_errors=True)
    return 1 if any(r.failed for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
