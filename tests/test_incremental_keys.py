"""Which earlier rows an incremental run validates again, on tiny frames: a row with a missing key
meets only its exact copies, when the suite's uniqueness rules ignore such rows."""
from __future__ import annotations

import copy

from chispa import assert_df_equality
from pyspark.sql import types as T

from lib.incremental import KeyState, as_of_rules, keyed, uniqueness_ignores_missing_keys
from lib.quality.suites import load_suites
from lib.schemas import SOURCE_SPECS, SOURCES

KEYS = T.StructType([
    T.StructField("transaction_id", T.StringType()),
    T.StructField("_content", T.LongType()),
])


def test_the_project_suites_ignore_rows_with_a_missing_key_in_every_uniqueness_rule(repo_root):
    suites = load_suites(str(repo_root / "expectations"), SOURCES)

    assert {s: uniqueness_ignores_missing_keys(suites[s]) for s in SOURCES} == {
        "orders": True, "transactions": True, "chargebacks": True}


def test_only_a_suite_with_a_rule_on_as_of_has_quarantined_rows_a_later_as_of_can_lift(repo_root):
    suites = load_suites(str(repo_root / "expectations"), SOURCES)

    assert {s: as_of_rules(suites[s]) for s in SOURCES} == {
        "orders": (), "transactions": ("timestamp_after_as_of",), "chargebacks": ()}


def test_a_compound_uniqueness_rule_that_counts_partly_missing_keys_makes_the_key_match_every_version(repo_root):
    suite = load_suites(str(repo_root / "expectations"), SOURCES)["chargebacks"]
    for option, ignores in [("all_values_are_missing", False), ("never", False), (None, False),
                            ("any_value_is_missing", True)]:
        changed = copy.deepcopy(suite)
        rule = next(e for e in changed.definition["expectations"]
                    if e["type"] == "expect_compound_columns_to_be_unique")
        rule["kwargs"].pop("ignore_row_if")
        if option is not None:
            rule["kwargs"]["ignore_row_if"] = option
        assert uniqueness_ignores_missing_keys(changed) is ignores, option


def test_a_key_matches_all_its_versions_and_a_missing_key_only_its_own_content(spark):
    versions = spark.createDataFrame(
        [("t1", 1), ("t1", 2), ("t2", 3), (None, 4), (None, 5), (None, 6)], KEYS)
    touched = spark.createDataFrame([("t1", None), (None, 5), (None, 7)], KEYS)

    for broadcast in (False, True):
        matched = keyed(versions, touched, ["transaction_id"], "left_semi", by_content=True, broadcast=broadcast)
        unmatched = keyed(versions, touched, ["transaction_id"], "left_anti", by_content=True, broadcast=broadcast)

        assert_df_equality(matched, spark.createDataFrame([("t1", 1), ("t1", 2), (None, 5)], KEYS),
                           ignore_row_order=True)
        assert_df_equality(unmatched, spark.createDataFrame([("t2", 3), (None, 4), (None, 6)], KEYS),
                           ignore_row_order=True)


def test_a_touched_row_carries_its_content_only_when_its_key_is_missing_and_its_source_allows_it(spark):
    rows = spark.createDataFrame([("t1", 11), (None, 12)], KEYS)
    spec = SOURCE_SPECS["transactions"]
    alone = KeyState(spark, "/nonexistent", {}, ("transactions",))
    by_key = KeyState(spark, "/nonexistent", {}, ())

    assert_df_equality(alone._touched(spec, rows, rows["_content"]),
                       spark.createDataFrame([("t1", None), (None, 12)], KEYS), ignore_row_order=True)
    assert_df_equality(by_key._touched(spec, rows, rows["_content"]),
                       spark.createDataFrame([("t1", None), (None, None)], KEYS), ignore_row_order=True)
