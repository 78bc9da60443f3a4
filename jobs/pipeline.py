"""The chargeback pipeline: read -> validate -> stage -> audit -> publish -> metrics -> summary.

spark-submit.sh jobs/pipeline.py --input DIR --warehouse DIR [--as-of TS] [--conf FILE]
    [--mode full|incremental] [--gx-audit] [--run-id ID]

Write, audit, publish: every source is validated and staged (with its counts) before the first
table is written; a `fail` rule or a broken invariant stops the run with nothing published.
Parents come first: orders, then transactions against the orders, then chargebacks against the
transactions. `--mode incremental` reads only the files no earlier run read, and validates them
with the earlier versions their keys touch (lib/incremental.py). Exit status: 0 published, 2 bad input or arguments, 3 aborted by a rule, 4 another
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

from py4j.protocol import Py4JJavaError
from pyspark.sql import DataFrame, SparkSession

from lib import console, faults, fx, incremental, lock, publish, report, run_settings, sources, staging, storage
from lib.config import Settings, load_settings
from lib.errors import RunAborted, UserError
from lib.incremental import KeyState, Plan
from lib.publishing import Enrichment, publish_run
from lib.quality import gx_audit, gx_results
from lib.quality.gx_results import DataDocs, RuleResult
from lib.quality.predicates import Rule, suite_rules
from lib.quality.referential import (
    ORDER_OF_TRANSACTION, TRANSACTION_OF_CHARGEBACK, Parentage, cross_source_checks,
)
from lib.quality.split import in_scope
from lib.quality.suites import Suite, load_suites
from lib.quality.validate import ParentRows, validate_source
from lib.report import RunRecord
from lib.schemas import (
    CHARGEBACKS_SOURCE, ORDERS_SOURCE, SOURCE_SPECS, SOURCES, TRANSACTIONS_SOURCE, SourceSpec,
)
from lib.report_data import RunFacts
from lib.run_report import write_run_report
from lib.session import build_session
from lib.staging import StagedSource

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
    fingerprint: str  # of all the above: a change makes the next incremental run a full one

    @property
    def enrichment(self) -> Enrichment:
        return Enrichment(self.daily_rates, self.last_rate_date, self.reason_codes)


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
    parser.add_argument("--mode", choices=incremental.MODES, default=incremental.FULL,
                        help="full: read every file and rebuild every table (default); "
                             "incremental: read only the files no earlier run read")
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
        fingerprint=incremental.reference_fingerprint(
            rate_rows, reason_codes.collect(), suites, settings.cross_source_actions),
    )


def discover_inputs(spark: SparkSession, input_dir: str) -> dict[str, list[str]]:
    """Every source's files. A missing source stops the run here, before any job has run."""
    return {s: storage.source_files(spark, input_dir, s) for s in SOURCES}


def check_headers(spark: SparkSession, files: dict[str, list[str]]) -> None:
    """A CSV file this run reads whose header is wrong stops it before any job reads a row. An
    incremental run checks its new files only: the others were checked when they were read (a
    file's first bytes each, but a raw zone gains files every day)."""
    for source, spec in SOURCE_SPECS.items():
        if spec.file_format == "csv":
            sources.check_csv_headers(spark, files[source])


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
    key_state: KeyState | None = None,
    fault_point: str | None = None,
) -> StagedSource:
    """One job: read the source, validate it (against its parent's staged rows), stage it.
    An incremental run (`key_state`) validates the new rows with the earlier versions of every
    key they touch, against the parent's rows as this run leaves them.
    `fault_point` names the fault-injection point that dies inside that job (lib/faults.py)."""
    # Read tasks sized to what the job reads: the new files, and in an incremental run the key
    # state it looks earlier versions up in (GBs beside a day's MBs).
    sizes = storage.file_sizes(spark, files)
    if key_state is not None:
        sizes.update(key_state.state_sizes(spec, None if parent is None else parent[0].parent))
    spark.conf.set("spark.sql.files.maxPartitionBytes",
                   str(storage.split_bytes_for(sizes, spark.sparkContext.defaultParallelism)))
    try:
        fresh = sources.read_source(spark, spec, files, settings.json_format)
        if key_state is not None:
            # The new rows are read by the touched keys' job and the staging job: parsed once.
            fresh = staging.materialized(spark, fresh, f"{staging_root}/_new/{spec.name}")
        # `read` counts the rows of the staging job, the one job that may read `raw`: a row
        # count observed by another query first (a collect of the months the rows name) would
        # be that query's.
        raw, read = staging.read_counted(fresh, spec.name)
        children = raw  # the rows whose parents are looked up: in a full run, in the staging job
        parent_rows = None
        checks = []
        earlier_path = None
        if key_state is not None:
            # Each read by two or three jobs (the months, the earlier versions, the staging, the
            # parent rows the validated rows name, the quarantine's MERGE): computed once.
            touched = staging.materialized(spark, key_state.touched_keys(
                spec, fresh, None if parent is None
                else (parent[0], parent[1].rows(spark), parent[1].earlier_rows(spark))),
                f"{staging_root}/_touched/{spec.name}")
            earlier_path = f"{staging_root}/_earlier/{spec.name}"
            earlier = staging.materialized(spark, key_state.earlier_versions(spec, touched), earlier_path)
            raw = key_state.rows_to_validate(spec, raw, earlier)
            children = key_state.rows_to_validate(spec, fresh, earlier)  # not observed
        if parent is not None:
            parentage, parent_stage = parent
            rows = parent_stage.rows(spark)
            if key_state is not None:
                rows = key_state.parent_rows_after(parentage, rows, children)
            parent_rows = ParentRows(parentage, rows)
            checks = cross_source_checks(spec.name, reference.cross_source_actions, reference.first_rate_dates)
        validation = validate_source(raw, spec, reference.suite_rules[spec.name], parent_rows, checks)
        if fault_point:
            validation = dataclasses.replace(validation, rows=faults.during(validation.rows, fault_point))
        return dataclasses.replace(staging.stage(validation, read, f"{staging_root}/{spec.name}"),
                                   earlier_path=earlier_path)
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
    if args.mode == incremental.INCREMENTAL:
        threading.Thread(target=incremental.preload, args=(spark, args.warehouse), daemon=True).start()
    # A missing source is found by listing files, before the first Spark job (fx rates) runs.
    files = discover_inputs(spark, args.input)
    reference = load_reference(spark, settings, as_of)
    # One run at a time per warehouse; a second one stops here (exit 4), before reading a row.
    held = lock.acquire(spark, args.warehouse, run_id)
    staging_root = staging.staging_path(args.warehouse, run_id)
    try:
        if held.taken_over:
            print(f"took over the stale lock of {held.taken_over.describe()}: it is no longer running")
        # Holding the lock, no other run is alive: staged rows left here are a dead run's.
        staging.remove(spark, staging.staging_path(args.warehouse))
        # Sized to the whole raw zone, in either mode: an incremental run reads the new files
        # but also the warehouse's key state, which grows with every file ever read.
        restore_settings = run_settings.apply(spark, settings_for(spark, files, settings))
        try:
            plan = incremental.plan(spark, args.warehouse, args.mode, files, as_of,
                                    reference.fingerprint, reference.suites)
            check_headers(spark, plan.files)
            if plan.rebuild_reason:
                print(f"--mode incremental: {plan.rebuild_reason}")
            elif plan.incremental:
                print(f"incremental run: {len(plan.new_files)} new file(s)")
            staged, docs = validate_and_publish(spark, args, settings, reference, plan, run_id,
                                                as_of, run_time, data_docs_dir, staging_root)
            summary = report.summary_text(args.warehouse, {s: staged[s].counts for s in SOURCES},
                                          report.headline_kpis(*_metric_tables(spark, args.warehouse)))
            with stage("report"):
                run_report = write_run_report(spark, args.warehouse, RunFacts(
                    run_id=run_id, as_of=as_of, inputs=tuple(f for s in SOURCES for f in plan.files[s]),
                    mode=plan.mode, data_docs=_validation_pages(docs)))
        finally:
            restore_settings()
    finally:
        staging.remove(spark, staging_root)
        lock.release(spark, held)
    return console.closing_text(summary, run_report.data.rule_counts, run_report.path,
                                docs.index if docs else None)


def validate_and_publish(spark: SparkSession, args: argparse.Namespace, settings: Settings,
                         reference: Reference, plan: Plan, run_id: str, as_of: dt.datetime,
                         run_time: dt.datetime, data_docs_dir: str | None,
                         staging_root: str) -> tuple[dict[str, StagedSource], DataDocs | None]:
    """Validate and stage every source, parents first; audit; publish. Returns the staged
    sources (their counts) and the data docs."""
    key_state = (KeyState(spark, args.warehouse, plan.recheck_rules, plan.lone_null_keys,
                          plan.recheck_from, broadcast=incremental.small_increment(plan))
                 if plan.incremental else None)

    def validated(spec: SourceSpec, parent: tuple[Parentage, StagedSource] | None = None,
                  fault_point: str | None = None) -> StagedSource:
        with stage(f"validate {spec.name}"):
            return validate_and_stage(spark, spec, plan.files[spec.name], settings, reference,
                                      staging_root, parent, key_state, fault_point)

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
            dq_rows = [row for s in SOURCES for row in report.dq_result_rows(
                run_id, staged[s].validation, results[s], staged[s].counts)]
            record = RunRecord(run_id, as_of, run_time.replace(tzinfo=None), plan.mode, plan.files,
                               reference.fingerprint)
            publish_run(spark, args.warehouse, record, plan, staged, dq_rows, reference.enrichment)
        docs = data_docs.result() if data_docs else None
    return staged, docs


def _metric_tables(spark: SparkSession, warehouse: str) -> tuple[DataFrame, DataFrame]:
    return tuple(spark.read.format("delta").load(publish.table_path(warehouse, name))
                 for name in ("payment_metrics", "chargeback_metrics"))


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
