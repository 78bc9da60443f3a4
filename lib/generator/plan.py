"""The generation plan: which orders, transactions and chargebacks exist, their clean values and
the one defect (or inherited cross-source rule) each row carries.

Everything is a function of (seed, transaction index): an order is identified by the index of its
first attempt, so a transaction computes its order's facts itself and a chargeback is exploded from
its transaction's row. No joins, no shuffles, and a child always knows its parent's fate.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lib.generator.draws import DAY, below, floor_div, one_of, uniform, uuid, weighted
from lib.generator.params import (
    AMOUNT_MISMATCH, CURRENCIES, MALFORMED, NOT_QUARANTINED, ORPHAN, PARENT_QUARANTINED,
    WRONG_TYPE, GeneratorParams,
)

# Each block of four consecutive transaction indexes is cut into orders by one pattern: for each
# position, the position of its order's first and last attempt. Retries share an order.
GROUP_PATTERNS = (
    ((0, 1, 2, 3), (0, 1, 2, 3), 0.70),
    ((0, 0, 2, 3), (1, 1, 2, 3), 0.08),
    ((0, 1, 1, 3), (0, 2, 2, 3), 0.08),
    ((0, 1, 2, 2), (0, 1, 3, 3), 0.08),
    ((0, 0, 0, 3), (2, 2, 2, 3), 0.06),
)
CURRENCY_WEIGHTS = (("USD", 0.5), ("EUR", 0.25), ("GBP", 0.15), ("ILS", 0.10))
CARD_PROVIDERS = (("Visa", 0.5), ("MasterCard", 0.3), ("Amex", 0.12), ("Discover", 0.08))
WALLET_PROVIDERS = (("PayPal", 0.6), ("Stripe", 0.4))
ERROR_CODES = (("insufficient_funds", 0.35), ("card_declined", 0.3), ("do_not_honor", 0.2),
               ("expired_card", 0.15))
OPEN_STATUSES = ("open", "pending_response", "under_review")
CLOSED_STATUSES = ("resolved", "won", "lost")
CHARGEBACK_STATUSES = (("open", 0.15), ("pending_response", 0.10), ("under_review", 0.15),
                       ("resolved", 0.10), ("won", 0.25), ("lost", 0.25))
# Wrong-type variants whose mistyped value is the row's own key: its children become orphans.
ORDER_WRONG_TYPE_VARIANTS = 5
ORDER_WRONG_TYPE_ID = 1
TXN_WRONG_TYPE_VARIANTS = 4
TXN_WRONG_TYPE_ID = 0
VARIANTS = 840  # divisible by 2..8, so `variant % k` is an even pick among k variants
MAX_CHARGEBACK_DAYS = 120


def transaction_ids(spark: SparkSession, params: GeneratorParams, chunks: list[int]) -> DataFrame:
    """One Spark partition per chunk (a part file), holding that chunk's transaction indexes.

    Chunk k covers [k*rows/parts, (k+1)*rows/parts), so a file's content does not depend on which
    other chunks are generated with it or on the cluster's parallelism.
    """
    rows, parts = params.rows, params.parts
    return (
        spark.range(len(chunks), numPartitions=len(chunks))
        .select(one_of(chunks, F.col("id")).cast("long").alias("chunk"))
        .select(
            "chunk",
            F.expr(f"(chunk * {rows}) div {parts}").alias("first_idx"),
            F.expr(f"((chunk + 1) * {rows}) div {parts}").alias("end_idx"),
        )
        .select("chunk", F.posexplode(F.sequence("first_idx", F.col("end_idx") - 1)))
        .select("chunk", F.col("pos").alias("row_in_chunk"), F.col("col").alias("txn_idx"))
    )


def plan_transactions(ids: DataFrame, params: GeneratorParams) -> DataFrame:
    return (
        ids.transform(_with_groups, params)
        .transform(_with_order_facts, params)
        .transform(_with_transaction_labels, params)
        .transform(_with_timestamps_and_amounts, params)
    )


def _with_groups(ids: DataFrame, params: GeneratorParams) -> DataFrame:
    seed = params.seed
    idx = F.col("txn_idx")
    block_start = floor_div(idx, 4) * 4
    pos = (idx - block_start).cast("int") + 1
    pattern = weighted(uniform(seed, [floor_div(idx, 4)], "group_pattern"),
                       [(n, p[2]) for n, p in enumerate(GROUP_PATTERNS)]) + 1
    starts = F.array(*[F.array(*map(F.lit, p[0])) for p in GROUP_PATTERNS])
    ends = F.array(*[F.array(*map(F.lit, p[1])) for p in GROUP_PATTERNS])
    order_idx = block_start + F.element_at(F.element_at(starts, pattern), pos)
    last_idx = F.least(block_start + F.element_at(F.element_at(ends, pattern), pos),
                       F.lit(params.rows - 1))
    return ids.select(
        "*",
        order_idx.alias("order_idx"),
        (idx - order_idx).cast("int").alias("attempt"),
        (last_idx - order_idx + 1).cast("int").alias("group_size"),
        (idx == last_idx).alias("is_last_attempt"),
    )


def _item(seed: int, order: Column, k: int) -> tuple[Column, Column]:
    key = [order, F.lit(k)]
    quantity = weighted(uniform(seed, key, "quantity"), [(1, 0.6), (2, 0.25), (3, 0.1), (5, 0.05)])
    price = 199 + F.floor(F.pow(uniform(seed, key, "unit_price"), 2) * 49_800).cast("long")
    product = F.concat(F.lit("SKU-"), F.lpad(below(seed, key, "product", 1_000_000).cast("string"), 6, "0"))
    item = F.struct(product.alias("product_id"), quantity.cast("long").alias("quantity"),
                    price.alias("unit_price_cents"))
    return item, quantity * price


def _with_order_facts(plan: DataFrame, params: GeneratorParams) -> DataFrame:
    seed, rate = params.seed, params.defect_rate
    order = F.col("order_idx")
    n_items = weighted(uniform(seed, [order], "n_items"), [(1, 0.5), (2, 0.25), (3, 0.15), (4, 0.1)])
    items = [_item(seed, order, k) for k in range(4)]
    total = sum(F.when(n_items > k, line_total).otherwise(0) for k, (_, line_total) in enumerate(items))
    customers = max(1, params.rows // 5)
    single = weighted(uniform(seed, [order], "final_status"),
                      [("completed", 0.85), ("failed", 0.10), ("pending", 0.05)])
    final_status = F.when(F.col("group_size") > 1, F.lit("completed")).otherwise(single)
    classes = params.defects("orders")
    defect = F.when(uniform(seed, [order], "order_defect") < rate,
                    one_of(classes, below(seed, [order], "order_defect_class", len(classes))))
    variant = below(seed, [order], "order_variant", VARIANTS)
    return plan.select(
        "*",
        uuid(seed, [order], "order_id").alias("order_id"),
        uuid(seed, [below(seed, [order], "customer", customers)], "customer_id").alias("customer_id"),
        weighted(uniform(seed, [order], "currency"), CURRENCY_WEIGHTS).alias("currency"),
        F.slice(F.array(*[item for item, _ in items]), 1, n_items).alias("items"),
        total.cast("long").alias("total_cents"),
        final_status.alias("final_status"),
        F.when(final_status == "failed", "failed")
        .when(uniform(seed, [order], "refund") < 0.03, "refunded")
        .otherwise("paid").alias("payment_status"),
        defect.alias("order_defect"),
        variant.alias("order_variant"),
    ).select(
        "*",
        (F.col("order_defect").isin("order_id_required", MALFORMED)
         | ((F.col("order_defect") == WRONG_TYPE)
            & (F.col("order_variant") % ORDER_WRONG_TYPE_VARIANTS == ORDER_WRONG_TYPE_ID))
         ).alias("order_key_lost"),
        F.coalesce(~F.col("order_defect").isin(*NOT_QUARANTINED), F.lit(False)).alias("order_quarantined"),
    )


def _with_transaction_labels(plan: DataFrame, params: GeneratorParams) -> DataFrame:
    """`defect` is the row's one rule or valid-row class; `injected` is what to do to its fields.

    A child of a quarantined parent gets the parent's fate (orphan when the parent's key is lost,
    parent_quarantined otherwise) and keeps clean fields, so it fails that one rule only.
    """
    seed, rate = params.seed, params.defect_rate
    idx = F.col("txn_idx")
    every = params.defects("transactions")
    # Only an order's sole attempt can carry unknown_currency: it moves the order's date too.
    shared = tuple(c for c in every if c != "unknown_currency")
    pick = below(seed, [idx], "txn_defect_class", 10_000)
    own = F.when(
        uniform(seed, [idx], "txn_defect") < rate,
        F.when(F.col("group_size") == 1, one_of(every, pick % len(every)))
        .otherwise(one_of(shared, pick % len(shared))),
    )
    inherited = (F.when(F.col("order_key_lost"), F.lit(ORPHAN))
                 .when(F.col("order_quarantined"), F.lit(PARENT_QUARANTINED)))
    variant = below(seed, [idx], "txn_variant", VARIANTS)
    defect = F.coalesce(inherited, own)
    return plan.select(
        "*",
        uuid(seed, [idx], "transaction_id").alias("transaction_id"),
        defect.alias("txn_defect"),
        F.when(inherited.isNull(), own).alias("txn_injected"),
        variant.alias("txn_variant"),
        F.when(~defect.isin(*NOT_QUARANTINED), defect).alias("txn_rule"),
        (defect.isin("transaction_id_required", MALFORMED)
         | ((defect == WRONG_TYPE) & (variant % TXN_WRONG_TYPE_VARIANTS == TXN_WRONG_TYPE_ID))
         ).alias("txn_key_lost"),
        (~F.col("order_quarantined") & (F.col("group_size") == 1)
         & (F.coalesce(own, F.lit("")) == "unknown_currency")).alias("before_fx_rates"),
    )


def _with_timestamps_and_amounts(plan: DataFrame, params: GeneratorParams) -> DataFrame:
    seed = params.seed
    idx, order = F.col("txn_idx"), F.col("order_idx")
    span = params.days * DAY - 3_600
    normal_order_ts = params.start_epoch + F.floor(uniform(seed, [order], "order_ts") * span).cast("long")
    valid_from = F.coalesce(*[
        F.when(F.col("currency") == c, F.lit(params.fx_valid_from.get(c, 0))) for c in CURRENCIES
    ])
    # unknown_currency for a transaction: dated before its currency's first fx rate (the order
    # with it, so the transaction stays after its order and no other rule fires).
    early_order_ts = valid_from - 2 * DAY - below(seed, [order], "early_ts", 30 * DAY)
    order_ts = F.when(F.col("before_fx_rates"), early_order_ts).otherwise(normal_order_ts)
    status = F.when(F.col("is_last_attempt"), F.col("final_status")).otherwise(F.lit("failed"))
    method = weighted(uniform(seed, [idx], "method"),
                      [("credit_card", 0.55), ("debit_card", 0.30), ("wallet", 0.15)])
    provider = F.when(method == "wallet", weighted(uniform(seed, [idx], "provider"), WALLET_PROVIDERS)) \
        .otherwise(weighted(uniform(seed, [idx], "provider"), CARD_PROVIDERS))
    total = F.col("total_cents")
    partial = F.greatest(F.lit(1), F.floor(total * (0.5 + 0.49 * uniform(seed, [idx], "partial"))).cast("long"))
    return plan.select(
        "*",
        order_ts.alias("order_ts"),
        (order_ts + 10 + F.col("attempt") * 600 + below(seed, [idx], "txn_delay", 300)).alias("txn_ts"),
        status.alias("status"),
        F.when(status == "failed", weighted(uniform(seed, [idx], "error_code"), ERROR_CODES))
        .alias("error_code"),
        method.alias("payment_type"),
        provider.alias("payment_provider"),
        F.when(F.col("txn_defect") == AMOUNT_MISMATCH, partial).otherwise(total).alias("amount_cents"),
    )
