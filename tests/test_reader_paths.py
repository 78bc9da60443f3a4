"""The JSON reader's two paths give the same rows; the fast one is taken only where it provably may.

`typed_json` types a record with Spark's native parser when its gate holds, else through a VARIANT
(the precise path, which defines the semantics). Each case below is one the gate must refuse or
may keep; `path="precise"` sends every record the precise way, so any record the gate lets through
wrongly makes the two DataFrames differ.
"""
from __future__ import annotations

import json
from decimal import Decimal

from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from lib.schemas import SOURCE_SPECS
from lib.sources import with_item_measures
from lib.sources_json import json_lines, read_json_source, takes_fast_path

D = Decimal
PAYMENT_METHOD = '{"type": "credit_card", "provider": "Visa"}'
TXN = {"transaction_id": '"t"', "order_id": '"o1"', "timestamp": '"2026-10-01T12:00:00Z"',
       "amount": "12.50", "currency": '"EUR"', "status": '"completed"',
       "payment_method": PAYMENT_METHOD, "error_code": "null"}
ITEM = '{"product_id": "p1", "quantity": 2, "unit_price": 12.50}'
ORDER = {"order_id": '"o"', "customer_id": '"c1"', "timestamp": '"2026-10-01T09:00:00Z"',
         "total_amount": "25.00", "currency": '"USD"', "items": f"[{ITEM}]", "payment_status": '"paid"'}


def line(template: dict, **raw: str | None) -> str:
    """A JSON line from raw JSON value texts; None leaves the key out."""
    fields = {**template, **raw}
    return "{" + ", ".join(f'"{key}": {value}' for key, value in fields.items() if value is not None) + "}"


TRANSACTIONS = {
    "clean": line(TXN),
    "clean_integer_amount": line(TXN, amount="20"),
    "clean_padded_and_empty": line(TXN, currency='"  EUR "', status='""', error_code='"   "'),
    "clean_extra_key": line(TXN, note='{"retry": true, "attempt": 2}'),
    "clean_missing_keys": line(TXN, error_code=None, payment_method=None),
    "clean_nulls": line(TXN, transaction_id="null", amount="null", payment_method="null"),
    "clean_null_pm_fields": line(TXN, payment_method='{"type": null}'),
    "clean_same_type_duplicate": line(TXN)[:-1] + ', "amount": 13.75}',
    "string_amount": line(TXN, amount='"12.50"'),
    "string_amount_word": line(TXN, amount='"abc"'),
    "bool_amount": line(TXN, amount="true"),
    "object_amount": line(TXN, amount='{"value": 1}'),
    "exponent_amount": line(TXN, amount="1.25e2"),
    "exponent_amount_signed": line(TXN, amount="-1.005E+0"),
    "three_decimals_up": line(TXN, amount="12.505"),
    "three_decimals_down": line(TXN, amount="-12.504"),
    "sixteen_digits": line(TXN, amount="1234567890123456.78"),
    "seventeen_digits": line(TXN, amount="12345678901234567"),
    "rounds_past_sixteen_digits": line(TXN, amount="9999999999999999.995"),
    "long_fraction": line(TXN, amount="0.12499999999999999999999999999999999999999"),
    "huge_exponent": line(TXN, amount="1e400"),
    "number_id": line(TXN, transaction_id="123"),
    "decimal_id": line(TXN, transaction_id="1.50"),
    "bool_id": line(TXN, transaction_id="true"),
    "object_id": line(TXN, transaction_id='{"x": 1}'),
    "array_id": line(TXN, transaction_id='["a"]'),
    "infinite_id": line(TXN, transaction_id="1e400"),
    "numeric_string_id": line(TXN, transaction_id='"123"'),
    "bool_string_id": line(TXN, transaction_id='"true"'),
    "quoted_string_id": line(TXN, transaction_id='"\\"t\\""'),
    "number_timestamp": line(TXN, timestamp="1700000000"),
    "string_pm": line(TXN, payment_method='"visa"'),
    "array_pm": line(TXN, payment_method='["visa"]'),
    "number_pm_type": line(TXN, payment_method='{"type": 5, "provider": "Visa"}'),
    "escaped_key_string_amount": line(TXN, amount=None)[:-1] + ', "\\u0061mount": "12.50"}',
    "escaped_key_number_amount": line(TXN, amount=None)[:-1] + ', "amoun\\u0074": 7.25}',
    "escaped_value": line(TXN, currency='"\\u0045UR"'),
    "duplicate_amount_string_then_number": line(TXN)[:-1] + ', "amount": "1.00", "amount": 2.00}',
    "duplicate_amount_number_then_string": line(TXN)[:-1] + ', "amount": "3.00"}',
    "duplicate_id_number_then_string": '{"transaction_id": 5, ' + line(TXN)[1:],
    "duplicate_id_string_then_number": line(TXN)[:-1] + ', "transaction_id": 5}',
    "duplicate_nested": line(TXN, payment_method='{"type": "wallet", "provider": "PayPal", "type": 7}'),
    "duplicate_nested_same_type": line(TXN, payment_method='{"type": "wallet", "type": "debit_card"}'),
    "nested_string_amount_elsewhere": line(TXN, note='{"amount": "x"}'),
    "over_a_mebibyte": line(TXN, note='"' + "x" * (1 << 20) + '"'),
    "trailing_content": line(TXN) + " trailing",
    "two_objects": line(TXN) + line(TXN, amount='"1"'),
    "leading_spaces": "   " + line(TXN),
    "leading_tab": "\t" + line(TXN),
    "single_quotes": line(TXN).replace('"', "'"),
    "nan_amount": line(TXN, amount="NaN"),
    "leading_zero_amount": line(TXN, amount="012"),
    "bom": "\ufeff" + line(TXN),
    "truncated": line(TXN)[:40],
    "trailing_comma": line(TXN)[:-1] + ",}",
    "array_line": f"[{line(TXN)}]",
    "number_line": "5",
    "null_line": "null",
    "string_line": '"text"',
}

ORDERS = {
    "clean": line(ORDER),
    "clean_two_items": line(ORDER, items=f'[{ITEM}, {{"product_id": "p2", "quantity": 1, "unit_price": 0.5}}]'),
    "clean_empty_items": line(ORDER, items="[]"),
    "clean_null_items": line(ORDER, items="null"),
    "clean_missing_items": line(ORDER, items=None),
    "clean_empty_item": line(ORDER, items="[{}]"),
    "clean_item_extra_field": line(ORDER, items='[{"product_id": "p1", "quantity": 2, "unit_price": 12.5, "note": "x"}]'),
    "padded_product_id": line(ORDER, items='[{"product_id": " p1 ", "quantity": 2, "unit_price": 12.50}]'),
    "blank_product_id": line(ORDER, items='[{"product_id": "  ", "quantity": 2, "unit_price": 12.50}]'),
    "null_product_id": line(ORDER, items='[{"product_id": null, "quantity": 2, "unit_price": 12.50}]'),
    "numeric_string_product_id": line(ORDER, items='[{"product_id": "123", "quantity": 2, "unit_price": 12.50}]'),
    "number_product_id": line(ORDER, items='[{"product_id": 123, "quantity": 2, "unit_price": 12.50}]'),
    "duplicate_product_id": line(ORDER, items='[{"product_id": "p1", "quantity": 2, "unit_price": 12.5, "product_id": 9}]'),
    "whole_decimal_quantity": line(ORDER, items='[{"product_id": "p1", "quantity": 2.0, "unit_price": 12.50}]'),
    "fractional_quantity": line(ORDER, items='[{"product_id": "p1", "quantity": 1.5, "unit_price": 10}]'),
    "string_quantity": line(ORDER, items='[{"product_id": "p1", "quantity": "2", "unit_price": 12.50}]'),
    "bool_quantity": line(ORDER, items='[{"product_id": "p1", "quantity": true, "unit_price": 12.50}]'),
    "string_unit_price": line(ORDER, items='[{"product_id": "p1", "quantity": 2, "unit_price": "12.50"}]'),
    "exponent_unit_price": line(ORDER, items='[{"product_id": "p1", "quantity": 2, "unit_price": 1.25e1}]'),
    "huge_unit_price": line(ORDER, items='[{"product_id": "p1", "quantity": 1, "unit_price": 12345678901234567}]'),
    "escaped_unit_price_key": line(ORDER, items='[{"product_id": "p1", "quantity": 2, "unit\\u005fprice": "12.50"}]'),
    "object_items": line(ORDER, items='{"product_id": "p1"}'),
    "string_items": line(ORDER, items='"p1"'),
    "number_elements": line(ORDER, items="[1, 2]"),
    "null_element": line(ORDER, items="[null]"),
    "string_total_amount": line(ORDER, total_amount='"25.00"'),
    "exponent_total_amount": line(ORDER, total_amount="2.5e1"),
    "number_customer_id": line(ORDER, customer_id="42"),
    "unparseable": line(ORDER)[:60],
}


def write_lines(folder, name: str, lines: list[str], newline: str = "\n"):
    path = folder / name
    path.write_text(newline.join(lines) + newline, encoding="utf-8")
    return [str(path)]


def both_paths(spark, source: str, files: list[str]):
    spec = SOURCE_SPECS[source]
    auto, precise = (read_json_source(spark, spec, files, "lines", path) for path in ("auto", "precise"))
    if source == "orders":
        auto, precise = auto.transform(with_item_measures), precise.transform(with_item_measures)
    return auto, precise


def case_names(cases: dict[str, str]) -> dict[str, str]:
    names = {text: name for name, text in cases.items()}
    assert len(names) == len(cases), "two cases have the same text"
    return names


def fast_cases(spark, source: str, files: list[str], cases: dict[str, str]) -> set[str]:
    """The cases whose record takes the fast path."""
    names = case_names(cases)
    flags = takes_fast_path(json_lines(spark, files), SOURCE_SPECS[source]).collect()
    assert len(flags) == len(cases)
    return {names[row.record] for row in flags if row.fast_path}


def by_case(frame, cases: dict[str, str], *columns: str) -> dict[str, tuple]:
    names = case_names(cases)
    return {names[row[0]]: tuple(row[1:]) for row in frame.selectExpr("record", *columns).collect()}


def test_transactions_of_every_kind_read_the_same_on_both_paths(spark, tmp_path):
    files = write_lines(tmp_path, "transactions.jsonl", list(TRANSACTIONS.values()))
    files += write_lines(tmp_path, "transactions-crlf.jsonl", [line(TXN, transaction_id='"crlf"')], "\r\n")

    auto, precise = both_paths(spark, "transactions", files)
    assertDataFrameEqual(auto, precise)

    assert fast_cases(spark, "transactions", files[:1], TRANSACTIONS) == {
        "clean", "clean_integer_amount", "clean_padded_and_empty", "clean_extra_key",
        "clean_missing_keys", "clean_nulls", "clean_null_pm_fields", "clean_same_type_duplicate",
        "three_decimals_up", "three_decimals_down", "sixteen_digits", "duplicate_nested_same_type",
        "duplicate_id_number_then_string", "trailing_content"}
    values = by_case(auto, {**TRANSACTIONS, "crlf": line(TXN, transaction_id='"crlf"')},
                     "reader_failure.rule", "reader_failure.message", "transaction_id", "amount",
                     "currency", "status", "error_code", "payment_method")
    assert values["clean"] == (None, None, "t", D("12.50"), "EUR", "completed", None, "credit_card")
    assert values["crlf"] == (None, None, "crlf", D("12.50"), "EUR", "completed", None, "credit_card")
    assert values["clean_padded_and_empty"] == (None, None, "t", D("12.50"), "EUR", None, None, "credit_card")
    assert values["clean_same_type_duplicate"][:4] == (None, None, "t", D("13.75"))
    assert values["string_amount"][:4] == ("wrong_type", "wrong JSON type: amount is STRING", "t", D("12.50"))
    assert values["seventeen_digits"][:4] == ("wrong_type", "wrong JSON type: amount is BIGINT", "t", None)
    assert values["rounds_past_sixteen_digits"][:2] == ("wrong_type", "wrong JSON type: amount is DECIMAL(19,3)")
    assert values["three_decimals_up"][3] == D("12.51")
    assert values["three_decimals_down"][3] == D("-12.50")
    assert values["exponent_amount"][:4] == (None, None, "t", D("125.00"))
    assert values["number_id"][:3] == ("wrong_type", "wrong JSON type: transaction_id is BIGINT", "123")
    assert values["infinite_id"][:2] == ("wrong_type", "wrong JSON type: transaction_id is DOUBLE")
    assert values["object_id"][:2] == ("wrong_type", "wrong JSON type: transaction_id is OBJECT<x: BIGINT>")
    assert values["numeric_string_id"][:3] == (None, None, "123")
    assert values["quoted_string_id"][:3] == (None, None, '"t"')
    assert values["string_pm"][:2] == ("wrong_type", "wrong JSON type: payment_method_object is STRING")
    assert values["escaped_key_string_amount"][:4] == ("wrong_type", "wrong JSON type: amount is STRING", "t", D("12.50"))
    assert values["escaped_key_number_amount"][:4] == (None, None, "t", D("7.25"))
    assert values["escaped_value"][4] == "EUR"
    assert values["over_a_mebibyte"] == values["clean"]
    # Duplicate keys: the last occurrence wins, whatever the types of the earlier ones.
    assert values["duplicate_amount_string_then_number"][:4] == (None, None, "t", D("2.00"))
    assert values["duplicate_amount_number_then_string"][:2] == ("wrong_type", "wrong JSON type: amount is STRING")
    assert values["duplicate_id_number_then_string"][:3] == (None, None, "t")
    assert values["duplicate_id_string_then_number"][:3] == ("wrong_type", "wrong JSON type: transaction_id is BIGINT", "5")
    assert values["duplicate_nested"][:2] == ("wrong_type", "wrong JSON type: payment_method is BIGINT")
    assert values["duplicate_nested_same_type"][7] == "debit_card"
    for name in ("leading_tab", "single_quotes", "nan_amount", "leading_zero_amount", "bom", "truncated",
                 "trailing_comma", "array_line", "number_line", "null_line", "string_line"):
        assert values[name] == ("malformed_record", "not a JSON object (does not parse)") + (None,) * 6, name


def test_orders_of_every_kind_read_the_same_on_both_paths(spark, tmp_path):
    files = write_lines(tmp_path, "orders.jsonl", list(ORDERS.values()))

    auto, precise = both_paths(spark, "orders", files)
    assertDataFrameEqual(auto, precise)

    # An empty product id list (no items, or only null ids) looks like one empty id to the gate.
    assert fast_cases(spark, "orders", files, ORDERS) == {
        "clean", "clean_two_items", "clean_null_items", "clean_missing_items", "clean_item_extra_field"}
    item = Row("product_id", "quantity", "unit_price")
    values = by_case(auto, ORDERS, "reader_failure.rule", "reader_failure.message", "items", "total_amount")
    assert values["clean"] == (None, None, [item("p1", 2, D("12.50"))], D("25.00"))
    assert values["clean_empty_item"][2] == [item(None, None, None)]
    assert values["padded_product_id"][:3] == (None, None, [item("p1", 2, D("12.50"))])
    assert values["blank_product_id"][:3] == (None, None, [item(None, 2, D("12.50"))])
    assert values["numeric_string_product_id"][:3] == (None, None, [item("123", 2, D("12.50"))])
    assert values["number_product_id"][:2] == ("wrong_type", "wrong JSON type: items is ARRAY<OBJECT<product_id: BIGINT, quantity: BIGINT, unit_price: DECIMAL(3,1)>>")
    assert values["duplicate_product_id"][0] == "wrong_type"
    # A quantity written 2.0 is the integer 2 (docs/decisions.md); 1.5 and "2" are not integers.
    assert values["whole_decimal_quantity"][:3] == (None, None, [item("p1", 2, D("12.50"))])
    assert values["fractional_quantity"][0] == "wrong_type"
    assert values["string_quantity"][0] == "wrong_type"
    assert values["string_unit_price"][:3] == ("wrong_type", "wrong JSON type: items is ARRAY<OBJECT<product_id: STRING, quantity: BIGINT, unit_price: STRING>>", [item("p1", 2, D("12.50"))])
    assert values["exponent_unit_price"][:3] == (None, None, [item("p1", 2, D("12.50"))])
    assert values["escaped_unit_price_key"][0] == "wrong_type"
    assert values["null_element"][:2] == ("wrong_type", "wrong JSON type: items is ARRAY<VOID>")
    assert values["string_total_amount"][:2] == ("wrong_type", "wrong JSON type: total_amount is STRING")
    assert values["exponent_total_amount"][:4:3] == (None, D("25.00"))
    assert values["unparseable"][:3] == ("malformed_record", "not a JSON object (does not parse)", None)


def test_a_json_array_file_reads_like_the_same_records_as_json_lines(spark, tmp_path):
    """Elements are re-serialised, then typed by the same function; the two paths agree there too."""
    elements = [json.loads(text) for name, text in TRANSACTIONS.items()
                if name.startswith("clean") or name in ("string_amount", "number_id", "three_decimals_up")]
    (tmp_path / "transactions.json").write_text(json.dumps(elements + [7, None, "x", []], indent=2))
    spec = SOURCE_SPECS["transactions"]
    files = [str(tmp_path / "transactions.json")]
    auto, precise = (read_json_source(spark, spec, files, "auto", path) for path in ("auto", "precise"))
    assertDataFrameEqual(auto, precise)
    rules = sorted((r.rule or "") for r in auto.selectExpr("reader_failure.rule AS rule").collect())
    assert rules == [""] * 9 + ["malformed_record"] * 4 + ["wrong_type"] * 2


def test_a_200000_element_single_line_json_array_gives_200000_rows(spark, tmp_path):
    element = json.loads(TRANSACTIONS["clean"])
    with open(tmp_path / "transactions.json", "w") as handle:
        handle.write("[" + ",".join(
            json.dumps({**element, "transaction_id": f"t{i}", "note": "x" * 200}) for i in range(200_000)) + "]")
    assert (tmp_path / "transactions.json").stat().st_size > 60 * 10**6
    frame = read_json_source(spark, SOURCE_SPECS["transactions"], [str(tmp_path / "transactions.json")])
    counts = frame.selectExpr("count(*) AS rows", "count(reader_failure) AS failures",
                              "count(DISTINCT transaction_id) AS ids").collect()[0]
    assert (counts.rows, counts.failures, counts.ids) == (200_000, 0, 200_000)
