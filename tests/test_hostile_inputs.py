"""Hostile and broken inputs (issue 13): each case has one outcome, asserted exactly.

An outcome is valid rows, quarantine rows with a reader or suite rule, or one line on stderr
(exit 2) naming the file before anything is published. The nothing-lost invariant holds in every
run, and no run ends in a stack trace. docs/hostile_inputs.md lists every case and its test.

Spark runs are the cost (2 shared cores), so most cases share one raw zone, one part file per
case, run once in-process; the tests read its Delta tables back (quarantine by source file, clean
tables by id). JSON-array files need their own run (a source is read as arrays or as lines, from
its first file), and so does the truncated gzip (it stops its run). Big inputs (a 10 MB line, a
200,000-element array) are generated into tmp dirs at run time, never committed.
"""
from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from deltalake import DeltaTable
from pyspark.sql import functions as F

from jobs.pipeline import main as pipeline_main

REPO_ROOT = Path(__file__).resolve().parents[1]
AS_OF = "2026-11-01T00:00:00Z"
D = Decimal
HEADER = "transaction_id,dispute_date,amount,reason_code,status,resolution_date"
ORDER = {"order_id": "o-base", "customer_id": "c1", "timestamp": "2026-10-01T09:00:00Z",
         "total_amount": 12.5, "currency": "USD", "payment_status": "paid",
         "items": [{"product_id": "p1", "quantity": 1, "unit_price": 12.5}]}
TXN = {"transaction_id": "t-base", "order_id": "o-base", "timestamp": "2026-10-01T12:00:00Z",
       "amount": 12.5, "currency": "USD", "status": "completed",
       "payment_method": {"type": "credit_card", "provider": "Visa"}, "error_code": None}
CHARGEBACK = "t-base,2026-10-05,5.00,fraud,won,2026-10-09"
STACK_TRACE = re.compile(r"Traceback \(most recent call last\)|^\s+at [\w$.]+\(|Exception in thread",
                         re.MULTILINE)


def jsonl(record: dict, **changes) -> str:
    return json.dumps({**record, **changes})


def with_raw(record: dict, key: str, raw_value: str, **changes) -> str:
    """A JSON line whose `key` holds `raw_value` as written (NaN, 40 digits, -0, ...)."""
    text = jsonl(record, **changes, **{key: "__RAW__"})
    return text.replace('"__RAW__"', raw_value)


def write(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def run_pipeline(spark, raw: Path, warehouse: Path) -> int:
    return pipeline_main(["--input", str(raw), "--warehouse", str(warehouse), "--as-of", AS_OF],
                         spark=spark)


def table(spark, warehouse: Path, name: str):
    return spark.read.format("delta").load(str(warehouse / name))


def quarantined(spark, warehouse: Path, source: str, file_name: str) -> list[tuple]:
    """(sorted rule names, record) of each quarantine row from one input file, sorted."""
    rows = (table(spark, warehouse, "quarantine")
            .where((F.col("source") == source) & F.col("source_file").endswith("/" + file_name))
            .select(F.array_sort("failed_rules.rule").alias("rules"), "record")
            .collect())
    return sorted((tuple(r.rules), r.record) for r in rows)


def quarantine_messages(spark, warehouse: Path, source: str, file_name: str) -> list[str]:
    rows = (table(spark, warehouse, "quarantine")
            .where((F.col("source") == source) & F.col("source_file").endswith("/" + file_name))
            .select(F.explode("failed_rules.message").alias("message")).collect())
    return sorted(r.message for r in rows)


def run_counts(spark, warehouse: Path) -> dict[str, tuple[int, int, int, int]]:
    rows = table(spark, warehouse, "run_log").collect()
    return {r.source: (r.rows_read, r.rows_valid, r.rows_quarantined, r.duplicates_dropped)
            for r in rows}


def assert_nothing_lost(counts: dict[str, tuple[int, int, int, int]]) -> None:
    for source, (read, valid, quarantined_rows, duplicates) in counts.items():
        assert read == valid + quarantined_rows + duplicates, (source, counts[source])


# --- the shared raw zone: JSON Lines and CSV, one part file per case ---------------------------
LONG_NOTE_CHARS = 10 * 1024 * 1024
DEPTH = 10_000


def build_lines_zone(raw: Path) -> None:
    orders, transactions, chargebacks = raw / "orders", raw / "transactions", raw / "chargebacks"
    write(orders / "part-00-base.jsonl", jsonl(ORDER) + "\n")
    write(orders / "part-01-zero-bytes.jsonl", b"")
    write(orders / "part-02-blank-lines.jsonl", "\n   \n\r\n\n")
    write(orders / "part-03-year-0001.jsonl",
          jsonl(ORDER, order_id="o-0001", timestamp="0001-01-01T00:00:00Z") + "\n")
    write(orders / "part-04-year-9999.jsonl",
          jsonl(ORDER, order_id="o-9999", timestamp="9999-12-31T23:59:59Z") + "\n")

    write(transactions / "part-00-base.jsonl", jsonl(TXN) + "\n")
    write(transactions / "part-01-bom.jsonl", "\ufeff" + jsonl(TXN, transaction_id="t-bom-1") + "\n"
          + jsonl(TXN, transaction_id="t-bom-2") + "\n")
    write(transactions / "part-02-crlf.jsonl", jsonl(TXN, transaction_id="t-crlf-1") + "\r\n"
          + jsonl(TXN, transaction_id="t-crlf-2") + "\r\n")
    write(transactions / "part-03-invalid-utf8.jsonl",
          jsonl(TXN, transaction_id="t-utf8").encode().replace(b"Visa", b"Vi\xff\xfesa") + b"\n")
    write(transactions / "part-04-10mb-line.jsonl",
          jsonl(TXN, transaction_id="t-long", note="x" * LONG_NOTE_CHARS) + "\n")
    write(transactions / "part-05-nested-10000.jsonl",
          with_raw(TXN, "note", "[" * DEPTH + "]" * DEPTH, transaction_id="t-deep") + "\n")
    write(transactions / "part-06-40-digits.jsonl", "\n".join([
        with_raw(TXN, "amount", "1" + "0" * 39, transaction_id="t-40-digits"),
        with_raw(TXN, "amount", "12.5" + "0" * 36, transaction_id="t-40-digit-fraction"),
    ]) + "\n")
    write(transactions / "part-07-minus-zero.jsonl", "\n".join([
        with_raw(TXN, "amount", "-0", transaction_id="t-minus-zero"),
        with_raw(TXN, "amount", "-0.0", transaction_id="t-minus-zero-point-zero"),
    ]) + "\n")
    write(transactions / "part-08-nan-infinity.jsonl", "\n".join([
        with_raw(TXN, "amount", "NaN", transaction_id="t-nan"),
        with_raw(TXN, "amount", "Infinity", transaction_id="t-infinity"),
        with_raw(TXN, "amount", "-Infinity", transaction_id="t-minus-infinity"),
    ]) + "\n")
    # The last occurrence of a key wins (spark.sql.variant.allowDuplicateKeys, lib/session.py).
    write(transactions / "part-09-duplicate-keys.jsonl",
          '{"transaction_id": "t-dup-keys", "amount": "1.00", "status": "failed", '
          + jsonl(TXN, transaction_id="t-dup-keys")[1:] + "\n")
    write(transactions / "part-10-extra-fields.jsonl",
          jsonl(TXN, transaction_id="t-extra", note="retry", customer={"vip": True}, tags=[1, 2])
          + "\n")
    write(transactions / "part-11-year-0001.jsonl",
          jsonl(TXN, transaction_id="t-0001", timestamp="0001-01-01T00:00:00Z") + "\n")
    write(transactions / "part-12-year-9999.jsonl",
          jsonl(TXN, transaction_id="t-9999", timestamp="9999-12-31T23:59:59Z") + "\n")

    write(chargebacks / "part-00-base.csv", f"{HEADER}\n{CHARGEBACK}\n")
    write(chargebacks / "part-01-zero-bytes.csv", b"")
    write(chargebacks / "part-02-header-only.csv", HEADER + "\n")
    write(chargebacks / "part-03-bom.csv", f"\ufeff{HEADER}\nt-base,2026-10-06,5.00,fraud,won,2026-10-09\n")
    write(chargebacks / "part-04-crlf.csv",
          f"{HEADER}\r\nt-base,2026-10-07,5.00,fraud,lost,2026-10-09\r\n")
    write(chargebacks / "part-05-embedded-quotes.csv",
          f'{HEADER}\nt-base,2026-10-08,5.00,"fraud ""card"" theft, reported",won,2026-10-09\n')
    write(chargebacks / "part-06-embedded-newline.csv",
          f'{HEADER}\nt-base,2026-10-10,5.00,"fraudulent_charge\nsee note",won,2026-10-11\n')
    write(chargebacks / "part-07-formula.csv", "\n".join([
        HEADER,
        't-base,2026-10-12,5.00,"=HYPERLINK(""http://evil.example"",""x"")",won,2026-10-13',
        "t-base,2026-10-13,+5.00,+4837,lost,2026-10-14",
        "t-base,2026-10-14,5.00,-10.4,open,",
        "t-base,2026-10-15,5.00,@fraud,open,",
        "=t-base,2026-10-16,5.00,fraud,open,",
        "t-base,2026-10-17,-5.00,fraud,open,",
    ]) + "\n")
    write(chargebacks / "part-08-invalid-utf8.csv",
          (HEADER + "\n").encode() + b"t-base,2026-10-18,5.00,fr\xffaud,open,\n")


@pytest.fixture(scope="module")
def lines_run(spark, tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("hostile_lines")
    build_lines_zone(base / "raw")
    warehouse = base / "warehouse"
    assert run_pipeline(spark, base / "raw", warehouse) == 0
    return warehouse


def test_run_log_counts_every_row_of_every_case_and_nothing_is_lost(spark, lines_run):
    counts = run_counts(spark, lines_run)
    assert_nothing_lost(counts)
    # orders: base, 0001, 9999; transactions: 19 lines; chargebacks: 13 lines (the embedded
    # newline makes two)
    assert counts == {"orders": (3, 3, 0, 0), "transactions": (19, 9, 10, 0),
                      "chargebacks": (13, 8, 5, 0)}


def test_empty_files_and_blank_lines_are_no_rows(spark, lines_run):
    quarantine = table(spark, lines_run, "quarantine")
    for name in ("part-01-zero-bytes.jsonl", "part-02-blank-lines.jsonl", "part-01-zero-bytes.csv",
                 "part-02-header-only.csv"):
        assert quarantine.where(F.col("source_file").endswith("/" + name)).count() == 0, name
    assert sorted(r.order_id for r in table(spark, lines_run, "orders").select("order_id").collect()) == [
        "o-0001", "o-9999", "o-base"]


def test_a_byte_order_mark_and_crlf_line_ends_read_as_plain_lines(spark, lines_run):
    transactions = table(spark, lines_run, "transactions")
    assert sorted((r.transaction_id, r.amount, r.payment_provider) for r in transactions.where(
        F.col("transaction_id").rlike("^t-(bom|crlf)-")).collect()) == [
        ("t-bom-1", D("12.50"), "Visa"), ("t-bom-2", D("12.50"), "Visa"),
        ("t-crlf-1", D("12.50"), "Visa"), ("t-crlf-2", D("12.50"), "Visa")]
    chargebacks = table(spark, lines_run, "chargebacks")
    assert sorted((r.dispute_date, r.reason_code, r.status, r.resolution_date)
                  for r in chargebacks.where(F.col("dispute_date") < "2026-10-08").collect()) == [
        (dt.datetime(2026, 10, 5), "fraud", "won", dt.datetime(2026, 10, 9)),
        (dt.datetime(2026, 10, 6), "fraud", "won", dt.datetime(2026, 10, 9)),   # BOM
        (dt.datetime(2026, 10, 7), "fraud", "lost", dt.datetime(2026, 10, 9)),  # CRLF
    ]


def test_invalid_utf8_is_a_malformed_record_in_json_and_in_csv(spark, lines_run):
    message = "not valid UTF-8"
    [(rules, record)] = quarantined(spark, lines_run, "transactions", "part-03-invalid-utf8.jsonl")
    assert rules == ("malformed_record",) and '"t-utf8"' in record
    assert quarantine_messages(spark, lines_run, "transactions", "part-03-invalid-utf8.jsonl") == [message]
    [(rules, record)] = quarantined(spark, lines_run, "chargebacks", "part-08-invalid-utf8.csv")
    assert rules == ("malformed_record",) and record.startswith("t-base,2026-10-18,5.00,fr")
    assert quarantine_messages(spark, lines_run, "chargebacks", "part-08-invalid-utf8.csv") == [message]
    assert table(spark, lines_run, "transactions").where("transaction_id = 't-utf8'").count() == 0


def test_a_10_mb_line_is_one_valid_row(spark, lines_run):
    [row] = table(spark, lines_run, "transactions").where("transaction_id = 't-long'").collect()
    assert (row.amount, row.currency, row.status, row.payment_method) == (
        D("12.50"), "USD", "completed", "credit_card")


def test_json_nested_10000_levels_deep_is_a_malformed_record(spark, lines_run):
    [(rules, record)] = quarantined(spark, lines_run, "transactions", "part-05-nested-10000.jsonl")
    assert rules == ("malformed_record",)
    assert record.count("[") == DEPTH and '"t-deep"' in record
    assert quarantine_messages(spark, lines_run, "transactions", "part-05-nested-10000.jsonl") == [
        "not a JSON object (does not parse)"]


def test_a_40_digit_amount_is_a_wrong_type_and_40_digits_of_fraction_round(spark, lines_run):
    [(rules, record)] = quarantined(spark, lines_run, "transactions", "part-06-40-digits.jsonl")
    assert rules == ("wrong_type",) and '"amount": 1' + "0" * 39 + "," in record
    assert quarantine_messages(spark, lines_run, "transactions", "part-06-40-digits.jsonl") == [
        "wrong JSON type: amount is DOUBLE"]
    [row] = table(spark, lines_run, "transactions").where(
        "transaction_id = 't-40-digit-fraction'").collect()
    assert (row.amount, row.amount_usd) == (D("12.50"), D("12.50"))


def test_minus_zero_is_an_amount_of_zero_and_not_positive(spark, lines_run):
    rows = quarantined(spark, lines_run, "transactions", "part-07-minus-zero.jsonl")
    assert [rules for rules, _ in rows] == [("amount_mismatch", "amount_not_positive")] * 2
    assert sorted(re.search(r'"amount": ([^,]+),', record).group(1) for _, record in rows) == [
        "-0", "-0.0"]
    assert table(spark, lines_run, "transactions").where("transaction_id LIKE 't-minus-zero%'").count() == 0


def test_nan_and_infinity_are_not_json_so_malformed(spark, lines_run):
    rows = quarantined(spark, lines_run, "transactions", "part-08-nan-infinity.jsonl")
    assert sorted(re.search(r'"amount": ([^,]+),', record).group(1) for _, record in rows) == [
        "-Infinity", "Infinity", "NaN"]
    assert {rules for rules, _ in rows} == {("malformed_record",)}


def test_a_duplicate_key_takes_its_last_value(spark, lines_run):
    [row] = table(spark, lines_run, "transactions").where("transaction_id = 't-dup-keys'").collect()
    assert (row.amount, row.status, row.error_code) == (D("12.50"), "completed", None)


def test_unknown_extra_fields_are_ignored(spark, lines_run):
    [row] = table(spark, lines_run, "transactions").where("transaction_id = 't-extra'").collect()
    assert (row.amount, row.status, row.payment_provider) == (D("12.50"), "completed", "Visa")
    assert "note" not in table(spark, lines_run, "transactions").columns


def test_years_0001_and_9999(spark, lines_run):
    # As text: Python's datetime conversion of year 0001 is not what is tested here.
    orders = {r.order_id: (r.ts, r.day, r.amount_usd) for r in table(spark, lines_run, "orders").select(
        "order_id", F.date_format("timestamp", "yyyy-MM-dd HH:mm:ss").alias("ts"),
        F.col("order_date").cast("string").alias("day"), "amount_usd").collect()}
    # No rate is in force before a currency's first valid_from (2000-01-01 for USD): no USD amount.
    assert orders["o-0001"] == ("0001-01-01 00:00:00", "0001-01-01", None)
    assert orders["o-9999"] == ("9999-12-31 23:59:59", "9999-12-31", D("12.50"))
    assert quarantined(spark, lines_run, "transactions", "part-12-year-9999.jsonl")[0][0] == (
        "timestamp_after_as_of",)
    assert quarantined(spark, lines_run, "transactions", "part-11-year-0001.jsonl")[0][0] == (
        "unknown_currency",)


def test_delta_rs_reads_the_years_0001_and_9999(lines_run):
    orders = DeltaTable(str(lines_run / "orders")).to_pyarrow_table().to_pylist()
    timestamps = {o["order_id"]: o["timestamp"].replace(tzinfo=None) for o in orders}
    assert timestamps == {"o-base": dt.datetime(2026, 10, 1, 9), "o-0001": dt.datetime(1, 1, 1),
                          "o-9999": dt.datetime(9999, 12, 31, 23, 59, 59)}


def test_csv_embedded_quotes_are_one_field(spark, lines_run):
    [row] = table(spark, lines_run, "chargebacks").where("dispute_date = '2026-10-08'").collect()
    assert (row.reason_code, row.reason_category, row.amount) == (
        'fraud "card" theft, reported', "unknown", D("5.00"))


def test_csv_embedded_newline_splits_the_row_into_two_malformed_records(spark, lines_run):
    assert quarantined(spark, lines_run, "chargebacks", "part-06-embedded-newline.csv") == [
        (("malformed_record",), 'see note",won,2026-10-11'),
        (("malformed_record",), 't-base,2026-10-10,5.00,"fraudulent_charge'),
    ]


def test_csv_formula_prefixes_stay_data(spark, lines_run):
    valid = {r.dispute_date.day: (r.reason_code, r.reason_category, r.amount, r.status)
             for r in table(spark, lines_run, "chargebacks").where(
                 "dispute_date >= '2026-10-12'").collect()}
    assert valid == {
        12: ('=HYPERLINK("http://evil.example","x")', "unknown", D("5.00"), "won"),
        13: ("+4837", "unknown", D("5.00"), "lost"),
        14: ("-10.4", "unknown", D("5.00"), "open"),
        15: ("@fraud", "unknown", D("5.00"), "open"),
    }
    assert quarantined(spark, lines_run, "chargebacks", "part-07-formula.csv") == [
        (("amount_not_positive",), "t-base,2026-10-17,-5.00,fraud,open,"),
        (("orphan",), "=t-base,2026-10-16,5.00,fraud,open,"),
    ]


# --- JSON-array files: their own run ---------------------------------------------------------
ARRAY_ORDERS = 200_000


@pytest.fixture(scope="module")
def arrays_run(spark, tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("hostile_arrays")
    raw = base / "raw"
    write(raw / "orders" / "part-0-empty-array.json", "[]")
    write(raw / "orders" / "part-1-zero-bytes.json", b"")
    write(raw / "orders" / "part-2-bom.json", "\ufeff" + json.dumps(
        [ORDER, {**ORDER, "order_id": "o-bom-2"}], indent=2).replace("\n", "\r\n"))
    with open(raw / "orders" / "part-3-200000-elements.json", "w") as handle:
        handle.write("[" + ",".join(jsonl(ORDER, order_id=f"o-{i}") for i in range(ARRAY_ORDERS)) + "]")
    write(raw / "transactions" / "part-0.json", json.dumps([TXN, {**TXN, "transaction_id": "t-2",
                                                                   "order_id": "o-199999"}]))
    write(raw / "chargebacks" / "part-0-header-only.csv", HEADER + "\r\n")
    warehouse = base / "warehouse"
    assert run_pipeline(spark, raw, warehouse) == 0
    return warehouse


def test_json_array_files_empty_bom_and_200000_elements_on_one_line(spark, arrays_run):
    counts = run_counts(spark, arrays_run)
    assert_nothing_lost(counts)
    assert counts == {"orders": (ARRAY_ORDERS + 2, ARRAY_ORDERS + 2, 0, 0),
                      "transactions": (2, 2, 0, 0), "chargebacks": (0, 0, 0, 0)}
    orders = table(spark, arrays_run, "orders")
    summary = orders.agg(F.count(F.lit(1)).alias("rows"), F.countDistinct("order_id").alias("ids"),
                         F.sum("total_amount").alias("total")).first()
    assert (summary.rows, summary.ids, summary.total) == (
        ARRAY_ORDERS + 2, ARRAY_ORDERS + 2, D("12.50") * (ARRAY_ORDERS + 2))
    [bom] = orders.where("order_id = 'o-bom-2'").collect()
    assert (bom.total_amount, bom.items[0].product_id) == (D("12.50"), "p1")
    assert table(spark, arrays_run, "quarantine").count() == 0


# --- a truncated gzip: one line naming the file, nothing published ----------------------------
def build_truncated_gzip_zone(raw: Path) -> Path:
    write(raw / "orders" / "part-0.jsonl", jsonl(ORDER) + "\n")
    write(raw / "transactions" / "part-0.jsonl", jsonl(TXN) + "\n")
    whole = gzip.compress("".join(jsonl(TXN, transaction_id=f"t-gz-{i}") + "\n"
                                  for i in range(5000)).encode())
    truncated = raw / "transactions" / "part-1-truncated.jsonl.gz"
    write(truncated, whole[: len(whole) // 2])
    write(raw / "chargebacks" / "part-0.csv", f"{HEADER}\n{CHARGEBACK}\n")
    return truncated


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def test_a_truncated_gzip_stops_the_run_with_one_line_naming_it(spark, tmp_path, capsys):
    truncated = build_truncated_gzip_zone(tmp_path / "raw")
    warehouse = tmp_path / "warehouse"
    capsys.readouterr()

    code = run_pipeline(spark, tmp_path / "raw", warehouse)

    out, err = capsys.readouterr()
    assert code == 2
    assert err == (f"pipeline: cannot read file://{truncated}: Unexpected end of input stream "
                   "(a truncated or corrupt file); nothing was published\n")
    assert not STACK_TRACE.search(out + err)
    assert files_under(warehouse) == []


@pytest.mark.e2e
def test_a_truncated_gzip_through_spark_submit_ends_without_a_stack_trace(tmp_path):
    truncated = build_truncated_gzip_zone(tmp_path / "raw")
    warehouse = tmp_path / "warehouse"
    result = subprocess.run(
        ["./spark-submit.sh", "--master", "local[2]", "jobs/pipeline.py", "--input",
         str(tmp_path / "raw"), "--warehouse", str(warehouse), "--as-of", AS_OF],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=900,
        env={**os.environ, "CHARGEBACK_LOCAL_DRIVER_MEMORY": "1g"},
    )
    assert result.returncode == 2, result.stderr[-3000:]
    assert not STACK_TRACE.search(result.stdout + result.stderr), result.stderr[-5000:]
    assert "Exception" not in result.stderr, result.stderr[-5000:]
    # spark-submit's Python runner sends the driver's stderr to its stdout, and Spark's own log
    # lines (its one-line "Task ... failed; aborting job" ERROR) go to stderr: the job's line is
    # in one of them, once, whole.
    output = result.stdout.splitlines() + result.stderr.splitlines()
    assert [line for line in output if line.startswith("pipeline:")] == [
        f"pipeline: cannot read file://{truncated}: Unexpected end of input stream "
        "(a truncated or corrupt file); nothing was published"]
    assert files_under(warehouse) == []
