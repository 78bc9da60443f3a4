"""Cross-source rules, checked against the valid rows of the parent source.

A child whose parent key is in the input but whose parent was quarantined (for any reason, a
conflicting duplicate included) fails `parent_quarantined`; a child whose key is nowhere in the
input fails `orphan` (a parent line that did not parse has no key). The remaining rules compare
the child with its valid parent, so a child of a quarantined parent fails one rule, not several.
A rule is evaluated only when its inputs are present: a missing value is its own rule's failure.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lib import fx
from lib.quality.split import RowCheck, in_scope

def _parent() -> Column:
    return F.col("_parent")


def _parent_found() -> Column:
    return F.col("_parent_key").isNotNull()


def parent_reference(parent: DataFrame, key: str, attributes: Sequence[str]) -> DataFrame:
    """One row per parent key in the input: the key and its valid row's attributes (or null)."""
    return (
        parent
        .where(F.col(key).isNotNull())
        .groupBy(F.col(key).alias("_parent_key"))
        .agg(F.max(F.when(~F.col("quarantined"), F.struct(*attributes))).alias("_parent"))
    )


def _join_parent(child: DataFrame, foreign_key: str, reference: DataFrame) -> DataFrame:
    return child.join(
        reference,
        on=F.col(foreign_key) == F.col("_parent_key"),
        how="left",
    )


def _existence_checks(foreign_key: str, actions: Mapping[str, str], parent: str) -> list[RowCheck]:
    has_key = in_scope() & F.col(foreign_key).isNotNull()
    return [
        RowCheck("orphan", actions["orphan"],
                 f"{foreign_key} names no {parent} in the input", has_key & ~_parent_found()),
        RowCheck("parent_quarantined", actions["parent_quarantined"],
                 f"the {parent} named by {foreign_key} was quarantined",
                 has_key & _parent_found() & _parent().isNull()),
    ]


def check_transactions(
    transactions: DataFrame,
    orders: DataFrame,
    daily: DataFrame,
    last_rate_date: dt.date,
    actions: Mapping[str, str],
) -> tuple[DataFrame, list[RowCheck]]:
    """Join each transaction with its order and its rate; return the frame and its checks."""
    reference = parent_reference(orders, "order_id", ["currency", "total_amount"])
    frame = (
        transactions
        .withColumn("txn_date", F.to_date("timestamp"))
        .transform(lambda f: _join_parent(f, "order_id", reference))
        .transform(lambda f: fx.with_usd_clamped(
            f, daily, amount="amount", currency="currency",
            date=F.col("txn_date"), last_rate_date=last_rate_date))
    )
    valid_parent = in_scope() & _parent().isNotNull()
    checks = _existence_checks("order_id", actions, "order") + [
        RowCheck("currency_mismatch", actions["currency_mismatch"],
                 "currency differs from the order's currency",
                 valid_parent & F.col("currency").isNotNull()
                 & (F.col("currency") != _parent()["currency"])),
        RowCheck("unknown_currency", actions["unknown_currency"],
                 "no fx rate for the currency in force on the transaction's date",
                 in_scope() & F.col("currency").isNotNull() & F.col("txn_date").isNotNull()
                 & F.col("fx_rate").isNull()),
        RowCheck("amount_mismatch", actions["amount_mismatch"],
                 "amount differs from the order's total_amount",
                 valid_parent & F.col("amount").isNotNull()
                 & (F.col("amount") != _parent()["total_amount"])),
    ]
    return frame, checks


TRANSACTION_ATTRIBUTES = (
    "status", "currency", "amount", "timestamp", "txn_date", "payment_method",
)


def check_chargebacks(
    chargebacks: DataFrame,
    transactions: DataFrame,
    daily: DataFrame,
    last_rate_date: dt.date,
    reason_codes: DataFrame,
    actions: Mapping[str, str],
) -> tuple[DataFrame, list[RowCheck]]:
    """Join each chargeback with its transaction; amounts convert at the transaction's rate."""
    reference = parent_reference(transactions, "transaction_id", TRANSACTION_ATTRIBUTES)
    frame = (
        chargebacks
        .transform(lambda f: _join_parent(f, "transaction_id", reference))
        .withColumn("currency", _parent()["currency"])
        .withColumn("txn_date", _parent()["txn_date"])
        .withColumn("payment_method", _parent()["payment_method"])
        .withColumn("chargeback_date", F.to_date("dispute_date"))
        .transform(lambda f: fx.with_usd_clamped(
            f, daily, amount="amount", currency="currency",
            date=F.col("txn_date"), last_rate_date=last_rate_date))
        .transform(lambda f: fx.with_reason_category(f, reason_codes))
    )
    valid_parent = in_scope() & _parent().isNotNull()
    checks = _existence_checks("transaction_id", actions, "transaction") + [
        RowCheck("transaction_not_completed", actions["transaction_not_completed"],
                 "the transaction is not completed",
                 valid_parent & (_parent()["status"] != "completed")),
        RowCheck("dispute_before_transaction", actions["dispute_before_transaction"],
                 "dispute_date is before the transaction's timestamp",
                 valid_parent & F.col("dispute_date").isNotNull()
                 & (F.col("dispute_date") < _parent()["timestamp"])),
        RowCheck("amount_exceeds_transaction", actions["amount_exceeds_transaction"],
                 "amount is more than the transaction's amount",
                 valid_parent & F.col("amount").isNotNull()
                 & (F.col("amount") > _parent()["amount"])),
    ]
    return frame, checks
