"""The chargeback pipeline: read -> validate -> quarantine -> publish -> metrics -> summary.

spark-submit.sh jobs/pipeline.py --input DIR --warehouse DIR [--as-of TS] [--conf FILE]

Write, audit, publish: every source is validated (and Great Expectations has checked it) before
the first table is written; a `fail` rule or a broken invariant stops the run with nothing
published. Exit status: 0 published, 2 bad input or arguments, 3 aborted by a rule.
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

from pyspark import StorageLevel
from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from lib import fx, metrics, publish, report, sources, storage, tables
from lib.config import Settings, load_settings
from lib.errors import RunAborted, UserError
from lib.quality import gx_run, referential
from lib.quality.split import rule_counts
from lib.quality.suites import load_suites
from lib.quality.validate import Validation, validate_source
from lib.schemas import SOURCE_SPECS, SOURCES
from lib.session import build_session

@contextlib.contextmanager
def phase(name: str):
    """Wall time of each phase on stderr: where a run spends its time, without a profiler."""
    started = time.perf_counter()
    yield
    print(f"pipeline: {name} took {time.perf_counter() - started:.1f}s", file=sys.stderr)


@dataclass(frozen=True)
class RunInputs:
    """What validation was set up with, and what publishing needs of it again."""
    suites: dict
    parameters: dict
    daily_rates: DataFrame
    last_rate_date: dt.date


PUBLISH_THREADS = 3
CLEAN_PARTITIONS = {"orders": "order_date", "transactions": "txn_date", "chargebacks": "chargeback_date"}


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


def _validate_all(
    spark: SparkSession, args: argparse.Namespace, settings: Settings, as_of: dt.datetime
) -> tuple[dict[str, Validation], dict[str, Observation], RunInputs]:
    suites = load_suites(settings.expectations, SOURCES)
    try:
        fx_rates = fx.read_fx_rates(spark, settings.fx_rates)
        reason_codes = fx.read_reason_codes(spark, settings.reason_codes)
    except ValueError as error:
        raise UserError(str(error)) from None
    rate_rows = fx_rates.collect()  # reference data: a few rows
    last_rate_date = max([as_of.date()] + [r.valid_from for r in rate_rows])
    daily = fx.daily_rates(fx_rates, min(r.valid_from for r in rate_rows), last_rate_date)
    parameters = {"as_of": as_of, "fx_currencies": sorted({r.currency for r in rate_rows})}
    files = {s: storage.source_files(spark, args.input, s) for s in SOURCES}
    partitions = settings.shuffle_partitions or storage.shuffle_partitions_for(
        sum(storage.total_bytes(spark, f) for f in files.values()),
        spark.sparkContext.defaultParallelism,
    )
    spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
    # Delta replays a table's log in this many tasks (default 50); every write and read of a
    # table pays it, and tables here have a log of a few commits. One task per core is plenty.
    spark.conf.set("spark.databricks.delta.snapshotPartitions",
                   str(min(50, max(1, spark.sparkContext.defaultParallelism))))
    actions = settings.cross_source_actions

    validations: dict[str, Validation] = {}
    observations: dict[str, Observation] = {}
    cross_source = {
        "orders": None,
        "transactions": lambda rows: referential.check_transactions(
            rows, validations["orders"].rows, daily, last_rate_date, actions),
        "chargebacks": lambda rows: referential.check_chargebacks(
            rows, validations["transactions"].rows, daily, last_rate_date, reason_codes, actions),
    }
    for source in SOURCES:  # parents first: children are checked against their valid rows
        spec = SOURCE_SPECS[source]
        observations[source] = Observation(f"{source}_read")
        raw = (
            sources.read_source(spark, spec, files[source], settings.json_format)
            .observe(observations[source], F.count(F.lit(1)).alias("rows_read"))
        )
        validation = validate_source(raw, spec, suites[source], parameters, cross_source[source])
        validation.rows.persist(StorageLevel.MEMORY_AND_DISK)
        validations[source] = validation
    return validations, observations, RunInputs(suites, parameters, daily, last_rate_date)


def _audit(validations, observations, inputs: RunInputs, data_docs_dir):
    """Counts, Great Expectations, `fail` rules and the nothing-lost invariant; raises RunAborted."""
    with phase("validate (read, split, cache)"):
        counts = {s: rule_counts(v.rows, v.rule_names) for s, v in validations.items()}
    invariants = {}
    for source, n in counts.items():
        rows_read = int(observations[source].get["rows_read"])
        invariants[source] = {
            "rows_read": rows_read,
            "rows_valid": n["rows_valid"],
            "rows_quarantined": n["rows_quarantined"],
            "duplicates_dropped": n["duplicates_dropped"],
        }
        if rows_read != n["rows_valid"] + n["rows_quarantined"] + n["duplicates_dropped"]:
            raise RunAborted(f"{source}: rows read {rows_read} != valid {n['rows_valid']} + "
                             f"quarantined {n['rows_quarantined']} + duplicates {n['duplicates_dropped']}")
    gx_frames = {}
    for source, validation in validations.items():
        spec = SOURCE_SPECS[source]
        measures = [c for c in validation.rows.columns if c.startswith("items_")]
        gx_frames[source] = validation.gx_frame(list(spec.columns) + measures)
    with phase("great expectations"):
        gx_results = gx_run.run_suites(gx_frames, inputs.suites, inputs.parameters, data_docs_dir)
    mismatches = [m for s in SOURCES for m in gx_run.compare_counts(
        gx_results[s], {k[5:]: v for k, v in counts[s].items() if k.startswith("rule:")})]
    if mismatches:
        raise RunAborted("Great Expectations and the row split disagree: " + "; ".join(mismatches))
    failed = [f"{r.source}.{r.rule} ({r.expectation_type}: {r.unexpected_count} of "
              f"{r.element_count} rows unexpected)"
              for s in SOURCES for r in gx_results[s] if r.action == "fail" and not r.success]
    failed += [f"{s}.{c.name} ({counts[s]['rule:' + c.name]} rows)"
               for s, v in validations.items() for c in v.cross_source_checks
               if c.action == "fail" and counts[s]["rule:" + c.name] > 0]
    if failed:
        raise RunAborted("fail rule(s) fired, nothing published: " + "; ".join(failed))
    return counts, invariants, gx_results


def _publish(spark, args, run_id, as_of, validations, counts, invariants, gx_results,
             inputs: RunInputs) -> tuple[DataFrame, DataFrame]:
    """Write every table; return the two metric frames (cached: the summary reads them)."""
    daily, last_rate_date = inputs.daily_rates, inputs.last_rate_date
    warehouse = args.warehouse
    clean = {
        "orders": tables.clean_orders(validations["orders"].rows, daily, last_rate_date),
        "transactions": tables.clean_transactions(validations["transactions"].rows),
        "chargebacks": tables.clean_chargebacks(validations["chargebacks"].rows),
    }
    quarantined_at = F.lit(dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)).cast("timestamp")
    quarantine: DataFrame | None = None
    for source, validation in validations.items():
        rows = tables.quarantine_rows(validation.rows, source, run_id, quarantined_at)
        quarantine = rows if quarantine is None else quarantine.unionByName(rows)
    dq_rows = [row for s in SOURCES for row in report.dq_result_rows(run_id, validations[s], gx_results[s], counts[s])]
    # A few hundred rows each (dates x methods): cached, so the summary does not recompute them.
    payment = metrics.payment_metrics(clean["transactions"]).persist()
    chargeback = metrics.chargeback_metrics(clean["transactions"], clean["chargebacks"]).persist()
    writes = [
        *[lambda s=s: publish.overwrite(clean[s], publish.table_path(warehouse, s), [CLEAN_PARTITIONS[s]])
          for s in clean],
        lambda: publish.overwrite(quarantine, publish.table_path(warehouse, "quarantine"), ["source"]),
        lambda: publish.replace_run(spark, report.dq_results_frame(spark, dq_rows),
                                    publish.table_path(warehouse, "dq_results"), run_id, ["source"]),
        lambda: publish.replace_run(spark, report.run_log_frame(spark, run_id, as_of, invariants),
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
    validations, observations, inputs = _validate_all(spark, args, settings, as_of)
    try:
        docs = settings.data_docs
        data_docs_dir = None
        if docs and "://" not in args.warehouse and not args.warehouse.startswith("dbfs:"):
            # GX's file store wants an absolute folder; data docs are local files only.
            data_docs_dir = os.path.abspath(publish.table_path(args.warehouse, docs))
        counts, invariants, gx_results = _audit(validations, observations, inputs, data_docs_dir)
        with phase("publish"):
            payment, chargeback = _publish(spark, args, run_id, as_of, validations, counts,
                                           invariants, gx_results, inputs)
        summary = report.summary_text(args.warehouse, invariants,
                                      report.headline_kpis(payment, chargeback))
        payment.unpersist()
        chargeback.unpersist()
    finally:
        for validation in validations.values():
            validation.rows.unpersist()
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
