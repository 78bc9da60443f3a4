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

# The additive columns of PAYMENT_METRICS and of the chargeback aggregate by cohort
PAYMENT_SUMS = ("attempts", "completed_count", "failed_count", "pending_count",
                "completed_volume_usd", "failed_volume_usd")
DISPUTE_SUMS = (*DISPUTE_COUNTS, "disputed_amount_usd")


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
    return _payment_rates(_payment_sums(transactions))


def payment_metrics_after(published: DataFrame, entering: DataFrame, leaving: DataFrame) -> DataFrame:
    """PAYMENT_METRICS of the dates of `published` (their published rows) once the clean
    transactions `entering` enter and `leaving` leave (both of those dates only). Every column
    but the rate is a count or a sum, so the published sums plus the entering rows' minus the
    leaving rows' are exactly the sums over the transactions after the change (decimals add
    exactly); a grain left with no attempt has no row, as in a full run."""
    return _payment_rates(_signed_sum(
        [(published, 1), (_payment_sums(entering), 1), (_payment_sums(leaving), -1)], PAYMENT_SUMS)
        .where(F.col("attempts") > 0))


def _signed_sum(parts: list[tuple[DataFrame, int]], columns: tuple[str, ...]) -> DataFrame:
    """The grain's sums of `columns` over frames added (+1) or taken away (-1), each of the type
    it has in the first frame (not null, as the sums of a full run's aggregate are)."""
    types = {f.name: f.dataType for f in parts[0][0].schema.fields}
    signed = None
    for frame, sign in parts:
        rows = frame.select(*GRAIN, *[(F.col(c) * F.lit(sign)).alias(c) for c in columns])
        signed = rows if signed is None else signed.unionByName(rows)
    return signed.groupBy(*GRAIN).agg(*[
        F.coalesce(F.sum(c).cast(types[c]), F.lit(0).cast(types[c])).alias(c) for c in columns])


def _payment_sums(transactions: DataFrame) -> DataFrame:
    status = F.col("status")
    return (
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


def _payment_rates(counts: DataFrame) -> DataFrame:
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
    return _cohort_rates(payments, _chargebacks_by_cohort(chargebacks))


def chargeback_metrics_after(payments: DataFrame, published: DataFrame, entering: DataFrame,
                             leaving: DataFrame) -> DataFrame:
    """CHARGEBACK_METRICS of the cohorts of `payments` (their PAYMENT_METRICS rows, as they stand
    after the change) once the clean chargebacks `entering` enter and `leaving` leave (both of
    those cohorts only): the disputes' counts and sums are the published ones (`published`, the
    published rows of those cohorts) plus the entering rows' minus the leaving rows', as in
    `payment_metrics_after`."""
    return _cohort_rates(payments, _signed_sum(
        [(published, 1), (_chargebacks_by_cohort(entering), 1), (_chargebacks_by_cohort(leaving), -1)],
        DISPUTE_SUMS))


def _cohort_rates(payments: DataFrame, disputes: DataFrame) -> DataFrame:
    completed = payments.select(*GRAIN, "completed_count", "completed_volume_usd")
    cohorts = (
        completed
        .join(F.broadcast(disputes), on=list(GRAIN), how="left")
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
