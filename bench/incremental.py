"""The cost of an incremental run (issue 12), one command:

    .venv/bin/python bench/incremental.py --rows 1000000 --reps 3 [--keep-data]

Goal: an incremental run that adds one day, about 1% of the rows, to a warehouse of N
transactions takes at most 15% of the time of a full run over the same files.

Data: N transactions from the project's generator (bench/run.py's `ensure_data`, so the two
benchmarks share DATA_ROOT/<N>; 90 days ending at AS_OF), split by day in one streaming Python
pass: the day is the last generated day (transactions and orders whose timestamp's UTC date is
that day, chargebacks disputed that day, late chargebacks of older payments included); the rest
is the base. DATA_ROOT/<N>-by-day/ holds base/ and day/ (day files named part-day-*), all/
(hard links to both) and incremental/ (hard links to the base; the day's are linked in per rep).

Runs, each through ./spark-submit.sh jobs/pipeline.py like bench/run.py's:
  base         once, untimed for the goal: --mode full over incremental/ (the base only) into a
               base warehouse, --as-of the day's start
  full (A)     --mode full over all/ into a fresh warehouse, --as-of AS_OF            (timed)
  incremental (B)  a copy of the base warehouse; the day's files linked into incremental/;
               --mode incremental, --as-of AS_OF (one day later)                      (timed)
Reps alternate A, B / B, A so a drift of the shared machine's load hits both alike. Each B run's
run_log must say mode `incremental` (a run that rebuilt in full is not a measurement of B); each
run's totals are compared with A's counts.

Writes RESULTS/results.json (rewritten after each run) and RESULTS/summary.md; run output goes
to RESULTS/logs/. With --event-logs DIR, each timed run also writes Spark's event log under DIR,
and `bench/stage_times.py DIR/incremental-<N>-<rep> --phases RESULTS/logs/incremental-<N>-<rep>.log`
splits it by phase (the profile in docs/benchmarks.md).
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import gzip
import json
import os
import re
import shutil
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

from deltalake import DeltaTable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import AS_OF, ROOT, ensure_data, machine, measure  # noqa: E402  (bench/run.py)

SOURCES = ("orders", "transactions", "chargebacks")
COUNTS = ("rows_valid", "rows_quarantined", "duplicates_dropped")
GOAL = 0.15
TIMESTAMP = re.compile(r'"timestamp"\s*:\s*"([^"]*)"')
AS_OF_MOMENT = dt.datetime.fromisoformat(AS_OF.replace("Z", "+00:00"))
DAY = (AS_OF_MOMENT - dt.timedelta(microseconds=1)).date()        # the last generated day
BASE_AS_OF = dt.datetime.combine(DAY, dt.time(), dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the split by day ----------------------------------------------------------------------------
def utc_date(text: str) -> str | None:
    """The UTC calendar date of an ISO-8601 value (no offset is UTC); None if it does not parse."""
    text = text.strip()
    if text.endswith("Z") and len(text) > 10:
        return text[:10]  # the generator's form; the fast path of ten million lines
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc)
    return moment.date().isoformat()


def payment_day(line: str) -> str | None:
    """A transaction's or order's date (their only `timestamp` key)."""
    found = TIMESTAMP.search(line)
    return utc_date(found.group(1)) if found else None


def dispute_day(line: str) -> str | None:
    fields = next(csv.reader([line]), [])
    return utc_date(fields[1]) if len(fields) > 1 else None


def _open(path: Path, mode: str):
    return gzip.open(path, mode + "t", encoding="utf-8") if path.name.endswith(".gz") else \
        open(path, mode, encoding="utf-8")


def split_file(source: str, part: Path, base: Path, day_folder: Path, day: str) -> dict[str, int]:
    """Stream one part file into base/ and day/ (same compression; a CSV's header in both)."""
    is_csv = part.name.endswith(".csv")
    day_of = dispute_day if is_csv else payment_day
    rows = {"base": 0, "day": 0}
    day_path = day_folder / source / f"part-day-{part.name.removeprefix('part-')}"
    day_out = None
    with _open(part, "r") as raw, _open(base / source / part.name, "w") as base_out:
        header = raw.readline() if is_csv else ""
        base_out.write(header)
        for line in raw:
            if line.strip() and day_of(line) == day:
                if day_out is None:
                    day_out = _open(day_path, "w")
                    day_out.write(header)
                day_out.write(line)
                rows["day"] += 1
            else:
                base_out.write(line)
                rows["base"] += line.strip() != ""
    if day_out is not None:
        day_out.close()
    return rows


def link(source: Path, target: Path) -> None:
    """A hard link (no copy of gigabytes); a copy across file systems."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def ensure_split(data: Path) -> tuple[Path, dict]:
    """DATA-by-day/ with base/, day/, all/; reused when its split.json names the same data."""
    folder = data.parent / f"{data.name}-by-day"
    marker = folder / "split.json"
    manifest = json.loads((data / "manifest.json").read_text())
    try:
        stats = json.loads(marker.read_text())
        if stats["generator"] == manifest["generator"] and stats["day"] == DAY.isoformat():
            print(f"[split] reusing {folder}", flush=True)
            return folder, stats
    except (OSError, ValueError, KeyError):
        pass
    shutil.rmtree(folder, ignore_errors=True)
    started = time.monotonic()
    rows = {}
    for source in SOURCES:
        for kind in ("base", "day"):
            (folder / kind / source).mkdir(parents=True)
        counted = {"base": 0, "day": 0}
        for part in sorted((data / source).iterdir()):
            for kind, n in split_file(source, part, folder / "base", folder / "day", DAY.isoformat()).items():
                counted[kind] += n
        rows[source] = counted
        print(f"[split] {source}: {counted['base']:,} base rows, {counted['day']:,} on {DAY}", flush=True)
    for kind in ("base", "day"):
        for path in sorted((folder / kind).rglob("*")):
            if path.is_file():
                link(path, folder / "all" / path.relative_to(folder / kind))
    stats = {"generator": manifest["generator"], "day": DAY.isoformat(), "rows": rows,
             "split_seconds": round(time.monotonic() - started, 1)}
    marker.write_text(json.dumps(stats, indent=2))
    return folder, stats


def day_files(split: Path) -> list[Path]:
    return sorted(p.relative_to(split / "day") for p in (split / "day").rglob("*") if p.is_file())


def reset_incremental_input(split: Path) -> Path:
    """incremental/ as the base alone (a rep that died may have left the day's links)."""
    folder = split / "incremental"
    shutil.rmtree(folder, ignore_errors=True)
    for path in sorted((split / "base").rglob("*")):
        if path.is_file():
            link(path, folder / path.relative_to(split / "base"))
    return folder


# --- runs ----------------------------------------------------------------------------------------
def pipeline(input_dir: Path, warehouse: Path, as_of: str, mode: str, run_id: str,
             event_log: Path | None = None) -> list[str]:
    """The run's command; with `event_log`, Spark writes its event log in that folder (read by
    bench/stage_times.py with the run's output from RESULTS/logs)."""
    logging = []
    if event_log is not None:
        event_log.mkdir(parents=True, exist_ok=True)
        logging = ["--conf", "spark.eventLog.enabled=true", "--conf", f"spark.eventLog.dir={event_log}"]
    return [str(ROOT / "spark-submit.sh"), *logging, "jobs/pipeline.py", "--input", str(input_dir),
            "--warehouse", str(warehouse), "--as-of", as_of, "--mode", mode, "--run-id", run_id]


def event_log_dir(args, kind: str, rep: int) -> Path | None:
    return Path(args.event_logs) / f"{kind}-{args.rows}-{rep}" if args.event_logs else None


def logged_run(warehouse: Path, run_id: str) -> dict:
    """The run's run_log rows (mode, files read, counts, totals), read with delta-rs."""
    try:
        rows = [r for r in DeltaTable(str(warehouse / "run_log")).to_pyarrow_table().to_pylist()
                if r["run_id"] == run_id]
    except Exception as error:  # a run that failed may have written no run_log
        return {"error": str(error).splitlines()[0]}
    return {r["source"]: {"mode": r.get("mode"), "files": len(r.get("files") or []),
                          **{c: r[c] for c in ("rows_read", *COUNTS)},
                          **{f"total_{c}": r.get(f"total_{c}") for c in ("rows_read", *COUNTS)}}
            for r in rows}


def base_is_complete(warehouse: Path) -> bool:
    """The base run completed: run_log's totals are written when its last table is."""
    logged = logged_run(warehouse, "base")
    return all(isinstance(logged.get(s), dict) and logged[s]["total_rows_read"] is not None for s in SOURCES)


def ran_incrementally(run_log: dict | None) -> bool:
    """run_log says `incremental` for every source (not a run that rebuilt in full, or wrote none)."""
    return {s.get("mode") for s in (run_log or {}).values() if isinstance(s, dict)} == {"incremental"}


def timed(kind: str, rep: int, cmd: list[str], warehouse: Path, run_id: str, args, results: dict) -> dict:
    record = {"kind": kind, "rep": rep, "loadavg_1m": os.getloadavg()[0], "started_at": time.strftime("%H:%M:%S")}
    print(f"[{record['started_at']}] [run] {kind:12s} rep={rep} started", flush=True)
    record.update(measure(cmd, Path(args.results) / "logs" / f"{kind}-{args.rows}-{rep}.log", args.timeout))
    record["run_log"] = logged_run(warehouse, run_id) if record["status"] == "ok" else None
    results["runs"].append(record)
    (Path(args.results) / "results.json").write_text(json.dumps(results, indent=2))
    print(f"[{time.strftime('%H:%M:%S')}] [run] {kind:12s} rep={rep} {record['status']} in "
          f"{record['wall_seconds']:.1f}s", flush=True)
    return record


def full_run(split: Path, work: Path, rep: int, args, results: dict) -> dict:
    warehouse = Path(tempfile.mkdtemp(prefix="bench-inc-full-", dir=work))
    try:
        return timed("full", rep, pipeline(split / "all", warehouse, AS_OF, "full", f"full-{rep}",
                                           event_log_dir(args, "full", rep)),
                     warehouse, f"full-{rep}", args, results)
    finally:
        shutil.rmtree(warehouse, ignore_errors=True)


def incremental_run(split: Path, base_warehouse: Path, work: Path, rep: int, args, results: dict) -> dict:
    warehouse = Path(tempfile.mkdtemp(prefix="bench-inc-incremental-", dir=work)) / "warehouse"
    shutil.copytree(base_warehouse, warehouse)
    # The copy's GBs are written back by the kernel for a while after copytree returns: flushed
    # first, so that B is not timed against the bench's own disk writes (a daily run has none).
    os.sync()
    added = [split / "incremental" / name for name in day_files(split)]
    for name, target in zip(day_files(split), added):
        link(split / "day" / name, target)
    try:
        record = timed("incremental", rep, pipeline(split / "incremental", warehouse, AS_OF, "incremental",
                                                    f"incremental-{rep}", event_log_dir(args, "incremental", rep)),
                       warehouse, f"incremental-{rep}", args, results)
    finally:
        for target in added:
            target.unlink(missing_ok=True)
        shutil.rmtree(warehouse.parent, ignore_errors=True)
    if record["status"] == "ok" and not ran_incrementally(record.get("run_log")):
        record["status"] = "not_incremental"  # rebuilt in full, or no run_log: not a B measurement
        (Path(args.results) / "results.json").write_text(json.dumps(results, indent=2))
    return record


# --- report --------------------------------------------------------------------------------------
def _ok(runs: list[dict], kind: str) -> list[dict]:
    return [r for r in runs if r["kind"] == kind and r["status"] == "ok"]


def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def agreement(results: dict) -> list[str]:
    """Each incremental run's warehouse totals against the first full run's counts."""
    full = next((r["run_log"] for r in _ok(results["runs"], "full") if r.get("run_log")), None)
    lines = []
    for run in _ok(results["runs"], "incremental"):
        same = full and all(run["run_log"][s][f"total_{c}"] == full[s][c]
                            for s in SOURCES for c in ("rows_read", *COUNTS))
        lines.append(f"- incremental rep {run['rep']}: totals {'equal' if same else 'DIFFER from'} the full run's "
                     f"counts; read " + ", ".join(f"{s} {run['run_log'][s]['files']} files / "
                                                   f"{run['run_log'][s]['rows_read']:,} rows" for s in SOURCES))
    return lines


def summary(results: dict) -> str:
    runs, split = results["runs"], results["split"]
    full, incremental = _median(_ok(runs, "full"), "wall_seconds"), _median(_ok(runs, "incremental"), "wall_seconds")
    ratio = incremental / full if full and incremental else None
    m = results["machine"]
    day_rows = sum(split["rows"][s]["day"] for s in SOURCES)
    all_rows = day_rows + sum(split["rows"][s]["base"] for s in SOURCES)
    lines = [
        "# Incremental run cost (issue 12)", "",
        f"Generated by `{results['command']}` at {results['started_at']}.",
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['mem_total_gib']} GiB, {m['java']}, Python {m['python']}.", "",
        f"Data: {results['rows']:,} transactions generated over 90 days to {AS_OF}; the day {split['day']} holds "
        f"{day_rows:,} of {all_rows:,} rows ({day_rows / all_rows:.2%}): "
        + ", ".join(f"{s} {split['rows'][s]['day']:,}" for s in SOURCES) + ".", "",
        "| run | ok / runs | wall s median | wall s min–max | peak tree RSS MiB (median) "
        "| driver JVM peak MiB (median) |",
        "|---|---|---|---|---|---|",
    ]
    labels = {"base": "base warehouse (full, base files; untimed for the goal)",
              "full": "A: full, base + day files, fresh warehouse",
              "incremental": "B: incremental, the day added to the base warehouse"}
    for kind, label in labels.items():
        mine, ok = [r for r in runs if r["kind"] == kind], _ok(runs, kind)
        walls = [r["wall_seconds"] for r in ok]
        if not mine:
            continue
        driver = _median(ok, "peak_driver_rss_mib")
        lines.append(f"| {label} | {len(ok)} / {len(mine)} | "
                     + (f"{statistics.median(walls):.1f} | {min(walls):.1f}–{max(walls):.1f} | "
                        f"{_median(ok, 'peak_tree_rss_mib'):.0f} | {f'{driver:.0f}' if driver else '–'} |"
                        if walls else "– | – | – | – |"))
    verdict = "n/a" if ratio is None else ("met" if ratio <= GOAL else "NOT met")
    lines += ["", f"**B / A = {f'{ratio:.3f}' if ratio is not None else 'n/a'}** (medians); goal B / A ≤ {GOAL}: "
              f"**{verdict}**.", "", "## Runs", "",
              "| rep | run | status | wall s | load avg 1m at start |", "|---|---|---|---|---|"]
    for r in runs:
        wall = r.get("wall_seconds")
        lines.append(f"| {r['rep']} | {r['kind']} | {r['status']} | {f'{wall:.1f}' if wall is not None else '–'} "
                     f"| {r['loadavg_1m']:.2f} |")
    lines += ["", "## Do the warehouses agree?", "", *agreement(results), "",
              "The machine is shared: compare medians; reps alternate A, B and B, A.", ""]
    return "\n".join(lines)


def _stop(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(prog="bench/incremental.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="transactions to generate")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--data-root", default=str(ROOT / "bench" / "data"))
    parser.add_argument("--work-dir", default=None, help="where warehouses go (deleted after each run)")
    parser.add_argument("--results", default=str(ROOT / "bench" / "results" / "incremental"))
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    parser.add_argument("--keep-data", action="store_true",
                        help="keep data this run generated or split (data found in place is never deleted)")
    parser.add_argument("--base-warehouse", default=None,
                        help="keep the base warehouse here, and reuse it when a completed base run is "
                             "already there (the base run is untimed for the goal)")
    parser.add_argument("--event-logs", metavar="DIR",
                        help="each timed run writes Spark's event log to DIR/<kind>-<rows>-<rep>/ (tens of "
                             "MB at 10M: keep DIR out of bench/results); bench/stage_times.py DIR/<...> "
                             "--phases RESULTS/logs/<kind>-<rows>-<rep>.log gives the run's time by phase")
    args = parser.parse_args(argv)
    Path(args.results).mkdir(parents=True, exist_ok=True)
    work = Path(args.work_dir or tempfile.gettempdir())
    work.mkdir(parents=True, exist_ok=True)

    data, generated = ensure_data(args.rows, "jsonl", Path(args.data_root))
    split_existed = (data.parent / f"{data.name}-by-day" / "split.json").exists()
    split, stats = ensure_split(data)
    results = {
        "command": " ".join([".venv/bin/python", "bench/incremental.py",
                             *(argv if argv is not None else sys.argv[1:])]),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "rows": args.rows, "as_of": AS_OF,
        "base_as_of": BASE_AS_OF, "goal": GOAL, "split": stats, "machine": machine(), "runs": [],
    }
    kept = args.base_warehouse is not None
    base_warehouse = (Path(args.base_warehouse) if kept
                      else Path(tempfile.mkdtemp(prefix="bench-inc-base-", dir=work)) / "warehouse")
    try:
        reusable = kept and base_is_complete(base_warehouse)
        if reusable:
            reset_incremental_input(split)
            print(f"reusing the base warehouse {base_warehouse}", flush=True)
            results["base_reused"] = str(base_warehouse)
        else:
            shutil.rmtree(base_warehouse, ignore_errors=True)
        base = ({"status": "ok"} if reusable else
                timed("base", 0, pipeline(reset_incremental_input(split), base_warehouse, BASE_AS_OF, "full", "base"),
                      base_warehouse, "base", args, results))
        if base["status"] != "ok":
            print(f"bench/incremental.py: the base run failed; see {base['log']}", file=sys.stderr)
            return 1
        for rep in range(args.reps):
            order = (full_run, incremental_run) if rep % 2 == 0 else (incremental_run, full_run)
            for run in order:
                if run is full_run:
                    full_run(split, work, rep, args, results)
                else:
                    incremental_run(split, base_warehouse, work, rep, args, results)
    finally:
        if not kept:
            shutil.rmtree(base_warehouse.parent, ignore_errors=True)
        if not args.keep_data:
            if not split_existed:
                shutil.rmtree(split, ignore_errors=True)
            if generated:
                shutil.rmtree(data, ignore_errors=True)
    (Path(args.results) / "summary.md").write_text(summary(results))
    print(f"wrote {Path(args.results) / 'results.json'}, {Path(args.results) / 'summary.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
