"""Payment and chargeback KPIs at the (txn_date, payment_method) grain.

Both tables take clean (valid, de-duplicated) rows with amount_usd already set and end in a
select that states exactly PAYMENT_METRICS / CHARGEBACK_METRICS of lib/schemas.py. Counts and sums with nothing to count
are 0 / 0.00; only rates are null (when their denominator is 0).
"""
from __future__ import annotations

from decimal import Decimal

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F, types as T

from lib.schemas import AMOUNT

GRAIN = ("txn_date", "payment_method")
OPEN_CHARGEBACK_STATUSES = ("open", "pending_response", "under_review")
FRAUD_CATEGORY = "fraud"
ZERO_USD = Decimal("0.00")
# counts of the chargeback aggregate; a cohort without chargebacks gets 0 for each
DISPUTE_COUNTS = ("chargeback_count", "won_count", "lost_count", "open_count", "fraud_chargeback_count")


def _rate(numerator: Column, denominator: Column) -> Column:
    """numerator / denominator as a double, null when the denominator is 0 (try_divide does not
    raise under ANSI mode); decimal inputs are divided as decimals, then converted."""
    return F.try_divide(numerator, denominator).cast(T.DoubleType())


def _amount_sum(condition: Column | None = None, amount_col: str = "amount_usd") -> Column:
    """Sum of amount_usd (where `condition` holds) as decimal(18,2), 0.00 when nothing to sum.
    The cast comes before the coalesce: a narrowing decimal cast is nullable, a coalesce ending
    in a literal is not, and the schemas declare the sums non-null."""
    amount = F.col(amount_col) if condition is None else F.when(condition, F.col(amount_col))
    return F.coalesce(F.sum(amount).cast(AMOUNT), F.lit(ZERO_USD).cast(AMOUNT))


def _zero_if_null(name: str, data_type: T.DataType) -> Column:
    zero = F.lit(ZERO_USD) if isinstance(data_type, T.DecimalType) else F.lit(0)
    return F.coalesce(F.col(name).cast(data_type), zero.cast(data_type)).alias(name)


def payment_metrics(transactions: DataFrame) -> DataFrame:
    """PAYMENT_METRICS over clean transactions: attempts and counts by status, failure_rate =
    failed / (completed + failed) (pending is not yet an outcome), completed and failed volume."""
    status = F.col("status")
    counts = (
        transactions
        .groupBy(*GRAIN)
        .agg(
            F.count(F.lit(1)).alias("attempts"),
            F.count_if(status == "completed").alias("completed_count"),
            F.count_if(status == "failed").alias("failed_count"),
            F.count_if(status == "pending").alias("pending_count"),
            _amount_sum(status == "completed").alias("completed_volume_usd"),
            _amount_sum(status == "failed").alias("failed_volume_usd"),
        )
    )
    return counts.select(
        F.col("attempts").cast(T.LongType()).alias("attempts"),
        F.col("completed_count").cast(T.LongType()).alias("completed_count"),
        F.col("failed_count").cast(T.LongType()).alias("failed_count"),
        F.col("pending_count").cast(T.LongType()).alias("pending_count"),
        _rate(F.col("failed_count"), F.col("completed_count") + F.col("failed_count")).alias("failure_rate"),
        F.col("completed_volume_usd").cast(AMOUNT).alias("completed_volume_usd"),
        F.col("failed_volume_usd").cast(AMOUNT).alias("failed_volume_usd"),
        F.col("txn_date").cast(T.DateType()).alias("txn_date"),
        F.col("payment_method").cast(T.StringType()).alias("payment_method"),
    )


def _chargebacks_by_cohort(chargebacks: DataFrame) -> DataFrame:
    """Chargebacks summed to the grain first: a transaction with two chargebacks then meets its
    cohort's volume once, and the join below is between two small aggregates."""
    status = F.col("status")
    return (
        chargebacks
        .groupBy(*GRAIN)
        .agg(
            F.count(F.lit(1)).alias("chargeback_count"),
            _amount_sum().alias("disputed_amount_usd"),
            F.count_if(status == "won").alias("won_count"),
            F.count_if(status == "lost").alias("lost_count"),
            F.count_if(status.isin(*OPEN_CHARGEBACK_STATUSES)).alias("open_count"),
            F.count_if(F.col("reason_category") == FRAUD_CATEGORY).alias("fraud_chargeback_count"),
        )
    )


def chargeback_metrics(payments: DataFrame, chargebacks: DataFrame) -> DataFrame:
    """CHARGEBACK_METRICS, cohort by the transaction's date: one row per (txn_date,
    payment_method) with at least one valid transaction of any status.

    `payments` are the cohorts' PAYMENT_METRICS rows (payment_metrics above): their completed
    count and volume are the rates' denominators, so an incremental run can recompute a cohort
    that gained a late chargeback from its published payment metrics, without its transactions.
    `chargebacks` are clean chargebacks (CLEAN_CHARGEBACKS), which already carry their
    transaction's txn_date and payment_method and are, by the referential rules, chargebacks of
    valid completed transactions. A status `resolved` counts as a chargeback but as none of
    won / lost / open.
    """
    completed = payments.select(*GRAIN, "completed_count", "completed_volume_usd")
    disputes = F.broadcast(_chargebacks_by_cohort(chargebacks))
    cohorts = (
        completed
        .join(disputes, on=list(GRAIN), how="left")
        .select(
            *GRAIN,
            "completed_count",
            "completed_volume_usd",
            *(_zero_if_null(name, T.LongType()) for name in DISPUTE_COUNTS),
            _zero_if_null("disputed_amount_usd", AMOUNT),
        )
    )
    won, lost = F.col("won_count"), F.col("lost_count")
    return cohorts.select(
        F.col("completed_count").cast(T.LongType()).alias("completed_count"),
        F.col("completed_volume_usd").cast(AMOUNT).alias("completed_volume_usd"),
        F.col("chargeback_count").cast(T.LongType()).alias("chargeback_count"),
        F.col("disputed_amount_usd").cast(AMOUNT).alias("disputed_amount_usd"),
        _rate(F.col("disputed_amount_usd"), F.col("completed_volume_usd")).alias("chargeback_rate"),
        _rate(F.col("chargeback_count"), F.col("completed_count")).alias("chargeback_rate_count"),
        won.cast(T.LongType()).alias("won_count"),
        lost.cast(T.LongType()).alias("lost_count"),
        F.col("open_count").cast(T.LongType()).alias("open_count"),
        _rate(won, won + lost).alias("win_rate"),
        F.col("fraud_chargeback_count").cast(T.LongType()).alias("fraud_chargeback_count"),
        F.col("txn_date").cast(T.DateType()).alias("txn_date"),
        F.col("payment_method").cast(T.StringType()).alias("payment_method"),
    )
