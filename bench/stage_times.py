"""Where a Spark run spends its time, from its event log (spark.eventLog.enabled=true).

.venv/bin/python bench/stage_times.py EVENT_LOG_FILE [--top 15]

Prints wall time per job (with its call site), the busiest stages and the task time per stage:
the profile behind the "top costs" of docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import io
import json
from collections import defaultdict

import zstandard


def _lines(path: str):
    """Event logs are zstd-compressed by default since Spark 4 (spark.eventLog.compress)."""
    if path.endswith(".zstd"):
        with open(path, "rb") as raw:
            yield from io.TextIOWrapper(zstandard.ZstdDecompressor().stream_reader(raw), "utf-8")
    else:
        with open(path) as text:
            yield from text


def load(path: str):
    jobs, stages, task_ms = {}, {}, defaultdict(int)
    if True:
        for line in _lines(path):
            event = json.loads(line)
            kind = event["Event"]
            if kind == "SparkListenerJobStart":
                props = event.get("Properties") or {}
                jobs[event["Job ID"]] = {
                    "start": event["Submission Time"],
                    "site": props.get("callSite.short", ""),
                    "description": props.get("spark.job.description", ""),
                    "stages": event.get("Stage IDs", []),
                }
            elif kind == "SparkListenerJobEnd":
                jobs[event["Job ID"]]["end"] = event["Completion Time"]
            elif kind == "SparkListenerStageCompleted":
                info = event["Stage Info"]
                if "Submission Time" in info and "Completion Time" in info:
                    stages[info["Stage ID"]] = {
                        "name": info["Stage Name"],
                        "ms": info["Completion Time"] - info["Submission Time"],
                        "tasks": info["Number of Tasks"],
                    }
            elif kind == "SparkListenerTaskEnd":
                info = event["Task Info"]
                task_ms[event["Stage ID"]] += info["Finish Time"] - info["Launch Time"]
    return jobs, stages, task_ms


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("event_log")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    jobs, stages, task_ms = load(args.event_log)
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
