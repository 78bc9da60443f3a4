"""Every schema once: raw (as read), published clean tables, quarantine, dq_results, metrics.

Readers, writers and tests import these; nothing else declares a StructType.
"""
from __future__ import annotations

from pyspark.sql import types as T

AMOUNT = T.DecimalType(18, 2)

SOURCES = ("orders", "transactions", "chargebacks")

CHARGEBACK_CSV_COLUMNS = (
    "transaction_id", "dispute_date", "amount", "reason_code", "status", "resolution_date",
)

ITEM = T.StructType([
    T.StructField("product_id", T.StringType()),
    T.StructField("quantity", T.LongType()),
    T.StructField("unit_price", AMOUNT),
])

# --- published clean tables: one valid, de-duplicated row per key -----------------------------
CLEAN_ORDERS = T.StructType([
    T.StructField("order_id", T.StringType(), False),
    T.StructField("customer_id", T.StringType()),
    T.StructField("timestamp", T.TimestampType()),
    T.StructField("total_amount", AMOUNT),
    T.StructField("currency", T.StringType()),
    T.StructField("items", T.ArrayType(ITEM)),
    T.StructField("payment_status", T.StringType()),
    T.StructField("fx_rate", T.DoubleType()),
    T.StructField("amount_usd", AMOUNT),
    T.StructField("dq_warnings", T.ArrayType(T.StringType())),
    T.StructField("order_date", T.DateType()),
])

CLEAN_TRANSACTIONS = T.StructType([
    T.StructField("transaction_id", T.StringType(), False),
    T.StructField("order_id", T.StringType()),
    T.StructField("timestamp", T.TimestampType()),
    T.StructField("amount", AMOUNT),
    T.StructField("currency", T.StringType()),
    T.StructField("status", T.StringType()),
    T.StructField("payment_method", T.StringType()),    # payment_method.type
    T.StructField("payment_provider", T.StringType()),  # payment_method.provider
    T.StructField("error_code", T.StringType()),
    T.StructField("fx_rate", T.DoubleType()),
    T.StructField("amount_usd", AMOUNT),
    T.StructField("dq_warnings", T.ArrayType(T.StringType())),
    T.StructField("txn_date", T.DateType()),
])

CLEAN_CHARGEBACKS = T.StructType([
    T.StructField("transaction_id", T.StringType(), False),
    T.StructField("dispute_date", T.TimestampType(), False),
    T.StructField("amount", AMOUNT),
    T.StructField("currency", T.StringType()),          # the transaction's
    T.StructField("reason_code", T.StringType()),
    T.StructField("reason_category", T.StringType()),   # conf/reason_codes.csv, else "unknown"
    T.StructField("status", T.StringType()),
    T.StructField("resolution_date", T.TimestampType()),
    T.StructField("txn_date", T.DateType()),            # the transaction's cohort date
    T.StructField("payment_method", T.StringType()),    # the transaction's payment_method.type
    T.StructField("fx_rate", T.DoubleType()),
    T.StructField("amount_usd", AMOUNT),
    T.StructField("dq_warnings", T.ArrayType(T.StringType())),
    T.StructField("chargeback_date", T.DateType()),
])

FAILED_RULE = T.StructType([
    T.StructField("rule", T.StringType()),
    T.StructField("message", T.StringType()),
])

QUARANTINE = T.StructType([
    T.StructField("record", T.StringType()),
    T.StructField("failed_rules", T.ArrayType(FAILED_RULE)),
    T.StructField("source_file", T.StringType()),
    T.StructField("run_id", T.StringType(), False),
    T.StructField("quarantined_at", T.TimestampType(), False),
    T.StructField("source", T.StringType(), False),
])

DQ_RESULTS = T.StructType([
    T.StructField("run_id", T.StringType(), False),
    T.StructField("rule", T.StringType(), False),
    T.StructField("expectation_type", T.StringType(), False),
    T.StructField("action", T.StringType(), False),
    T.StructField("element_count", T.LongType()),
    T.StructField("unexpected_count", T.LongType()),
    T.StructField("unexpected_percent", T.DoubleType()),
    T.StructField("success", T.BooleanType()),
    T.StructField("source", T.StringType(), False),
])

RUN_LOG = T.StructType([
    T.StructField("run_id", T.StringType(), False),
    T.StructField("as_of", T.TimestampType(), False),
    T.StructField("source", T.StringType(), False),
    T.StructField("rows_read", T.LongType(), False),
    T.StructField("rows_valid", T.LongType(), False),
    T.StructField("rows_quarantined", T.LongType(), False),
    T.StructField("duplicates_dropped", T.LongType(), False),
    T.StructField("finished_at", T.TimestampType()),        # null until the run completes
    # `publishing` is written before the first table, `completed` after the last one: a run that
    # died half-way stays `publishing`.
    T.StructField("status", T.StringType(), False),
    T.StructField("started_at", T.TimestampType(), False),
    # table -> the Delta version this run published (filled when completed): a consistent set
    # of tables is read by time travel to these versions (docs/reliability.md).
    T.StructField("table_versions", T.MapType(T.StringType(), T.LongType(), False)),
    # CONTRACT.md section 5: what ran (`full`, or `incremental`), the files it read of the
    # source, and the warehouse's totals after it (null until the run completes); the counts
    # above are the run's own, over its files.
    T.StructField("mode", T.StringType()),
    T.StructField("files", T.ArrayType(T.StringType(), False)),
    T.StructField("total_rows_read", T.LongType()),
    T.StructField("total_rows_valid", T.LongType()),
    T.StructField("total_rows_quarantined", T.LongType()),
    T.StructField("total_duplicates_dropped", T.LongType()),
    # reference data and suites the run validated with: a change makes the next run a full one
    T.StructField("reference_fingerprint", T.StringType()),
])

# Every input file a run has read (lib/incremental.py): a changed or vanished one stops an
# incremental run.
PROCESSED_FILES = T.StructType([
    T.StructField("source", T.StringType(), False),
    T.StructField("path", T.StringType(), False),
    T.StructField("size", T.LongType(), False),
    T.StructField("modification_time", T.LongType(), False),  # ms since the epoch
    T.StructField("run_id", T.StringType(), False),
    T.StructField("processed_at", T.TimestampType(), False),
])

RUN_PUBLISHING = "publishing"
RUN_COMPLETED = "completed"

# --- metric tables ------------------------------------------------------------------------------
PAYMENT_METRICS = T.StructType([
    T.StructField("attempts", T.LongType(), False),
    T.StructField("completed_count", T.LongType(), False),
    T.StructField("failed_count", T.LongType(), False),
    T.StructField("pending_count", T.LongType(), False),
    T.StructField("failure_rate", T.DoubleType()),
    T.StructField("completed_volume_usd", AMOUNT, False),
    T.StructField("failed_volume_usd", AMOUNT, False),
    T.StructField("txn_date", T.DateType(), False),
    T.StructField("payment_method", T.StringType(), False),
])

CHARGEBACK_METRICS = T.StructType([
    T.StructField("completed_count", T.LongType(), False),
    T.StructField("completed_volume_usd", AMOUNT, False),
    T.StructField("chargeback_count", T.LongType(), False),
    T.StructField("disputed_amount_usd", AMOUNT, False),
    T.StructField("chargeback_rate", T.DoubleType()),
    T.StructField("chargeback_rate_count", T.DoubleType()),
    T.StructField("won_count", T.LongType(), False),
    T.StructField("lost_count", T.LongType(), False),
    T.StructField("open_count", T.LongType(), False),
    T.StructField("win_rate", T.DoubleType()),
    T.StructField("fraud_chargeback_count", T.LongType(), False),
    T.StructField("txn_date", T.DateType(), False),
    T.StructField("payment_method", T.StringType(), False),
])

FX_RATES = T.StructType([
    T.StructField("currency", T.StringType(), False),
    T.StructField("rate_to_usd", T.DoubleType(), False),
    T.StructField("valid_from", T.DateType(), False),
])

REASON_CODES = T.StructType([
    T.StructField("reason_code", T.StringType(), False),
    T.StructField("category", T.StringType(), False),
])

# --- raw sources: how each contract field is read --------------------------------------------
# kind: "string" (a JSON string, trimmed, empty -> null), "amount" (a JSON number that fits
# decimal(18,2)), "timestamp" (an ISO-8601 string; the reader keeps `<column>_raw` beside the
# parsed value), "object" (must be a JSON object; only checked), "items" (the order's item array).
from dataclasses import dataclass  # noqa: E402


@dataclass(frozen=True)
class RawField:
    column: str
    path: str
    kind: str


@dataclass(frozen=True)
class SourceSpec:
    name: str
    key: tuple[str, ...]
    fields: tuple[RawField, ...]
    file_format: str  # "json" or "csv"

    @property
    def columns(self) -> tuple[str, ...]:
        """The typed columns the validation sees, in order (raw timestamp text included)."""
        out: list[str] = []
        for f in self.fields:
            if f.kind == "timestamp":
                out += [f"{f.column}_raw", f.column]
            elif f.kind != "object":
                out.append(f.column)
        return tuple(out)


ORDERS_SOURCE = SourceSpec(
    name="orders",
    key=("order_id",),
    file_format="json",
    fields=(
        RawField("order_id", "$.order_id", "string"),
        RawField("customer_id", "$.customer_id", "string"),
        RawField("timestamp", "$.timestamp", "timestamp"),
        RawField("total_amount", "$.total_amount", "amount"),
        RawField("currency", "$.currency", "string"),
        RawField("items", "$.items", "items"),
        RawField("payment_status", "$.payment_status", "string"),
    ),
)

TRANSACTIONS_SOURCE = SourceSpec(
    name="transactions",
    key=("transaction_id",),
    file_format="json",
    fields=(
        RawField("transaction_id", "$.transaction_id", "string"),
        RawField("order_id", "$.order_id", "string"),
        RawField("timestamp", "$.timestamp", "timestamp"),
        RawField("amount", "$.amount", "amount"),
        RawField("currency", "$.currency", "string"),
        RawField("status", "$.status", "string"),
        RawField("payment_method_object", "$.payment_method", "object"),
        RawField("payment_method", "$.payment_method.type", "string"),
        RawField("payment_provider", "$.payment_method.provider", "string"),
        RawField("error_code", "$.error_code", "string"),
    ),
)

CHARGEBACKS_SOURCE = SourceSpec(
    name="chargebacks",
    key=("transaction_id", "dispute_date"),
    file_format="csv",
    fields=(
        RawField("transaction_id", "transaction_id", "string"),
        RawField("dispute_date", "dispute_date", "timestamp"),
        RawField("amount", "amount", "amount"),
        RawField("reason_code", "reason_code", "string"),
        RawField("status", "status", "string"),
        RawField("resolution_date", "resolution_date", "timestamp"),
    ),
)

SOURCE_SPECS = {spec.name: spec for spec in (ORDERS_SOURCE, TRANSACTIONS_SOURCE, CHARGEBACKS_SOURCE)}

# Measures of an order's items that the orders suite puts bounds on (lib/sources.py adds them).
ITEM_MEASURES = (
    "items_count",
    "items_field_missing_count",
    "items_min_quantity",
    "items_min_unit_price",
    "items_total_diff",
)
