"""The benchmark, one command:

    .venv/bin/python bench/run.py --sizes 1000000,10000000 --reps 3 [--keep-data] [--only a,b,c,d]

For each size: generate (or reuse) bench/data/<N> with the project's generator, then run the
implementations round-robin (a, b, c, d, a, b, c, d, ...) so that a drift of the shared machine's
load or of the page cache hits every implementation alike:
  a  full    ./spark-submit.sh jobs/pipeline.py          (the real job)
  b  floor   ./spark-submit.sh bench/floor_job.py        (Spark's typed readers + one Delta write per source)
  f  text floor  bench/floor_job.py --text               (raw text lines read and written, no parsing)
  g  keyed floor bench/floor_job.py --keyed              (parse keeping the raw line, de-duplicate by key,
              write the key state and a clean table from it: no rules; JSON Lines and CSV)
  c  duckdb  .venv/bin/python bench/duckdb_impl.py       (the contract in DuckDB SQL)
  d  pandas  .venv/bin/python bench/pandas_impl.py       (the contract in pandas + Pydantic)
  e  baseline the full job of --baseline-rev REV, from a git worktree of that commit (a
              before/after comparison measured in the same rounds, e.g. --only a,e)
Each run: wall time; peak RSS of the whole process tree (sum of VmRSS over the process and all
its descendants, polled every 0.2 s, max over time); for Spark runs also the driver JVM's peak
(the java process whose command line has SparkSubmit; max of polled VmRSS and its VmHWM). A
timeout, an OOM kill (exit 137) or a MemoryError / OutOfMemoryError is recorded, not raised.

Writes bench/results/results.json (every run, rewritten after each one), summary.md and
time_vs_rows.png; each run's output goes to bench/results/logs/.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
AS_OF = "2026-11-01T00:00:00Z"
SEED = 1
DEFECT_RATE = 0.01
POLL_SECONDS = 0.2
IMPLEMENTATIONS = {
    "a": ("full", "Spark pipeline (jobs/pipeline.py)"),
    "b": ("floor", "Spark floor: typed read + write (bench/floor_job.py)"),
    "c": ("duckdb", "DuckDB SQL (bench/duckdb_impl.py)"),
    "d": ("pandas", "pandas + Pydantic (bench/pandas_impl.py)"),
    "e": ("baseline", "Spark pipeline at --baseline-rev"),
    "f": ("text floor", "Spark text floor: lines read + written (bench/floor_job.py --text)"),
    "g": ("keyed floor", "Spark keyed floor: parse, de-duplicate, key state + clean table (bench/floor_job.py --keyed)"),
}
LAYOUTS = ("jsonl", "assignment")
ASSIGNMENT_CHARGEBACK_RATE = 0.3
BASELINE: dict[str, Path] = {}  # "root": the checkout of --baseline-rev, when e is run


def command(letter: str, data: Path, out: Path) -> list[str]:
    python = str(ROOT / ".venv" / "bin" / "python")
    submit = str(ROOT / "spark-submit.sh")
    return {
        "a": [submit, "jobs/pipeline.py", "--input", str(data), "--warehouse", str(out), "--as-of", AS_OF],
        "b": [submit, "bench/floor_job.py", "--input", str(data), "--warehouse", str(out)],
        "f": [submit, "bench/floor_job.py", "--input", str(data), "--warehouse", str(out), "--text"],
        "g": [submit, "bench/floor_job.py", "--input", str(data), "--warehouse", str(out), "--keyed"],
        "c": [python, "bench/duckdb_impl.py", "--input", str(data), "--out", str(out), "--as-of", AS_OF],
        "d": [python, "bench/pandas_impl.py", "--input", str(data), "--out", str(out), "--as-of", AS_OF],
        "e": [str(BASELINE.get("root", ROOT) / "spark-submit.sh"),
              str(BASELINE.get("root", ROOT) / "jobs" / "pipeline.py"), "--input", str(data),
              "--warehouse", str(out), "--as-of", AS_OF,
              "--conf", str(BASELINE.get("root", ROOT) / "conf" / "local.yaml")],
    }[letter]


def entry_point(letter: str) -> Path:
    if letter == "e":
        return BASELINE.get("root", ROOT / "missing-baseline") / "jobs" / "pipeline.py"
    return ROOT / {"a": "jobs/pipeline.py", "b": "bench/floor_job.py", "f": "bench/floor_job.py",
                   "g": "bench/floor_job.py", "c": "bench/duckdb_impl.py", "d": "bench/pandas_impl.py"}[letter]


def checkout_baseline(rev: str) -> Path:
    """A detached worktree of `rev` beside the repository, sharing this checkout's .venv and
    Delta JARs (same pins, or the baseline's bootstrap would reinstall): the full job of an
    earlier commit, measured in the same run as today's, is the honest way to say what a change
    bought on a noisy machine."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", rev], check=True,
                            capture_output=True, text=True).stdout.strip()
    root = Path(tempfile.gettempdir()) / f"chargeback-baseline-{commit}"
    if not root.exists():
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(root), commit],
                       check=True, capture_output=True)
    for shared in (".venv", ".cache"):
        if not (root / shared).exists():
            (root / shared).symlink_to(ROOT / shared)
    return root


# --- process-tree memory, from /proc only ------------------------------------------------------
def _children_map() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        # the command name is in parentheses and may contain spaces: ppid follows the last ')'
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    return children


def _tree(root: int) -> list[int]:
    children, pids, stack = _children_map(), [], [root]
    while stack:
        pid = stack.pop()
        pids.append(pid)
        stack += children.get(pid, [])
    return pids


def _status_kib(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _is_spark_driver(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            return b"SparkSubmit" in handle.read()
    except OSError:
        return False


def _poll(process: subprocess.Popen, started: float, timeout: float, peaks: dict, driver_pids: set) -> None:
    while process.poll() is None:
        pids = _tree(process.pid)
        peaks["tree"] = max(peaks["tree"], sum(_status_kib(pid, "VmRSS") for pid in pids))
        for pid in pids:
            if pid in driver_pids or _is_spark_driver(pid):
                driver_pids.add(pid)
                peaks["driver"] = max(peaks["driver"], _status_kib(pid, "VmRSS"), _status_kib(pid, "VmHWM"))
        if time.monotonic() - started > timeout:
            peaks["timed_out"] = True
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return
        time.sleep(POLL_SECONDS)


def measure(cmd: list[str], log_path: Path, timeout: float) -> dict:
    """Run cmd in its own process group; wall time, peak tree RSS, driver peak, status."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    driver_pids: set[int] = set()
    peaks = {"tree": 0, "driver": 0}
    with open(log_path, "wb") as log:
        started = time.monotonic()
        process = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        try:
            _poll(process, started, timeout, peaks, driver_pids)
        except KeyboardInterrupt:
            # the harness itself is stopped (Ctrl-C, SIGTERM): take the job down with it
            os.killpg(process.pid, signal.SIGKILL)
            raise
        timed_out = peaks.get("timed_out", False)
        peak_tree, peak_driver = peaks["tree"], peaks["driver"]
        wall = time.monotonic() - started
    # anything the job left behind in its group (a daemonised python worker) goes too
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    output = log_path.read_text(errors="replace")
    code = process.returncode
    if timed_out:
        status = "timeout"
    elif code in (137, -9) or "MemoryError" in output or "java.lang.OutOfMemoryError" in output:
        status = "out_of_memory"
    elif code != 0:
        status = "failed"
    else:
        status = "ok"
    counts = None
    match = re.search(r"^BENCH_COUNTS (.*)$", output, re.MULTILINE)
    if match:
        counts = json.loads(match.group(1))["counts"]
    return {
        "status": status, "exit_code": code, "wall_seconds": round(wall, 2),
        "peak_tree_rss_mib": round(peak_tree / 1024, 1),
        "peak_driver_rss_mib": round(peak_driver / 1024, 1) if driver_pids else None,
        "counts": counts, "log": os.path.relpath(log_path, ROOT),
    }


# --- data ---------------------------------------------------------------------------------------
def manifest_matches(data: Path, rows: int, layout: str = "jsonl") -> bool:
    """Reuse data whose manifest states the same rows, seed, format, defect rate and as-of.

    Keys the generator's manifest does not carry are not held against it (its layout is the
    generator's to define); a key that is present must match.
    """
    try:
        manifest = json.loads((data / "manifest.json").read_text())
    except (OSError, ValueError):
        return False
    flat = dict(manifest)
    for nested in ("generator", "params", "parameters", "args", "config"):
        if isinstance(manifest.get(nested), dict):
            flat.update(manifest[nested])
    expected = {"rows": rows, "seed": SEED, "format": layout, "defect_rate": DEFECT_RATE, "as_of": AS_OF}
    for key, value in expected.items():
        if key in flat and str(flat[key]).rstrip("Z") != str(value).rstrip("Z") and flat[key] != value:
            return False
    return "rows" in flat or "rows" in json.dumps(manifest)


def size_label(rows: int, layout: str) -> str:
    return f"{rows:,}" if layout == "jsonl" else f"{rows:,} ({layout})"


def ensure_data(rows: int, layout: str, data_root: Path) -> tuple[Path, bool]:
    """The data directory for `rows` in `layout`, and whether this run generated it."""
    data = data_root / (str(rows) if layout == "jsonl" else f"{rows}-{layout}")
    if manifest_matches(data, rows, layout):
        print(f"[data] reusing {data}", flush=True)
        return data, False
    if not (ROOT / "jobs" / "generate_data.py").exists():
        sys.exit(f"bench/run.py: {data} has no matching manifest.json and jobs/generate_data.py does not exist")
    shutil.rmtree(data, ignore_errors=True)
    data.parent.mkdir(parents=True, exist_ok=True)
    print(f"[data] generating {rows} rows into {data}", flush=True)
    started = time.monotonic()
    # The assignment's small files carry a few chargebacks; at the default rate (1.5%) 20
    # transactions would have none.
    extra = ["--chargeback-rate", str(ASSIGNMENT_CHARGEBACK_RATE)] if layout == "assignment" else []
    subprocess.run([str(ROOT / "spark-submit.sh"), "jobs/generate_data.py", "--format", layout,
                    "--rows", str(rows), "--seed", str(SEED), "--as-of", AS_OF,
                    "--defect-rate", str(DEFECT_RATE), "--out", str(data), *extra], cwd=ROOT, check=True)
    print(f"[data] generated in {time.monotonic() - started:.0f}s", flush=True)
    return data, True


def machine() -> dict:
    def run(cmd: list[str]) -> str:
        try:
            result = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            return (result.stdout + result.stderr).strip()
        except (OSError, subprocess.SubprocessError):
            return "unavailable"

    mem_kib = _status_kib_meminfo()
    versions = run([str(ROOT / ".venv" / "bin" / "python"), "-c",
                    "import importlib.metadata as m; print(' '.join(f'{p} {m.version(p)}' for p in "
                    "('pyspark', 'delta-spark', 'duckdb', 'pandas', 'pydantic', 'pyarrow', 'matplotlib')))"])
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    return {"nproc": os.cpu_count(), "cpu": cpu, "mem_total_gib": round(mem_kib / 1024 / 1024, 1),
            "kernel": platform.release(), "java": run(["java", "-version"]).splitlines()[0],
            "python": platform.python_version(), "packages": versions}


def _status_kib_meminfo() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1])
    return 0


# --- reporting ----------------------------------------------------------------------------------
def _size(run: dict) -> tuple[int, str]:
    return run["rows"], run.get("layout", "jsonl")


def _ok(runs: list[dict], impl: str, size: tuple[int, str]) -> list[dict]:
    return [r for r in runs if r["impl"] == impl and _size(r) == size and r["status"] == "ok"]


def _median(runs: list[dict], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def _sizes(runs: list[dict]) -> list[tuple[int, str]]:
    """Assignment-layout sizes first, then JSON Lines by rows."""
    return sorted({_size(r) for r in runs}, key=lambda size: (size[1] == "jsonl", size[0]))


def summary(results: dict) -> str:
    runs, sizes = results["runs"], _sizes(results["runs"])
    impls = [IMPLEMENTATIONS[letter][0] for letter in results["only"]]
    lines = ["# Benchmark summary", "", f"Generated by `{results['command']}` at {results['started_at']}.",
             f"Machine: {results['machine']['nproc']} cores ({results['machine']['cpu']}), "
             f"{results['machine']['mem_total_gib']} GiB, {results['machine']['java']}, "
             f"Python {results['machine']['python']}; {results['machine']['packages']}.", "",
             "| rows | implementation | ok / runs | wall s median | wall s min–max | peak tree RSS MiB (median) "
             "| driver JVM peak MiB (median) | notes |", "|---|---|---|---|---|---|---|---|"]
    for size in sizes:
        label = size_label(*size)
        for impl in impls:
            mine = [r for r in runs if r["impl"] == impl and _size(r) == size]
            ok = _ok(runs, impl, size)
            walls = [r["wall_seconds"] for r in ok]
            notes = ", ".join(sorted({r["status"] for r in mine} - {"ok"}))
            driver = _median(ok, "peak_driver_rss_mib")
            if not mine:
                continue
            lines.append(
                f"| {label} | {impl} | {len(ok)} / {len(mine)} | "
                f"{statistics.median(walls):.1f} | {min(walls):.1f}–{max(walls):.1f} | "
                f"{_median(ok, 'peak_tree_rss_mib'):.0f} | {f'{driver:.0f}' if driver else '–'} | {notes} |"
                if walls else f"| {label} | {impl} | 0 / {len(mine)} | – | – | – | – | {notes} |")
    lines += ["", "## Ratios (of median wall times)", "",
              "| rows | full / floor | full / text floor | keyed floor / floor | pandas / full | duckdb / full "
              "| full / duckdb | baseline / full |", "|---|---|---|---|---|---|---|---|"]
    med = {(impl, size): _median(_ok(runs, impl, size), "wall_seconds") for impl in impls for size in sizes}
    for size in sizes:
        full = med.get(("full", size))
        lines.append(f"| {size_label(*size)} | {_ratio(full, med.get(('floor', size)))} | "
                     f"{_ratio(full, med.get(('text floor', size)))} | "
                     f"{_ratio(med.get(('keyed floor', size)), med.get(('floor', size)))} | "
                     f"{_ratio(med.get(('pandas', size)), full)} | "
                     f"{_ratio(med.get(('duckdb', size)), full)} | "
                     f"{_ratio(full, med.get(('duckdb', size)))} | "
                     f"{_ratio(med.get(('baseline', size)), full)} |")
    if results.get("baseline_rev"):
        lines += ["", f"baseline = the full job at `{results['baseline_rev']}`, run in the same rounds."]
    scaled = [size for size in sizes if size[1] == "jsonl"]
    for large in scaled[1:]:
        small = scaled[0]
        lines += ["", f"## Scaling: {large[0]:,} rows against {small[0]:,} ({large[0] / small[0]:g}x the rows)",
                  "", "| implementation | time ratio | driver JVM peak MiB small → large | peak ratio |",
                  "|---|---|---|---|"]
        for impl in impls:
            d_small = _median(_ok(runs, impl, small), "peak_driver_rss_mib")
            d_large = _median(_ok(runs, impl, large), "peak_driver_rss_mib")
            driver = f"{d_small:.0f} → {d_large:.0f}" if d_small and d_large else "–"
            lines.append(f"| {impl} | {_ratio(med.get((impl, large)), med.get((impl, small)))} | {driver} | "
                         f"{_ratio(d_large, d_small)} |")
    lines += ["", "## Do the implementations agree? (rows_valid / rows_quarantined / duplicates_dropped)", ""]
    for size in sizes:
        for r in runs:
            if _size(r) == size and r.get("counts") and r["rep"] == 0:
                cells = "; ".join(f"{s} {c['rows_valid']}/{c['rows_quarantined']}/{c['duplicates_dropped']}"
                                  f" of {c['rows_read']}" for s, c in r["counts"].items())
                lines.append(f"- {size_label(*size)} {r['impl']}: {cells}")
    lines += ["", "Load average at the start of each run is in results.json (`loadavg_1m`): the machine is "
              "shared, so compare medians, and treat single runs with caution.", ""]
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = results["runs"]
    figure, axes = plt.subplots(figsize=(7, 5))
    for letter in results["only"]:
        impl = IMPLEMENTATIONS[letter][0]
        sizes = sorted({_size(r) for r in runs if r["impl"] == impl and r["status"] == "ok"
                        and _size(r)[1] == "jsonl"})
        if not sizes:
            continue
        medians = [_median(_ok(runs, impl, n), "wall_seconds") for n in sizes]
        lows = [m - min(r["wall_seconds"] for r in _ok(runs, impl, n)) for m, n in zip(medians, sizes)]
        highs = [max(r["wall_seconds"] for r in _ok(runs, impl, n)) - m for m, n in zip(medians, sizes)]
        axes.errorbar([n for n, _ in sizes], medians, yerr=[lows, highs], marker="o", capsize=3,
                      label=IMPLEMENTATIONS[letter][1])
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("transactions (rows)")
    axes.set_ylabel("wall time, s (median, min–max)")
    axes.set_title("chargeback-pipeline: time against rows")
    axes.grid(True, which="both", alpha=0.3)
    if axes.get_legend_handles_labels()[0]:
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def run_line(impl: str, rows: int, rep: int, reps: int, record: dict | None = None,
             layout: str = "jsonl") -> str:
    """The line printed as a run starts (no record yet) and as it ends (with its record)."""
    head = (f"[{time.strftime('%H:%M:%S')}] [run] {impl:8s} rows={size_label(rows, layout)} rep={rep} "
            f"({rep + 1} of {reps})")
    if record is None:
        return f"{head} started"
    wall = record.get("wall_seconds")
    return (f"{head} {record['status']} in {f'{wall:.1f}s' if wall is not None else 'n/a'} "
            f"tree={record.get('peak_tree_rss_mib')}MiB driver={record.get('peak_driver_rss_mib')}MiB")


def parse_size(text: str) -> tuple[int, str]:
    """`1M`, `10000000`, `100k` (JSON Lines part files), or `20:assignment` (the public
    assignment's layout: one JSON array per file and a CSV)."""
    text, _, layout = text.strip().lower().replace("_", "").partition(":")
    if (layout or "jsonl") not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; use one of {', '.join(LAYOUTS)}")
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text[:-1] if scale > 1 else text) * scale), layout or "jsonl"


def _stop(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _stop)
    parser = argparse.ArgumentParser(prog="bench/run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000000,10000000",
                        help="comma-separated rows (1000000 or 1M; 20:assignment for the assignment layout)")
    parser.add_argument("--reps", default="3",
                        help="repetitions, one number or one per size (e.g. 3,1 with --sizes 1M,10M)")
    parser.add_argument("--only", default="a,b,c,d", help="implementations to run, e.g. b,c,d")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    parser.add_argument("--pandas-timeout", type=float, default=None,
                        help="seconds per pandas run (default: --timeout); a timeout is a result")
    parser.add_argument("--keep-data", action="store_true",
                        help="keep data this run generated (data found already in place is never deleted)")
    parser.add_argument("--data-root", default=str(BENCH / "data"))
    parser.add_argument("--results", default=str(BENCH / "results"))
    parser.add_argument("--work-dir", default=None, help="where run outputs go (deleted after each run)")
    parser.add_argument("--large-only", default=None,
                        help="implementations to run at every size but the first (default: --only), "
                             "e.g. a,b when the baselines' large runs are already on record")
    parser.add_argument("--baseline-rev", default=None,
                        help="git revision whose full job is implementation e (e.g. a commit before a change)")
    args = parser.parse_args(argv)

    only = [letter.strip() for letter in args.only.split(",") if letter.strip()]
    unknown = [letter for letter in only if letter not in IMPLEMENTATIONS]
    if unknown:
        parser.error(f"--only: unknown implementation(s) {unknown}; choose from {','.join(IMPLEMENTATIONS)}")
    if "e" in only:
        if not args.baseline_rev:
            parser.error("--only e needs --baseline-rev")
        BASELINE["root"] = checkout_baseline(args.baseline_rev)
    large_only = ([letter.strip() for letter in args.large_only.split(",") if letter.strip()]
                  if args.large_only else only)
    if set(large_only) - set(only):
        parser.error("--large-only must be a subset of --only")
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    reps = [int(r) for r in args.reps.split(",") if r.strip()]
    if len(reps) == 1:
        reps = reps * len(sizes)
    if len(reps) != len(sizes):
        parser.error("--reps: give one number, or one per size")
    results_dir = Path(args.results)
    results_dir.mkdir(parents=True, exist_ok=True)
    if args.work_dir:
        Path(args.work_dir).mkdir(parents=True, exist_ok=True)
    results = {
        "command": " ".join([".venv/bin/python", "bench/run.py", *(argv if argv is not None else sys.argv[1:])]),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "as_of": AS_OF, "seed": SEED,
        "defect_rate": DEFECT_RATE, "poll_seconds": POLL_SECONDS, "timeout_seconds": args.timeout,
        "only": only, "machine": machine(), "runs": [], "baseline_rev": args.baseline_rev,
    }
    out_json = results_dir / "results.json"

    for position, ((rows, layout), size_reps) in enumerate(zip(sizes, reps)):
        data, generated = ensure_data(rows, layout, Path(args.data_root))
        for rep in range(size_reps):
            for letter in (only if position == 0 else large_only):
                impl = IMPLEMENTATIONS[letter][0]
                record = {"impl": impl, "letter": letter, "rows": rows, "layout": layout, "rep": rep,
                          "loadavg_1m": os.getloadavg()[0]}
                print(run_line(impl, rows, rep, size_reps, layout=layout), flush=True)
                if not entry_point(letter).exists():
                    record.update(status="not_available", wall_seconds=None)
                else:
                    out = Path(tempfile.mkdtemp(prefix=f"bench-{letter}-{rows}-", dir=args.work_dir))
                    try:
                        record.update(measure(command(letter, data, out),
                                              results_dir / "logs" / f"{impl.replace(' ', '_')}-{rows}-{layout}-{rep}.log",
                                              (args.pandas_timeout or args.timeout) if letter == "d"
                                              else args.timeout))
                    finally:
                        shutil.rmtree(out, ignore_errors=True)
                results["runs"].append(record)
                out_json.write_text(json.dumps(results, indent=2))
                print(run_line(impl, rows, rep, size_reps, record, layout), flush=True)
        if generated and not args.keep_data:
            shutil.rmtree(data, ignore_errors=True)

    (results_dir / "summary.md").write_text(summary(results))
    plot(results, results_dir / "time_vs_rows.png")
    print(f"wrote {out_json}, {results_dir / 'summary.md'}, {results_dir / 'time_vs_rows.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
