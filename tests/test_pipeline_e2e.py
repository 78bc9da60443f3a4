"""The published tables, read back: end to end through spark-submit.sh on generated data, exact
values on the hand-made tiny raw zone, rerun idempotency, a Delta reader other than Spark, and
runs that must stop before anything is written (bad input: exit 2; a `fail` rule: exit 3).

Spark runs are the expensive part (2 shared cores), so the tiny fixture is run twice into one
warehouse by a single module fixture and the idempotency, exact-value and delta-rs tests all
read that warehouse; Delta time travel gives the first run's rows back.

Schemas are compared ignoring nullability: lib/schemas.py declares keys and counts NOT NULL,
but the published Delta columns are all nullable (see `relaxed`).
"""
from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import subprocess
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
import yaml
from chispa import assert_df_equality
from deltalake import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F, types as T

from jobs.generate_data import main as generate_main
from jobs.pipeline import main as pipeline_main
from lib import schemas

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY = REPO_ROOT / "bench" / "fixtures" / "tiny"
TINY_EXPECTED = json.loads((REPO_ROOT / "bench" / "fixtures" / "tiny_expected.json").read_text())
AS_OF = "2026-11-01T00:00:00Z"
SOURCES = ("orders", "transactions", "chargebacks")
RUN_COUNTS = ("rows_read", "rows_valid", "rows_quarantined", "duplicates_dropped")

TABLE_SCHEMAS = {
    "transactions": schemas.CLEAN_TRANSACTIONS,
    "orders": schemas.CLEAN_ORDERS,
    "chargebacks": schemas.CLEAN_CHARGEBACKS,
    "quarantine": schemas.QUARANTINE,
    "dq_results": schemas.DQ_RESULTS,
    "run_log": schemas.RUN_LOG,
    "payment_metrics": schemas.PAYMENT_METRICS,
    "chargeback_metrics": schemas.CHARGEBACK_METRICS,
    "processed_files": schemas.PROCESSED_FILES,
}
TABLES = tuple(TABLE_SCHEMAS)
# the key state incremental runs read (lib/incremental.py): internal, under WAREHOUSE/_state
STATE_TABLES = tuple(f"_state/{s}" for s in ("orders", "transactions", "chargebacks"))
# CONTRACT.md section 3; the clean tables' "date" is the row's own date column; run_log is not in
# the contract's table and keeps one set of rows per run like dq_results, partitioned the same.
PARTITIONS = {
    "transactions": ["txn_date"],
    "orders": ["order_date"],
    "chargebacks": ["chargeback_date"],
    "quarantine": ["source"],
    "dq_results": ["source"],
    "run_log": ["source"],
    "payment_metrics": ["txn_date", "payment_method"],
    "chargeback_metrics": ["txn_date", "payment_method"],
    "processed_files": [],
}
# Tables a run replaces whole; dq_results and run_log keep one set of rows per run.
REPLACED = ("transactions", "orders", "chargebacks", "quarantine", "payment_metrics", "chargeback_metrics")
KEYS = {"orders": ["order_id"], "transactions": ["transaction_id"],
        "chargebacks": ["transaction_id", "dispute_date"]}


# --- helpers -------------------------------------------------------------------------------------
def relaxed(data_type: T.DataType) -> T.DataType:
    """The same type with every field, element and value nullable."""
    if isinstance(data_type, T.StructType):
        return T.StructType([T.StructField(f.name, relaxed(f.dataType), True) for f in data_type.fields])
    if isinstance(data_type, T.ArrayType):
        return T.ArrayType(relaxed(data_type.elementType), True)
    if isinstance(data_type, T.MapType):
        return T.MapType(relaxed(data_type.keyType), relaxed(data_type.valueType), True)
    return data_type


def read_table(spark: SparkSession, warehouse: Path, name: str, version: int | None = None) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    return reader.load(str(warehouse / name))


def partition_columns(spark: SparkSession, warehouse: Path, name: str) -> list[str]:
    return spark.sql(f"DESCRIBE DETAIL delta.`{warehouse / name}`").first()["partitionColumns"]


def delta_tables_under(folder: Path) -> list[str]:
    """Every Delta table (a folder with a _delta_log) below `folder`, relative names."""
    if not folder.exists():
        return []
    return sorted(str(log.parent.relative_to(folder)) for log in folder.rglob("_delta_log"))


def copy_tiny(destination: Path) -> Path:
    shutil.copytree(TINY, destination)
    return destination


def run_pipeline(spark: SparkSession, input_dir: Path, warehouse: Path, *extra: str) -> int:
    return pipeline_main(["--input", str(input_dir), "--warehouse", str(warehouse),
                          "--as-of", AS_OF, *extra], spark=spark)


def quarantined_keys(quarantine: DataFrame, source: str) -> DataFrame:
    """The key each quarantined row names in its raw text (lines that did not parse have none)."""
    rows = quarantine.where(
        (F.col("source") == source)
        & ~F.exists("failed_rules", lambda r: r["rule"] == "malformed_record")
    )
    if source == "chargebacks":
        csv = F.from_csv("record", ", ".join(f"{c} STRING" for c in schemas.CHARGEBACK_CSV_COLUMNS))
        keys = rows.select(F.trim(csv["transaction_id"]).alias("transaction_id"),
                           F.to_timestamp(F.trim(csv["dispute_date"])).alias("dispute_date"))
    else:
        key = KEYS[source][0]
        keys = rows.select(F.trim(F.get_json_object("record", f"$.{key}")).alias(key))
    return keys.dropna().distinct()


def expected_payment_metrics(spark: SparkSession) -> DataFrame:
    rows = [
        (r["attempts"], r["completed_count"], r["failed_count"], r["pending_count"], r["failure_rate"],
         Decimal(r["completed_volume_usd"]), Decimal(r["failed_volume_usd"]),
         dt.date.fromisoformat(r["txn_date"]), r["payment_method"])
        for r in TINY_EXPECTED["payment_metrics"]
    ]
    return spark.createDataFrame(rows, schemas.PAYMENT_METRICS)


def payment_metrics_from(transactions: DataFrame) -> DataFrame:
    """payment_metrics recomputed from the published clean transactions, by the contract's words."""
    status = F.col("status")
    zero = F.lit(0).cast(schemas.AMOUNT)

    def volume(name: str) -> F.Column:
        return F.coalesce(F.sum(F.when(status == name, F.col("amount_usd"))), zero).cast(schemas.AMOUNT)

    counted = transactions.groupBy("txn_date", "payment_method").agg(
        F.count(F.lit(1)).alias("attempts"),
        F.count(F.when(status == "completed", 1)).alias("completed_count"),
        F.count(F.when(status == "failed", 1)).alias("failed_count"),
        F.count(F.when(status == "pending", 1)).alias("pending_count"),
        volume("completed").alias("completed_volume_usd"),
        volume("failed").alias("failed_volume_usd"),
    )
    outcomes = F.col("completed_count") + F.col("failed_count")
    return counted.withColumn(
        "failure_rate", F.when(outcomes > 0, F.col("failed_count") / outcomes)
    ).select(*schemas.PAYMENT_METRICS.fieldNames())


# --- a. end to end through spark-submit.sh on generated data -----------------------------------
@pytest.fixture(scope="module")
def generated_input(spark, tmp_path_factory) -> tuple[Path, dict]:
    """A few hundred generated rows with 5 % defects, and the generator's manifest (the generator
    runs in this process; its build_session gets the test session back)."""
    out = tmp_path_factory.mktemp("e2e") / "raw"
    assert generate_main([
        "--out", str(out), "--rows", "300", "--format", "jsonl", "--seed", "7", "--as-of", AS_OF,
        "--defect-rate", "0.05", "--chargeback-rate", "0.2",
        "--reason-codes", str(REPO_ROOT / "conf" / "reason_codes.csv"),
        "--fx-rates", str(REPO_ROOT / "conf" / "fx_rates.csv"),
    ]) == 0
    return out, json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def submitted_run(generated_input, tmp_path_factory):
    raw, manifest = generated_input
    warehouse = tmp_path_factory.mktemp("e2e") / "warehouse"
    run = subprocess.run(
        [str(REPO_ROOT / "spark-submit.sh"), "--master", "local[2]",
         "--conf", "spark.ui.enabled=false", "--conf", "spark.sql.shuffle.partitions=2",
         "jobs/pipeline.py", "--input", str(raw), "--warehouse", str(warehouse), "--as-of", AS_OF],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
    )
    return run, warehouse, manifest


@pytest.mark.e2e
def test_spark_submit_publishes_every_table_consistent_with_the_manifest(spark, submitted_run):
    run, warehouse, manifest = submitted_run
    assert run.returncode == 0, f"pipeline failed:\n{run.stdout}\n{run.stderr[-4000:]}"

    # The summary on stdout states the four numbers of every source.
    assert f"chargeback-pipeline: published to {warehouse}" in run.stdout
    for source in SOURCES:
        m = manifest[source]
        line = rf"^\s+{source}\s+{m['rows_written']}\s+{m['valid_rows']}\s+{m['quarantined_rows']}\s+{m['duplicates_dropped']}\s*$"
        assert re.search(line, run.stdout, re.MULTILINE), (source, run.stdout)

    # Every table is there, nothing else is a table, each with its schema and partitioning.
    assert delta_tables_under(warehouse) == sorted([*TABLES, *STATE_TABLES])
    frames = {name: read_table(spark, warehouse, name) for name in TABLES}
    for name, frame in frames.items():
        assert relaxed(frame.schema) == relaxed(TABLE_SCHEMAS[name]), name
        assert partition_columns(spark, warehouse, name) == PARTITIONS[name], name

    # run_log: one run, the manifest's numbers, nothing lost.
    run_log = frames["run_log"].collect()
    assert sorted(r["source"] for r in run_log) == sorted(SOURCES)
    assert len({r["run_id"] for r in run_log}) == 1
    run_id = run_log[0]["run_id"]
    assert {r["as_of"] for r in run_log} == {dt.datetime(2026, 11, 1)}
    by_source = {r["source"]: r for r in run_log}
    for source in SOURCES:
        r, m = by_source[source], manifest[source]
        assert r["rows_read"] == r["rows_valid"] + r["rows_quarantined"] + r["duplicates_dropped"], source
        assert (r["rows_read"], r["rows_valid"], r["rows_quarantined"], r["duplicates_dropped"]) == (
            m["rows_written"], m["valid_rows"], m["quarantined_rows"], m["duplicates_dropped"]), source
        # a full run: the warehouse's totals after it are its own numbers
        assert (r["total_rows_read"], r["total_rows_valid"], r["total_rows_quarantined"],
                r["total_duplicates_dropped"]) == (m["rows_written"], m["valid_rows"],
                                                   m["quarantined_rows"], m["duplicates_dropped"]), source
        assert r["mode"] == "full" and len(r["files"]) >= 1, source

    # Clean tables: one row per key, as many as run_log says are valid.
    for source in SOURCES:
        clean = frames[source]
        assert clean.count() == by_source[source]["rows_valid"], source
        assert clean.select(*KEYS[source]).distinct().count() == by_source[source]["rows_valid"], source

    # Quarantine: one row per rejected row of this run, each with at least one reason.
    quarantine = frames["quarantine"]
    counted = {r["source"]: r["count"] for r in quarantine.groupBy("source").count().collect()}
    assert counted == {s: by_source[s]["rows_quarantined"] for s in SOURCES if by_source[s]["rows_quarantined"]}
    assert quarantine.count() == sum(r["rows_quarantined"] for r in run_log)
    assert quarantine.where(F.col("run_id") != run_id).count() == 0
    assert quarantine.where(F.size("failed_rules") < 1).count() == 0
    assert quarantine.where(F.col("record").isNull() | F.col("source_file").isNull()).count() == 0

    # The generator gives every defective row exactly one quarantining rule: the reasons match
    # the manifest. (A quarantined row also lists the warn rules it fails, e.g. a non-positive
    # amount differs from the order total too, so warn rules are left out here.)
    dq = frames["dq_results"]
    quarantining = dq.where(F.col("action") == "quarantine").select("source", "rule")
    rule_hits = (quarantine.select("source", F.explode("failed_rules.rule").alias("rule"))
                 .join(quarantining, on=["source", "rule"], how="left_semi")
                 .groupBy("source", "rule").count())
    for source in SOURCES:
        if "defects" not in manifest[source]:
            continue  # the tiny stand-in has no per-rule manifest
        reasons = rule_hits.where(F.col("source") == source).collect()
        assert {r["rule"]: r["count"] for r in reasons} == manifest[source]["defects"], source

    # No key is both published clean and quarantined.
    for source in SOURCES:
        rejected = quarantined_keys(quarantine, source)
        clean_keys = frames[source].select(*KEYS[source])
        both = clean_keys.join(rejected, on=KEYS[source], how="inner")
        assert both.count() == 0, (source, both.collect())

    # Referential integrity of what was published.
    txns, orders, chargebacks = frames["transactions"], frames["orders"], frames["chargebacks"]
    orphans = txns.join(orders.select("order_id", F.col("currency").alias("order_currency")),
                        on="order_id", how="left")
    assert orphans.where(F.col("order_currency").isNull()).count() == 0
    assert orphans.where(F.col("currency") != F.col("order_currency")).count() == 0
    disputed = chargebacks.alias("c").join(txns.alias("t"), on="transaction_id", how="left")
    assert disputed.where(F.col("t.status").isNull() | (F.col("t.status") != "completed")).count() == 0
    assert disputed.where(
        (F.col("c.currency") != F.col("t.currency")) | (F.col("c.txn_date") != F.col("t.txn_date"))
        | (F.col("c.payment_method") != F.col("t.payment_method")) | (F.col("c.amount") > F.col("t.amount"))
        | (F.col("c.dispute_date") < F.col("t.timestamp"))
    ).count() == 0
    assert chargebacks.count() > 0, "the generated input should publish some chargebacks"

    # amount_usd = round(amount * rate, 2) half up, with the rate of conf/fx_rates.csv in force.
    rates = [(r["currency"], dt.date.fromisoformat(r["valid_from"]), r["rate_to_usd"])
             for r in _csv_rows(REPO_ROOT / "conf" / "fx_rates.csv")]
    for row in txns.select("currency", "txn_date", "amount", "fx_rate", "amount_usd").collect():
        in_force = max((v, rate) for c, v, rate in rates if c == row["currency"] and v <= row["txn_date"])
        assert row["fx_rate"] == float(in_force[1]), row
        expected_usd = (row["amount"] * Decimal(in_force[1])).quantize(Decimal("0.01"), ROUND_HALF_UP)
        assert row["amount_usd"] == expected_usd, row
    assert txns.where(F.col("txn_date") != F.to_date("timestamp")).count() == 0

    # Warnings keep the row: the generator's amount mismatches are flagged, not quarantined.
    warned = txns.where(F.array_contains("dq_warnings", "amount_mismatch")).count()
    assert warned == manifest["transactions"].get("warnings", {}).get("amount_mismatch", warned)

    # payment_metrics is what the published transactions say.
    assert_df_equality(frames["payment_metrics"], payment_metrics_from(txns), ignore_nullable=True,
                       ignore_row_order=True, ignore_column_order=True)

    # chargeback_metrics: a row per payment_metrics key; totals tie to the clean tables.
    metrics = frames["chargeback_metrics"]
    payment = frames["payment_metrics"]
    assert_df_equality(
        metrics.select("txn_date", "payment_method", "completed_count", "completed_volume_usd"),
        payment.select("txn_date", "payment_method", "completed_count", "completed_volume_usd"),
        ignore_nullable=True, ignore_row_order=True)
    totals = metrics.agg(F.sum("chargeback_count").alias("n"), F.sum("disputed_amount_usd").alias("usd"),
                         F.sum("fraud_chargeback_count").alias("fraud")).first()
    clean_totals = chargebacks.agg(F.count(F.lit(1)).alias("n"), F.sum("amount_usd").alias("usd"),
                                   F.count(F.when(F.col("reason_category") == "fraud", 1)).alias("fraud")).first()
    assert (totals["n"], totals["usd"], totals["fraud"]) == (clean_totals["n"], clean_totals["usd"], clean_totals["fraud"])

    # dq_results: this run's rows only, one per source x rule; suite and cross-source counts
    # agree with the quarantine table.
    assert {r["run_id"] for r in dq.select("run_id").distinct().collect()} == {run_id}
    assert dq.groupBy("source", "rule").count().where(F.col("count") > 1).count() == 0
    compared = (dq.where(F.col("action") == "quarantine")
                .join(rule_hits, on=["source", "rule"], how="full")
                .where(F.coalesce("unexpected_count", F.lit(0)) != F.coalesce("count", F.lit(0))))
    assert compared.count() == 0, compared.collect()


def _csv_rows(path: Path) -> list[dict]:
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, line.split(","))) for line in lines[1:] if line.strip()]


# --- b, c, d: the tiny fixture, run twice into one warehouse -----------------------------------
@pytest.fixture(scope="module")
def tiny_reruns(spark, tmp_path_factory) -> Path:
    """Two in-process runs of the tiny raw zone, same --as-of, one warehouse (Delta version 0 of
    every replaced table is the first run, the latest version the second)."""
    base = tmp_path_factory.mktemp("tiny")
    raw = copy_tiny(base / "raw")
    warehouse = base / "warehouse"
    assert run_pipeline(spark, raw, warehouse) == 0
    assert run_pipeline(spark, raw, warehouse) == 0
    return warehouse


def test_tiny_run_log_equals_hand_derived_counts(spark, tiny_reruns):
    run_log = read_table(spark, tiny_reruns, "run_log").collect()
    assert len(run_log) == 2 * len(SOURCES)
    for run_id in {r["run_id"] for r in run_log}:
        got = {r["source"]: {c: r[c] for c in RUN_COUNTS} for r in run_log if r["run_id"] == run_id}
        assert got == {s: TINY_EXPECTED[s] for s in SOURCES}


def test_tiny_payment_metrics_equal_expected_rows(spark, tiny_reruns):
    for version in (0, None):  # after the first run and after the rerun
        assert_df_equality(read_table(spark, tiny_reruns, "payment_metrics", version),
                           expected_payment_metrics(spark),
                           ignore_nullable=True, ignore_row_order=True, ignore_column_order=True)


def test_tiny_chargeback_metrics_equal_expected_rows(spark, tiny_reruns):
    metrics = read_table(spark, tiny_reruns, "chargeback_metrics")
    expected_rows = TINY_EXPECTED["chargeback_metrics_nonzero"]
    columns = list(expected_rows[0])
    schema = T.StructType([schemas.CHARGEBACK_METRICS[c] for c in columns])
    expected = spark.createDataFrame(
        [tuple(dt.date.fromisoformat(r[c]) if c == "txn_date" else
               Decimal(r[c]) if c == "disputed_amount_usd" else r[c] for c in columns)
         for r in expected_rows], schema)
    assert_df_equality(metrics.where(F.col("chargeback_count") > 0).select(*columns), expected,
                       ignore_nullable=True, ignore_row_order=True)
    # Every other (txn_date, payment_method) of payment_metrics is there with zeros, not nulls.
    zero_rows = metrics.where(F.col("chargeback_count") == 0)
    assert zero_rows.count() == len(TINY_EXPECTED["payment_metrics"]) - len(expected_rows)
    assert zero_rows.where(
        (F.col("disputed_amount_usd") != 0) | (F.col("won_count") + F.col("lost_count")
                                              + F.col("open_count") + F.col("fraud_chargeback_count") != 0)
    ).count() == 0
    keys = ("txn_date", "payment_method")
    assert_df_equality(metrics.select(*keys), read_table(spark, tiny_reruns, "payment_metrics").select(*keys),
                       ignore_nullable=True, ignore_row_order=True)
    # Rates follow from the counts (CONTRACT.md 3): 10.00 disputed of 20.00 completed is 0.5.
    first = metrics.where((F.col("txn_date") == "2026-06-15") & (F.col("payment_method") == "credit_card")).first()
    assert (first["chargeback_rate"], first["chargeback_rate_count"], first["win_rate"]) == (0.5, 1.0, 1.0)


def test_rerun_replaces_every_table_with_identical_rows(spark, tiny_reruns):
    for name in REPLACED:
        first = read_table(spark, tiny_reruns, name, version=0)
        rerun = read_table(spark, tiny_reruns, name)
        if name == "quarantine":
            first, rerun = first.drop("run_id", "quarantined_at"), rerun.drop("run_id", "quarantined_at")
        assert first.count() == rerun.count() > 0, name
        assert first.exceptAll(rerun).count() == 0, name
        assert rerun.exceptAll(first).count() == 0, name

        history = spark.sql(f"DESCRIBE HISTORY delta.`{tiny_reruns / name}`").orderBy("version").collect()
        assert [(h["version"], h["operation"], h["operationParameters"]["mode"]) for h in history] == [
            (0, "WRITE", "Overwrite"), (1, "WRITE", "Overwrite")], name

    quarantine = read_table(spark, tiny_reruns, "quarantine")
    assert quarantine.select("run_id").distinct().count() == 1  # the rerun's only


def test_rerun_keeps_one_set_of_dq_results_per_run(spark, tiny_reruns):
    dq = read_table(spark, tiny_reruns, "dq_results")
    run_ids = sorted(r["run_id"] for r in read_table(spark, tiny_reruns, "run_log").select("run_id").distinct().collect())
    assert len(run_ids) == 2
    per_run = {run_id: dq.where(F.col("run_id") == run_id).drop("run_id") for run_id in run_ids}
    first, rerun = per_run.values()
    assert first.count() == rerun.count() > 0
    assert dq.count() == 2 * first.count()
    assert first.exceptAll(rerun).count() == 0 and rerun.exceptAll(first).count() == 0
    assert sorted(r["run_id"] for r in dq.select("run_id").distinct().collect()) == run_ids
    # one row per run x source x rule
    assert dq.groupBy("run_id", "source", "rule").count().where(F.col("count") != 1).count() == 0
    # the tiny fixture's one non-positive amount, as dq_results records it
    amount = first.where((F.col("source") == "transactions") & (F.col("rule") == "amount_not_positive")).first()
    assert (amount["unexpected_count"], amount["success"], amount["action"]) == (1, False, "quarantine")


def test_delta_rs_reads_what_spark_reads(spark, tiny_reruns):
    for name in TABLES:
        path = tiny_reruns / name
        by_delta_rs = DeltaTable(str(path))
        assert by_delta_rs.metadata().partition_columns == PARTITIONS[name], name
        arrow = by_delta_rs.to_pyarrow_table()
        assert arrow.num_rows == read_table(spark, tiny_reruns, name).count() > 0, name
        assert set(arrow.column_names) == set(TABLE_SCHEMAS[name].fieldNames()), name

    def ordered(rows: list[dict]) -> list[dict]:
        return sorted(rows, key=lambda r: (r["txn_date"], r["payment_method"]))

    for name in ("payment_metrics", "chargeback_metrics"):
        by_delta_rs = ordered(DeltaTable(str(tiny_reruns / name)).to_pyarrow_table().to_pylist())
        by_spark = ordered([r.asDict() for r in read_table(spark, tiny_reruns, name).collect()])
        assert by_delta_rs == by_spark, name
    payments = DeltaTable(str(tiny_reruns / "payment_metrics")).to_pyarrow_table().to_pylist()
    assert sum(r["completed_volume_usd"] for r in payments) == Decimal("109.52")
    assert sum(r["attempts"] for r in payments) == 6
    txns = DeltaTable(str(tiny_reruns / "transactions")).to_pyarrow_table().to_pylist()
    assert sorted(r["transaction_id"] for r in txns) == ["t1", "t11", "t12", "t2", "t3", "t7"]


# --- e. bad input: one clear line, exit 2, nothing written ----------------------------------------
def _missing_chargebacks(raw: Path, tmp: Path) -> tuple[list[str], str]:
    shutil.rmtree(raw / "chargebacks")
    return [], f"input source chargebacks not found: no file or directory matches {raw}/chargebacks*"


def _wrong_csv_header(raw: Path, tmp: Path) -> tuple[list[str], str]:
    part = raw / "chargebacks" / "part-00001.csv"
    lines = part.read_text().splitlines(keepends=True)
    part.write_text("transaction_id,dispute_date,amount,reason,status,resolution_date\n" + "".join(lines[1:]))
    return [], f"{part}: CSV header must be exactly"


def _missing_conf(raw: Path, tmp: Path) -> tuple[list[str], str]:
    return ["--conf", str(tmp / "nowhere.yaml")], f"config file not found: {tmp / 'nowhere.yaml'}"


def _conf_not_yaml(raw: Path, tmp: Path) -> tuple[list[str], str]:
    conf = tmp / "broken.yaml"
    conf.write_text("fx_rates: [unclosed\n")
    return ["--conf", str(conf)], f"config file {conf} is not valid YAML"


def _garbage_as_of(raw: Path, tmp: Path) -> tuple[list[str], str]:
    return ["--as-of", "next tuesday"], "--as-of 'next tuesday' is not an ISO-8601 timestamp"


@pytest.mark.parametrize("break_input", [
    _missing_chargebacks, _wrong_csv_header, _missing_conf, _conf_not_yaml, _garbage_as_of,
], ids=lambda f: f.__name__.strip("_"))
def test_bad_input_exits_2_with_one_line_and_writes_nothing(spark, tmp_path, capsys, break_input):
    raw = copy_tiny(tmp_path / "raw")
    warehouse = tmp_path / "warehouse"
    extra, message = break_input(raw, tmp_path)
    capsys.readouterr()

    code = run_pipeline(spark, raw, warehouse, *extra)  # a later --as-of wins over AS_OF

    out, err = capsys.readouterr()
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("pipeline: ") and message in err, err
    assert "Traceback" not in err and out == ""
    assert not warehouse.exists() or list(warehouse.iterdir()) == []


# --- f. a `fail` rule aborts before anything is published ----------------------------------------
def test_fail_rule_aborts_with_exit_3_and_publishes_nothing(spark, tmp_path, capsys):
    conf_dir = tmp_path / "conf"
    conf_dir.mkdir()
    for name in ("local.yaml", "fx_rates.csv", "reason_codes.csv"):
        shutil.copy(REPO_ROOT / "conf" / name, conf_dir / name)
    shutil.copytree(REPO_ROOT / "expectations", tmp_path / "expectations")
    assert yaml.safe_load((conf_dir / "local.yaml").read_text())["expectations"] == "../expectations"
    suite_path = tmp_path / "expectations" / "transactions.json"
    suite = json.loads(suite_path.read_text())
    [rule] = [e for e in suite["expectations"] if e["meta"]["rule"] == "amount_not_positive"]
    rule["meta"]["action"] = "fail"
    suite_path.write_text(json.dumps(suite, indent=2))
    warehouse = tmp_path / "warehouse"
    capsys.readouterr()

    code = run_pipeline(spark, copy_tiny(tmp_path / "raw"), warehouse, "--conf", str(conf_dir / "local.yaml"))

    out, err = capsys.readouterr()
    assert code == 3, err
    last = err.strip().splitlines()[-1]
    assert re.fullmatch(
        r"pipeline: run aborted: fail rule\(s\) fired, nothing published: transactions\.amount_not_positive "
        r"\(expect_column_values_to_be_between: 1 of \d+ rows unexpected\)", last), last
    assert "chargeback-pipeline: published" not in out
    assert delta_tables_under(warehouse) == []
