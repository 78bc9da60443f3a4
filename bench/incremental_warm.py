"""Issue 12's A and B in a warm JVM, one command:

    .venv/bin/python bench/incremental_warm.py --rows 10000000 --reps 2 --base-warehouse DIR

bench/incremental.py times A (a full run over the base and the day's files) and B (the day added
incrementally to the base warehouse) as spark-submit runs, each in a new JVM: the goal's terms. This
bench times the same two runs in a driver JVM that has already run the job once (bench/warm_jvm.py),
as a long-lived driver would: it says how much of each run is the JVM's warm-up (HotSpot compiling
the code a run executes, Spark generating and compiling its classes) and how much is the job's own
work.

Each rep is one spark-submit of bench/warm_jvm.py that runs, in order:
  warm-up      B on a copy of the base warehouse: the JVM's first run, a cold B (timed from the
               process start to its end, the JVM's start-up included, like bench/incremental.py's B)
  A, B         rep 0; B, A in rep 1 and so on: A into a fresh warehouse, B on another copy of the base
Data, the split and the base warehouse are bench/incremental.py's (its --data-root and --base-warehouse;
a base warehouse found there is reused). Writes RESULTS/results.json and RESULTS/summary.md.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from incremental import (AS_OF, BASE_AS_OF, COUNTS, GOAL, ROOT, SOURCES, base_is_complete,  # noqa: E402
                         day_files, ensure_data, ensure_split, link, logged_run, machine, pipeline,
                         ran_incrementally, reset_incremental_input, timed)
from run import measure  # noqa: E402

WARM_RUN = re.compile(r"^WARM_RUN (\S+) (-?\d+) ([0-9.]+) ([0-9.]+)$", re.MULTILINE)


def warm_rep(split: Path, base_warehouse: Path, work: Path, rep: int, args) -> dict:
    """One JVM: the warm-up B, then A and B (B and A in odd reps). The runs' wall times and
    run_log rows."""
    folder = Path(tempfile.mkdtemp(prefix="bench-warm-", dir=work))
    warehouses = {"warm-up": folder / "warm-up", "incremental": folder / "incremental", "full": folder / "full"}
    for kind in ("warm-up", "incremental"):
        shutil.copytree(base_warehouse, warehouses[kind])
    os.sync()  # the copies' GBs written back before anything is timed (bench/incremental.py)
    added = [split / "incremental" / name for name in day_files(split)]
    for name, target in zip(day_files(split), added):
        link(split / "day" / name, target)
    inputs = {"warm-up": split / "incremental", "incremental": split / "incremental", "full": split / "all"}
    modes = {"warm-up": "incremental", "incremental": "incremental", "full": "full"}
    order = ["warm-up", *(("full", "incremental") if rep % 2 == 0 else ("incremental", "full"))]
    run_ids = {kind: f"{kind}-{rep}" for kind in order}
    command = [str(ROOT / "spark-submit.sh"), "bench/warm_jvm.py",
               *(f"{modes[k]},{inputs[k]},{warehouses[k]},{AS_OF},{run_ids[k]}" for k in order)]
    log = Path(args.results) / "logs" / f"warm-{args.rows}-{rep}.log"
    print(f"[{time.strftime('%H:%M:%S')}] [run] warm JVM rep={rep}: {', '.join(order)}", flush=True)
    started_at = time.time()
    try:
        process = measure(command, log, args.timeout)
    finally:
        for target in added:
            target.unlink(missing_ok=True)
    try:
        ended = {m.group(1): (int(m.group(2)), float(m.group(3)), float(m.group(4)))
                 for m in WARM_RUN.finditer(log.read_text(errors="replace"))}
        record = {"rep": rep, "order": order, "status": process["status"], "process": process, "runs": {}}
        for kind in order:
            code, wall, end = ended.get(run_ids[kind], (None, None, None))
            record["runs"][kind] = {
                "exit_code": code, "wall_seconds": wall,
                # the warm-up, from the process's start: a cold run as bench/incremental.py times it
                "from_process_start": round(end - started_at, 2) if end is not None else None,
                "run_log": logged_run(warehouses[kind], run_ids[kind]) if code == 0 else None,
            }
        if record["status"] == "ok" and not ran_incrementally(record["runs"]["incremental"]["run_log"]):
            record["status"] = "not_incremental"  # not a B measurement
        print(f"[{time.strftime('%H:%M:%S')}] [run] warm JVM rep={rep} {record['status']}: "
              + ", ".join(f"{k} {record['runs'][k]['wall_seconds']}s" for k in order), flush=True)
        return record
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def summary(results: dict) -> str:
    reps = [r for r in results["reps"] if r["status"] == "ok"]

    def walls(kind: str, key: str = "wall_seconds") -> list[float]:
        return [r["runs"][kind][key] for r in reps if r["runs"][kind][key] is not None]

    a, b, cold = walls("full"), walls("incremental"), walls("warm-up", "from_process_start")
    ratio = statistics.median(b) / statistics.median(a) if a and b else None
    m = results["machine"]
    lines = ["# A and B in a warm JVM (issue 12)", "",
             f"Generated by `{results['command']}` at {results['started_at']}.",
             f"Machine: {m['nproc']} cores ({m['cpu']}), {m['mem_total_gib']} GiB, {m['java']}, "
             f"Python {m['python']}.", "",
             f"{results['rows']:,} transactions, the day {results['split']['day']} (bench/incremental.py's "
             "split). Each rep is one driver JVM: a B to warm it up, then A and B.", "",
             "| run | ok reps | wall s median | wall s min–max |", "|---|---|---|---|"]
    for label, values in (("A, warm JVM", a), ("B, warm JVM", b),
                          ("B, the JVM's first run (from the process start: cold)", cold)):
        lines.append(f"| {label} | {len(values)} / {len(results['reps'])} | "
                     + (f"{statistics.median(values):.1f} | {min(values):.1f}–{max(values):.1f} |"
                        if values else "– | – |"))
    lines += ["", f"**B / A in a warm JVM = {f'{ratio:.3f}' if ratio is not None else 'n/a'}** (medians); "
              f"the goal, B / A ≤ {GOAL}, is stated for runs in new JVMs (bench/incremental.py).", "",
              "| rep | order | status | " + " | ".join(f"{k} s" for k in ("warm-up", "full", "incremental"))
              + " | process s |", "|---|---|---|---|---|---|---|"]
    for r in results["reps"]:
        lines.append(f"| {r['rep']} | {', '.join(r['order'])} | {r['status']} | "
                     + " | ".join(str(r["runs"][k]["wall_seconds"]) for k in ("warm-up", "full", "incremental"))
                     + f" | {r['process']['wall_seconds']} |")
    lines += ["", "## Do the warehouses agree?", ""]
    for r in reps:
        full, inc = r["runs"]["full"]["run_log"], r["runs"]["incremental"]["run_log"]
        same = full and inc and all(inc[s][f"total_{c}"] == full[s][c] for s in SOURCES
                                    for c in ("rows_read", *COUNTS))
        lines.append(f"- rep {r['rep']}: B's totals {'equal' if same else 'DIFFER from'} A's counts")
    return "\n".join(lines + [""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/incremental_warm.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=2)
    parser.add_argument("--data-root", default=str(ROOT / "bench" / "data"))
    parser.add_argument("--work-dir", default=None)
    parser.add_argument("--results", default=str(ROOT / "bench" / "results" / "incremental-warm"))
    parser.add_argument("--timeout", type=float, default=7200, help="seconds per JVM (three runs)")
    parser.add_argument("--base-warehouse", required=True,
                        help="bench/incremental.py's --base-warehouse: reused when complete, else built")
    args = parser.parse_args(argv)
    Path(args.results).mkdir(parents=True, exist_ok=True)
    work = Path(args.work_dir or tempfile.gettempdir())
    work.mkdir(parents=True, exist_ok=True)
    split, stats = ensure_split(ensure_data(args.rows, "jsonl", Path(args.data_root))[0])
    results = {"command": " ".join([".venv/bin/python", "bench/incremental_warm.py",
                                    *(argv if argv is not None else sys.argv[1:])]),
               "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "rows": args.rows, "split": stats,
               "machine": machine(), "runs": [], "reps": []}  # runs: the base run, when built here
    base_warehouse = Path(args.base_warehouse)
    if not base_is_complete(base_warehouse):
        shutil.rmtree(base_warehouse, ignore_errors=True)
        base = timed("base", 0, pipeline(reset_incremental_input(split), base_warehouse, BASE_AS_OF, "full", "base"),
                     base_warehouse, "base", args, results)
        if base["status"] != "ok":
            print(f"bench/incremental_warm.py: the base run failed; see {base['log']}", file=sys.stderr)
            return 1
    else:
        reset_incremental_input(split)
    for rep in range(args.reps):
        results["reps"].append(warm_rep(split, base_warehouse, work, rep, args))
        (Path(args.results) / "results.json").write_text(json.dumps(results, indent=2))
    (Path(args.results) / "summary.md").write_text(summary(results))
    print(f"wrote {Path(args.results) / 'results.json'}, {Path(args.results) / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
