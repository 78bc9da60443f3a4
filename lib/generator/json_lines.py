"""Orders and transactions rendered as JSON text, one record per row, with the row's defect
applied to its fields. Built with string functions, not `to_json`, because defects need what a
typed struct cannot hold: a missing key, an amount as a string, an id as a number, a cut-off line.
"""
from __future__ import annotations

from collections.abc import Callable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lib.generator.draws import DAY, below, iso_timestamp, money, one_of, uuid
from lib.generator.params import (
    AMOUNT_MISMATCH, CONFLICTING_DUPLICATE, CURRENCIES, EXACT_DUPLICATE, MALFORMED,
    NOT_QUARANTINED, ORPHAN, WRONG_TYPE, GeneratorParams,
)
from lib.generator.plan import (
    ORDER_WRONG_TYPE_ID, ORDER_WRONG_TYPE_VARIANTS, TXN_WRONG_TYPE_ID, TXN_WRONG_TYPE_VARIANTS,
)

INVALID_TIMESTAMPS = ("yesterday", "2026-13-01T10:00:00Z", "12/31/2025 10:00 PM")
OTHER_PROVIDER = {"Visa": "MasterCard", "MasterCard": "Visa", "Amex": "Discover",
                  "Discover": "Amex", "PayPal": "Stripe", "Stripe": "PayPal"}


class JsonStyle:
    """Compact (one record a line) or pretty (the assignment's indented array) JSON text."""

    def __init__(self, pretty: bool):
        self.pretty = pretty

    def _indent(self, level: int) -> str:
        return "  " * level

    def obj(self, fields: list[tuple[str, Column]], level: int) -> Column:
        """A field whose value is null is left out of the object."""
        if self.pretty:
            inner = self._indent(level + 1)
            members = [F.concat(F.lit(f'{inner}"{name}": '), value) for name, value in fields]
            return F.concat(F.lit("{\n"), F.concat_ws(",\n", *members),
                            F.lit("\n" + self._indent(level) + "}"))
        members = [F.concat(F.lit(f'"{name}": '), value) for name, value in fields]
        return F.concat(F.lit("{"), F.concat_ws(", ", *members), F.lit("}"))

    def arr(self, elements: Column, render: Callable[[Column, int], Column], level: int) -> Column:
        if self.pretty:
            inner = self._indent(level + 1)
            body = F.array_join(F.transform(elements, lambda e: F.concat(F.lit(inner), render(e, level + 1))), ",\n")
            return F.when(F.size(elements) == 0, F.lit("[]")).otherwise(
                F.concat(F.lit("[\n"), body, F.lit("\n" + self._indent(level) + "]")))
        body = F.array_join(F.transform(elements, lambda e: render(e, level + 1)), ", ")
        return F.concat(F.lit("["), body, F.lit("]"))


def text(value: Column) -> Column:
    return F.concat(F.lit('"'), value, F.lit('"'))


def blank(variant: Column) -> Column:
    """A missing required value: no key, null, empty or whitespace-only."""
    return one_of([None, "null", '""', '"   "'], variant % 4)


def as_number(seed: int, keys: list[Column], salt: str) -> Column:
    return below(seed, keys, salt, 1_000_000_000).cast("string")


def _with_copies(rows: DataFrame, injected: str) -> DataFrame:
    copies = F.when(F.col(injected).isin(EXACT_DUPLICATE, CONFLICTING_DUPLICATE), 2).otherwise(1)
    return rows.select("*", F.explode(F.sequence(F.lit(1), copies)).alias("copy"))


def _labelled(rows: DataFrame, record: Column, defect: str, injected: str, variant: str) -> DataFrame:
    inj, v = F.col(injected), F.col(variant)
    truncated = F.expr("substring(record, 1, cast(length(record) * 0.6 as int))")
    garbled = F.regexp_replace("record", '", "', '" "')
    line = F.when(inj == MALFORMED, F.when(v % 2 == 0, truncated).otherwise(garbled)).otherwise(F.col("record"))
    label = F.col(defect)
    return rows.select("*", record.alias("record")).select(
        "chunk",
        line.alias("line"),
        F.when(~label.isin(*NOT_QUARANTINED), label).alias("rule"),
        F.when(label == AMOUNT_MISMATCH, label).alias("warning"),
        ((F.col("copy") == 2) & (inj == EXACT_DUPLICATE)).alias("is_extra_copy"),
        F.lit(False).alias("is_header"),
    )


def render_transactions(plan: DataFrame, params: GeneratorParams, style: JsonStyle) -> DataFrame:
    seed, as_of = params.seed, params.as_of_epoch
    idx = F.col("txn_idx")
    inj, v = F.col("txn_injected"), F.col("txn_variant")
    wrong = (inj == WRONG_TYPE)
    wrong_variant = v % TXN_WRONG_TYPE_VARIANTS
    amount = F.col("amount_cents")
    status = F.col("status")
    currency_pos = F.coalesce(*[F.when(F.col("currency") == c, F.lit(n)) for n, c in enumerate(CURRENCIES)])
    other_currency = one_of(CURRENCIES, (currency_pos + 1 + v % 3) % 4)
    provider = F.col("payment_provider")
    other_provider = F.coalesce(*[F.when(provider == a, F.lit(b)) for a, b in OTHER_PROVIDER.items()])
    conflicting_copy = (F.col("copy") == 2) & (inj == CONFLICTING_DUPLICATE)
    method = style.obj([
        ("type", F.when(inj == "payment_method_type_required", blank(v))
         .when(inj == "payment_method_type_invalid", text(one_of(["crypto", "Credit Card", "bank_transfer"], v % 3)))
         .otherwise(text(F.col("payment_type")))),
        ("provider", F.when(inj == "payment_provider_required", blank(v))
         .when(conflicting_copy, text(other_provider))
         .otherwise(text(provider))),
    ], 2)
    fields = [
        ("transaction_id", F.when(inj == "transaction_id_required", blank(v))
         .when(wrong & (wrong_variant == TXN_WRONG_TYPE_ID), as_number(seed, [idx], "numeric_id"))
         .otherwise(text(F.col("transaction_id")))),
        ("order_id", F.when(inj == "order_id_required", blank(v))
         .when(inj == ORPHAN, text(uuid(seed, [idx], "orphan_order")))
         .when(wrong & (wrong_variant == 1), as_number(seed, [idx], "numeric_order_id"))
         .otherwise(text(F.col("order_id")))),
        ("timestamp", F.when(inj == "timestamp_required", blank(v))
         .when(inj == "timestamp_invalid", text(one_of(INVALID_TIMESTAMPS, v % 3)))
         .when(inj == "timestamp_after_as_of",
               text(iso_timestamp(F.lit(as_of + 3_600) + below(seed, [idx], "late", 30 * DAY))))
         .otherwise(text(iso_timestamp(F.col("txn_ts"))))),
        ("amount", F.when(inj == "amount_required", one_of([None, "null"], v % 2))
         .when(inj == "amount_not_positive", F.when(v % 2 == 0, F.lit("0.00")).otherwise(money(-amount)))
         .when(wrong & (wrong_variant == 2), text(money(amount)))
         .otherwise(money(amount))),
        ("currency", F.when(inj == "currency_required", blank(v))
         .when(inj == "currency_mismatch", text(other_currency))
         .otherwise(text(F.col("currency")))),
        ("status", F.when(inj == "status_required", blank(v))
         .when(inj == "status_invalid", text(one_of(["success", "COMPLETED", "declined"], v % 3)))
         .when(inj == "error_code_missing", text(F.lit("failed")))
         .when(inj == "error_code_unexpected",
               text(F.when(status == "failed", F.lit("pending")).otherwise(status)))
         .otherwise(text(status))),
        ("payment_method", F.when(wrong & (wrong_variant == 3), text(F.col("payment_type"))).otherwise(method)),
        ("error_code", F.when(inj.isin("status_required", "status_invalid"), F.lit("null"))
         .when(inj == "error_code_missing", one_of([None, "null", '""'], v % 3))
         .when(inj == "error_code_unexpected", text(one_of(["card_declined", "do_not_honor"], v % 2)))
         .when(F.col("error_code").isNull(), F.lit("null"))
         .otherwise(text(F.col("error_code")))),
    ]
    rows = _with_copies(plan, "txn_injected")
    return _labelled(rows, style.obj(fields, 1), "txn_defect", "txn_injected", "txn_variant")


def render_orders(plan: DataFrame, params: GeneratorParams, style: JsonStyle) -> DataFrame:
    """One record per order, taken from the plan row of the order's first attempt."""
    seed = params.seed
    order = F.col("order_idx")
    inj, v = F.col("order_defect"), F.col("order_variant")
    wrong = inj == WRONG_TYPE
    wrong_variant = v % ORDER_WRONG_TYPE_VARIANTS
    total = F.col("total_cents")

    def sku(salt: str) -> Column:
        return F.concat(F.lit("SKU-"), F.lpad(below(seed, [order], salt, 1_000_000).cast("string"), 6, "0"))

    def item(product: Column, quantity: Column, price: Column) -> Column:
        return F.struct(product.alias("product_id"), quantity.alias("quantity"), price.alias("unit_price"))

    price = 199 + below(seed, [order], "extra_price", 10_000)
    clean_items = F.transform(F.col("items"), lambda x, i: item(
        F.when((inj == "item_field_missing") & (i == F.size(F.col("items")) - 1 - v % F.size(F.col("items"))),
               F.lit(None).cast("string")).otherwise(text(x["product_id"])),
        F.when(wrong & (wrong_variant == 2) & (i == 0), F.lit("1.5")).otherwise(x["quantity"].cast("string")),
        F.when(wrong & (wrong_variant == 3) & (i == 0), text(money(x["unit_price_cents"])))
        .otherwise(money(x["unit_price_cents"])),
    ))
    # Extra items that keep the items' sum equal to total_amount, so only the item rule fails.
    zero_quantity = F.when(v % 2 == 0, F.array(item(text(sku("extra_a")), F.lit("0"), money(price)))) \
        .otherwise(F.array(item(text(sku("extra_a")), F.lit("-2"), money(price)),
                           item(text(sku("extra_b")), F.lit("2"), money(price))))
    zero_price = F.when(v % 2 == 0, F.array(item(text(sku("extra_a")), F.lit("1"), F.lit("0.00")))) \
        .otherwise(F.array(item(text(sku("extra_a")), F.lit("1"), money(-price)),
                           item(text(sku("extra_b")), F.lit("1"), money(price))))
    items = (
        F.when(inj == "items_empty", F.array().cast("array<struct<product_id:string,quantity:string,unit_price:string>>"))
        # total 0.00 with one item of 0.01: the sum is within the 0.01 tolerance
        .when(inj == "total_amount_not_positive", F.array(item(text(sku("extra_a")), F.lit("1"), F.lit("0.01"))))
        .when(inj == "item_quantity_not_positive", F.concat(clean_items, zero_quantity))
        .when(inj == "item_unit_price_not_positive", F.concat(clean_items, zero_price))
        .otherwise(clean_items)
    )

    def render_item(x: Column, level: int) -> Column:
        return style.obj([("product_id", x["product_id"]), ("quantity", x["quantity"]),
                          ("unit_price", x["unit_price"])], level)

    fields = [
        ("order_id", F.when(inj == "order_id_required", blank(v))
         .when(wrong & (wrong_variant == ORDER_WRONG_TYPE_ID), as_number(seed, [order], "numeric_id"))
         .otherwise(text(F.col("order_id")))),
        ("customer_id", F.when(inj == "customer_id_required", blank(v))
         .when((F.col("copy") == 2) & (inj == CONFLICTING_DUPLICATE),
               text(uuid(seed, [order], "other_customer")))
         .otherwise(text(F.col("customer_id")))),
        ("timestamp", F.when(inj == "timestamp_required", blank(v))
         .when(inj == "timestamp_invalid", text(one_of(INVALID_TIMESTAMPS, v % 3)))
         .otherwise(text(iso_timestamp(F.col("order_ts"))))),
        ("total_amount", F.when(inj == "total_amount_required", one_of([None, "null"], v % 2))
         .when(inj == "total_amount_not_positive", F.lit("0.00"))
         # an empty item list sums to 0.00, within 0.01 of this total
         .when(inj == "items_empty", F.lit("0.01"))
         .when(inj == "items_total_mismatch", money(total + 5 + below(seed, [order], "mismatch", 2_000)))
         .when(wrong & (wrong_variant == 0), text(money(total)))
         .otherwise(money(total))),
        ("currency", F.when(inj == "currency_required", blank(v))
         .when(inj == "unknown_currency", text(one_of(["XYZ", "JPY"], v % 2)))
         .otherwise(text(F.col("currency")))),
        ("items", F.when((inj == "items_empty") & (v % 2 == 0), F.lit(None).cast("string"))
         .when(wrong & (wrong_variant == 4), render_item(F.col("items_json")[0], 2))
         .otherwise(style.arr(F.col("items_json"), render_item, 2))),
        ("payment_status", F.when(inj == "payment_status_required", blank(v))
         .when(inj == "payment_status_invalid", text(one_of(["PAID", "complete", "chargeback"], v % 3)))
         .otherwise(text(F.col("payment_status")))),
    ]
    rows = (
        _with_copies(plan.where(F.col("attempt") == 0), "order_defect")
        .select("*", items.alias("items_json"))
    )
    return _labelled(rows, style.obj(fields, 1), "order_defect", "order_defect", "order_variant")
