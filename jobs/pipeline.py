"""The chargeback pipeline: read -> validate -> stage -> audit -> publish -> metrics -> summary.

spark-submit.sh jobs/pipeline.py --input DIR --warehouse DIR [--as-of TS] [--conf FILE]

Write, audit, publish: every source is validated and staged (with its counts) before the first
table is written; a `fail` rule or a broken invariant stops the run with nothing published.
Parents come first: orders, then transactions against the orders, then chargebacks against the
transactions. Exit status: 0 published, 2 bad input or arguments, 3 aborted by a rule, 4 another
run holds the warehouse's lock (lib/lock.py).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import importlib
import os
import sys
import threading
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from py4j.protocol import Py4JJavaError
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lib import console, faults, fx, lock, metrics, publish, report, run_settings, sources, staging, storage, tables
from lib.config import Settings, load_settings
from lib.errors import RunAborted, UserError
from lib.quality import gx_audit, gx_results
from lib.quality.gx_results import DataDocs, RuleResult
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
from lib.report_data import RunFacts
from lib.run_report import write_run_report
from lib.session import build_session
from lib.staging import StagedSource

PUBLISH_THREADS = 4
CLEAN_PARTITIONS = {"orders": "order_date", "transactions": "txn_date", "chargebacks": "chargeback_date"}


def stage(name: str):
    """A line as a stage starts and one as it ends, with its time, on stdout with the summary:
    stderr is kept for the one-line error of a run that stops."""
    return console.stage(name, stream=sys.stdout)


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


class ArgumentParser(argparse.ArgumentParser):
    """argparse's own error() prints a usage line, then the error, and exits 2: a mistake in the
    arguments is one line like every other user mistake (main prints it, exit 2)."""

    def error(self, message: str):
        raise UserError(f"{message} (--help lists the options)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = ArgumentParser(prog="pipeline", description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="folder holding transactions*, orders*, chargebacks*")
    parser.add_argument("--warehouse", default="./warehouse", help="where the Delta tables go")
    parser.add_argument("--as-of", dest="as_of", help="ISO-8601 timestamp; default now (UTC)")
    parser.add_argument("--conf", default="conf/local.yaml", help="YAML settings file")
    parser.add_argument("--run-id", dest="run_id", help="default: a new UUID")
    parser.add_argument("--gx-audit", dest="gx_audit", action="store_true",
                        help="also validate with Great Expectations' own engine; stop (exit 3, "
                             "nothing published) if any count differs from the compiled rules'")
    return parser.parse_args(argv)


def check_local_paths(input_dir: str, warehouse: str) -> None:
    """Mistakes a look at the local disk shows, before a SparkSession is started for nothing.
    Other file systems are checked by their first listing (lib/storage.py)."""
    local_input = storage.local_path(input_dir)
    if local_input is not None and not local_input.is_dir():
        raise UserError(f"--input {input_dir} is a file, not a folder" if local_input.exists()
                        else f"--input {input_dir}: no such folder")
    local_warehouse = storage.local_path(warehouse)
    if local_warehouse is not None and local_warehouse.exists() and not local_warehouse.is_dir():
        raise UserError(f"--warehouse {warehouse} is a file, not a folder")


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


def discover_inputs(spark: SparkSession, input_dir: str) -> dict[str, list[str]]:
    """Every source's files. A missing source or a CSV file whose header is wrong stops the run
    here, before any job has read a row."""
    files = {s: storage.source_files(spark, input_dir, s) for s in SOURCES}
    for source, spec in SOURCE_SPECS.items():
        if spec.file_format == "csv":
            sources.check_csv_headers(spark, files[source])
    return files


def settings_for(spark: SparkSession, files: dict[str, list[str]], settings: Settings) -> dict[str, str]:
    """The session settings this run's input calls for (shuffle width, interpreted evaluation)."""
    return run_settings.sized_for(sum(storage.total_bytes(spark, f) for f in files.values()),
                                  spark.sparkContext.defaultParallelism, settings.shuffle_partitions)


def validate_and_stage(
    spark: SparkSession,
    spec: SourceSpec,
    files: list[str],
    settings: Settings,
    reference: Reference,
    staging_root: str,
    parent: tuple[Parentage, StagedSource] | None = None,
    fault_point: str | None = None,
) -> StagedSource:
    """One job: read the source, validate it (against its parent's staged rows), stage it.
    `fault_point` names the fault-injection point that dies inside that job (lib/faults.py)."""
    raw, read = staging.read_counted(
        sources.read_source(spark, spec, files, settings.json_format), spec.name)
    parent_rows = None
    checks = []
    if parent is not None:
        parentage, parent_stage = parent
        parent_rows = ParentRows(parentage, parent_stage.rows(spark))
        checks = cross_source_checks(spec.name, reference.cross_source_actions, reference.first_rate_dates)
    validation = validate_source(raw, spec, reference.suite_rules[spec.name], parent_rows, checks)
    if fault_point:
        validation = dataclasses.replace(validation, rows=faults.during(validation.rows, fault_point))
    split = storage.split_bytes_for(storage.file_sizes(spark, files), spark.sparkContext.defaultParallelism)
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(split))
    try:
        return staging.stage(validation, read, f"{staging_root}/{spec.name}")
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")


def audit(spark: SparkSession, staged: dict[str, StagedSource], reference: Reference,
          run_id: str, run_time: dt.datetime, gx_engine: bool) -> dict[str, list[RuleResult]]:
    """The nothing-lost invariant, `fail` rules and, with --gx-audit, Great Expectations' engine
    against the compiled counts; raises RunAborted. Returns each suite's results (dq_results)."""
    for source, stage_ in staged.items():
        n = stage_.counts
        if not n.nothing_lost:
            raise RunAborted(f"{source}: rows read {n.rows_read} != valid {n.rows_valid} + "
                             f"quarantined {n.rows_quarantined} + duplicates {n.duplicates_dropped}")
    results = {s: gx_results.compiled_rule_results(s, reference.suite_rules[s], staged[s].counts.suite)
               for s in SOURCES}
    if gx_engine:
        with stage("great expectations audit (its own engine)"):
            differences = gx_audit.audit(
                {s: in_scope_rows(spark, staged[s]) for s in SOURCES}, reference.suites,
                reference.parameters, suite_results(staged, reference, run_id, run_time))
        if differences:
            raise RunAborted("Great Expectations' engine and the compiled rules disagree: "
                             + "; ".join(differences))
    failed = [f"{r.source}.{r.rule} ({r.expectation_type}: {r.unexpected_count} of "
              f"{r.element_count} rows unexpected)"
              for s in SOURCES for r in results[s] if r.action == "fail" and not r.success]
    failed += [f"{s}.{c.name} ({stage_.counts.failing[c.name]} rows)"
               for s, stage_ in staged.items() for c in stage_.validation.cross_source_checks
               if c.action == "fail" and stage_.counts.failing[c.name] > 0]
    if failed:
        raise RunAborted("fail rule(s) fired, nothing published: " + "; ".join(failed))
    return results


def in_scope_rows(spark: SparkSession, staged: StagedSource) -> DataFrame:
    """The staged rows Great Expectations validates (the reader typed them), its columns only."""
    rows = staged.rows(spark)
    measures = [c for c in rows.columns if c.startswith("items_")]
    return rows.where(in_scope()).select(*SOURCE_SPECS[staged.source].columns, *measures)


def suite_results(staged: dict[str, StagedSource], reference: Reference, run_id: str,
                  run_time: dt.datetime) -> dict:
    """Great Expectations' result objects of every suite, built from the compiled counts."""
    return {s: gx_results.suite_result(reference.suites[s], reference.suite_rules[s],
                                       staged[s].counts.suite, run_id, run_time) for s in SOURCES}


def publish_tables(spark, args, run_id, as_of, run_time: dt.datetime, staged: dict[str, StagedSource],
                   results: dict[str, list[RuleResult]], reference: Reference) -> tuple[DataFrame, DataFrame]:
    """Write every table from the staged rows; return the two metric frames (cached: the
    summary reads them).

    run_log says `publishing` for this run before the first table is written and `completed`,
    with the version each table was published at, after the last one: a run that dies on the
    way is never taken for a complete one."""
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
               for row in report.dq_result_rows(run_id, staged[s].validation, results[s], staged[s].counts)]
    counts = {s: staged[s].counts for s in SOURCES}
    # A few hundred rows each (dates x methods): cached, so the summary does not recompute them.
    metric_input = faults.during(clean["transactions"], "metrics")
    payment = metrics.payment_metrics(metric_input).persist()
    chargeback = metrics.chargeback_metrics(metric_input, clean["chargebacks"]).persist()
    warehouse = args.warehouse
    started_at = run_time.replace(tzinfo=None)

    def log_run(table_versions: dict[str, int] | None) -> int:
        frame = report.run_log_frame(spark, run_id, as_of, counts, started_at, table_versions)
        if table_versions is not None:
            frame = faults.during(frame, "publish:run_log")
        return publish.replace_run(spark, frame, publish.table_path(warehouse, "run_log"), run_id, ["source"])

    def overwrite(name: str, frame: DataFrame, partition_by: list[str], small: bool) -> int:
        return publish.overwrite(faults.during(frame, f"publish:{name}"), publish.table_path(warehouse, name),
                                 partition_by, run_id, small)

    quarantined_rows = sum(counts[s].rows_quarantined for s in SOURCES)
    writes = {
        **{s: lambda s=s: overwrite(s, clean[s], [CLEAN_PARTITIONS[s]], publish.is_small(counts[s].rows_valid))
           for s in clean},
        "quarantine": lambda: overwrite("quarantine", quarantine, ["source"], publish.is_small(quarantined_rows)),
        "dq_results": lambda: publish.replace_run(
            spark, faults.during(report.dq_results_frame(spark, dq_rows), "publish:dq_results"),
            publish.table_path(warehouse, "dq_results"), run_id, ["source"]),
        # dates x payment methods: a few hundred rows at any input size
        "payment_metrics": lambda: overwrite("payment_metrics", payment, ["txn_date", "payment_method"], True),
        "chargeback_metrics": lambda: overwrite("chargeback_metrics", chargeback,
                                                ["txn_date", "payment_method"], True),
    }
    log_run(None)
    # The tables are independent and each write ends in a one-task stage and a driver-side Delta
    # commit: a few at a time keep both cores busy. Every write is attempted; the first error is
    # raised after all have finished, so no write is left half-way when the run reports failure.
    with ThreadPoolExecutor(max_workers=PUBLISH_THREADS) as pool:
        outcomes = {name: pool.submit(write) for name, write in writes.items()}
        versions = {name: outcome.result() for name, outcome in outcomes.items()}
    log_run(versions)
    return payment, chargeback


def run(args: argparse.Namespace, spark: SparkSession | None = None) -> str:
    as_of = parse_as_of(args.as_of)
    settings = load_settings(args.conf)
    check_local_paths(args.input, args.warehouse)
    run_id = args.run_id or str(uuid.uuid4())
    run_time = dt.datetime.now(dt.timezone.utc)
    data_docs_dir = _data_docs_dir(args.warehouse, settings)
    if data_docs_dir or args.gx_audit:
        # Importing Great Expectations takes seconds of Python: done beside the JVM's start-up
        # and the first jobs, it is ready when the data docs are built.
        threading.Thread(target=importlib.import_module, args=("great_expectations",),
                         daemon=True).start()
    # Spark's progress bar only where a person watches: a terminal (a cluster-mode driver's
    # stderr is a log file).
    spark = spark or build_session("chargeback-pipeline", conf=console.progress_bar_conf(
        console.wants_progress_bar(sys.stderr.isatty())))
    # A missing source is found by listing files, before the first Spark job (fx rates) runs.
    files = discover_inputs(spark, args.input)
    reference = load_reference(spark, settings, as_of)
    run_conf = settings_for(spark, files, settings)
    # One run at a time per warehouse; a second one stops here (exit 4), before reading a row.
    held = lock.acquire(spark, args.warehouse, run_id)
    staging_root = staging.staging_path(args.warehouse, run_id)

    def validated(spec: SourceSpec, parent: tuple[Parentage, StagedSource] | None = None,
                  fault_point: str | None = None) -> StagedSource:
        with stage(f"validate {spec.name}"):
            return validate_and_stage(spark, spec, files[spec.name], settings, reference,
                                      staging_root, parent, fault_point)

    restore_settings = run_settings.apply(spark, run_conf)
    try:
        if held.taken_over:
            print(f"took over the stale lock of {held.taken_over.describe()}: it is no longer running")
        # Holding the lock, no other run is alive: staged rows left here are a dead run's.
        staging.remove(spark, staging.staging_path(args.warehouse))
        try:
            orders = validated(ORDERS_SOURCE, fault_point="reading")
            transactions = validated(TRANSACTIONS_SOURCE, (ORDER_OF_TRANSACTION, orders))
            chargebacks = validated(CHARGEBACKS_SOURCE, (TRANSACTION_OF_CHARGEBACK, transactions))
        except Py4JJavaError as error:
            # An input file Spark could not read to its end (a truncated gzip): the user's to fix.
            unreadable = storage.unreadable_file(error)
            if unreadable is None:
                raise
            raise unreadable from None
        staged = {s.source: s for s in (orders, transactions, chargebacks)}
        faults.point("validated")
        with ThreadPoolExecutor(max_workers=1) as background:
            # The data docs show why a `fail` rule stopped a run too, so they are built from the
            # counts before the audit can stop it, in the background while the tables publish.
            data_docs: Future | None = None
            if data_docs_dir:
                data_docs = background.submit(
                    lambda: gx_results.build_data_docs(
                        suite_results(staged, reference, run_id, run_time), reference.suites,
                        data_docs_dir))
            try:
                results = audit(spark, staged, reference, run_id, run_time, args.gx_audit)
            except RunAborted:
                if data_docs:
                    data_docs.result()
                raise
            with stage("publish"):
                payment, chargeback = publish_tables(spark, args, run_id, as_of, run_time, staged,
                                                     results, reference)
            docs = data_docs.result() if data_docs else None
        summary = report.summary_text(args.warehouse, {s: staged[s].counts for s in SOURCES},
                                      report.headline_kpis(payment, chargeback))
        payment.unpersist()
        chargeback.unpersist()
        with stage("report"):
            run_report = write_run_report(spark, args.warehouse, RunFacts(
                run_id=run_id, as_of=as_of, inputs=tuple(f for s in SOURCES for f in files[s]),
                mode="full", data_docs=_validation_pages(docs)))
    finally:
        staging.remove(spark, staging_root)
        restore_settings()
        lock.release(spark, held)
    return console.closing_text(summary, run_report.data.rule_counts, run_report.path,
                                docs.index if docs else None)


def _data_docs_dir(warehouse: str, settings: Settings) -> str | None:
    """GX's file store wants an absolute local folder: data docs are local files only."""
    if not settings.data_docs or "://" in warehouse or warehouse.startswith("dbfs:"):
        return None
    return os.path.abspath(publish.table_path(warehouse, settings.data_docs))


def _validation_pages(docs: DataDocs | None) -> tuple[tuple[str, str], ...]:
    return tuple(docs.validations.items()) if docs else ()


def main(argv: list[str] | None = None, spark: SparkSession | None = None) -> int:
    try:
        print(run(parse_args(argv), spark))
    except UserError as error:
        print(f"pipeline: {error}", file=sys.stderr)
        return 2
    except RunAborted as error:
        print(f"pipeline: run aborted: {error}", file=sys.stderr)
        return 3
    except lock.WarehouseLocked as error:
        print(f"pipeline: {error}", file=sys.stderr)
        return 4
    return 0


if __name__ == "__main__":
    sys.exit(main())
