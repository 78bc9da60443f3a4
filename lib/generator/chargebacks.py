"""Chargebacks: exploded from their transaction's plan row, rendered as CSV lines.

Each part file starts with the header: the first transaction of a chunk emits it, so the header
travels in the same partition as the chunk's rows.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lib.generator.draws import (
    DAY, below, floor_div, iso_date, iso_timestamp, money, one_of, uniform, uuid, weighted,
)
from lib.generator.params import (
    CHARGEBACK_DEFECTS, CONFLICTING_DUPLICATE, EXACT_DUPLICATE, MALFORMED, NOT_QUARANTINED,
    ORPHAN, PARENT_QUARANTINED, SECOND_CHARGEBACK_DEFECTS, UNLISTED_REASON_CODES, WRONG_TYPE,
    GeneratorParams,
)
from lib.generator.plan import (
    CHARGEBACK_STATUSES, CLOSED_STATUSES, MAX_CHARGEBACK_DAYS, OPEN_STATUSES, VARIANTS,
)
from lib.schemas import CHARGEBACK_CSV_COLUMNS

CSV_HEADER = ",".join(CHARGEBACK_CSV_COLUMNS)
INVALID_DATES = ("yesterday", "2026-13-01", "31/12/2025")
HEADER_SLOT = -1
# Of the transactions that are failed or pending, this share of `chargeback_rate * defect_rate`
# gets a chargeback (transaction_not_completed), about as many as each other defect class.
NOT_COMPLETED_SHARE = 0.2


def plan_chargebacks(transactions: DataFrame, params: GeneratorParams, *, headers: bool) -> DataFrame:
    """One row per chargeback (slot 0 or 1 of its transaction) plus, with `headers`, one header
    row (slot -1) at the start of each chunk."""
    seed, rate = params.seed, params.defect_rate
    idx = F.col("txn_idx")
    room = F.least(F.lit(MAX_CHARGEBACK_DAYS * DAY), params.as_of_epoch - F.col("txn_ts"))
    completed = F.col("status") == "completed"
    draw = uniform(seed, [idx], "chargeback")
    count = (
        F.when(room < 2 * DAY, 0)
        .when(completed & (draw < params.chargeback_rate),
              F.when(uniform(seed, [idx], "second_chargeback") < 0.1, 2).otherwise(1))
        .when(~completed & (draw < params.chargeback_rate * rate * NOT_COMPLETED_SHARE), 1)
        .otherwise(0)
    )
    header = (F.when(F.lit(headers) & (F.col("row_in_chunk") == 0), F.array(F.lit(HEADER_SLOT)))
              .otherwise(F.array().cast("array<int>")))
    slots = F.concat(header, F.when(count > 0, F.sequence(F.lit(0), count - 1))
                     .otherwise(F.array().cast("array<int>")))
    return (
        transactions
        .select("*", room.alias("dispute_room"), F.explode(slots).alias("slot"))
        .transform(_with_chargeback_facts, params)
    )


def _with_chargeback_facts(rows: DataFrame, params: GeneratorParams) -> DataFrame:
    seed, rate, as_of = params.seed, params.defect_rate, params.as_of_epoch
    idx, slot, ts, room = F.col("txn_idx"), F.col("slot"), F.col("txn_ts"), F.col("dispute_room")
    key = [idx, slot]
    # The second dispute is at least a day after the first, so the two never share a key.
    first = ts + 3_600 + F.floor(uniform(seed, [idx, F.lit(0)], "dispute") * (room / 2 - 3_600)).cast("long")
    second = first + DAY + F.floor(
        uniform(seed, [idx, F.lit(1)], "dispute") * (room - (first - ts) - DAY)).cast("long")
    pick = below(seed, key, "cb_defect_class", 10_000)
    own = (
        F.when(slot == HEADER_SLOT, F.lit(None).cast("string"))
        .when(F.col("status") != "completed", F.lit("transaction_not_completed"))
        .when(uniform(seed, key, "cb_defect") < rate,
              F.when(slot == 0, one_of(CHARGEBACK_DEFECTS, pick % len(CHARGEBACK_DEFECTS)))
              .otherwise(one_of(SECOND_CHARGEBACK_DEFECTS, pick % len(SECOND_CHARGEBACK_DEFECTS))))
    )
    inherited = (F.when(slot == HEADER_SLOT, F.lit(None).cast("string"))
                 .when(F.col("txn_key_lost"), F.lit(ORPHAN))
                 .when(F.col("txn_rule").isNotNull(), F.lit(PARENT_QUARANTINED)))
    injected = F.when(inherited.isNull(), own)
    early = ts - 3_600 - below(seed, key, "early_dispute", 4 * DAY)
    dispute = (F.when(injected == "dispute_before_transaction", early)
               .when(slot == 0, first).otherwise(second))
    date_only = ((uniform(seed, key, "dispute_format") < 0.5)
                 & (floor_div(dispute, DAY) > floor_div(ts, DAY)))
    dispute_shown = F.when(date_only, dispute - F.pmod(dispute, F.lit(DAY))).otherwise(dispute)
    amount = F.col("amount_cents")
    partial = F.greatest(F.lit(1), F.floor(amount * (0.2 + 0.8 * uniform(seed, key, "cb_partial"))).cast("long"))
    reason = F.when(uniform(seed, key, "reason_known") < 0.95,
                    one_of(params.reason_codes, below(seed, key, "reason", len(params.reason_codes)))) \
        .otherwise(one_of(UNLISTED_REASON_CODES, below(seed, key, "reason", len(UNLISTED_REASON_CODES))))
    return rows.select(
        "*",
        F.coalesce(inherited, own).alias("cb_defect"),
        injected.alias("cb_injected"),
        below(seed, key, "cb_variant", VARIANTS).alias("cb_variant"),
        dispute_shown.alias("dispute_ts"),
        date_only.alias("dispute_date_only"),
        F.when(uniform(seed, key, "cb_full") < 0.6, amount).otherwise(partial).alias("cb_amount_cents"),
        reason.alias("reason_code"),
    ).select(
        "*",
        F.when(as_of - F.col("dispute_ts") < 2 * DAY,
               one_of(OPEN_STATUSES, below(seed, key, "cb_status", len(OPEN_STATUSES))))
        .otherwise(weighted(uniform(seed, key, "cb_status"), CHARGEBACK_STATUSES)).alias("cb_status"),
        (F.col("dispute_ts") + DAY + F.floor(
            uniform(seed, key, "resolution") * F.least(F.lit(60 * DAY), as_of - F.col("dispute_ts") - DAY)
        ).cast("long")).alias("resolution_ts"),
        (uniform(seed, key, "resolution_format") < 0.5).alias("resolution_date_only"),
    )


def _blank(variant: Column) -> Column:
    return one_of(["", "   "], variant % 2)


def render_chargeback_lines(chargebacks: DataFrame, params: GeneratorParams) -> DataFrame:
    """CSV lines; columns `chunk`, `line` and the labels `rule`, `warning`, `is_extra_copy`."""
    seed = params.seed
    inj, v = F.col("cb_injected"), F.col("cb_variant")
    key = [F.col("txn_idx"), F.col("slot")]
    copies = F.when(inj.isin(EXACT_DUPLICATE, CONFLICTING_DUPLICATE), 2).otherwise(1)
    rows = chargebacks.select("*", F.explode(F.sequence(F.lit(1), copies)).alias("copy"))
    second_copy = (F.col("copy") == 2) & (inj == CONFLICTING_DUPLICATE)

    status = F.col("cb_status")
    is_closed = status.isin(*CLOSED_STATUSES)
    dispute_ts = F.col("dispute_ts")
    resolution = F.when(F.col("resolution_date_only"), iso_date(F.col("resolution_ts"))) \
        .otherwise(iso_timestamp(F.col("resolution_ts")))
    amount = F.col("cb_amount_cents")
    fields = {
        "transaction_id": F.when(inj == "transaction_id_required", _blank(v))
        .when(inj == ORPHAN, uuid(seed, key, "orphan_transaction"))
        .otherwise(F.col("transaction_id")),
        "dispute_date": F.when(inj == "dispute_date_required", _blank(v))
        .when(inj == "dispute_date_invalid", one_of(INVALID_DATES, v % len(INVALID_DATES)))
        .when(F.col("dispute_date_only"), iso_date(dispute_ts))
        .otherwise(iso_timestamp(dispute_ts)),
        "amount": F.when(inj == "amount_required", _blank(v))
        .when(inj == "amount_not_positive", F.when(v % 2 == 0, F.lit("0.00")).otherwise(money(-amount)))
        .when(inj == "amount_exceeds_transaction",
              money(F.col("amount_cents") + 1 + below(seed, key, "excess", 10_000)))
        .when(inj == WRONG_TYPE, one_of(["abc", "twelve"], v % 2))
        .otherwise(money(amount)),
        "reason_code": F.when(inj == "reason_code_required", _blank(v))
        .when(second_copy, F.when(F.col("reason_code") == "fraudulent_charge", F.lit("product_not_received"))
              .otherwise(F.lit("fraudulent_charge")))
        .otherwise(F.col("reason_code")),
        "status": F.when(inj == "status_required", _blank(v))
        .when(inj == "status_invalid", one_of(["closed", "WON", "disputed"], v % 3))
        .when(inj == "resolution_date_unexpected", one_of(OPEN_STATUSES, v % 3))
        .when(inj.isin("resolution_date_missing", "resolution_date_invalid", "resolution_before_dispute")
              & ~is_closed, one_of(CLOSED_STATUSES, v % 3))
        .otherwise(status),
        "resolution_date": F.when(inj == "resolution_date_unexpected", iso_timestamp(dispute_ts + DAY))
        .when(inj == "resolution_date_missing", F.lit(""))
        .when(inj == "resolution_date_invalid", one_of(INVALID_DATES, v % len(INVALID_DATES)))
        .when(inj == "resolution_before_dispute",
              iso_timestamp(dispute_ts - DAY - below(seed, key, "early_resolution", 9 * DAY)))
        .when(is_closed, resolution)
        .otherwise(F.lit("")),
    }
    values = [fields[c] for c in fields]
    line = F.concat_ws(",", *values)
    malformed = F.when(v % 2 == 0, F.concat_ws(",", *values[:4])) \
        .otherwise(F.concat(line, F.lit(",extra")))
    defect = F.col("cb_defect")
    return rows.select(
        "chunk",
        F.when(F.col("slot") == HEADER_SLOT, F.lit(CSV_HEADER))
        .when(inj == MALFORMED, malformed).otherwise(line).alias("line"),
        F.when(~defect.isin(*NOT_QUARANTINED), defect).alias("rule"),
        F.lit(None).cast("string").alias("warning"),
        ((F.col("copy") == 2) & (inj == EXACT_DUPLICATE)).alias("is_extra_copy"),
        (F.col("slot") == HEADER_SLOT).alias("is_header"),
    )
