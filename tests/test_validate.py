"""The validation steps on tiny hand-made frames: duplicate collapse, cross-source rules against a
parent's validated rows, and `validate_source` end to end. Expected rows are written by hand from
the contract (section 2) and compared whole."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from pyspark.sql import Row
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from lib.quality.predicates import suite_rules
from lib.quality.referential import (
    ORDER_OF_TRANSACTION, TRANSACTION_OF_CHARGEBACK, cross_source_checks,
)
from lib.quality.referential import DEFAULT_CROSS_SOURCE_ACTIONS as ACTIONS
from lib.quality.split import collapse_exact_duplicates, in_scope
from lib.quality.suites import load_suites
from lib.quality.validate import ParentRows, validate_source
from lib.schemas import SOURCE_SPECS, SOURCES

AS_OF = dt.datetime(2026, 11, 1)
FIRST_RATES = {"EUR": dt.date(2024, 1, 1), "USD": dt.date(2024, 1, 1), "GBP": dt.date(2026, 10, 5)}
PARAMETERS = {"as_of": AS_OF, "fx_currencies": sorted(FIRST_RATES)}
TS = dt.datetime(2026, 10, 1, 10, 0)
D = Decimal
READER_SCHEMA = "record string, source_file string, row_id bigint, " \
                "reader_failure struct<rule:string,message:string>, "
TRANSACTION_SCHEMA = READER_SCHEMA + (
    "transaction_id string, order_id string, timestamp_raw string, timestamp timestamp, "
    "amount decimal(18,2), currency string, status string, payment_method string, "
    "payment_provider string, error_code string")
CHARGEBACK_SCHEMA = READER_SCHEMA + (
    "transaction_id string, dispute_date_raw string, dispute_date timestamp, amount decimal(18,2), "
    "reason_code string, status string, resolution_date_raw string, resolution_date timestamp")
WRONG_TYPE = Row(rule="wrong_type", message="wrong JSON type: amount is STRING")


def transaction(row_id, transaction_id, order_id="o1", source_file="a.jsonl", record=None,
                reader_failure=None, **fields):
    values = dict(timestamp_raw="2026-10-01T10:00:00Z", timestamp=TS, amount=D("10.00"),
                  currency="EUR", status="completed", payment_method="credit_card",
                  payment_provider="Visa", error_code=None)
    values.update(fields)
    return (record or f"line {row_id}", source_file, row_id, reader_failure, transaction_id,
            order_id, *values.values())


@pytest.fixture(scope="module")
def rules():
    suites = load_suites("expectations", SOURCES)
    return {s: suite_rules(suites[s], PARAMETERS, in_scope()) for s in SOURCES}


def test_exact_copies_collapse_to_the_smallest_file_and_record_and_are_counted(spark):
    rows = spark.createDataFrame([
        transaction(1, "t1", source_file="b.jsonl", record='{"b"}'),
        transaction(2, "t1", source_file="a.jsonl", record='{"z"}'),
        transaction(3, "t1", source_file="a.jsonl", record='{"a"}'),
        # the same instant written with another offset is the same content
        transaction(4, "t2", timestamp_raw="2026-10-01T12:00:00+02:00"),
        transaction(5, "t2"),
        # another amount: a second version of t2, kept (the suite calls it a conflict)
        transaction(6, "t2", amount=D("11.00")),
        # unparseable timestamps differ by their text
        transaction(7, "t3", timestamp_raw="yesterday", timestamp=None),
        transaction(8, "t3", timestamp_raw="today", timestamp=None),
        # the reader rejected both: never collapsed, even when identical
        transaction(9, None, order_id=None, reader_failure=WRONG_TYPE, record="same"),
        transaction(10, None, order_id=None, reader_failure=WRONG_TYPE, record="same"),
    ], TRANSACTION_SCHEMA)

    collapsed = collapse_exact_duplicates(rows, SOURCE_SPECS["transactions"])

    assertDataFrameEqual(
        collapsed.select("transaction_id", "source_file", "record", "amount", "timestamp_raw", "copies"),
        [Row(transaction_id="t1", source_file="a.jsonl", record='{"a"}', amount=D("10.00"),
             timestamp_raw="2026-10-01T10:00:00Z", copies=3),
         Row(transaction_id="t2", source_file="a.jsonl", record="line 4", amount=D("10.00"),
             timestamp_raw="2026-10-01T12:00:00+02:00", copies=2),
         Row(transaction_id="t2", source_file="a.jsonl", record="line 6", amount=D("11.00"),
             timestamp_raw="2026-10-01T10:00:00Z", copies=1),
         Row(transaction_id="t3", source_file="a.jsonl", record="line 7", amount=D("10.00"),
             timestamp_raw="yesterday", copies=1),
         Row(transaction_id="t3", source_file="a.jsonl", record="line 8", amount=D("10.00"),
             timestamp_raw="today", copies=1),
         Row(transaction_id=None, source_file="a.jsonl", record="same", amount=D("10.00"),
             timestamp_raw="2026-10-01T10:00:00Z", copies=1),
         Row(transaction_id=None, source_file="a.jsonl", record="same", amount=D("10.00"),
             timestamp_raw="2026-10-01T10:00:00Z", copies=1)],
    )


def _orders_staged(spark):
    """Validated orders as staging holds them: o1 valid (EUR 10.00), o2 quarantined twice."""
    return spark.createDataFrame(
        [("o1", "EUR", D("10.00"), False), ("o2", "EUR", D("5.00"), True),
         ("o2", "USD", D("6.00"), True), (None, "EUR", D("1.00"), True)],
        "order_id string, currency string, total_amount decimal(18,2), quarantined boolean")


def _outcome(validated):
    return validated.select(
        F.coalesce("transaction_id", F.lit("-")).alias("id"),
        F.col("failed_rules.rule").alias("rules"),
        "dq_warnings", "quarantined", "copies")


def test_transactions_are_checked_against_the_valid_orders(spark, rules):
    transactions = spark.createDataFrame([
        transaction(1, "t_ok"),
        transaction(2, "t_currency", currency="USD"),
        transaction(3, "t_parent_quarantined", order_id="o2"),
        transaction(4, "t_orphan", order_id="o3"),
        transaction(5, "t_amount", amount=D("9.00")),
        transaction(6, "t_no_rate_yet", currency="GBP", order_id="o3"),
        transaction(7, "t_unlisted", currency="JPY"),
        transaction(8, "t_no_order_id", order_id=None),
        transaction(9, None, order_id="o3", reader_failure=WRONG_TYPE),
        transaction(10, "t_ok_copy", amount=D("12.00"), order_id="o1"),
        transaction(11, "t_ok_copy", amount=D("12.00"), order_id="o1"),
    ], TRANSACTION_SCHEMA)

    validated = validate_source(
        transactions, SOURCE_SPECS["transactions"], rules["transactions"],
        ParentRows(ORDER_OF_TRANSACTION, _orders_staged(spark)),
        cross_source_checks("transactions", ACTIONS, FIRST_RATES),
    ).rows

    assertDataFrameEqual(_outcome(validated), [
        Row(id="t_ok", rules=[], dq_warnings=[], quarantined=False, copies=1),
        Row(id="t_currency", rules=["currency_mismatch"], dq_warnings=[], quarantined=True, copies=1),
        Row(id="t_parent_quarantined", rules=["parent_quarantined"], dq_warnings=[],
            quarantined=True, copies=1),
        Row(id="t_orphan", rules=["orphan"], dq_warnings=[], quarantined=True, copies=1),
        Row(id="t_amount", rules=["amount_mismatch"], dq_warnings=["amount_mismatch"],
            quarantined=False, copies=1),
        # GBP's first rate is 2026-10-05, after the transaction's date; o3 does not exist either
        Row(id="t_no_rate_yet", rules=["orphan", "unknown_currency"], dq_warnings=[],
            quarantined=True, copies=1),
        Row(id="t_unlisted", rules=["currency_mismatch", "unknown_currency"], dq_warnings=[],
            quarantined=True, copies=1),
        # a missing order_id is its suite rule's failure, not an orphan
        Row(id="t_no_order_id", rules=["order_id_required"], dq_warnings=[], quarantined=True, copies=1),
        Row(id="-", rules=["wrong_type"], dq_warnings=[], quarantined=True, copies=1),
        Row(id="t_ok_copy", rules=["amount_mismatch"], dq_warnings=["amount_mismatch"],
            quarantined=False, copies=2),
    ])
    # every row keeps its raw text: a valid row's is what the quarantine shows if a later file
    # retracts it (an incremental run, lib/incremental.py)
    assert validated.where(F.col("record").isNull()).count() == 0


def test_chargebacks_are_checked_against_the_valid_transactions_and_carry_them(spark, rules):
    staged_transactions = spark.createDataFrame(
        [("t1", "completed", "EUR", D("10.00"), TS, "wallet", False),
         ("t2", "failed", "EUR", D("10.00"), TS, "wallet", False),
         ("t3", "completed", "EUR", D("10.00"), TS, "wallet", True)],
        "transaction_id string, status string, currency string, amount decimal(18,2), "
        "timestamp timestamp, payment_method string, quarantined boolean")

    def chargeback(row_id, transaction_id, dispute, amount="5.00"):
        return (f"line {row_id}", "c.csv", row_id, None, transaction_id, dispute,
                dt.datetime.fromisoformat(dispute), D(amount), "10.4", "open", None, None)

    chargebacks = spark.createDataFrame([
        chargeback(1, "t1", "2026-10-02T00:00:00"),
        chargeback(2, "t1", "2026-09-30T00:00:00"),
        chargeback(3, "t1", "2026-10-03T00:00:00", amount="10.01"),
        chargeback(4, "t1", "2026-10-01T10:00:00", amount="10.00"),  # equal bounds are allowed
        chargeback(5, "t2", "2026-10-02T00:00:00"),
        chargeback(6, "t3", "2026-10-02T00:00:00"),
        chargeback(7, "t9", "2026-10-02T00:00:00"),
    ], CHARGEBACK_SCHEMA)

    validated = validate_source(
        chargebacks, SOURCE_SPECS["chargebacks"], rules["chargebacks"],
        ParentRows(TRANSACTION_OF_CHARGEBACK, staged_transactions),
        cross_source_checks("chargebacks", ACTIONS, FIRST_RATES),
    ).rows

    assertDataFrameEqual(
        validated.select("dispute_date_raw", F.col("failed_rules.rule").alias("rules"),
                         F.col("_parent.payment_method").alias("parent_method")),
        [Row(dispute_date_raw="2026-10-02T00:00:00", rules=[], parent_method="wallet"),
         Row(dispute_date_raw="2026-09-30T00:00:00", rules=["dispute_before_transaction"],
             parent_method="wallet"),
         Row(dispute_date_raw="2026-10-03T00:00:00", rules=["amount_exceeds_transaction"],
             parent_method="wallet"),
         Row(dispute_date_raw="2026-10-01T10:00:00", rules=[], parent_method="wallet"),
         Row(dispute_date_raw="2026-10-02T00:00:00", rules=["transaction_not_completed"],
             parent_method="wallet"),
         Row(dispute_date_raw="2026-10-02T00:00:00", rules=["parent_quarantined"], parent_method=None),
         Row(dispute_date_raw="2026-10-02T00:00:00", rules=["orphan"], parent_method=None)],
    )


def test_an_action_set_to_warn_keeps_the_row_valid_with_the_warning(spark, rules):
    transactions = spark.createDataFrame([transaction(1, "t_orphan", order_id="o3")], TRANSACTION_SCHEMA)
    actions = {**ACTIONS, "orphan": "warn"}

    validated = validate_source(
        transactions, SOURCE_SPECS["transactions"], rules["transactions"],
        ParentRows(ORDER_OF_TRANSACTION, _orders_staged(spark)),
        cross_source_checks("transactions", actions, FIRST_RATES),
    ).rows

    assertDataFrameEqual(_outcome(validated), [
        Row(id="t_orphan", rules=["orphan"], dq_warnings=["orphan"], quarantined=False, copies=1)])
