"""Fault injection: die at a named point of a run, the way a lost driver dies (SIGKILL).

`CHARGEBACK_FAIL_AT=<point>` names the point; unset, every call here returns at once and changes
nothing. The points, in the order a run reaches them:

- `reading`: while the first source (orders) is read, validated and staged;
- `validated`: every source staged, before the audit and the first write;
- `publish:<table>` for each of the eight tables: while that table's write job runs, before its
  Delta commit (`publish:run_log` is the write that marks the run `completed`);
- `metrics`: while the metric tables are computed (the first job that computes them).

A point reached on the driver kills the driver's process group. A point inside a job (`during`)
kills from the job's task, so the write has started and its commit has not: in local mode the
task's Python worker kills the driver's group, then its own (PySpark's worker daemon runs in a
group of its own). On a cluster a task cannot reach the driver's processes, so there the point
kills the driver just before the job starts.
"""
from __future__ import annotations

import os
import signal
from collections.abc import Iterator

from pyspark.sql import DataFrame

FAIL_AT = "CHARGEBACK_FAIL_AT"


def armed(name: str) -> bool:
    return os.environ.get(FAIL_AT) == name


def point(name: str) -> None:
    """Kill the driver's whole process group here when `CHARGEBACK_FAIL_AT` names this point."""
    if armed(name):
        os.killpg(os.getpgid(0), signal.SIGKILL)


def during(frame: DataFrame, name: str) -> DataFrame:
    """`frame` itself, or, when this point is armed, `frame` passed through a task that kills
    the driver once it has handed on every row of its partition (so the job's output files are
    being written when the kill lands)."""
    if not armed(name):
        return frame
    if not frame.sparkSession.sparkContext.master.startswith("local"):
        point(name)
    driver_group = os.getpgid(0)

    def kill_after(batches: Iterator) -> Iterator:
        yield from batches
        os.killpg(driver_group, signal.SIGKILL)
        os.killpg(os.getpgid(0), signal.SIGKILL)

    return frame.mapInArrow(kill_after, frame.schema)
