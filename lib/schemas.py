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
    T.StructField("rule", T.StringType(), False),
    T.StructField("message", T.StringType()),
])

QUARANTINE = T.StructType([
    T.StructField("record", T.StringType()),
    T.StructField("failed_rules", T.ArrayType(FAILED_RULE, False)),
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
    T.StructField("finished_at", T.TimestampType(), False),
])

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
