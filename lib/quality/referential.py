"""Cross-source rules, declared once and checked against the valid rows of the parent source.

A child whose parent key is in the input but whose parent was quarantined (for any reason, a
conflicting duplicate included) fails `parent_quarantined`; a child whose key is nowhere in the
input fails `orphan` (a parent line that did not parse has no key). The remaining rules compare
the child with its valid parent, so a child of a quarantined parent fails one rule, not several.
A rule is evaluated only when its inputs are present: a missing value is its own rule's failure.

This module only checks. The parent's attributes travel with the child as `_parent` (a struct,
null unless the parent is valid) so that lib/tables.py can enrich the published rows from them.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lib.quality.split import RowCheck, in_scope


@dataclass(frozen=True)
class Parentage:
    """A child source names its parent by `foreign_key` (the parent's key, one column)."""
    child: str
    parent: str
    foreign_key: str
    attributes: tuple[str, ...]  # the parent's columns the rules and the clean tables read


ORDER_OF_TRANSACTION = Parentage(
    "transactions", "orders", "order_id", ("currency", "total_amount"))
TRANSACTION_OF_CHARGEBACK = Parentage(
    "chargebacks", "transactions", "transaction_id",
    ("status", "currency", "amount", "timestamp", "payment_method"))
PARENTAGE = {p.child: p for p in (ORDER_OF_TRANSACTION, TRANSACTION_OF_CHARGEBACK)}


@dataclass(frozen=True)
class CrossSourceRule:
    name: str
    source: str
    against: str          # the parent source, or "fx_rates"
    message: str
    default_action: str


CROSS_SOURCE_RULES = (
    CrossSourceRule("orphan", "transactions", "orders",
                    "order_id names no order in the input", "quarantine"),
    CrossSourceRule("parent_quarantined", "transactions", "orders",
                    "the order named by order_id was quarantined", "quarantine"),
    CrossSourceRule("currency_mismatch", "transactions", "orders",
                    "currency differs from the order's currency", "quarantine"),
    CrossSourceRule("unknown_currency", "transactions", "fx_rates",
                    "no fx rate for the currency in force on the transaction's date", "quarantine"),
    CrossSourceRule("amount_mismatch", "transactions", "orders",
                    "amount differs from the order's total_amount", "warn"),
    CrossSourceRule("orphan", "chargebacks", "transactions",
                    "transaction_id names no transaction in the input", "quarantine"),
    CrossSourceRule("parent_quarantined", "chargebacks", "transactions",
                    "the transaction named by transaction_id was quarantined", "quarantine"),
    CrossSourceRule("transaction_not_completed", "chargebacks", "transactions",
                    "the transaction is not completed", "quarantine"),
    CrossSourceRule("dispute_before_transaction", "chargebacks", "transactions",
                    "dispute_date is before the transaction's timestamp", "quarantine"),
    CrossSourceRule("amount_exceeds_transaction", "chargebacks", "transactions",
                    "amount is more than the transaction's amount", "quarantine"),
)
# The settings file sets an action per rule name (`cross_source_actions`), for every source.
DEFAULT_CROSS_SOURCE_ACTIONS = {r.name: r.default_action for r in CROSS_SOURCE_RULES}


def _parent() -> Column:
    return F.col("_parent")


def _conditions(first_rate_dates: Mapping[str, dt.date]) -> dict[tuple[str, str], Callable[[], Column]]:
    """(source, rule) -> the rows that fail it, on a child joined with its parent reference."""
    def has_key(source: str) -> Column:
        return in_scope() & F.col(PARENTAGE[source].foreign_key).isNotNull()

    def valid_parent() -> Column:
        return in_scope() & _parent().isNotNull()

    def present(name: str) -> Column:
        return F.col(name).isNotNull()

    # The rate in force on a date is the latest valid_from not after it, so a currency has one
    # on every day from its first valid_from on: a tiny literal map, no join.
    first_rates = F.create_map(*[x for currency, day in sorted(first_rate_dates.items())
                                 for x in (F.lit(currency), F.lit(day))]) \
        if first_rate_dates else F.create_map().cast("map<string,date>")
    return {
        ("transactions", "orphan"): lambda: has_key("transactions") & F.col("_parent_key").isNull(),
        ("transactions", "parent_quarantined"):
            lambda: has_key("transactions") & F.col("_parent_key").isNotNull() & _parent().isNull(),
        ("transactions", "currency_mismatch"):
            lambda: valid_parent() & present("currency") & (F.col("currency") != _parent()["currency"]),
        ("transactions", "unknown_currency"):
            lambda: in_scope() & present("currency") & present("timestamp")
            & F.coalesce(F.to_date("timestamp") < F.element_at(first_rates, F.col("currency")),
                         F.element_at(first_rates, F.col("currency")).isNull()),
        ("transactions", "amount_mismatch"):
            lambda: valid_parent() & present("amount") & (F.col("amount") != _parent()["total_amount"]),
        ("chargebacks", "orphan"): lambda: has_key("chargebacks") & F.col("_parent_key").isNull(),
        ("chargebacks", "parent_quarantined"):
            lambda: has_key("chargebacks") & F.col("_parent_key").isNotNull() & _parent().isNull(),
        ("chargebacks", "transaction_not_completed"):
            lambda: valid_parent() & (_parent()["status"] != "completed"),
        ("chargebacks", "dispute_before_transaction"):
            lambda: valid_parent() & present("dispute_date")
            & (F.col("dispute_date") < _parent()["timestamp"]),
        ("chargebacks", "amount_exceeds_transaction"):
            lambda: valid_parent() & present("amount") & (F.col("amount") > _parent()["amount"]),
    }


def cross_source_checks(
    source: str, actions: Mapping[str, str], first_rate_dates: Mapping[str, dt.date]
) -> list[RowCheck]:
    """The declared rules of `source` as RowChecks, with the run's actions."""
    conditions = _conditions(first_rate_dates)
    return [
        RowCheck(rule.name, actions[rule.name], rule.message, conditions[(source, rule.name)]())
        for rule in CROSS_SOURCE_RULES if rule.source == source
    ]


def parent_reference(parent_rows: DataFrame, parentage: Parentage, parent_key: str) -> DataFrame:
    """One row per parent key in the input: `_parent_key` and `_parent`, the valid row's
    attributes (null when every row of that key was quarantined)."""
    return (
        parent_rows
        .where(F.col(parent_key).isNotNull())
        .groupBy(F.col(parent_key).alias("_parent_key"))
        .agg(F.max(F.when(~F.col("quarantined"), F.struct(*parentage.attributes))).alias("_parent"))
    )


def join_parent(children: DataFrame, parentage: Parentage, reference: DataFrame) -> DataFrame:
    """Each child with `_parent_key` (null: no such parent) and `_parent` (null: not valid)."""
    return children.join(
        reference,
        on=F.col(parentage.foreign_key) == F.col("_parent_key"),
        how="left",
    )
