"""Tiny hand-written rows for every suite rule: a row that passes, a row that fails, a NULL.

All cases of a source sit in one DataFrame (one row each, keyed by `case`); next to each case,
the rules it fails, written by hand from the contract. Shared by tests/test_rules.py (the split)
and tests/test_gx_compiled_counts.py (the counts against Great Expectations' engine).
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pyspark.sql import Row

from lib.schemas import SOURCE_SPECS
from lib.sources import with_item_measures

AS_OF = dt.datetime(2026, 11, 1)
PARAMETERS = {"as_of": AS_OF, "fx_currencies": ["EUR", "GBP", "ILS", "USD"]}
TS = dt.datetime(2026, 10, 1, 10, 0)
D = Decimal

TRANSACTION = dict(order_id="o1", timestamp_raw="2026-10-01T10:00:00Z", timestamp=TS,
                   amount=D("10.00"), currency="USD", status="completed",
                   payment_method="credit_card", payment_provider="Visa", error_code=None)
TRANSACTION_CASES = {  # case -> (overrides, expected failed rules)
    "valid": ({}, []),
    "id_null": ({"transaction_id": None}, ["transaction_id_required"]),
    "order_null": ({"order_id": None}, ["order_id_required"]),
    "ts_null": ({"timestamp_raw": None, "timestamp": None}, ["timestamp_required"]),
    "ts_garbage": ({"timestamp_raw": "yesterday", "timestamp": None}, ["timestamp_invalid"]),
    "ts_equals_as_of": ({"timestamp": AS_OF}, []),
    "ts_after_as_of": ({"timestamp": AS_OF + dt.timedelta(seconds=1)}, ["timestamp_after_as_of"]),
    "amount_null": ({"amount": None}, ["amount_required"]),
    "amount_zero": ({"amount": D("0.00")}, ["amount_not_positive"]),
    "amount_negative": ({"amount": D("-1.00")}, ["amount_not_positive"]),
    "amount_cent": ({"amount": D("0.01")}, []),
    "currency_null": ({"currency": None}, ["currency_required"]),
    "status_null": ({"status": None}, ["status_required"]),
    "status_case": ({"status": "Completed"}, ["status_invalid"]),
    "type_null": ({"payment_method": None}, ["payment_method_type_required"]),
    "type_bad": ({"payment_method": "crypto"}, ["payment_method_type_invalid"]),
    "provider_null": ({"payment_provider": None}, ["payment_provider_required"]),
    "failed_no_code": ({"status": "failed"}, ["error_code_missing"]),
    "failed_with_code": ({"status": "failed", "error_code": "card_declined"}, []),
    "completed_with_code": ({"error_code": "card_declined"}, ["error_code_unexpected"]),
    "pending_with_code": ({"status": "pending", "error_code": "x"}, ["error_code_unexpected"]),
    "pending_no_code": ({"status": "pending"}, []),
    "dup_a": ({"transaction_id": "dup", "amount": D("1.00")}, ["conflicting_duplicate"]),
    "dup_b": ({"transaction_id": "dup", "amount": D("2.00")}, ["conflicting_duplicate"]),
    "null_id_twice": ({"transaction_id": None, "amount": D("3.00")}, ["transaction_id_required"]),
}

ITEM = Row(product_id="p1", quantity=2, unit_price=D("5.00"))
ORDER = dict(customer_id="c1", timestamp_raw="2026-10-01T09:00:00Z", timestamp=TS,
             total_amount=D("10.00"), currency="EUR", items=[ITEM], payment_status="paid")
ORDER_CASES = {
    "valid": ({}, []),
    "id_null": ({"order_id": None}, ["order_id_required"]),
    "customer_null": ({"customer_id": None}, ["customer_id_required"]),
    "ts_null": ({"timestamp_raw": None, "timestamp": None}, ["timestamp_required"]),
    "ts_garbage": ({"timestamp_raw": "2026-13-45", "timestamp": None}, ["timestamp_invalid"]),
    "total_null": ({"total_amount": None}, ["total_amount_required"]),
    "total_zero": ({"total_amount": D("0.00"), "items": [Row(product_id="p", quantity=1, unit_price=D("0.01"))]},
                   ["total_amount_not_positive"]),
    "currency_null": ({"currency": None}, ["currency_required"]),
    "currency_unknown": ({"currency": "JPY"}, ["unknown_currency"]),
    "items_null": ({"items": None}, ["items_empty"]),
    "items_empty": ({"items": []}, ["items_empty"]),
    "item_no_price": ({"items": [Row(product_id="p", quantity=2, unit_price=None)]}, ["item_field_missing"]),
    "item_qty_zero": ({"items": [Row(product_id="p", quantity=0, unit_price=D("5.00")),
                                 Row(product_id="q", quantity=1, unit_price=D("10.00"))]},
                      ["item_quantity_not_positive"]),
    "item_price_negative": ({"items": [Row(product_id="p", quantity=1, unit_price=D("-1.00")),
                                       Row(product_id="q", quantity=1, unit_price=D("11.00"))]},
                            ["item_unit_price_not_positive"]),
    "total_off_by_cent": ({"total_amount": D("10.01")}, []),
    "total_off_by_more": ({"total_amount": D("10.02")}, ["items_total_mismatch"]),
    "status_null": ({"payment_status": None}, ["payment_status_required"]),
    "status_bad": ({"payment_status": "PAID"}, ["payment_status_invalid"]),
    "dup_a": ({"order_id": "dup", "customer_id": "c1"}, ["conflicting_duplicate"]),
    "dup_b": ({"order_id": "dup", "customer_id": "c2"}, ["conflicting_duplicate"]),
}

DISPUTE = dt.datetime(2026, 10, 5)
CHARGEBACK = dict(dispute_date_raw="2026-10-05", dispute_date=DISPUTE, amount=D("5.00"),
                  reason_code="10.4", status="open", resolution_date_raw=None, resolution_date=None)
RESOLVED = {"status": "won", "resolution_date_raw": "2026-10-20", "resolution_date": dt.datetime(2026, 10, 20)}
CHARGEBACK_CASES = {
    "valid_open": ({}, []),
    "valid_won": (RESOLVED, []),
    "id_null": ({"transaction_id": None}, ["transaction_id_required"]),
    "dispute_null": ({"dispute_date_raw": None, "dispute_date": None}, ["dispute_date_required"]),
    "dispute_garbage": ({"dispute_date_raw": "soon", "dispute_date": None}, ["dispute_date_invalid"]),
    "amount_null": ({"amount": None}, ["amount_required"]),
    "amount_zero": ({"amount": D("0.00")}, ["amount_not_positive"]),
    "reason_null": ({"reason_code": None}, ["reason_code_required"]),
    "status_null": ({"status": None}, ["status_required"]),
    "status_bad": ({"status": "closed"}, ["status_invalid"]),
    "open_with_resolution": ({"resolution_date_raw": "2026-10-20",
                              "resolution_date": dt.datetime(2026, 10, 20)}, ["resolution_date_unexpected"]),
    "lost_without_resolution": ({"status": "lost"}, ["resolution_date_missing"]),
    "resolution_garbage": ({**RESOLVED, "resolution_date_raw": "later", "resolution_date": None},
                           ["resolution_date_invalid"]),
    "resolution_before_dispute": ({**RESOLVED, "resolution_date": dt.datetime(2026, 10, 4)},
                                  ["resolution_before_dispute"]),
    "resolution_same_instant": ({**RESOLVED, "resolution_date": DISPUTE}, []),
    "dup_a": ({"transaction_id": "dup", "amount": D("1.00")}, ["conflicting_duplicate"]),
    "dup_b": ({"transaction_id": "dup", "amount": D("2.00")}, ["conflicting_duplicate"]),
    "same_txn_other_day": ({"transaction_id": "dup", "dispute_date": dt.datetime(2026, 10, 6)}, []),
    # no dispute_date, no identity: never a conflicting duplicate
    "no_date_a": ({"transaction_id": "nodate", "dispute_date_raw": None, "dispute_date": None,
                   "amount": D("1.00")}, ["dispute_date_required"]),
    "no_date_b": ({"transaction_id": "nodate", "dispute_date_raw": None, "dispute_date": None,
                   "amount": D("2.00")}, ["dispute_date_required"]),
}

CASES = {
    "transactions": (TRANSACTION, TRANSACTION_CASES),
    "orders": (ORDER, ORDER_CASES),
    "chargebacks": (CHARGEBACK, CHARGEBACK_CASES),
}
KEY = {"transactions": "transaction_id", "orders": "order_id", "chargebacks": "transaction_id"}


def case_frame(spark, source, reader_rejected: bool = False):
    """The cases of `source`; `reader_rejected` adds a row the reader could not type (all fields
    NULL), which Great Expectations never sees: every count must leave it out."""
    base, cases = CASES[source]
    spec = SOURCE_SPECS[source]
    typed = [c for c in spec.columns]
    rows = []
    for case, (overrides, _) in cases.items():
        values = {KEY[source]: case, **base, **overrides}
        rows.append(tuple([case, None] + [values.get(c) for c in typed]))
    if reader_rejected:
        rows.append(tuple(["reader_rejected", ("wrong_type", "amount is not a number")]
                          + [None] * len(typed)))
    schema_by_source = {
        "transactions": "transaction_id string, order_id string, timestamp_raw string, timestamp timestamp, "
                        "amount decimal(18,2), currency string, status string, payment_method string, "
                        "payment_provider string, error_code string",
        "orders": "order_id string, customer_id string, timestamp_raw string, timestamp timestamp, "
                  "total_amount decimal(18,2), currency string, "
                  "items array<struct<product_id:string,quantity:bigint,unit_price:decimal(18,2)>>, "
                  "payment_status string",
        "chargebacks": "transaction_id string, dispute_date_raw string, dispute_date timestamp, "
                       "amount decimal(18,2), reason_code string, status string, "
                       "resolution_date_raw string, resolution_date timestamp",
    }
    frame = spark.createDataFrame(
        rows, f"case string, reader_failure struct<rule:string,message:string>, {schema_by_source[source]}")
    return frame.transform(with_item_measures) if source == "orders" else frame
