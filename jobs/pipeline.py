"""The chargeback pipeline: read -> validate -> stage -> audit -> publish -> metrics -> summary.

spark-submit.sh jobs/pipeline.py --input DIR --warehouse DIR [--as-of TS] [--conf FILE]

Write, audit, publish: every source is validated and staged (with its counts) before the first
table is written; a `fail` rule or a broken invariant stops the run with nothing published.
Parents come first: orders, then transactions against the orders, then chargebacks against the
transactions. Exit status: 0 published, 2 bad input or arguments, 3 aborted by a rule.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lib import fx, metrics, publish, report, sources, staging, storage, tables
from lib.config import Settings, load_settings
from lib.errors import RunAborted, UserError
from lib.quality import gx_run
from lib.quality.predicates import Rule, suite_rules
from lib.quality.referential import (
    ORDER_OF_TRANSACTION, TRANSACTION_OF_CHARGEBACK, Parentage, cross_source_checks,
)
from lib.quality.split import in_scope
from lib.quality.suites import Suite, load_suites
from lib.quality.validate import ParentRows, validate_source
from lib.schemas import (
    CHARGEBACKS_SOURCE, ORDERS_SOURCE, SOURCE_SPECS, SOURCES, TRANSACTIONS_SOURCE, SourceSpec,
)
from lib.session import build_session
from lib.staging import StagedSource

PUBLISH_THREADS = 3
CLEAN_PARTITIONS = {"orders": "order_date", "transactions": "txn_date", "chargebacks": "chargeback_date"}


@contextlib.contextmanager
def phase(name: str):
    """Wall time of each phase, on stdout with the summary (stderr is for the one-line error of a
    run that stops): where a run spends its time, without a profiler."""
    started = time.perf_counter()
    yield
    print(f"pipeline: {name} took {time.perf_counter() - started:.1f}s", flush=True)


@dataclass(frozen=True)
class Reference:
    """What every source is validated and enriched with: suites, rates, reason codes."""
    suites: dict[str, Suite]
    suite_rules: dict[str, list[Rule]]
    parameters: dict
    daily_rates: DataFrame
    last_rate_date: dt.date
    first_rate_dates: dict[str, dt.date]
    reason_codes: DataFrame
    cross_source_actions: dict[str, str]


def parse_as_of(text: str | None) -> dt.datetime:
    """--as-of as a naive UTC datetime (the session's time zone is UTC); default now."""
    if text is None:
        return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None, microsecond=0)
    try:
        value = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UserError(f"--as-of {text!r} is not an ISO-8601 timestamp") from None
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="folder holding transactions*, orders*, chargebacks*")
    parser.add_argument("--warehouse", default="./warehouse", help="where the Delta tables go")
    parser.add_argument("--as-of", dest="as_of", help="ISO-8601 timestamp; default now (UTC)")
    parser.add_argument("--conf", default="conf/local.yaml", help="YAML settings file")
    parser.add_argument("--run-id", dest="run_id", help="default: a new UUID")
    return parser.parse_args(argv)


def load_reference(spark: SparkSession, settings: Settings, as_of: dt.datetime) -> Reference:
    suites = load_suites(settings.expectations, SOURCES)
    try:
        fx_rates = fx.read_fx_rates(spark, settings.fx_rates)
        reason_codes = fx.read_reason_codes(spark, settings.reason_codes)
    except ValueError as error:
        raise UserError(str(error)) from None
    rate_rows = fx_rates.collect()  # reference data: a few rows
    first_rate_dates: dict[str, dt.date] = {}
    for row in rate_rows:
        first_rate_dates[row.currency] = min(row.valid_from, first_rate_dates.get(row.currency, row.valid_from))
    last_rate_date = max([as_of.date()] + [r.valid_from for r in rate_rows])
    first_date = min(r.valid_from for r in rate_rows) if rate_rows else last_rate_date
    parameters = {"as_of": as_of, "fx_currencies": sorted(first_rate_dates)}
    return Reference(
        suites=suites,
        suite_rules={s: suite_rules(suites[s], parameters, in_scope()) for s in SOURCES},
        parameters=parameters,
        daily_rates=fx.daily_rates(fx_rates, first_date, last_rate_date),
        last_rate_date=last_rate_date,
        first_rate_dates=first_rate_dates,
        reason_codes=reason_codes,
        cross_source_actions=settings.cross_source_actions,
    )


def discover_inputs(spark: SparkSession, input_dir: str, settings: Settings) -> dict[str, list[str]]:
    """Every source's files, and shuffles sized to them. A missing source or a CSV file whose
    header is wrong stops the run here, before any job has read a row."""
    files = {s: storage.source_files(spark, input_dir, s) for s in SOURCES}
    for source, spec in SOURCE_SPECS.items():
        if spec.file_format == "csv":
            sources.check_csv_headers(spark, files[source])
    partitions = settings.shuffle_partitions or storage.shuffle_partitions_for(
        sum(storage.total_bytes(spark, f) for f in files.values()),
        spark.sparkContext.defaultParallelism,
    )
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    # Delta replays a table's log in this many tasks (default 50); every write and read of a
    # table pays it, and tables here have a log of a few commits. One task per core is plenty.
    spark.conf.set("spark.databricks.delta.snapshotPartitions",
                   str(min(50, max(1, spark.sparkContext.defaultParallelism))))
    return files


def validate_and_stage(
    spark: SparkSession,
    spec: SourceSpec,
    files: list[str],
    settings: Settings,
    reference: Reference,
    staging_root: str,
    parent: tuple[Parentage, StagedSource] | None = None,
) -> StagedSource:
    """One job: read the source, validate it (against its parent's staged rows), stage it."""
    raw, read = staging.read_counted(
        sources.read_source(spark, spec, files, settings.json_format), spec.name)
    parent_rows = None
    checks = []
    if parent is not None:
        parentage, parent_stage = parent
        parent_rows = ParentRows(parentage, parent_stage.rows(spark))
        checks = cross_source_checks(spec.name, reference.cross_source_actions, reference.first_rate_dates)
    validation = validate_source(raw, spec, reference.suite_rules[spec.name], parent_rows, checks)
    return staging.stage(validation, read, f"{staging_root}/{spec.name}")


def audit(spark: SparkSession, staged: dict[str, StagedSource], reference: Reference, data_docs_dir):
    """The nothing-lost invariant, Great Expectations and `fail` rules; raises RunAborted."""
    for source, stage in staged.items():
        n = stage.counts
        if not n.nothing_lost:
            raise RunAborted(f"{source}: rows read {n.rows_read} != valid {n.rows_valid} + "
                             f"quarantined {n.rows_quarantined} + duplicates {n.duplicates_dropped}")
    gx_frames = {}
    for source, stage in staged.items():
        rows = stage.rows(spark)
        measures = [c for c in rows.columns if c.startswith("items_")]
        gx_frames[source] = rows.where(in_scope()).select(*SOURCE_SPECS[source].columns, *measures)
    with phase("great expectations"):
        gx_results = gx_run.run_suites(gx_frames, reference.suites, reference.parameters, data_docs_dir)
    mismatches = [m for s in SOURCES for m in gx_run.compare_counts(gx_results[s], staged[s].counts.failing)]
    if mismatches:
        raise RunAborted("Great Expectations and the row split disagree: " + "; ".join(mismatches))
    failed = [f"{r.source}.{r.rule} ({r.expectation_type}: {r.unexpected_count} of "
              f"{r.element_count} rows unexpected)"
              for s in SOURCES for r in gx_results[s] if r.action == "fail" and not r.success]
    failed += [f"{s}.{c.name} ({stage.counts.failing[c.name]} rows)"
               for s, stage in staged.items() for c in stage.validation.cross_source_checks
               if c.action == "fail" and stage.counts.failing[c.name] > 0]
    if failed:
        raise RunAborted("fail rule(s) fired, nothing published: " + "; ".join(failed))
    return gx_results


def publish_tables(spark, args, run_id, as_of, staged: dict[str, StagedSource], gx_results,
                   reference: Reference) -> tuple[DataFrame, DataFrame]:
    """Write every table from the staged rows; return the two metric frames (cached: the
    summary reads them)."""
    daily, last_rate_date = reference.daily_rates, reference.last_rate_date
    rows = {s: staged[s].rows(spark) for s in SOURCES}
    clean = {
        "orders": tables.clean_orders(rows["orders"], daily, last_rate_date),
        "transactions": tables.clean_transactions(rows["transactions"], daily, last_rate_date),
        "chargebacks": tables.clean_chargebacks(rows["chargebacks"], daily, last_rate_date,
                                                reference.reason_codes),
    }
    quarantined_at = F.lit(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)).cast("timestamp")
    quarantine = None
    for source in SOURCES:
        quarantined = tables.quarantine_rows(rows[source], source, run_id, quarantined_at)
        quarantine = quarantined if quarantine is None else quarantine.unionByName(quarantined)
    dq_rows = [row for s in SOURCES
               for row in report.dq_result_rows(run_id, staged[s].validation, gx_results[s], staged[s].counts)]
    counts = {s: staged[s].counts for s in SOURCES}
    # A few hundred rows each (dates x methods): cached, so the summary does not recompute them.
    payment = metrics.payment_metrics(clean["transactions"]).persist()
    chargeback = metrics.chargeback_metrics(clean["transactions"], clean["chargebacks"]).persist()
    warehouse = args.warehouse
    writes = [
        *[lambda s=s: publish.overwrite(clean[s], publish.table_path(warehouse, s), [CLEAN_PARTITIONS[s]])
          for s in clean],
        lambda: publish.overwrite(quarantine, publish.table_path(warehouse, "quarantine"), ["source"]),
        lambda: publish.replace_run(spark, report.dq_results_frame(spark, dq_rows),
                                    publish.table_path(warehouse, "dq_results"), run_id, ["source"]),
        lambda: publish.replace_run(spark, report.run_log_frame(spark, run_id, as_of, counts),
                                    publish.table_path(warehouse, "run_log"), run_id, ["source"]),
        lambda: publish.overwrite(payment, publish.table_path(warehouse, "payment_metrics"),
                                  ["txn_date", "payment_method"]),
        lambda: publish.overwrite(chargeback, publish.table_path(warehouse, "chargeback_metrics"),
                                  ["txn_date", "payment_method"]),
    ]
    # The tables are independent and each write ends in a one-task stage and a driver-side Delta
    # commit: a few at a time keep both cores busy. Every write is attempted; the first error is
    # raised after all have finished, so no write is left half-way when the run reports failure.
    with ThreadPoolExecutor(max_workers=PUBLISH_THREADS) as pool:
        for outcome in [pool.submit(write) for write in writes]:
            outcome.result()
    return payment, chargeback


def run(args: argparse.Namespace, spark: SparkSession | None = None) -> str:
    as_of = parse_as_of(args.as_of)
    settings = load_settings(args.conf)
    run_id = args.run_id or str(uuid.uuid4())
    spark = spark or build_session("chargeback-pipeline")
    reference = load_reference(spark, settings, as_of)
    files = discover_inputs(spark, args.input, settings)
    staging_root = staging.staging_path(args.warehouse, run_id)

    def stage(spec: SourceSpec, parent: tuple[Parentage, StagedSource] | None = None) -> StagedSource:
        with phase(f"validate {spec.name}"):
            return validate_and_stage(spark, spec, files[spec.name], settings, reference,
                                      staging_root, parent)

    try:
        orders = stage(ORDERS_SOURCE)
        transactions = stage(TRANSACTIONS_SOURCE, (ORDER_OF_TRANSACTION, orders))
        chargebacks = stage(CHARGEBACKS_SOURCE, (TRANSACTION_OF_CHARGEBACK, transactions))
        staged = {s.source: s for s in (orders, transactions, chargebacks)}
        data_docs_dir = None
        if settings.data_docs and "://" not in args.warehouse and not args.warehouse.startswith("dbfs:"):
            # GX's file store wants an absolute folder; data docs are local files only.
            data_docs_dir = os.path.abspath(publish.table_path(args.warehouse, settings.data_docs))
        gx_results = audit(spark, staged, reference, data_docs_dir)
        with phase("publish"):
            payment, chargeback = publish_tables(spark, args, run_id, as_of, staged, gx_results, reference)
        summary = report.summary_text(args.warehouse, {s: staged[s].counts for s in SOURCES},
                                      report.headline_kpis(payment, chargeback))
        payment.unpersist()
        chargeback.unpersist()
    finally:
        staging.remove(spark, staging_root)
    return summary


def main(argv: list[str] | None = None, spark: SparkSession | None = None) -> int:
    args = parse_args(argv)
    try:
        print(run(args, spark))
    except UserError as error:
        print(f"pipeline: {error}", file=sys.stderr)
        return 2
    except RunAborted as error:
        print(f"pipeline: run aborted: {error}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
