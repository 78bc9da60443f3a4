"""On generated data: the quarantine holds exactly the defects the generator's manifest states,
the run's invariant numbers equal the manifest's, and Great Expectations agrees with the split.

One generator run and one pipeline run (in-process, the shared session) for the module.
"""
from __future__ import annotations

import json
from collections import Counter

import pytest
from pyspark.sql import functions as F

from jobs import generate_data, pipeline
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
    return manifest, warehouse


def _table(spark, warehouse, name):
    return spark.read.format("delta").load(str(warehouse / name))


def test_every_defect_class_is_quarantined_exactly_as_often_as_the_manifest_says(spark, generated_run):
    manifest, warehouse = generated_run
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
    manifest, warehouse = generated_run
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
    manifest, warehouse = generated_run
    warned = _table(spark, warehouse, "transactions").where(
        F.array_contains("dq_warnings", "amount_mismatch")).count()
    assert warned == manifest["transactions"]["warnings"].get("amount_mismatch", 0) > 0


def test_great_expectations_counts_equal_the_split_on_generated_data(spark, generated_run):
    _, warehouse = generated_run
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
