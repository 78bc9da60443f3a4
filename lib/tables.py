"""Validated rows -> the published tables' shapes (lib/schemas.py states every column).

Enrichment lives here, not in the rule checks: the UTC dates that partition the tables, USD
amounts at the rate in force, and a chargeback's transaction attributes (its currency, cohort
date and payment method, carried from the referential check as `_parent`) and reason category.
"""
from __future__ import annotations

import datetime as dt

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F, types as T

from lib import fx
from lib.schemas import CLEAN_CHARGEBACKS, CLEAN_ORDERS, CLEAN_TRANSACTIONS, QUARANTINE


def _valid() -> Column:
    return ~F.col("quarantined")


def _shaped(frame: DataFrame, schema: T.StructType) -> DataFrame:
    return frame.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def clean_orders(rows: DataFrame, daily: DataFrame, last_rate_date: dt.date) -> DataFrame:
    return (
        rows
        .where(_valid())
        .withColumn("order_date", F.to_date("timestamp"))
        .transform(lambda f: fx.with_usd_clamped(
            f, daily, amount="total_amount", currency="currency",
            date=F.col("order_date"), last_rate_date=last_rate_date))
        .transform(lambda f: _shaped(f, CLEAN_ORDERS))
    )


def clean_transactions(rows: DataFrame, daily: DataFrame, last_rate_date: dt.date) -> DataFrame:
    return (
        rows
        .where(_valid())
        .withColumn("txn_date", F.to_date("timestamp"))
        .transform(lambda f: fx.with_usd_clamped(
            f, daily, amount="amount", currency="currency",
            date=F.col("txn_date"), last_rate_date=last_rate_date))
        .transform(lambda f: _shaped(f, CLEAN_TRANSACTIONS))
    )


def clean_chargebacks(
    rows: DataFrame, daily: DataFrame, last_rate_date: dt.date, reason_codes: DataFrame
) -> DataFrame:
    """A chargeback is in its transaction's currency and cohort (the transaction's date and
    payment method); its USD amount uses the rate of the transaction's date."""
    transaction = F.col("_parent")
    return (
        rows
        .where(_valid())
        .withColumn("currency", transaction["currency"])
        .withColumn("txn_date", F.to_date(transaction["timestamp"]))
        .withColumn("payment_method", transaction["payment_method"])
        .withColumn("chargeback_date", F.to_date("dispute_date"))
        .transform(lambda f: fx.with_usd_clamped(
            f, daily, amount="amount", currency="currency",
            date=F.col("txn_date"), last_rate_date=last_rate_date))
        .transform(lambda f: fx.with_reason_category(f, reason_codes))
        .transform(lambda f: _shaped(f, CLEAN_CHARGEBACKS))
    )


def quarantine_rows(rows: DataFrame, source: str, run_id: str, quarantined_at: Column) -> DataFrame:
    return _shaped(
        rows
        .where(~_valid())
        .withColumn("run_id", F.lit(run_id))
        .withColumn("quarantined_at", quarantined_at)
        .withColumn("source", F.lit(source)),
        QUARANTINE,
    )
