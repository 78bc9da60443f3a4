"""Readers: JSON arrays, JSON Lines (gzip too) and CSV into typed rows; nothing silently dropped."""
from __future__ import annotations

import datetime as dt
import gzip
import json
from decimal import Decimal

import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from lib import storage
from lib.errors import UserError
from lib.schemas import SOURCE_SPECS
from lib.sources import check_csv_headers, read_source

D = Decimal
GOOD_TXN = {"transaction_id": " t1 ", "order_id": "o1", "timestamp": "2026-10-01T12:00:00+02:00",
            "amount": 12.5, "currency": "EUR", "status": "completed",
            "payment_method": {"type": "credit_card", "provider": "Visa"}, "error_code": None}


def read(spark, folder, source, json_format="auto"):
    files = storage.source_files(spark, str(folder), source)
    return read_source(spark, SOURCE_SPECS[source], files, json_format)


def failures(frame):
    return frame.selectExpr("reader_failure.rule AS rule", "transaction_id")


def test_json_lines_with_gzip_blank_broken_and_wrong_typed_lines(spark, tmp_path):
    folder = tmp_path / "transactions"
    folder.mkdir()
    lines = [
        json.dumps(GOOD_TXN),
        "",
        "   ",
        '{"transaction_id": "t2", "amount": ',                       # truncated
        "[1, 2]",                                                     # not an object
        json.dumps({**GOOD_TXN, "transaction_id": "t3", "amount": "12.50"}),
        json.dumps({**GOOD_TXN, "transaction_id": 4}),
        json.dumps({**GOOD_TXN, "transaction_id": "t5", "payment_method": "visa"}),
        json.dumps({**GOOD_TXN, "transaction_id": "t6", "currency": "   ", "status": ""}),
    ]
    (folder / "part-0.jsonl").write_text("\n".join(lines[:5]) + "\n")
    with gzip.open(folder / "part-1.jsonl.gz", "wt") as handle:
        handle.write("\n".join(lines[5:]) + "\n")

    frame = read(spark, tmp_path, "transactions")

    assertDataFrameEqual(
        frame.selectExpr("reader_failure.rule AS rule", "transaction_id", "amount", "currency",
                         "status", "timestamp", "payment_method"),
        [
            Row(rule=None, transaction_id="t1", amount=D("12.50"), currency="EUR", status="completed",
                timestamp=dt.datetime(2026, 10, 1, 10, 0), payment_method="credit_card"),
            Row(rule="malformed_record", transaction_id=None, amount=None, currency=None, status=None,
                timestamp=None, payment_method=None),
            Row(rule="malformed_record", transaction_id=None, amount=None, currency=None, status=None,
                timestamp=None, payment_method=None),
            Row(rule="wrong_type", transaction_id="t3", amount=D("12.50"), currency="EUR",
                status="completed", timestamp=dt.datetime(2026, 10, 1, 10, 0), payment_method="credit_card"),
            Row(rule="wrong_type", transaction_id="4", amount=D("12.50"), currency="EUR",
                status="completed", timestamp=dt.datetime(2026, 10, 1, 10, 0), payment_method="credit_card"),
            Row(rule="wrong_type", transaction_id="t5", amount=D("12.50"), currency="EUR",
                status="completed", timestamp=dt.datetime(2026, 10, 1, 10, 0), payment_method=None),
            Row(rule=None, transaction_id="t6", amount=D("12.50"), currency=None, status=None,
                timestamp=dt.datetime(2026, 10, 1, 10, 0), payment_method="credit_card"),
        ],
    )
    messages = {r.transaction_id: r.message for r in frame.selectExpr(
        "transaction_id", "reader_failure.message AS message").where("transaction_id IS NOT NULL").collect()}
    assert messages["t3"] == "wrong JSON type: amount is STRING"
    assert messages["4"] == "wrong JSON type: transaction_id is BIGINT"
    assert messages["t5"].startswith("wrong JSON type: payment_method_object is STRING")
    assert {r.record for r in frame.where("reader_failure.rule = 'malformed_record'").collect()} == {
        '{"transaction_id": "t2", "amount": ', "[1, 2]"}
    assert frame.where("source_file LIKE '%part-1.jsonl.gz'").count() == 4


def test_a_json_array_file_gives_one_row_per_element_and_a_broken_one_is_one_record(spark, tmp_path):
    good = tmp_path / "good"
    good.mkdir()
    (good / "transactions.json").write_text(json.dumps(
        [GOOD_TXN, {**GOOD_TXN, "transaction_id": "t2", "timestamp": "2026-10-02"}, 7], indent=2))
    frame = read(spark, good, "transactions")
    assertDataFrameEqual(
        frame.selectExpr("reader_failure.rule AS rule", "transaction_id", "timestamp"),
        [Row(rule=None, transaction_id="t1", timestamp=dt.datetime(2026, 10, 1, 10, 0)),
         Row(rule=None, transaction_id="t2", timestamp=dt.datetime(2026, 10, 2, 0, 0)),
         Row(rule="malformed_record", transaction_id=None, timestamp=None)],
    )

    broken = tmp_path / "broken"
    broken.mkdir()
    text = json.dumps([GOOD_TXN, GOOD_TXN], indent=2)[:-5]
    (broken / "transactions.json").write_text(text)
    rows = read(spark, broken, "transactions").collect()
    assert [(r.reader_failure.rule, r.record) for r in rows] == [("malformed_record", text)]


def test_orders_items_are_typed_and_a_fractional_quantity_is_a_wrong_type(spark, tmp_path):
    order = {"order_id": "o1", "customer_id": "c", "timestamp": "2026-10-01T09:00:00Z",
             "total_amount": 25.0, "currency": "USD", "payment_status": "paid",
             "items": [{"product_id": "p", "quantity": 2, "unit_price": 12.5}]}
    (tmp_path / "orders.jsonl").write_text("\n".join([
        json.dumps(order),
        json.dumps({**order, "order_id": "o2", "items": [{"product_id": "p", "quantity": 1.5, "unit_price": 10}]}),
        json.dumps({**order, "order_id": "o3", "items": {"product_id": "p"}}),
    ]))
    frame = read(spark, tmp_path, "orders")
    assertDataFrameEqual(
        frame.selectExpr("order_id", "reader_failure.rule AS rule", "items_count", "items_total_diff"),
        [Row(order_id="o1", rule=None, items_count=1, items_total_diff=D("0.00")),
         Row(order_id="o2", rule="wrong_type", items_count=1, items_total_diff=D("15.00")),
         Row(order_id="o3", rule="wrong_type", items_count=0, items_total_diff=None)],
    )


def test_records_off_the_fast_path_are_typed_like_records_on_it(spark, tmp_path):
    """An exponent amount, an escaped character or a numeric-looking id sends a record to the
    precise path (lib/sources_json.py), which must type it as the fast path types the others and
    find nothing wrong; integer amounts, extra and missing keys stay on the fast path."""
    without_error_code = {k: v for k, v in GOOD_TXN.items() if k != "error_code"}
    (tmp_path / "transactions.jsonl").write_text("\n".join([
        json.dumps({**GOOD_TXN, "transaction_id": "gate"}),
        json.dumps({**GOOD_TXN, "transaction_id": "integer_amount", "amount": 20}),
        '{"transaction_id": "exponent_amount", "order_id": "o1", "timestamp": "2026-10-01", '
        '"amount": 1.25e2, "currency": "EUR", "status": "completed", '
        '"payment_method": {"type": "wallet", "provider": "PayPal"}, "error_code": null}',
        json.dumps({**GOOD_TXN, "transaction_id": "extra_key", "note": "retry"}),
        json.dumps({**without_error_code, "transaction_id": "missing_key"}),
        json.dumps({**GOOD_TXN, "transaction_id": "escaped", "currency": "\u00c9UR"}, ensure_ascii=True),
        json.dumps({**GOOD_TXN, "transaction_id": "2024"}),
    ]))
    frame = read(spark, tmp_path, "transactions")
    assertDataFrameEqual(
        frame.selectExpr("transaction_id", "reader_failure", "amount", "payment_method", "error_code"),
        [Row(transaction_id="gate", reader_failure=None, amount=D("12.50"), payment_method="credit_card",
             error_code=None),
         Row(transaction_id="integer_amount", reader_failure=None, amount=D("20.00"),
             payment_method="credit_card", error_code=None),
         Row(transaction_id="exponent_amount", reader_failure=None, amount=D("125.00"),
             payment_method="wallet", error_code=None),
         Row(transaction_id="extra_key", reader_failure=None, amount=D("12.50"),
             payment_method="credit_card", error_code=None),
         Row(transaction_id="missing_key", reader_failure=None, amount=D("12.50"),
             payment_method="credit_card", error_code=None),
         Row(transaction_id="escaped", reader_failure=None, amount=D("12.50"),
             payment_method="credit_card", error_code=None),
         Row(transaction_id="2024", reader_failure=None, amount=D("12.50"),
             payment_method="credit_card", error_code=None)],
    )


def test_items_take_the_same_values_on_the_fast_and_the_per_element_path(spark, tmp_path):
    """Plain items come from the native parser; anything unusual goes element by element on the
    precise path. Both must type items the same way, so each case below is one the fast path must
    refuse or keep."""
    order = {"customer_id": "c", "timestamp": "2026-10-01T09:00:00Z", "total_amount": 25.0,
             "currency": "USD", "payment_status": "paid"}
    cases = {
        "fast": [{"product_id": "p", "quantity": 2, "unit_price": 12.5}],
        "fast_merged": [{"product_id": "p", "quantity": 1, "unit_price": 10.25},
                        {"product_id": "q", "quantity": 2, "unit_price": 7.5}],
        "padded_id": [{"product_id": " p ", "quantity": 2, "unit_price": 12.5}],
        "blank_id": [{"product_id": "  ", "quantity": 2, "unit_price": 12.5}],
        "null_id": [{"product_id": None, "quantity": 2, "unit_price": 12.5}],
        "whole_decimal_quantity": [{"product_id": "p", "quantity": 2.0, "unit_price": 12.5}],
        "huge_price": [{"product_id": "p", "quantity": 1, "unit_price": 12345678901234567}],
        "string_price": [{"product_id": "p", "quantity": 1, "unit_price": "12.5"}],
        "extra_field": [{"product_id": "p", "quantity": 2, "unit_price": 12.5, "note": "x"}],
        "number_element": [7],
    }
    (tmp_path / "orders.jsonl").write_text("\n".join(
        json.dumps({**order, "order_id": name, "items": items}) for name, items in cases.items()))
    frame = read(spark, tmp_path, "orders")
    item = Row("product_id", "quantity", "unit_price")
    assertDataFrameEqual(
        frame.selectExpr("order_id", "reader_failure.rule AS rule", "items"),
        [Row(order_id="fast", rule=None, items=[item("p", 2, D("12.50"))]),
         Row(order_id="fast_merged", rule=None, items=[item("p", 1, D("10.25")), item("q", 2, D("7.50"))]),
         Row(order_id="padded_id", rule=None, items=[item("p", 2, D("12.50"))]),
         Row(order_id="blank_id", rule=None, items=[item(None, 2, D("12.50"))]),
         Row(order_id="null_id", rule=None, items=[item(None, 2, D("12.50"))]),
         Row(order_id="whole_decimal_quantity", rule=None, items=[item("p", 2, D("12.50"))]),
         Row(order_id="huge_price", rule="wrong_type", items=[item("p", 1, None)]),
         Row(order_id="string_price", rule="wrong_type", items=[item("p", 1, D("12.50"))]),
         Row(order_id="extra_field", rule=None, items=[item("p", 2, D("12.50"))]),
         Row(order_id="number_element", rule="wrong_type", items=[item(None, None, None)])],
    )


CSV_HEADER = "transaction_id,dispute_date,amount,reason_code,status,resolution_date"


def test_csv_rows_with_missing_fields_or_bad_amounts_are_marked_not_dropped(spark, tmp_path):
    folder = tmp_path / "chargebacks"
    folder.mkdir()
    (folder / "part-0.csv").write_text("\n".join([
        CSV_HEADER,
        "t1,2026-10-05,5.00, 10.4 ,open,",
        "t2,2026-10-05T08:00:00Z,abc,4837,won,2026-10-09",
        "t3,2026-10-05",
        "",
        't4,2026-10-05,"1,000.00",fraud,lost,2026-10-06',
    ]) + "\n")
    (folder / "part-1.csv").write_text(CSV_HEADER + "\n" + "t5,2026-10-06,7.5,13.1,lost,2026-10-07\n")
    frame = read(spark, tmp_path, "chargebacks")
    assertDataFrameEqual(
        frame.selectExpr("transaction_id", "reader_failure.rule AS rule", "amount", "reason_code",
                         "dispute_date", "resolution_date_raw"),
        [Row(transaction_id="t1", rule=None, amount=D("5.00"), reason_code="10.4",
             dispute_date=dt.datetime(2026, 10, 5), resolution_date_raw=None),
         Row(transaction_id="t2", rule="wrong_type", amount=None, reason_code="4837",
             dispute_date=dt.datetime(2026, 10, 5, 8), resolution_date_raw="2026-10-09"),
         Row(transaction_id=None, rule="malformed_record", amount=None, reason_code=None,
             dispute_date=None, resolution_date_raw=None),
         Row(transaction_id="t4", rule="wrong_type", amount=None, reason_code="fraud",
             dispute_date=dt.datetime(2026, 10, 5), resolution_date_raw="2026-10-06"),
         Row(transaction_id="t5", rule=None, amount=D("7.50"), reason_code="13.1",
             dispute_date=dt.datetime(2026, 10, 6), resolution_date_raw="2026-10-07")],
    )


def test_a_csv_header_that_is_not_the_contracts_names_the_file(spark, tmp_path):
    (tmp_path / "chargebacks.csv").write_text("transaction_id,amount,dispute_date,reason_code,status,resolution_date\n")
    with pytest.raises(UserError, match=r"chargebacks.csv: CSV header must be exactly"):
        check_csv_headers(spark, storage.source_files(spark, str(tmp_path), "chargebacks"))


def test_a_missing_source_names_the_pattern(spark, tmp_path):
    with pytest.raises(UserError, match=r"input source orders not found: .*/orders\*"):
        storage.source_files(spark, str(tmp_path), "orders")


def test_shuffle_partitions_weigh_gzip_files_one_by_one(spark, tmp_path):
    (tmp_path / "orders-1.jsonl").write_bytes(b"x" * 1000)
    (tmp_path / "orders-2.jsonl.gz").write_bytes(b"y" * 300)  # not gzip inside: only its size counts
    files = sorted(str(p) for p in tmp_path.iterdir())
    assert storage.total_bytes(spark, files) == 1000 + 5 * 300
    mib = 1 << 20
    assert storage.shuffle_partitions_for(615 * mib, 2) == 6        # the 1M benchmark: 5 -> 6
    assert storage.shuffle_partitions_for(1, 2) == 2                # at least one per core
    assert storage.shuffle_partitions_for(10 * 128 * mib + 1, 2) == 12
    assert storage.shuffle_partitions_for(10 * 128 * mib, 4) == 12
    assert storage.shuffle_partitions_for(10**15, 2) == 2000


def test_read_splits_give_each_core_about_four_tasks_between_4_and_128_mib(spark, tmp_path):
    (tmp_path / "orders-1.jsonl").write_bytes(b"x" * 1000)
    (tmp_path / "orders-2.jsonl.gz").write_bytes(b"y" * 300)
    files = sorted(str(p) for p in tmp_path.iterdir())
    assert storage.file_sizes(spark, files) == {files[0]: 1000, files[1]: 300}
    mib = 1 << 20
    # the 1M benchmark's orders: two plain parts of 79 MiB, two gzip parts of 18 MiB, 2 cores
    assert storage.split_bytes_for({"a": 79 * mib, "b": 79 * mib, "c": 18 * mib, "d": 18 * mib}, 2) \
        == 194 * mib // 8
    assert storage.split_bytes_for({"a": 1000}, 2) == 4 * mib
    assert storage.split_bytes_for({"a": 10_000 * mib}, 2) == 128 * mib
