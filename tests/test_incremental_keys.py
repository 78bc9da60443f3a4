"""Which earlier rows an incremental run validates again, on tiny frames: a row with a missing key
meets only its exact copies, when the suite's uniqueness rules ignore such rows."""
from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

from chispa import assert_df_equality
from pyspark.sql import types as T

from lib.incremental import (
    KEY_HASH, PARENT_HASH, STATE_MONTH, KeyState, as_of_rules, as_of_rules_date_rows_after_it, as_state,
    changed_parents, keyed, state_path,
    uniqueness_ignores_missing_keys, uniqueness_off_key, unchanged_versions,
)
from lib.publishing import EarlierVersions
from lib.quality.referential import ORDER_OF_TRANSACTION
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


def test_the_project_suites_have_every_uniqueness_rule_on_the_key(repo_root):
    suites = load_suites(str(repo_root / "expectations"), SOURCES)

    assert {s: uniqueness_off_key(suites[s], SOURCE_SPECS[s].key) for s in SOURCES} == {
        "orders": (), "transactions": (), "chargebacks": ()}


def test_a_uniqueness_rule_that_leaves_out_part_of_the_key_is_named(repo_root):
    suites = load_suites(str(repo_root / "expectations"), SOURCES)
    payments = copy.deepcopy(suites["transactions"])
    payments.definition["expectations"].append({
        "type": "expect_column_values_to_be_unique", "kwargs": {"column": "order_id"},
        "meta": {"rule": "one_payment_per_order", "action": "warn", "message": "m"}})
    disputes = copy.deepcopy(suites["chargebacks"])
    compound = next(e for e in disputes.definition["expectations"]
                    if e["type"] == "expect_compound_columns_to_be_unique")

    assert uniqueness_off_key(payments, SOURCE_SPECS["transactions"].key) == ("one_payment_per_order",)
    compound["kwargs"]["column_list"] = ["transaction_id"]  # a part of (transaction_id, dispute_date)
    assert uniqueness_off_key(disputes, SOURCE_SPECS["chargebacks"].key) == ("conflicting_duplicate",)
    compound["kwargs"]["column_list"] = ["dispute_date", "amount", "transaction_id"]  # more than the key
    assert uniqueness_off_key(disputes, SOURCE_SPECS["chargebacks"].key) == ()


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


STATE_ROWS = T.StructType([
    T.StructField("transaction_id", T.StringType()),
    T.StructField("order_id", T.StringType()),
    T.StructField("timestamp", T.TimestampType()),
    T.StructField("_content", T.LongType()),
    T.StructField("quarantined", T.BooleanType()),
])


def _tiny_transaction_state(spark, warehouse) -> list:
    """A key state of six transaction versions, as a full run writes it (`as_state`)."""
    def at(day: str) -> dt.datetime | None:
        return dt.datetime.fromisoformat(day) if day else None
    rows = [("t1", "o1", at("2026-08-03"), 1, False),   # t1: two versions in two months
            ("t1", "o1", at("2026-09-10"), 2, True),
            ("t2", "o2", at("2026-10-01"), 3, False),
            (None, "o3", at("2026-11-20"), 4, True),    # missing keys: one hash, every month
            (None, None, at("2026-12-05"), 5, True),
            ("t3", None, None, 6, True)]                # no date: the null month
    (as_state(spark.createDataFrame(rows, STATE_ROWS), "transactions")
     .write.format("delta").partitionBy(STATE_MONTH).save(state_path(str(warehouse), "transactions")))
    return rows


def test_the_months_that_hold_a_key_come_from_its_hash_and_a_missing_key_from_its_content(spark, tmp_path):
    _tiny_transaction_state(spark, tmp_path)
    state = KeyState(spark, str(tmp_path), {}, ("transactions",))
    touched = spark.createDataFrame([("t1", None), (None, 5), ("t9", None)], KEYS)
    parents = spark.createDataFrame([("o2",), (None,)], "parent string")

    assert sorted(state.months_holding("transactions", KEY_HASH, touched, ["transaction_id"]),
                  key=str) == [dt.date(2026, 8, 1), dt.date(2026, 9, 1), dt.date(2026, 12, 1)]
    # a child without a parent key names no parent: a missing parent never matches
    assert state.months_holding("transactions", PARENT_HASH, parents, ["parent"]) == [dt.date(2026, 10, 1)]


def test_the_earlier_versions_of_touched_keys_are_every_version_of_a_key_and_a_missing_key_s_own_content(
        spark, tmp_path):
    rows = _tiny_transaction_state(spark, tmp_path)
    state = KeyState(spark, str(tmp_path), {}, ("transactions",))
    touched = spark.createDataFrame([("t1", None), (None, 5), ("t9", None)], KEYS)

    assert_df_equality(state.earlier_versions(SOURCE_SPECS["transactions"], touched),
                       spark.createDataFrame([rows[0], rows[1], rows[4]], STATE_ROWS),
                       ignore_row_order=True, ignore_column_order=True)


def test_what_each_table_loses_is_read_from_the_earlier_versions_dates_and_outcomes(spark):
    rows = spark.createDataFrame([
        ("t1", "o1", dt.datetime(2026, 8, 3, 10), 1, False),
        ("t1", "o1", dt.datetime(2026, 9, 10, 23, 59), 2, True),
        ("t3", None, None, 6, True)], STATE_ROWS)

    earlier = EarlierVersions.of(rows, "transactions")
    assert (earlier.valid_dates, sorted(earlier.dates, key=str), earlier.quarantined) == (
        [dt.date(2026, 8, 3)], [dt.date(2026, 8, 3), dt.date(2026, 9, 10), None], True)
    nothing = EarlierVersions.of(rows.where("false"), "transactions")
    assert (nothing.valid_dates, nothing.dates, nothing.quarantined) == ([], [], False)


def test_a_version_validated_again_is_unchanged_only_when_every_published_column_is_as_before(spark):
    schema = ("order_id string, _content bigint, quarantined boolean, "
              "failed_rules array<struct<rule:string,message:string>>, dq_warnings array<string>, "
              "copies bigint, source_file string, record string")
    earlier = [("o1", 1, False, [], [], 1, "f1", "{a}"),
               ("o2", 2, True, [("orphan", "m")], [], 1, "f1", "{b}"),
               ("o3", 3, True, [("orphan", "m")], [], 1, "f1", "{c}"),
               ("o4", 4, False, [], [], 1, "f1", "{d}"),
               ("o5", 5, False, [], [], 1, "f2", "{e}"),
               (None, 6, True, [("missing", "m")], [], 1, "f1", "{f}")]
    validated = [("o1", 1, False, [], [], 1, "f1", "{a}"),                 # as before
                 ("o2", 2, True, [("parent_quarantined", "m")], [], 1, "f1", "{b}"),  # other rule
                 ("o3", 3, False, [], [], 1, "f1", "{c}"),                 # lifted
                 ("o4", 4, False, [], [], 2, "f1", "{d}"),                 # a new exact copy
                 ("o5", 5, False, [], [], 1, "f1", "{e}"),                 # a smaller copy kept
                 (None, 6, True, [("missing", "m")], [], 1, "f1", "{f}"),  # missing key, as before
                 ("o7", 7, False, [], [], 1, "f3", "{g}")]                 # new
    unchanged = unchanged_versions(spark.createDataFrame(validated, schema),
                                   spark.createDataFrame(earlier, schema), "orders")

    assert_df_equality(unchanged, spark.createDataFrame([("o1", 1), (None, 6)], "order_id string, _content bigint"),
                       ignore_row_order=True, ignore_nullable=True)


def test_a_parent_changed_when_it_is_new_or_its_reference_differs_not_when_it_is_validated_again_alike(spark):
    # (order_id, quarantined, currency, total_amount): an order's validated rows and its earlier ones
    schema = "order_id string, quarantined boolean, currency string, total_amount decimal(18,2)"
    earlier = [("o1", False, "EUR", 10),   # o1: validated again as it was (an exact copy came in)
               ("o2", False, "EUR", 20),   # o2: a conflicting version quarantines both
               ("o3", True, "EUR", 30),    # o3: lifted, now valid
               ("o4", False, "EUR", 40),   # o4: valid before and after, with another amount
               ("o5", True, "USD", 50)]    # o5: quarantined before and after, for another rule
    validated = [("o1", False, "EUR", 10),
                 ("o2", True, "EUR", 20), ("o2", True, "EUR", 21),
                 ("o3", False, "EUR", 30),
                 ("o4", False, "EUR", 41),
                 ("o5", True, "USD", 51),
                 ("o6", True, "GBP", 60),   # new, quarantined: children turn parent_quarantined
                 ("o7", False, "GBP", 70),  # new, valid: orphans turn valid
                 (None, False, "GBP", 80)]  # no key: no child names it

    def frame(rows):
        return spark.createDataFrame([(k, q, c, Decimal(a)) for k, q, c, a in rows], schema)

    changed = changed_parents(ORDER_OF_TRANSACTION, frame(validated), frame(earlier))

    assert sorted(r[0] for r in changed.collect()) == ["o2", "o3", "o4", "o6", "o7"]


def test_rows_an_as_of_rule_quarantined_are_looked_for_after_the_last_as_of_only_when_the_rule_caps_the_state_date(
        repo_root):
    suites = load_suites(str(repo_root / "expectations"), SOURCES)
    assert {s: as_of_rules_date_rows_after_it(suites[s], s) for s in SOURCES} == {
        "orders": True, "transactions": True, "chargebacks": True}  # orders and chargebacks: no such rule

    def with_kwargs(**changes):
        suite = copy.deepcopy(suites["transactions"])
        rule = next(e for e in suite.definition["expectations"] if e["meta"]["rule"] == "timestamp_after_as_of")
        rule["kwargs"].update(changes)
        return suite

    as_of = {"$PARAMETER": "as_of"}
    assert as_of_rules_date_rows_after_it(with_kwargs(min_value="2020-01-01T00:00:00"), "transactions")
    assert not as_of_rules_date_rows_after_it(with_kwargs(min_value=as_of, max_value=None), "transactions")
    assert not as_of_rules_date_rows_after_it(with_kwargs(column="order_id"), "transactions")
    assert not as_of_rules_date_rows_after_it(with_kwargs(row_condition={"x": as_of}), "transactions")


def test_the_rows_an_as_of_rule_quarantined_are_read_from_the_months_after_the_last_as_of(spark, tmp_path):
    schema = T.StructType([*STATE_ROWS.fields, T.StructField(
        "failed_rules", T.ArrayType(T.StructType([T.StructField("rule", T.StringType()),
                                                  T.StructField("message", T.StringType())])))])
    late = [("timestamp_after_as_of", "m")]
    # t1 is dated before the month of an October --as-of: a run with one could not leave it so
    # quarantined, and one that says so does not read its month
    rows = [("t1", "o1", dt.datetime(2026, 9, 30, 23), 1, True, late),
            ("t2", "o2", dt.datetime(2026, 10, 2), 2, True, late),
            ("t3", "o3", dt.datetime(2026, 11, 5), 3, True, late),
            ("t4", "o4", dt.datetime(2026, 11, 6), 4, True, [("orphan", "m")])]
    (as_state(spark.createDataFrame(rows, schema), "transactions")
     .write.format("delta").partitionBy(STATE_MONTH).save(state_path(str(tmp_path), "transactions")))
    rules = {"transactions": ("timestamp_after_as_of",)}

    everywhere = KeyState(spark, str(tmp_path), rules, (), {})
    since_october = KeyState(spark, str(tmp_path), rules, (), {"transactions": dt.date(2026, 10, 1)})
    assert sorted(r[0] for r in everywhere.quarantined_by_as_of(SOURCE_SPECS["transactions"]).collect()) == [
        "t1", "t2", "t3"]
    assert sorted(r[0] for r in since_october.quarantined_by_as_of(SOURCE_SPECS["transactions"]).collect()) == [
        "t2", "t3"]
