"""What a person sees in the terminal: a line as each stage starts and ends, Spark's progress bar
during long stages, and the closing text (summary table, most frequent failed rules, paths).

Stage lines and the bar go to stderr; the closing text is the caller's to print (stdout today).
Every line is built by a pure function, so tests compare exact strings.

Spark's progress bar (`spark.ui.showConsoleProgress`, ConsoleProgressBar: `[Stage 3:=>  (1 + 2) / 8]`
redrawn on one line of the driver JVM's stderr, for stages running longer than 0.5 s):
- It is read once, when the SparkContext starts: `spark.conf.set` on a running session fails with
  CANNOT_MODIFY_CONFIG. Pass `progress_bar_conf(...)` to `build_session(conf=...)` (or
  `--conf spark.ui.showConsoleProgress=true` to spark-submit) before the session exists.
- It needs neither the web UI (`spark.ui.enabled=false` is fine) nor a log level: since Spark 3.0
  the context creates the bar whenever the setting is true.
- Its default is false for `spark-submit app.py` but true for a session started from plain
  `python` (PySpark launches the JVM as `pyspark-shell`, and Spark turns the bar on for shells):
  the tests' session and `python jobs/pipeline.py` draw it unless told not to.
- Local mode and client deploy mode: the driver's stderr is the terminal that ran spark-submit.
  Cluster deploy mode (YARN cluster, standalone cluster) and Databricks jobs: the driver runs on
  the cluster and its stderr is a log file, where the redrawn line is only noise; keep it off.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TextIO

from lib.report_data import RuleCount

PROGRESS_BAR = "spark.ui.showConsoleProgress"
TOP_RULES = 5


def format_seconds(seconds: float) -> str:
    """12.3s under a minute, 2m 05s under an hour, 1h 02m above."""
    if round(seconds, 1) < 60:  # 59.96 s reads 1m 00s, not 60.0s
        return f"{seconds:.1f}s"
    whole = int(round(seconds))
    if whole < 3600:
        return f"{whole // 60}m {whole % 60:02d}s"
    return f"{whole // 3600}h {whole % 3600 // 60:02d}m"


def stage_started_line(name: str, at: dt.datetime) -> str:
    return f"[{at:%H:%M:%S}] {name} ..."


def stage_finished_line(name: str, at: dt.datetime, seconds: float, failed: bool = False) -> str:
    outcome = "failed after" if failed else "done in"
    return f"[{at:%H:%M:%S}] {name} ... {outcome} {format_seconds(seconds)}"


@contextlib.contextmanager
def stage(name: str, stream: TextIO | None = None,
          clock: Callable[[], float] = time.perf_counter,
          now: Callable[[], dt.datetime] = dt.datetime.now) -> Iterator[None]:
    """`with stage("validate orders"):` prints a line as the block starts and one as it ends,
    with its wall time; a block that raises ends with `failed after` and the error goes on."""
    out = stream if stream is not None else sys.stderr
    print(stage_started_line(name, now()), file=out, flush=True)
    started = clock()
    try:
        yield
    except BaseException:
        print(stage_finished_line(name, now(), clock() - started, failed=True), file=out, flush=True)
        raise
    print(stage_finished_line(name, now(), clock() - started), file=out, flush=True)


def wants_progress_bar(stderr_is_terminal: bool, deploy_mode: str | None = None) -> bool:
    """Draw Spark's bar only where a person watches it: stderr is a terminal and the driver runs
    here (local mode or client deploy mode)."""
    return stderr_is_terminal and (deploy_mode or "client") == "client"


def progress_bar_conf(enabled: bool) -> dict[str, str]:
    """Settings for `build_session(conf=...)`; always explicit, since the default depends on how
    the JVM was started (see the module's notes)."""
    return {PROGRESS_BAR: "true" if enabled else "false"}


def top_failed_rules(rule_counts: Sequence[RuleCount], n: int = TOP_RULES) -> list[RuleCount]:
    """The n (source, rule) pairs listed on the most quarantined rows; ties by source, rule."""
    return sorted(rule_counts, key=lambda c: (-c.rows, c.source, c.rule))[:n]


def failed_rules_text(rule_counts: Sequence[RuleCount], n: int = TOP_RULES) -> str:
    top = top_failed_rules(rule_counts, n)
    if not top:
        return "  no row was quarantined in this run"
    names = [f"{c.source}.{c.rule}" + (f" ({c.action})" if c.action not in (None, "quarantine") else "")
             for c in top]
    width = max(len(name) for name in names)
    lines = [f"  most frequent failed rules (quarantined rows of this run), top {len(top)}:"]
    lines += [f"    {name:<{width}}  {c.rows:>10,}" for name, c in zip(names, top)]
    return "\n".join(lines)


def closing_text(summary: str, rule_counts: Sequence[RuleCount], report_path: str | None,
                 data_docs_path: str | None) -> str:
    """The end of a run: today's summary table (lib/report.py summary_text), the five most
    frequent failed rules, and where to look next."""
    return "\n".join([
        summary,
        failed_rules_text(rule_counts),
        f"  report:    {report_path or 'not written'}",
        f"  data docs: {data_docs_path or 'not written'}",
    ])
