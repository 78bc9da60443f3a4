"""On generated data: the quarantine holds exactly the defects the generator's manifest states,
the run's invariant numbers equal the manifest's, and Great Expectations agrees with the split.
Input this small is evaluated interpreted (lib/run_settings.py); the same input with compiled
evaluation forced publishes the same rows in every table.

One generator run and two pipeline runs (in-process, the shared session) for the module.
"""
from __future__ import annotations

import json
from collections import Counter

import pytest
from pyspark.sql import functions as F

from jobs import generate_data, pipeline
from lib import run_settings
from lib.schemas import SOURCES

AS_OF = "2026-11-01T00:00:00Z"


@pytest.fixture(scope="module")
def generated_run(spark, tmp_path_factory):
    raw = tmp_path_factory.mktemp("generated") / "raw"
    warehouse = tmp_path_factory.mktemp("generated") / "warehouse"
    assert generate_data.main([
        "--out", str(raw), "--rows", "1500", "--format", "jsonl", "--seed", "11",
        "--as-of", AS_OF, "--defect-rate", "0.12", "--chargeback-rate", "0.4",
    ]) == 0
    assert pipeline.main(
        ["--input", str(raw), "--warehouse", str(warehouse), "--as-of", AS_OF], spark=spark) == 0
    manifest = json.loads((raw / "manifest.json").read_text())
    return manifest, warehouse, raw


@pytest.fixture(scope="module")
def compiled_warehouse(spark, generated_run, tmp_path_factory):
    """The same input with compiled evaluation (whole-stage code generation) forced."""
    _, _, raw = generated_run
    warehouse = tmp_path_factory.mktemp("compiled") / "warehouse"
    raw_bytes = sum(f.stat().st_size for f in raw.rglob("*") if f.is_file())
    assert run_settings.sized_for(raw_bytes, 2)["spark.sql.codegen.wholeStage"] == "false"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(run_settings, "INTERPRETED_BELOW_BYTES", 0)
        assert "spark.sql.codegen.wholeStage" not in run_settings.sized_for(raw_bytes, 2)
        assert pipeline.main(
            ["--input", str(raw), "--warehouse", str(warehouse), "--as-of", AS_OF], spark=spark) == 0
    return warehouse


def _table(spark, warehouse, name):
    return spark.read.format("delta").load(str(warehouse / name))


def test_every_defect_class_is_quarantined_exactly_as_often_as_the_manifest_says(spark, generated_run):
    manifest, warehouse, _ = generated_run
    blocking = (
        _table(spark, warehouse, "quarantine")
        .select("source", F.explode("failed_rules.rule").alias("rule"))
        .where(F.col("rule") != "amount_mismatch")  # a warning, counted on valid rows below
        .groupBy("source", "rule").count()
        .collect()
    )
    actual = {s: {r.rule: r["count"] for r in blocking if r.source == s} for s in SOURCES}
    for source in SOURCES:
        assert actual[source] == manifest[source]["defects"], source
    # the data must exercise every class of docs/rules.md, or equality proves little
    assert len(manifest["transactions"]["defects"]) >= 20
    assert len(manifest["orders"]["defects"]) >= 16
    assert len(manifest["chargebacks"]["defects"]) >= 15


def test_run_log_numbers_equal_the_manifest_and_nothing_is_lost(spark, generated_run):
    manifest, warehouse, _ = generated_run
    run_log = {r.source: r for r in _table(spark, warehouse, "run_log").collect()}
    for source in SOURCES:
        expected = manifest[source]
        row = run_log[source]
        assert (row.rows_read, row.rows_valid, row.rows_quarantined, row.duplicates_dropped) == (
            expected["rows_written"], expected["valid_rows"], expected["quarantined_rows"],
            expected["duplicates_dropped"]), source
        assert row.rows_read == row.rows_valid + row.rows_quarantined + row.duplicates_dropped
        assert _table(spark, warehouse, source).count() == row.rows_valid
    quarantined = _table(spark, warehouse, "quarantine").groupBy("source").count().collect()
    assert {r.source: r["count"] for r in quarantined} == {s: run_log[s].rows_quarantined for s in SOURCES}


def test_warning_rows_stay_valid_and_carry_the_warning(spark, generated_run):
    manifest, warehouse, _ = generated_run
    warned = _table(spark, warehouse, "transactions").where(
        F.array_contains("dq_warnings", "amount_mismatch")).count()
    assert warned == manifest["transactions"]["warnings"].get("amount_mismatch", 0) > 0


def test_great_expectations_counts_equal_the_split_on_generated_data(spark, generated_run):
    _, warehouse, _ = generated_run
    failing = Counter(
        (r.source, r.rule) for r in
        _table(spark, warehouse, "quarantine")
        .select("source", F.explode("failed_rules.rule").alias("rule")).collect()
    )
    dq = _table(spark, warehouse, "dq_results").where(F.col("expectation_type").startswith("expect_column"))
    compared = 0
    for row in dq.collect():
        assert row.unexpected_count == failing[(row.source, row.rule)], (row.source, row.rule)
        compared += 1
    assert compared >= 40


# Per-run values: the run's id, its times, the Delta versions it published.
PER_RUN_COLUMNS = {"run_id", "quarantined_at", "finished_at", "started_at", "table_versions"}


@pytest.mark.parametrize("table", [*SOURCES, "quarantine", "dq_results", "run_log",
                                   "payment_metrics", "chargeback_metrics"])
def test_interpreted_and_compiled_evaluation_publish_the_same_rows(spark, generated_run, compiled_warehouse, table):
    _, interpreted_warehouse, _ = generated_run
    interpreted = _table(spark, interpreted_warehouse, table)
    compiled = _table(spark, compiled_warehouse, table)
    columns = [c for c in interpreted.columns if c not in PER_RUN_COLUMNS]
    assert compiled.columns == interpreted.columns
    assert interpreted.count() > 0
    assert interpreted.select(*columns).exceptAll(compiled.select(*columns)).count() == 0
    assert compiled.select(*columns).exceptAll(interpreted.select(*columns)).count() == 0


def test_a_run_gives_the_session_its_settings_back(spark, generated_run, compiled_warehouse):
    # conftest's session sets 2 shuffle partitions and leaves code generation at Spark's default
    assert spark.conf.get("spark.sql.shuffle.partitions") == "2"
    assert spark.conf.get("spark.sql.codegen.wholeStage") == "true"
    assert spark.conf.get("spark.sql.codegen.factoryMode", None) is None
