"""What the run report shows, read back from the published Delta tables.

Only small results reach the driver: three run_log rows, one count per (source, rule), the
metric rows (dates x payment methods) and a capped sample of quarantined records. Nothing here
collects a table whose size grows with the raw rows.
"""
from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal

from pyspark.sql import DataFrame, Row, SparkSession, Window
from pyspark.sql import functions as F

from lib.publish import table_path
from lib.schemas import SOURCES

SAMPLE_PER_SOURCE = 20
# A JSON-array file that does not parse is one quarantined record holding the whole file; the
# report shows the first characters of a record and says how long it is.
RECORD_CHARS = 2000


@dataclass(frozen=True)
class RunFacts:
    """What the run knows that no table holds; the pipeline passes these."""
    run_id: str
    as_of: dt.datetime
    inputs: tuple[str, ...]
    mode: str
    # label -> this run's validation page in the data docs (a path: absolute, or relative to the
    # warehouse; or an http(s) URL), e.g. {"orders": "/wh/_data_docs/validations/.../x.html"}
    data_docs: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SourceCounts:
    source: str
    rows_read: int
    rows_valid: int
    rows_quarantined: int
    duplicates_dropped: int

    @property
    def nothing_lost(self) -> bool:
        return self.rows_read == self.rows_valid + self.rows_quarantined + self.duplicates_dropped


@dataclass(frozen=True)
class RuleCount:
    """How many of this run's quarantined rows list `rule` in their failed_rules."""
    source: str
    rule: str
    rows: int
    action: str | None = None  # from this run's dq_results: quarantine, warn or fail


@dataclass(frozen=True)
class DailyMetric:
    txn_date: dt.date
    payment_method: str
    failure_rate: float | None
    chargeback_rate: float | None
    completed_count: int
    failed_count: int
    completed_volume_usd: Decimal
    disputed_amount_usd: Decimal


@dataclass(frozen=True)
class QuarantinedRecord:
    source: str
    record: str          # at most RECORD_CHARS characters
    record_chars: int    # the whole record's length
    failed_rules: tuple[tuple[str, str], ...]  # (rule, message)
    source_file: str | None


@dataclass(frozen=True)
class ReportData:
    counts: tuple[SourceCounts, ...]
    rule_counts: tuple[RuleCount, ...]   # most rows first
    daily: tuple[DailyMetric, ...]       # by date, then payment method
    samples: tuple[QuarantinedRecord, ...]
    finished_at: dt.datetime | None      # run_log.finished_at of this run
    is_newest_run: bool                  # no run in run_log finished after this one
    status: str | None = None            # run_log.status of this run (`completed` once published)
    table_versions: tuple[tuple[str, int], ...] = ()  # table -> Delta version this run published

    @property
    def nothing_lost(self) -> bool:
        return bool(self.counts) and all(c.nothing_lost for c in self.counts)


def _table(spark: SparkSession, warehouse: str, name: str) -> DataFrame:
    return spark.read.format("delta").load(table_path(warehouse, name))


def _source_order(source: str) -> int:
    return SOURCES.index(source) if source in SOURCES else len(SOURCES)


def run_counts(run_log: DataFrame, run_id: str) -> tuple[list[SourceCounts], dt.datetime | None, bool]:
    """This run's four numbers per source, its finish time, and whether it is the newest run
    (one query: run_log holds a few rows per run)."""
    counts, finished, newest, _ = run_record(run_log, run_id)
    return counts, finished, newest


def run_record(run_log: DataFrame, run_id: str) -> tuple[list[SourceCounts], dt.datetime | None, bool, Row | None]:
    """run_counts, and this run's row with its status and table versions (None without rows).
    Only finished runs count for the newest: a run still publishing (or killed) has no finish
    time, and max_by skips it."""
    # A one-row aggregate joined on, not a window over the whole table: Spark logs a warning for
    # every unpartitioned window it runs, and a run's stderr should hold none of its own making.
    newest = run_log.agg(F.max_by("run_id", "finished_at").alias("newest_run_id"))
    rows = (
        run_log
        .where(F.col("run_id") == run_id)
        .crossJoin(newest)
        .collect()  # one row per source
    )
    counts = sorted((SourceCounts(r["source"], r["rows_read"], r["rows_valid"], r["rows_quarantined"],
                                  r["duplicates_dropped"]) for r in rows),
                    key=lambda c: (_source_order(c.source), c.source))
    finished = max((r["finished_at"] for r in rows if r["finished_at"]), default=None)
    return counts, finished, bool(rows) and rows[0]["newest_run_id"] == run_id, rows[0] if rows else None


def rule_counts(quarantine: DataFrame, dq_results: DataFrame, run_id: str) -> list[RuleCount]:
    """Rows of this run's quarantine per (source, rule), with the rule's action in dq_results."""
    hits = (
        quarantine
        .where(F.col("run_id") == run_id)
        .select("source", F.explode("failed_rules.rule").alias("rule"))
        .groupBy("source", "rule")
        .agg(F.count(F.lit(1)).alias("rows"))
    )
    actions = (dq_results.where(F.col("run_id") == run_id)
               .select("source", "rule", "action").dropDuplicates(["source", "rule"]))
    rows = hits.join(actions, on=["source", "rule"], how="left").collect()  # sources x rules
    found = [RuleCount(r["source"], r["rule"], r["rows"], r["action"]) for r in rows]
    return sorted(found, key=lambda c: (-c.rows, _source_order(c.source), c.rule))


def daily_metrics(payment_metrics: DataFrame, chargeback_metrics: DataFrame) -> list[DailyMetric]:
    """Both metric tables have a row per (txn_date, payment_method) with a valid transaction:
    dates x methods, small enough to collect whole."""
    payments = payment_metrics.select("txn_date", "payment_method", "failure_rate", "completed_count",
                                      "failed_count", "completed_volume_usd")
    disputes = chargeback_metrics.select("txn_date", "payment_method", "chargeback_rate",
                                         "disputed_amount_usd")
    rows = (payments.join(disputes, on=["txn_date", "payment_method"], how="left")
            .orderBy("txn_date", "payment_method").collect())
    return [DailyMetric(r["txn_date"], r["payment_method"], r["failure_rate"], r["chargeback_rate"],
                        r["completed_count"], r["failed_count"], r["completed_volume_usd"],
                        r["disputed_amount_usd"] if r["disputed_amount_usd"] is not None else Decimal("0.00"))
            for r in rows]


def quarantine_sample(quarantine: DataFrame, run_id: str, per_source: int = SAMPLE_PER_SOURCE) -> list[QuarantinedRecord]:
    """At most `per_source` of this run's quarantined rows per source, chosen in Spark.

    Ordered by a hash of the raw text, so the sample is the same on every read of the same rows
    and spread over files and defects instead of the first lines of the first file."""
    # The hash is of the whole record; only its first RECORD_CHARS characters travel on.
    ranked = Window.partitionBy("source").orderBy("record_hash", "record", "source_file")
    rows = (
        quarantine
        .where(F.col("run_id") == run_id)
        .select("source", F.xxhash64("record").alias("record_hash"),
                F.substring("record", 1, RECORD_CHARS).alias("record"),
                F.length("record").alias("record_chars"), "failed_rules", "source_file")
        .withColumn("position", F.row_number().over(ranked))
        .where(F.col("position") <= per_source)
        .collect()  # at most per_source x 3 rows of at most RECORD_CHARS characters
    )
    rows = sorted(rows, key=lambda r: (_source_order(r["source"]), r["position"]))
    return [QuarantinedRecord(r["source"], r["record"] or "", r["record_chars"] or 0,
                              tuple((f["rule"], f["message"]) for f in r["failed_rules"] or ()),
                              r["source_file"])
            for r in rows]


def read_report_data(spark: SparkSession, warehouse: str, run_id: str,
                     sample_per_source: int = SAMPLE_PER_SOURCE) -> ReportData:
    """The four reads are independent small queries whose time is mostly the driver's (Delta log
    replay, planning): run side by side, they take about as long as the slowest."""
    quarantine = _table(spark, warehouse, "quarantine")
    with ThreadPoolExecutor(max_workers=4) as pool:
        counts = pool.submit(run_record, _table(spark, warehouse, "run_log"), run_id)
        rules = pool.submit(rule_counts, quarantine, _table(spark, warehouse, "dq_results"), run_id)
        daily = pool.submit(daily_metrics, _table(spark, warehouse, "payment_metrics"),
                            _table(spark, warehouse, "chargeback_metrics"))
        samples = pool.submit(quarantine_sample, quarantine, run_id, sample_per_source)
        run_numbers, finished_at, newest, record = counts.result()
        recorded = record.asDict() if record else {}  # a run_log older than status has neither
        return ReportData(
            counts=tuple(run_numbers),
            rule_counts=tuple(rules.result()),
            daily=tuple(daily.result()),
            samples=tuple(samples.result()),
            finished_at=finished_at,
            is_newest_run=newest,
            status=recorded.get("status"),
            table_versions=tuple(sorted((recorded.get("table_versions") or {}).items())),
        )
