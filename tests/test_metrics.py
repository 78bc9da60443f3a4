"""lib/metrics.py: payment_metrics and chargeback_metrics on a hand-checked cohort.

All amounts are USD (rate 1.0) so the sums can be checked by eye; every expected value is a
literal worked out in the comments.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import types as T

from lib.fx import read_reason_codes, with_reason_category
from lib.metrics import chargeback_metrics, chargeback_metrics_after, payment_metrics, payment_metrics_after
from lib.schemas import CHARGEBACK_METRICS, CLEAN_CHARGEBACKS, CLEAN_TRANSACTIONS, PAYMENT_METRICS

JUL_01, JUL_02 = dt.date(2026, 7, 1), dt.date(2026, 7, 2)
AUG_03 = dt.date(2026, 8, 3)  # disputes come weeks later; they still count in the July cohort


def as_computed(schema: T.StructType) -> T.StructType:
    """The metric schema as a DataFrame computed from clean tables carries it: the grain columns
    stay nullable because CLEAN_TRANSACTIONS declares them so (Spark has no public way to assert
    non-null); every other type and nullability must match exactly."""
    return T.StructType([
        T.StructField(f.name, f.dataType, True) if f.name in ("txn_date", "payment_method") else f
        for f in schema.fields
    ])


def txn(transaction_id, txn_date, method, status, amount_usd):
    return (
        transaction_id, f"o-{transaction_id}", dt.datetime.combine(txn_date, dt.time(10)),
        Decimal(amount_usd), "USD", status, method, "Visa",
        "card_declined" if status == "failed" else None, 1.0, Decimal(amount_usd), [], txn_date,
    )


def chargeback(transaction_id, txn_date, method, amount_usd, status, reason_code, dispute_day=AUG_03):
    disputed_at = dt.datetime.combine(dispute_day, dt.time(9))
    resolved_at = disputed_at + dt.timedelta(days=5) if status in ("won", "lost", "resolved") else None
    return (
        transaction_id, disputed_at, Decimal(amount_usd), "USD", reason_code, None, status,
        resolved_at, txn_date, method, 1.0, Decimal(amount_usd), [], dispute_day,
    )


@pytest.fixture(scope="module")
def transactions(spark):
    return spark.createDataFrame(
        [
            # Jul 1 credit_card: 2 completed (100 + 50), 1 failed (20), 1 pending (999)
            txn("t1", JUL_01, "credit_card", "completed", "100.00"),
            txn("t2", JUL_01, "credit_card", "completed", "50.00"),
            txn("t3", JUL_01, "credit_card", "failed", "20.00"),
            txn("t4", JUL_01, "credit_card", "pending", "999.00"),
            # Jul 1 wallet: only a pending attempt
            txn("t5", JUL_01, "wallet", "pending", "10.00"),
            # Jul 1 debit_card: only failed attempts
            txn("t6", JUL_01, "debit_card", "failed", "5.55"),
            txn("t7", JUL_01, "debit_card", "failed", "4.45"),
            # Jul 2: one completed per method; wallet gets no chargeback
            txn("t8", JUL_02, "credit_card", "completed", "80.00"),
            txn("t9", JUL_02, "wallet", "completed", "40.00"),
            txn("t10", JUL_02, "debit_card", "completed", "200.00"),
        ],
        CLEAN_TRANSACTIONS,
    )


@pytest.fixture(scope="module")
def chargebacks(spark, repo_root):
    raw = spark.createDataFrame(
        [
            # t1 has two chargebacks: its 100.00 must still count once in the volume
            chargeback("t1", JUL_01, "credit_card", "30.00", "won", "fraudulent_charge"),
            chargeback("t1", JUL_01, "credit_card", "20.00", "open", " 10.4 ", AUG_03 + dt.timedelta(days=1)),
            chargeback("t2", JUL_01, "credit_card", "15.00", "lost", "4837"),
            chargeback("t2", JUL_01, "credit_card", "10.00", "pending_response", "13.1",
                       AUG_03 + dt.timedelta(days=2)),
            chargeback("t8", JUL_02, "credit_card", "8.00", "under_review", "not_a_reason"),
            chargeback("t8", JUL_02, "credit_card", "12.00", "resolved", "A01", AUG_03 + dt.timedelta(days=1)),
            chargeback("t8", JUL_02, "credit_card", "4.00", "won", "FRAUD", AUG_03 + dt.timedelta(days=2)),
            chargeback("t10", JUL_02, "debit_card", "50.00", "open", "13.1"),
        ],
        CLEAN_CHARGEBACKS,
    )
    # reason_category comes from the contract's reference file, as in the pipeline
    return with_reason_category(raw, read_reason_codes(spark, str(repo_root / "conf" / "reason_codes.csv")))


def test_payment_metrics_counts_rates_and_volumes_per_day_and_method(spark, transactions):
    actual = payment_metrics(transactions)

    expected = spark.createDataFrame(
        [
            # attempts, completed, failed, pending, failure_rate, completed_usd, failed_usd, date, method
            # pending t4 is an attempt but no outcome: 1 failed / (2 completed + 1 failed)
            (4, 2, 1, 1, 1 / 3, Decimal("150.00"), Decimal("20.00"), JUL_01, "credit_card"),
            # only pending: no outcome yet, so no failure rate; sums are 0.00, not null
            (1, 0, 0, 1, None, Decimal("0.00"), Decimal("0.00"), JUL_01, "wallet"),
            (2, 0, 2, 0, 1.0, Decimal("0.00"), Decimal("10.00"), JUL_01, "debit_card"),
            (1, 1, 0, 0, 0.0, Decimal("80.00"), Decimal("0.00"), JUL_02, "credit_card"),
            (1, 1, 0, 0, 0.0, Decimal("40.00"), Decimal("0.00"), JUL_02, "wallet"),
            (1, 1, 0, 0, 0.0, Decimal("200.00"), Decimal("0.00"), JUL_02, "debit_card"),
        ],
        as_computed(PAYMENT_METRICS),
    )
    # schema compared exactly, nullability and column order included
    assert_df_equality(actual, expected, ignore_row_order=True)


def test_chargeback_metrics_cohort_by_transaction_date(spark, transactions, chargebacks):
    actual = chargeback_metrics(payment_metrics(transactions), chargebacks)

    expected = spark.createDataFrame(
        [
            # completed, completed_usd, chargebacks, disputed_usd, rate, rate_count,
            # won, lost, open, win_rate, fraud, date, method
            # Jul 1 credit_card: volume 100 + 50 = 150 counted once although t1 and t2 have two
            # chargebacks each; disputed 30 + 20 + 15 + 10 = 75 -> 75 / 150; 4 chargebacks / 2;
            # won 1, lost 1, open 2 (open, pending_response) -> win 1 / 2;
            # fraud: fraudulent_charge, " 10.4 ", 4837 (13.1 is consumer_dispute)
            (2, Decimal("150.00"), 4, Decimal("75.00"), 0.5, 2.0, 1, 1, 2, 0.5, 3, JUL_01, "credit_card"),
            # only a pending transaction: zeros, and every rate null (all denominators are 0)
            (0, Decimal("0.00"), 0, Decimal("0.00"), None, None, 0, 0, 0, None, 0, JUL_01, "wallet"),
            # only failed transactions: same
            (0, Decimal("0.00"), 0, Decimal("0.00"), None, None, 0, 0, 0, None, 0, JUL_01, "debit_card"),
            # Jul 2 credit_card: 8 + 12 + 4 = 24 over 80; 3 over 1; under_review is open,
            # resolved is neither won, lost nor open; won 1 / (1 + 0); fraud: "FRAUD" only
            # ("not_a_reason" is unknown, A01 authorization)
            (1, Decimal("80.00"), 3, Decimal("24.00"), 0.3, 3.0, 1, 0, 1, 1.0, 1, JUL_02, "credit_card"),
            # completed volume but no chargebacks: zeros, rates 0.0 (the volume is not 0), no win rate
            (1, Decimal("40.00"), 0, Decimal("0.00"), 0.0, 0.0, 0, 0, 0, None, 0, JUL_02, "wallet"),
            # one open chargeback: 50 / 200, 1 / 1, nothing decided yet so no win rate
            (1, Decimal("200.00"), 1, Decimal("50.00"), 0.25, 1.0, 0, 0, 1, None, 0, JUL_02, "debit_card"),
        ],
        as_computed(CHARGEBACK_METRICS),
    )
    assert_df_equality(actual, expected, ignore_row_order=True)


def test_chargeback_metrics_without_any_chargeback(spark, transactions):
    no_chargebacks = spark.createDataFrame([], CLEAN_CHARGEBACKS)

    actual = chargeback_metrics(
        payment_metrics(transactions.where("txn_date = DATE'2026-07-02' AND payment_method = 'credit_card'")),
        no_chargebacks,
    )

    expected = spark.createDataFrame(
        [(1, Decimal("80.00"), 0, Decimal("0.00"), 0.0, 0.0, 0, 0, 0, None, 0, JUL_02, "credit_card")],
        as_computed(CHARGEBACK_METRICS),
    )
    assert_df_equality(actual, expected)


def jul_01_after_a_change(spark, transactions):
    """July 1st's transactions before and after an incremental run changes them: t3 (failed,
    credit_card) and t5 (wallet's only attempt) leave; t11 (credit_card, completed 50.00) and
    t12 (debit_card, completed 7.00) enter."""
    before = transactions.where(f"txn_date = DATE'{JUL_01}'")
    leaving = before.where("transaction_id IN ('t3', 't5')")
    entering = spark.createDataFrame([txn("t11", JUL_01, "credit_card", "completed", "50.00"),
                                      txn("t12", JUL_01, "debit_card", "completed", "7.00")], CLEAN_TRANSACTIONS)
    return before, entering, leaving, before.exceptAll(leaving).unionByName(entering)


def test_payment_metrics_after_a_change_add_the_entering_and_take_the_leaving(spark, transactions):
    before, entering, leaving, after = jul_01_after_a_change(spark, transactions)

    actual = payment_metrics_after(payment_metrics(before), entering, leaving)

    expected = spark.createDataFrame(
        [
            # credit_card: t1, t2, t11 completed (100 + 50 + 50), t4 pending; t3's failure left
            (4, 3, 0, 1, 0.0, Decimal("200.00"), Decimal("0.00"), JUL_01, "credit_card"),
            # debit_card: t6, t7 failed (10.00) and t12 completed: 2 / 3
            (3, 1, 2, 0, 2 / 3, Decimal("7.00"), Decimal("10.00"), JUL_01, "debit_card"),
            # wallet: its only attempt left, so it has no row (a full run would have none)
        ],
        as_computed(PAYMENT_METRICS),
    )
    assert_df_equality(actual, expected, ignore_row_order=True)
    assert_df_equality(actual, payment_metrics(after), ignore_row_order=True)


def test_chargeback_metrics_after_a_change_add_the_entering_and_take_the_leaving(
        spark, repo_root, transactions, chargebacks):
    before, entering, leaving, after = jul_01_after_a_change(spark, transactions)
    payments = payment_metrics_after(payment_metrics(before), entering, leaving)
    cohort = chargebacks.where(f"txn_date = DATE'{JUL_01}'")
    won_left = cohort.where("transaction_id = 't1' AND status = 'won'")  # 30.00, fraudulent_charge
    lost_came = with_reason_category(  # 5.00, 4837 is fraud
        spark.createDataFrame([chargeback("t11", JUL_01, "credit_card", "5.00", "lost", "4837")], CLEAN_CHARGEBACKS),
        read_reason_codes(spark, str(repo_root / "conf" / "reason_codes.csv")))

    actual = chargeback_metrics_after(payments, chargeback_metrics(payment_metrics(before), cohort),
                                      lost_came, won_left)

    expected = spark.createDataFrame(
        [
            # credit_card: 3 completed for 200.00; 4 - 1 + 1 chargebacks for 75 - 30 + 5 = 50.00
            # -> 50 / 200 and 4 / 3; won 1 - 1, lost 1 + 1, open 2 -> win 0 / 2; fraud 3 - 1 + 1
            (3, Decimal("200.00"), 4, Decimal("50.00"), 0.25, 4 / 3, 0, 2, 2, 0.0, 3, JUL_01, "credit_card"),
            # debit_card: t12's 7.00 completed, no chargeback
            (1, Decimal("7.00"), 0, Decimal("0.00"), 0.0, 0.0, 0, 0, 0, None, 0, JUL_01, "debit_card"),
            # wallet: no payment row left, so no cohort row
        ],
        as_computed(CHARGEBACK_METRICS),
    )
    assert_df_equality(actual, expected, ignore_row_order=True)
    from_scratch = chargeback_metrics(payment_metrics(after), cohort.exceptAll(won_left).unionByName(lost_came))
    assert_df_equality(actual, from_scratch, ignore_row_order=True)


def test_metrics_of_no_transactions_are_empty_tables_with_the_schema(spark):
    no_transactions = spark.createDataFrame([], CLEAN_TRANSACTIONS)
    no_chargebacks = spark.createDataFrame([], CLEAN_CHARGEBACKS)

    assert_df_equality(payment_metrics(no_transactions), spark.createDataFrame([], as_computed(PAYMENT_METRICS)))
    assert_df_equality(
        chargeback_metrics(payment_metrics(no_transactions), no_chargebacks), spark.createDataFrame([], as_computed(CHARGEBACK_METRICS))
    )


def test_chargebacks_are_aggregated_then_broadcast_not_joined_row_by_row(transactions, chargebacks, capsys):
    chargeback_metrics(payment_metrics(transactions), chargebacks).explain()
    plan = capsys.readouterr().out

    assert "BroadcastHashJoin" in plan
    assert "SortMergeJoin" not in plan
    # the first broadcast (the cohort join) ships the chargeback aggregate, not chargeback rows;
    # the second is the reason-code lookup of the fixture
    lines = plan.splitlines()
    first_broadcast = next(i for i, line in enumerate(lines) if "BroadcastExchange" in line)
    assert "HashAggregate(keys=[txn_date" in lines[first_broadcast + 1]

