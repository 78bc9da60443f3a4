"""Where a Spark run spends its time, from its event log (spark.eventLog.enabled=true).

.venv/bin/python bench/stage_times.py EVENT_LOG_FILE [--top 15] [--phases RUN_OUTPUT]

Prints wall time per job (with its call site), the busiest stages and the task time per stage:
the profile behind the "top costs" of docs/benchmarks.md. With --phases, the pipeline's own
output (its `[HH:MM:SS] validate orders ... done in 29.3s` lines) splits the run into phases,
and each phase gets its wall time, task time, busy task slots and Spark jobs, and how many of
those jobs a line of the project's Python started (`collect at lib/....py:N`); the others are
writes (their call site is Java's reflection) and Delta's own jobs (snapshots, statistics, MERGE
internals). The time before the first phase is start-up and planning, from the
application's start.

An event log is a file (`events_1_<app id>.zstd`) or a folder of one (Spark 4's rolling
`eventlog_v2_<app id>/`); `spark-submit.sh --conf spark.eventLog.enabled=true --conf
spark.eventLog.dir=DIR` writes one under DIR.
"""
from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import zstandard


def _lines(path: str):
    """Event logs are zstd-compressed by default since Spark 4 (spark.eventLog.compress)."""
    if path.endswith(".zstd"):
        with open(path, "rb") as raw:
            yield from io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(raw), "utf-8")
    else:
        with open(path) as text:
            yield from text


def event_file(path: str) -> str:
    """The events file itself, given it or the folder Spark writes it in (at any depth)."""
    if Path(path).is_file():
        return path
    found = sorted(str(p) for p in Path(path).rglob("events_*"))
    if not found:
        raise SystemExit(f"{path}: no Spark event log (events_*) in it")
    return found[0]


@dataclass
class EventLog:
    app_start: int                      # ms since the epoch
    jobs: dict[int, dict]               # job id -> start, end, site, description, stages
    stages: dict[int, dict]             # stage id -> name, ms, tasks
    task_ms: dict[int, int]             # stage id -> task time (launch to finish)
    tasks: list[tuple[int, int, int]]   # (stage id, launch, finish) of every task


def load(path: str) -> EventLog:
    log = EventLog(0, {}, {}, defaultdict(int), [])
    for line in _lines(event_file(path)):
        event = json.loads(line)
        kind = event["Event"]
        if kind == "SparkListenerApplicationStart":
            log.app_start = event["Timestamp"]
        elif kind == "SparkListenerJobStart":
            props = event.get("Properties") or {}
            log.jobs[event["Job ID"]] = {
                "start": event["Submission Time"],
                "site": props.get("callSite.short", ""),
                "description": props.get("spark.job.description", ""),
                "stages": event.get("Stage IDs", []),
            }
        elif kind == "SparkListenerJobEnd":
            log.jobs[event["Job ID"]]["end"] = event["Completion Time"]
        elif kind == "SparkListenerStageCompleted":
            info = event["Stage Info"]
            if "Submission Time" in info and "Completion Time" in info:
                log.stages[info["Stage ID"]] = {
                    "name": info["Stage Name"],
                    "ms": info["Completion Time"] - info["Submission Time"],
                    "tasks": info["Number of Tasks"],
                }
        elif kind == "SparkListenerTaskEnd":
            info = event["Task Info"]
            log.task_ms[event["Stage ID"]] += info["Finish Time"] - info["Launch Time"]
            log.tasks.append((event["Stage ID"], info["Launch Time"], info["Finish Time"]))
    return log


# `[02:36:20] validate orders ... done in 29.3s` / `... done in 1m 01s` (lib/console.py)
_PHASE_END = re.compile(r"^\[(\d\d:\d\d:\d\d)\] (.+?) \.\.\. (?:done in|failed after) "
                        r"(?:(\d+)m )?([\d.]+)s$")


def phases(output: str, app_start_ms: int) -> list[tuple[str, float, float]]:
    """(name, start, end) in seconds since the epoch: the run's phases from its output lines,
    after "start-up and plan", which runs from the application's start to the first phase. The
    lines give the local time of day: the day is the application's (a run crossing midnight is
    not handled)."""
    day = dt.datetime.fromtimestamp(app_start_ms / 1000).date()
    ended = []
    for line in output.splitlines():
        match = _PHASE_END.match(line.strip())
        if match:
            end = dt.datetime.combine(day, dt.time.fromisoformat(match.group(1))).timestamp()
            seconds = int(match.group(3) or 0) * 60 + float(match.group(4))
            ended.append((match.group(2), end - seconds, end))
    if not ended:
        raise SystemExit("the run's output has no `... done in` lines of the pipeline's phases")
    return [("start-up and plan", app_start_ms / 1000, ended[0][1])] + ended


def phase_table(log: EventLog, spans: list[tuple[str, float, float]]) -> list[str]:
    """Per phase: wall s, task s (tasks' time inside the phase), busy task slots, and the jobs
    started in it, with those whose call site is a line of Python (`.py:`)."""
    lines = [f"{'phase':28s} {'wall s':>7s} {'task s':>7s} {'busy':>5s} {'jobs':>5s} {'from .py':>9s}"]
    for name, start, end in spans:
        task_s = sum(max(0.0, min(finish / 1000, end) - max(launch / 1000, start))
                     for _, launch, finish in log.tasks)
        started = [j for j in log.jobs.values() if start <= j["start"] / 1000 < end]
        from_python = [j for j in started if ".py:" in j["site"]]
        wall = end - start
        lines.append(f"{name:28s} {wall:7.1f} {task_s:7.1f} {task_s / wall if wall else 0:5.2f} "
                     f"{len(started):5d} {len(from_python):9d}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("event_log")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--phases", metavar="RUN_OUTPUT",
                        help="the pipeline's output of the same run: adds the table by phase")
    args = parser.parse_args()
    log = load(args.event_log)
    jobs, stages, task_ms = log.jobs, log.stages, log.task_ms
    if args.phases:
        print("\n".join(phase_table(log, phases(Path(args.phases).read_text(errors="replace"), log.app_start))))
        print()
    finished = [j for j in jobs.values() if "end" in j]
    total = sum(j["end"] - j["start"] for j in finished)
    print(f"{len(finished)} jobs, {total / 1000:.1f}s of job wall time")
    by_site = defaultdict(lambda: [0, 0])
    for job in finished:
        by_site[job["site"]][0] += job["end"] - job["start"]
        by_site[job["site"]][1] += 1
    print("\njob wall time by call site:")
    for site, (ms, count) in sorted(by_site.items(), key=lambda kv: -kv[1][0])[: args.top]:
        print(f"  {ms / 1000:8.1f}s  {count:4d} jobs  {site}")
    print("\nslowest stages:")
    for stage_id, stage in sorted(stages.items(), key=lambda kv: -kv[1]["ms"])[: args.top]:
        print(f"  {stage['ms'] / 1000:8.1f}s  task time {task_ms[stage_id] / 1000:8.1f}s  "
              f"{stage['tasks']:5d} tasks  stage {stage_id}: {stage['name']}")


if __name__ == "__main__":
    main()
