"""What a run records about itself: dq_results rows, run_log rows, the closing summary."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lib.quality.gx_results import RuleResult
from lib.quality.validate import Validation
from lib.schemas import DQ_RESULTS, RUN_COMPLETED, RUN_LOG, RUN_PUBLISHING
from lib.raw_values import READER_RULES
from lib.staging import SourceCounts


def dq_result_rows(
    run_id: str,
    validation: Validation,
    gx_results: Sequence[RuleResult],
    counts: SourceCounts,
) -> list[tuple]:
    """One row per rule: GX's numbers for suite rules; the split's for reader and cross-source
    rules (element_count: the de-duplicated rows validated for reader rules, rows the reader typed for the
    others)."""
    rows = []
    for r in gx_results:
        rows.append((run_id, r.rule, r.expectation_type, r.action, r.element_count,
                     r.unexpected_count, r.unexpected_percent, r.success, validation.source))
    checked = [(name, "reader", "quarantine", counts.rows_validated) for name in READER_RULES]
    checked += [(c.name, "cross_source", c.action, counts.rows_checked)
                for c in validation.cross_source_checks]
    for name, kind, action, elements in checked:
        unexpected = counts.failing[name]
        percent = 100.0 * unexpected / elements if elements else 0.0
        rows.append((run_id, name, kind, action, elements, unexpected, percent,
                     unexpected == 0 or action == "warn", validation.source))
    return rows


def dq_results_frame(spark: SparkSession, rows: list[tuple]) -> DataFrame:
    return spark.createDataFrame(rows, DQ_RESULTS)


@dataclass(frozen=True)
class RunRecord:
    """What run_log says of a run besides its counts."""
    run_id: str
    as_of: dt.datetime
    started_at: dt.datetime
    mode: str
    files: Mapping[str, Sequence[str]]
    reference_fingerprint: str


def run_log_frame(
    spark: SparkSession, run: RunRecord, counts: Mapping[str, SourceCounts],
    table_versions: Mapping[str, int] | None = None,
    totals: Mapping[str, tuple[int, int, int, int]] | None = None,
) -> DataFrame:
    """This run's rows: `publishing` (no versions, totals or finish time) before the tables are
    written; `completed` with every table's published version and the warehouse's totals (read,
    valid, quarantined, duplicates) after the last one."""
    completed = table_versions is not None
    finished = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) if completed else None
    status = RUN_COMPLETED if completed else RUN_PUBLISHING
    rows = [
        (run.run_id, run.as_of, source, n.rows_read, n.rows_valid, n.rows_quarantined,
         n.duplicates_dropped, finished, status, run.started_at,
         dict(table_versions) if completed else None, run.mode, list(run.files[source]),
         *(totals[source] if totals else (None, None, None, None)), run.reference_fingerprint)
        for source, n in counts.items()
    ]
    return spark.createDataFrame(rows, RUN_LOG)


def headline_kpis(payment_metrics: DataFrame, chargeback_metrics: DataFrame) -> list:
    """Per payment method over all dates: a few rows, safe to collect."""
    payments = payment_metrics.groupBy("payment_method").agg(
        F.sum("attempts").alias("attempts"),
        F.sum("failed_count").alias("failed"),
        F.sum("completed_count").alias("completed"),
        F.sum("completed_volume_usd").alias("completed_volume_usd"),
    )
    disputes = chargeback_metrics.groupBy("payment_method").agg(
        F.sum("chargeback_count").alias("chargebacks"),
        F.sum("disputed_amount_usd").alias("disputed_amount_usd"),
    )
    return (
        payments.join(disputes, on="payment_method", how="left")
        .orderBy("payment_method")
        .collect()
    )


def summary_text(warehouse: str, counts: Mapping[str, SourceCounts], kpis: list) -> str:
    lines = [f"chargeback-pipeline: published to {warehouse}",
             f"  {'source':<13}{'read':>10}{'valid':>10}{'quarantined':>13}{'duplicates':>12}"]
    for source, n in counts.items():
        lines.append(f"  {source:<13}{n.rows_read:>10}{n.rows_valid:>10}"
                     f"{n.rows_quarantined:>13}{n.duplicates_dropped:>12}")
    lines.append(f"  {'payment_method':<15}{'attempts':>9}{'failure_rate':>14}"
                 f"{'completed_usd':>16}{'chargeback_rate':>17}")
    for k in kpis:
        outcomes = (k["completed"] or 0) + (k["failed"] or 0)
        failure_rate = f"{k['failed'] / outcomes:.2%}" if outcomes else "n/a"
        volume = k["completed_volume_usd"] or 0
        rate = f"{(k['disputed_amount_usd'] or 0) / volume:.3%}" if volume else "n/a"
        lines.append(f"  {k['payment_method']:<15}{k['attempts']:>9}{failure_rate:>14}"
                     f"{volume:>16,.2f}{rate:>17}")
    return "\n".join(lines)
