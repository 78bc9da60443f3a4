"""Publish a validated run's staged rows: the clean tables, the quarantine, the metrics, the
warehouse's key state and processed-file log, `dq_results` and `run_log`.

A full run replaces every table. An incremental run (lib/incremental.py) writes only the versions
it validated whose published rows change (new ones, and earlier ones with another outcome): per
table, one MERGE that replaces their earlier rows, or an append when the table loses none; and
the metric partitions of the dates those versions reach. A table it has nothing to change for
gets no commit.

run_log says `publishing` for this run before the first table is written and `completed`, with
the version each table was published at and the warehouse's totals, after the last one: a run
that dies on the way is never taken for a complete one (and the next one rebuilds in full).
"""
from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import Row, functions as F, types as T

from lib import faults, incremental, metrics, publish, report, schemas, staging, tables
from lib.incremental import PROCESSED_FILES, Plan
from lib.report import RunRecord
from lib.schemas import SOURCE_SPECS, SOURCES
from lib.staging import SourceCounts, StagedSource

PUBLISH_THREADS = 4
CLEAN_PARTITIONS = {"orders": "order_date", "transactions": "txn_date", "chargebacks": "chargeback_date"}
METRIC_PARTITIONS = ["txn_date", "payment_method"]
Totals = tuple[int, int, int, int]  # rows read, valid, quarantined, duplicates dropped


@dataclass(frozen=True)
class Enrichment:
    """Reference data the clean tables are enriched with."""
    daily_rates: DataFrame
    last_rate_date: dt.date
    reason_codes: DataFrame

    def clean(self, source: str, rows: DataFrame) -> DataFrame:
        if source == "orders":
            return tables.clean_orders(rows, self.daily_rates, self.last_rate_date)
        if source == "transactions":
            return tables.clean_transactions(rows, self.daily_rates, self.last_rate_date)
        return tables.clean_chargebacks(rows, self.daily_rates, self.last_rate_date, self.reason_codes)


def publish_run(spark: SparkSession, warehouse: str, run: RunRecord, plan: Plan,
                staged: Mapping[str, StagedSource], dq_rows: list[tuple], enrichment: Enrichment) -> None:
    """Write every table of this run (see the module doc)."""
    counts = {s: staged[s].counts for s in SOURCES}

    def path(name: str) -> str:
        return publish.table_path(warehouse, name)

    def log_run(table_versions: dict[str, int] | None, totals: Mapping[str, Totals] | None) -> int:
        frame = report.run_log_frame(spark, run, counts, table_versions, totals)
        if table_versions is not None:
            frame = faults.during(frame, "publish:run_log")
        return publish.replace_run(spark, frame, path("run_log"), run.run_id, ["source"])

    with ThreadPoolExecutor(max_workers=1) as pool:
        publishing = pool.submit(log_run, None, None)  # before any table is written (module doc)
        if plan.incremental:
            rows, earlier_rows = _changed_versions(spark, staged)
        else:
            rows, earlier_rows = {s: staged[s].rows(spark) for s in SOURCES}, {}
        publishing.result()

    quarantined_at = F.lit(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)).cast("timestamp")
    quarantine = None
    for source in SOURCES:
        quarantined = tables.quarantine_rows(rows[source], source, run.run_id, quarantined_at)
        quarantine = quarantined if quarantine is None else quarantine.unionByName(quarantined)
    clean = {s: enrichment.clean(s, rows[s]) for s in SOURCES}
    processed = spark.createDataFrame(
        [(f.source, f.path, f.size, f.modification_time, run.run_id, run.started_at)
         for f in plan.new_files], schemas.PROCESSED_FILES)

    def guarded(name: str, frame: DataFrame) -> DataFrame:
        return faults.during(frame, f"publish:{name}")

    writes: dict[str, Callable[[], int | None]] = {
        "dq_results": lambda: publish.replace_run(
            spark, guarded("dq_results", report.dq_results_frame(spark, dq_rows)), path("dq_results"),
            run.run_id, ["source"]),
    }
    with publish.commit_metadata(spark, run.run_id):
        if plan.incremental:
            # One wave: what each table loses is known from the changed versions' earlier rows
            # the validation staged (the key state as it was before this run), so no write
            # waits for another; the metrics of the dates they reach are the published ones
            # plus what enters and minus what leaves (`metrics.payment_metrics_after`).
            validated = list(earlier_rows)
            earlier = {s: EarlierVersions.of(earlier_rows[s], s) for s in validated}
            leaving = {s: enrichment.clean(s, earlier_rows[s])
                       for s in ("transactions", "chargebacks") if s in validated}
            payment_dates, cohort_dates = _metric_dates(rows, earlier_rows)
            writes.update(_increment_writes(warehouse, run.run_id, plan, earlier, rows, clean,
                                            quarantine, processed, guarded))
            writes.update(_metric_writes(spark, warehouse, run.run_id, payment_dates, cohort_dates,
                                         clean, leaving, guarded))
            writes.update({f"_state/{s}": lambda s=s: _replace_state(warehouse, s, rows[s], earlier[s], run.run_id, guarded)
                           for s in validated})
            # every write at once (about a dozen): the MERGEs, the longest, start at once too
            versions = _run_all(writes, threads=len(writes))
            totals = _totals_after(spark, warehouse, plan, rows, earlier_rows)
        else:
            writes.update(_full_writes(warehouse, run.run_id, counts, rows, clean, quarantine,
                                       processed, guarded))
            versions = _run_all(writes)
            totals = {s: (n.rows_read, n.rows_valid, n.rows_quarantined, n.duplicates_dropped)
                      for s, n in counts.items()}
    log_run(versions, totals)


def _changed_versions(spark: SparkSession, staged: Mapping[str, StagedSource]
                      ) -> tuple[dict[str, DataFrame], dict[str, DataFrame]]:
    """An incremental run's versions that publish something new, and their earlier rows: every
    validated version but those that equal their earlier row (`incremental.unchanged_versions`),
    written once beside the staged rows (every write reads them), the sources side by side. Only
    the sources with such a version have earlier rows in the second mapping: the others have no
    table to write."""
    def changed(s: str) -> tuple[DataFrame, DataFrame | None]:
        validated = staged[s].rows(spark)
        if staged[s].counts.rows_validated == 0:
            return validated, None
        before = staged[s].earlier_rows(spark)
        unchanged = incremental.unchanged_versions(validated, before, s)
        match = [*SOURCE_SPECS[s].key, "_content"]
        rows = staging.materialized(spark, incremental.keyed(validated, unchanged, match, "left_anti"),
                                    f"{staged[s].path}.changed")
        if not rows.limit(1).count():
            return rows, None
        return rows, staging.materialized(spark, incremental.keyed(before, unchanged, match, "left_anti"),
                                          f"{staged[s].earlier_path}.changed")

    with ThreadPoolExecutor(max_workers=len(SOURCES)) as pool:
        outcomes = dict(zip(SOURCES, pool.map(changed, SOURCES)))
    return ({s: rows for s, (rows, _) in outcomes.items()},
            {s: before for s, (_, before) in outcomes.items() if before is not None})


def _run_all(writes: Mapping[str, Callable[[], int | None]], threads: int = PUBLISH_THREADS) -> dict[str, int]:
    """The writes, a few at a time (each ends in a one-task stage and a driver-side Delta
    commit: a few at a time keep both cores busy). Every write is attempted; the first error is
    raised after all have finished, so none is left half-way when the run reports failure. A
    write that had nothing to change returns None and is left out."""
    with ThreadPoolExecutor(max_workers=threads) as pool:
        outcomes = {name: pool.submit(write) for name, write in writes.items()}
        versions = {name: outcome.result() for name, outcome in outcomes.items()}
    return {name: v for name, v in versions.items() if v is not None}


def _full_writes(warehouse, run_id, counts: Mapping[str, SourceCounts], rows, clean, quarantine,
                 processed, guarded) -> dict[str, Callable[[], int]]:
    def path(name: str) -> str:
        return publish.table_path(warehouse, name)

    def overwrite(name: str, frame: DataFrame, partition_by: list[str], small: bool) -> int:
        return publish.overwrite(guarded(name, frame), path(name), partition_by, run_id, small)

    quarantined_rows = sum(counts[s].rows_quarantined for s in SOURCES)
    # A few hundred rows each (dates x methods) at any input size.
    metric_input = faults.during(clean["transactions"], "metrics")
    return {
        **{s: lambda s=s: overwrite(s, clean[s], [CLEAN_PARTITIONS[s]], publish.is_small(counts[s].rows_valid))
           for s in SOURCES},
        "quarantine": lambda: overwrite("quarantine", quarantine, ["source"], publish.is_small(quarantined_rows)),
        "payment_metrics": lambda: overwrite("payment_metrics", metrics.payment_metrics(metric_input),
                                             METRIC_PARTITIONS, True),
        "chargeback_metrics": lambda: overwrite(
            "chargeback_metrics",
            metrics.chargeback_metrics(metrics.payment_metrics(metric_input), clean["chargebacks"]),
            METRIC_PARTITIONS, True),
        **{f"_state/{s}": lambda s=s: publish.overwrite_whole(
            guarded(f"_state/{s}", incremental.as_state(rows[s], s)), incremental.state_path(warehouse, s),
            run_id, [incremental.STATE_MONTH], incremental.STATE_PROPERTIES) for s in SOURCES},
        PROCESSED_FILES: lambda: publish.overwrite_whole(processed.coalesce(1), path(PROCESSED_FILES), run_id, []),
    }


def _metric_dates(rows: Mapping[str, DataFrame], earlier_rows: Mapping[str, DataFrame]
                  ) -> tuple[list[dt.date], list[dt.date]]:
    """The dates whose metrics a run can change: payment_metrics, the dates of the transaction
    versions it changed (as validated now, and as they were); chargeback_metrics, those dates and
    the cohorts (transaction dates) of the chargeback versions it changed, now and before.
    Distinct dates: bounded by the calendar, not by the rows."""
    def distinct_dates(frame: DataFrame, date: Column) -> set[dt.date]:
        return {r.d for r in frame.select(date.alias("d")).where(F.col("d").isNotNull()).distinct().collect()}

    def versions(source: str) -> list[DataFrame]:
        return [rows[source], earlier_rows[source]] if source in earlier_rows else []

    payments = {d for frame in versions("transactions")
                for d in distinct_dates(frame, F.to_date(F.col(incremental.STATE_DATE_OF["transactions"])))}
    cohorts = {d for frame in versions("chargebacks")
               for d in distinct_dates(frame, F.to_date(F.col("_parent.timestamp")))}
    return sorted(payments), sorted(payments | cohorts)


def _months(dates: list[dt.date | None]) -> list[dt.date | None]:
    return sorted({d.replace(day=1) if d is not None else None for d in dates},
                  key=lambda d: (d is None, d))


@dataclass(frozen=True)
class EarlierVersions:
    """The earlier rows of the versions a run changed, as the last run left them
    (`_changed_versions`): what each table the run replaces rows of loses. Most keys a
    day's files bring are new; then a table has nothing to lose, and the run appends to it."""
    rows: DataFrame
    valid_dates: list[dt.date]            # dates of the versions that were valid: in the clean table
    dates: list[dt.date | None]           # dates of every version: the key state's months
    quarantined: bool                     # whether any was quarantined: in the quarantine

    @staticmethod
    def of(rows: DataFrame, source: str) -> "EarlierVersions":
        """The dates and outcomes of `rows` (distinct: bounded by the calendar, not the rows)."""
        date = F.to_date(F.col(incremental.STATE_DATE_OF[source]))
        outcomes = rows.select(date.alias("d"), "quarantined").distinct().collect()
        return EarlierVersions(rows, sorted({r.d for r in outcomes if not r.quarantined and r.d is not None}),
                               list({r.d for r in outcomes}), any(r.quarantined for r in outcomes))


def _replace_or_append(frame: DataFrame, removed: DataFrame, path: str, match: Sequence[str], run_id: str,
                       within: str | None) -> int:
    """`publish.replace_keys`, or an append when nothing is removed (`within` None): a MERGE
    would scan the partitions for matches, to find none."""
    if within is None:
        return publish.append(frame, path, run_id)
    return publish.replace_keys(frame, removed, path, match, run_id, within)


def _increment_writes(warehouse, run_id, plan: Plan, earlier: Mapping[str, EarlierVersions], rows, clean,
                      quarantine, processed, guarded) -> dict[str, Callable[[], int]]:
    """The writes that replace the validated keys' clean and quarantine rows, each confined to
    the partitions their earlier rows are dated in; none for a source that validated nothing."""
    def path(name: str) -> str:
        return publish.table_path(warehouse, name)

    writes: dict[str, Callable[[], int]] = {}
    for s, before in earlier.items():
        key = list(SOURCE_SPECS[s].key)
        # the clean rows of the earlier versions that were valid leave (a valid row is dated)
        within = publish.in_dates(f"t.{CLEAN_PARTITIONS[s]}", before.valid_dates) if before.valid_dates else None
        removed = before.rows.where(~F.col("quarantined")).select(*key)
        writes[s] = lambda s=s, key=key, removed=removed, within=within: _replace_or_append(
            guarded(s, clean[s]), removed, path(s), key, run_id, within)
    if earlier:
        # The quarantined versions of the keys validated again leave the quarantine; their rows
        # as validated now come in (the reasons may have changed). A quarantine row is known by
        # (source, file, raw text), as the key state kept it before this run.
        replaced = None
        for s, before in earlier.items():
            rows_of = (before.rows.where(F.col("quarantined"))
                       .select(F.lit(s).alias("source"), "source_file", "record"))
            replaced = rows_of if replaced is None else replaced.unionByName(rows_of)
        sources = [s for s, before in earlier.items() if before.quarantined]
        within = f"t.source IN ({', '.join(repr(s) for s in sources)})" if sources else None
        writes["quarantine"] = lambda: _replace_or_append(
            guarded("quarantine", quarantine), replaced, path("quarantine"),
            ["source", "source_file", "record"], run_id, within)
    if plan.new_files:
        writes[PROCESSED_FILES] = lambda: publish.append(processed, path(PROCESSED_FILES), run_id)
    return writes


def _replace_state(warehouse: str, source: str, rows: DataFrame, earlier: EarlierVersions, run_id: str,
                   guarded) -> int:
    """Every version of the keys this run validated, as it validated them, in place of their
    earlier rows (in the months those are dated in)."""
    key = list(SOURCE_SPECS[source].key)
    match = [*key, "_content"]  # a version's content stays its own through every run
    within = publish.in_dates(f"t.{incremental.STATE_MONTH}", _months(earlier.dates)) if earlier.dates else None
    return _replace_or_append(guarded(f"_state/{source}", incremental.as_state(rows, source)),
                              earlier.rows.select(*match), incremental.state_path(warehouse, source), match,
                              run_id, within)


def _metric_writes(spark, warehouse, run_id, payment_dates: list[dt.date], cohort_dates: list[dt.date],
                   entering: Mapping[str, DataFrame], leaving: Mapping[str, DataFrame],
                   guarded) -> dict[str, Callable[[], int | None]]:
    """The metrics of the dates a run can change (`_metric_dates`), each table replacing only the
    dates whose rows changed. Both are the published rows of those dates plus the clean rows
    the run's changed versions bring (`entering`) and minus those their earlier versions leave
    (`leaving`): no write reads a table another one writes.
    chargeback_metrics takes its cohorts' completed counts and volumes from payment_metrics:
    recomputed for the dates whose transactions changed, as published for the others (a late
    chargeback reads its cohort's few metric rows, not its transactions)."""
    def published(name: str, dates: list[dt.date]) -> tuple[list[Row], T.StructType]:
        """The table's rows of `dates`, on the driver: a few rows a date (bounded by the
        calendar), read once and compared there, not read again by each step."""
        rows = (spark.read.format("delta").load(publish.table_path(warehouse, name))
                .where(F.col("txn_date").isin(*dates)))
        return rows.collect(), rows.schema

    def changing(source: str) -> tuple[DataFrame, DataFrame]:
        """The clean rows of `source` that enter and leave (none leave where no earlier version
        changed: `leaving` holds only the sources with one)."""
        return entering[source], leaving.get(source, entering[source].limit(0))

    def recomputed(frame: DataFrame, schema: T.StructType) -> list[Row]:
        return frame.select(*schema.names).collect()

    def replace_changed(name: str, rows: list[Row], before: list[Row], schema: T.StructType) -> int | None:
        """Replace the dates whose rows differ from the published ones (`before`)."""
        changed = sorted({r.txn_date for r in set(rows) ^ set(before)})
        if not changed:
            return None
        frame = spark.createDataFrame([r for r in rows if r.txn_date in changed], schema)
        return publish.replace_dates(guarded(name, frame), publish.table_path(warehouse, name), "txn_date",
                                     changed, METRIC_PARTITIONS, run_id)

    recomputed_dates = set(payment_dates)
    guard = threading.Lock()
    held: dict[str, tuple[list[Row], list[Row], T.StructType]] = {}

    def payments() -> tuple[list[Row], list[Row], T.StructType]:
        """The payment metrics of the cohort dates as published, and those of `payment_dates`
        recomputed: read and computed once for both writes, when the first of them runs (before
        either table is written)."""
        with guard:
            if not held:
                before, schema = published("payment_metrics", cohort_dates)
                rows: list[Row] = []
                if payment_dates:
                    changed = [r for r in before if r.txn_date in recomputed_dates]
                    rows = recomputed(metrics.payment_metrics_after(
                        spark.createDataFrame(changed, schema),
                        *(faults.during(frame, "metrics") for frame in changing("transactions"))), schema)
                held["payments"] = (before, rows, schema)
            return held["payments"]

    def payment_write() -> int | None:
        before, rows, schema = payments()
        return replace_changed("payment_metrics", rows, [r for r in before if r.txn_date in recomputed_dates],
                               schema)

    def chargeback_write() -> int | None:
        """The cohorts' completed counts and volumes are the recomputed payment metrics where
        their transactions changed, the published ones elsewhere."""
        payments_before, payment_rows, payment_schema = payments()
        cohorts = payment_rows + [r for r in payments_before if r.txn_date not in recomputed_dates]
        before, schema = published("chargeback_metrics", cohort_dates)
        rows = recomputed(metrics.chargeback_metrics_after(
            spark.createDataFrame(cohorts, payment_schema), spark.createDataFrame(before, schema),
            *changing("chargebacks")), schema)
        return replace_changed("chargeback_metrics", rows, before, schema)

    writes: dict[str, Callable[[], int | None]] = {}
    if payment_dates:
        writes["payment_metrics"] = payment_write
    if cohort_dates:
        writes["chargeback_metrics"] = chargeback_write
    return writes


def _totals_after(spark: SparkSession, warehouse: str, plan: Plan, rows: Mapping[str, DataFrame],
                  earlier_rows: Mapping[str, DataFrame]) -> dict[str, Totals]:
    """The warehouse's totals after an incremental run: the last run's, less the changed
    versions' earlier rows and plus those versions as validated now, which is exactly what the key
    state loses and gains (`_replace_state`; a source with no changed version keeps its state).
    Summed from the whole key state where the last run recorded none."""
    def after(source: str) -> Totals:
        if plan.totals_before is None:
            return state_totals(spark, warehouse, source)
        before = plan.totals_before[source]
        if source not in earlier_rows:
            return before
        gained, lost = _totals_of(rows[source]), _totals_of(earlier_rows[source])
        return tuple(b + g - x for b, g, x in zip(before, gained, lost))

    with ThreadPoolExecutor(max_workers=len(SOURCES)) as pool:
        return dict(zip(SOURCES, pool.map(after, SOURCES)))


def state_totals(spark: SparkSession, warehouse: str, source: str) -> Totals:
    """The warehouse's nothing-lost numbers of a source, from its key state: every input row
    any run read is one copy of one version."""
    return _totals_of(spark.read.format("delta").load(incremental.state_path(warehouse, source)))


def _totals_of(versions: DataFrame) -> Totals:
    """Rows read, valid, quarantined and duplicates dropped of key-state versions."""
    row = (versions
           .agg(F.coalesce(F.sum("copies"), F.lit(0)).alias("read"),
                F.count_if(~F.col("quarantined")).alias("valid"),
                F.count_if(F.col("quarantined")).alias("quarantined"),
                F.coalesce(F.sum(F.col("copies") - 1), F.lit(0)).alias("duplicates"))
           .first())
    return int(row.read), int(row.valid), int(row.quarantined), int(row.duplicates)
