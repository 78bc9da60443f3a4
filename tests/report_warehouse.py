"""A published warehouse written by hand for the run report's tests: the five tables the report
reads (run_log, quarantine, dq_results, payment_metrics, chargeback_metrics), with the contract's
schemas (lib/schemas.py), as Delta tables.

Written directly instead of by a pipeline run: the report only reads published tables, a run of
the engine (being rewritten) takes minutes on the shared 2 cores, and hand-made rows let a test
know every number the page must show. The quarantined records carry script payloads in their raw
text, their file paths and a rule message, where a run would carry them.
"""
from __future__ import annotations

import datetime as dt
import math
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

from pyspark.sql import SparkSession

from lib import schemas
from lib.publish import table_path

RUN_ID = "2026-11-01-nightly"
EARLIER_RUN_ID = "2026-10-31-nightly"
AS_OF = dt.datetime(2026, 11, 1, 0, 0, 0)
FINISHED_AT = dt.datetime(2026, 11, 1, 0, 7, 30)
KILLED_RUN_ID = "2026-11-01-killed"
TABLE_VERSIONS = {"transactions": 1, "orders": 1, "chargebacks": 1, "quarantine": 1, "dq_results": 1,
                  "payment_metrics": 1, "chargeback_metrics": 1}
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
PAYLOADS = (SCRIPT, IMG)
METHODS = ("credit_card", "debit_card", "wallet")
DATES = tuple(dt.date(2026, 10, 1) + dt.timedelta(days=d) for d in range(14))
LONG_RECORD_CHARS = 5000

# rows_read, rows_valid, rows_quarantined, duplicates_dropped of RUN_ID
COUNTS = {
    "orders": (1210, 1200, 7, 3),
    "transactions": (1530, 1500, 25, 5),
    "chargebacks": (64, 60, 4, 0),
}


def _transaction(i: int, provider: str = "Visa", amount: str = "-5.0") -> str:
    return (f'{{"transaction_id": "t{i}", "order_id": "o{i}", "timestamp": "2026-10-02T10:00:00Z", '
            f'"amount": {amount}, "currency": "USD", "status": "completed", '
            f'"payment_method": {{"type": "credit_card", "provider": "{provider}"}}, "error_code": null}}')


def quarantine_rows(run_id: str = RUN_ID) -> list[tuple]:
    """(record, failed_rules, source_file, run_id, quarantined_at, source), QUARANTINE's order."""
    at = FINISHED_AT
    raw = "s3a://raw-zone/2026-11-01"
    not_json = [("malformed_record", "not a JSON object (does not parse)")]
    rows = [
        (SCRIPT, not_json, f"{raw}/transactions/part-00000.jsonl", run_id, at, "transactions"),
        (_transaction(1, provider=IMG.replace('"', '\\"')), [("amount_not_positive", "amount must be > 0")],
         f"{raw}/transactions/part-00000.jsonl", run_id, at, "transactions"),
        (_transaction(2, provider=SCRIPT), [("amount_not_positive", "amount must be > 0"),
                                            ("amount_mismatch", IMG)],
         f"{raw}/{IMG}/part-00001.jsonl", run_id, at, "transactions"),
        ("x" * LONG_RECORD_CHARS, not_json, f"{raw}/transactions/part-00001.jsonl.gz", run_id, at, "transactions"),
    ]
    rows += [(_transaction(i, amount="10.0").replace(f'"o{i}"', f'"missing-{i}"'),
              [("orphan", "order_id names no order in the input")],
              f"{raw}/transactions/part-00001.jsonl.gz", run_id, at, "transactions") for i in range(3, 24)]
    rows += [(f'{{"order_id": "{SCRIPT}", "customer_id": "c{i}", "total_amount": 10.0}}',
              [("wrong_type", "wrong JSON type: items is NULL")], f"{raw}/orders/part-00000.jsonl",
              run_id, at, "orders") for i in range(7)]
    rows += [(f"t9{i},2026-10-0{i + 2},5.00,{IMG if i == 0 else '10.4'},open,", [("orphan", "transaction_id names no transaction in the input")],
              f"{raw}/chargebacks/part-00000.csv", run_id, at, "chargebacks") for i in range(4)]
    return rows


def run_log_rows() -> list[tuple]:
    earlier = FINISHED_AT - dt.timedelta(days=1)
    rows = [(RUN_ID, AS_OF, source, *numbers, FINISHED_AT, "completed", FINISHED_AT - dt.timedelta(minutes=7),
             TABLE_VERSIONS) for source, numbers in COUNTS.items()]
    rows += [(EARLIER_RUN_ID, AS_OF - dt.timedelta(days=1), source, 1, 1, 0, 0, earlier, "completed",
              earlier - dt.timedelta(minutes=7), {name: 0 for name in TABLE_VERSIONS}) for source in COUNTS]
    # A run killed while publishing: no finish time, so it is never the newest run.
    rows += [(KILLED_RUN_ID, AS_OF, source, 1, 1, 0, 0, None, "publishing", FINISHED_AT + dt.timedelta(hours=1),
              None) for source in COUNTS]
    # mode, files, the warehouse totals and the reference fingerprint (incremental runs): the
    # report does not read them
    return [row + ("full", [], None, None, None, None, None) for row in rows]


def dq_result_rows() -> list[tuple]:
    rules = [("transactions", "malformed_record", "reader", "quarantine", 2),
             ("transactions", "amount_not_positive", "expect_column_values_to_be_between", "quarantine", 2),
             ("transactions", "amount_mismatch", "cross_source", "warn", 9),
             ("transactions", "orphan", "cross_source", "quarantine", 21),
             ("orders", "wrong_type", "reader", "quarantine", 7),
             ("chargebacks", "orphan", "cross_source", "quarantine", 4)]
    return [(RUN_ID, rule, kind, action, 1500, n, 100.0 * n / 1500, action == "warn" or n == 0, source)
            for source, rule, kind, action, n in rules]


def metric_rows() -> tuple[list[tuple], list[tuple]]:
    """payment_metrics and chargeback_metrics rows: DATES x METHODS, rates from the counts.
    Wallet has no completed or failed payment on one date: its rates are null there."""
    cents = Decimal("0.01")
    payments, chargebacks = [], []
    for d, day in enumerate(DATES):
        for m, method in enumerate(METHODS):
            quiet = method == "wallet" and d == 5
            completed = 0 if quiet else 300 + 12 * d - 60 * m + int(40 * math.sin(d + m))
            failed = 0 if quiet else int(completed * (0.04 + 0.02 * m + 0.015 * math.sin(d / 2 + m)))
            volume = (Decimal(completed) * Decimal(45 - 8 * m)).quantize(cents)
            disputed = (volume * Decimal(0.008 + 0.004 * m + 0.005 * math.sin(d / 3 + 2 * m))).quantize(cents)
            outcomes = completed + failed
            failure_rate = failed / outcomes if outcomes else None
            chargeback_rate = float(disputed / volume) if volume else None
            count = completed // 90
            payments.append((outcomes, completed, failed, 0, failure_rate, volume,
                             (Decimal(failed) * Decimal(45 - 8 * m)).quantize(cents), day, method))
            chargebacks.append((completed, volume, count, disputed, chargeback_rate,
                                count / completed if completed else None, 0, 0, count, None, 0, day, method))
    return payments, chargebacks


def write_published_tables(spark: SparkSession, warehouse: Path) -> None:
    """Every table the report reads."""
    payments, chargebacks = metric_rows()
    tables = {
        "run_log": (run_log_rows(), schemas.RUN_LOG),
        "quarantine": (quarantine_rows() + quarantine_rows(EARLIER_RUN_ID)[:2], schemas.QUARANTINE),
        "dq_results": (dq_result_rows(), schemas.DQ_RESULTS),
        "payment_metrics": (payments, schemas.PAYMENT_METRICS),
        "chargeback_metrics": (chargebacks, schemas.CHARGEBACK_METRICS),
    }

    def write(name: str) -> None:
        rows, schema = tables[name]
        (spark.createDataFrame(rows, schema).coalesce(1).write.format("delta")
         .mode("overwrite").save(table_path(str(warehouse), name)))

    # Side by side, as the pipeline publishes: each write is mostly driver-side Delta commit work.
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(write, tables))
