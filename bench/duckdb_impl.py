"""Baseline (c): the chargeback-pipeline contract computed by DuckDB SQL on one machine.

    .venv/bin/python bench/duckdb_impl.py --input DIR --out DIR [--as-of TS] [--threads N]

What it does, in the order of the contract (docs/rules.md names every rule):
- reads every raw line as text (read_csv with a delimiter that cannot occur in JSON, so no line is
  lost: a malformed line becomes a `malformed_record` quarantine row instead of being skipped);
  JSON-array files (the assignment's format) are read whole and unnested;
- parses each JSON object once (from_json into a struct of JSON fragments) and checks JSON types
  (`wrong_type`); parses CSV rows with an RFC-4180 regular expression (`malformed_record` when a
  row does not have exactly six fields);
- settles exact duplicates (GROUP BY every contract field after parsing), then
  `conflicting_duplicate` keys; evaluates every row rule and lists all that fail;
- checks referential rules against the valid parents (orphan / parent_quarantined /
  currency_mismatch / transaction_not_completed / dispute_before_transaction /
  amount_exceeds_transaction) and the `amount_mismatch` warning;
- converts to USD with the rate in force on the transaction's date (ASOF join, decimal rounding);
- writes transactions, orders, chargebacks, quarantine, payment_metrics and chargeback_metrics.

Simplifications against the Spark job (stated in docs/benchmarks.md too):
- output is one Parquet file per table, not partitioned Delta tables; no dq_results / run log table
  (the four counts per source are printed as a BENCH_COUNTS line instead);
- no Great Expectations: the row rules are written here in SQL;
- a CSV header is checked in Python and header lines are then dropped by value; CSV fields with
  embedded newlines are not supported;
- an amount too large for decimal(18,2) counts as `wrong_type`.
"""
from __future__ import annotations

import argparse
import datetime as dt
import shutil
import sys
import time
import uuid
from pathlib import Path

import duckdb

import baseline_common as common

JSON_NUMBER = "('UBIGINT', 'BIGINT', 'HUGEINT', 'DOUBLE')"

MACROS = f"""
CREATE MACRO norm(s) AS nullif(trim(s, ' ' || chr(9) || chr(10) || chr(13)), '');
CREATE MACRO jstr(j) AS norm(j ->> '$');
CREATE MACRO str_ok(t) AS t IS NULL OR t IN ('VARCHAR', 'NULL');
CREATE MACRO num_ok(t) AS t IS NULL OR t = 'NULL' OR t IN {JSON_NUMBER};
CREATE MACRO to_amount(s) AS coalesce(
    TRY_CAST(s AS DECIMAL(18, 2)), TRY_CAST(TRY_CAST(s AS DOUBLE) AS DECIMAL(18, 2)));
CREATE MACRO fail(cond, rule_name, msg) AS CASE WHEN cond THEN {{'rule': rule_name, 'message': msg}} END;
CREATE MACRO failures(l) AS list_filter(l, lambda x: x IS NOT NULL);
CREATE MACRO unquote(f) AS norm(CASE WHEN starts_with(f, '"')
    THEN replace(f[2:length(f) - 1], '""', '"') ELSE f END);
"""

CSV_FIELD = '("(?:[^"]|"")*"|[^,"]*)'
CSV_ROW = f"^({CSV_FIELD},){{5}}{CSV_FIELD}$"


def sql_list(paths: list[Path]) -> str:
    return "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in paths) + "]"


def load_raw_lines(con: duckdb.DuckDBPyConnection, source: str, files: list[Path]) -> None:
    """Table raw_<source>(source_file, record): one row per non-blank line or array element."""
    con.execute(f"CREATE TABLE raw_{source} (source_file VARCHAR, record VARCHAR)")
    array_files = [p for p in files if source != "chargebacks" and common.is_json_array_file(p)]
    line_files = [p for p in files if p not in array_files]
    if line_files:
        # chr(1) never occurs unescaped in JSON text, so each line arrives whole as one column.
        con.execute(f"""
            INSERT INTO raw_{source}
            SELECT filename, rtrim(line, chr(13))
            FROM read_csv({sql_list(line_files)}, columns = {{'line': 'VARCHAR'}}, header = false,
                          delim = chr(1), quote = '', escape = '', auto_detect = false,
                          filename = true, compression = 'auto', strict_mode = false,
                          max_line_size = 16777216)
            WHERE line IS NOT NULL AND norm(line) IS NOT NULL
        """)
    for path in array_files:
        with common.open_text(path) as handle:
            text = handle.read()
        # A JSON-array file that does not parse is one quarantined record (the whole text).
        con.execute(f"""
            INSERT INTO raw_{source}
            SELECT ?, CASE WHEN json_valid(t) AND json_type(t) = 'ARRAY'
                           THEN unnest(json_extract(t, '$[*]'))::VARCHAR ELSE t END
            FROM (SELECT ?::VARCHAR AS t)
        """, [str(path), text])


def parse_json(con, source: str, fields: list[str]) -> None:
    """parsed_<source>: each line parsed once into a struct of JSON fragments, plus its JSON type."""
    struct = "{" + ", ".join(f'"{f}": "JSON"' for f in fields) + "}"
    con.execute(f"""
        CREATE TABLE parsed_{source} AS
        SELECT source_file, record,
               CASE WHEN json_valid(record) THEN json_type(record) END = 'OBJECT' AS is_object,
               CASE WHEN is_object THEN from_json(record, '{struct}') END AS j
        FROM raw_{source}
    """)


def build_orders(con, rates_listed: str) -> None:
    parse_json(con, "orders", ["order_id", "customer_id", "timestamp", "total_amount",
                               "currency", "items", "payment_status"])
    con.execute("""
        CREATE TABLE typed_orders AS
        WITH typed AS (
            SELECT source_file, record, is_object, j,
                   list_filter([
                       CASE WHEN NOT str_ok(json_type(j.order_id)) THEN 'order_id' END,
                       CASE WHEN NOT str_ok(json_type(j.customer_id)) THEN 'customer_id' END,
                       CASE WHEN NOT str_ok(json_type(j.timestamp)) THEN 'timestamp' END,
                       CASE WHEN NOT num_ok(json_type(j.total_amount)) THEN 'total_amount' END,
                       CASE WHEN NOT str_ok(json_type(j.currency)) THEN 'currency' END,
                       CASE WHEN NOT str_ok(json_type(j.payment_status)) THEN 'payment_status' END,
                       CASE WHEN json_type(j.items) NOT IN ('ARRAY', 'NULL') THEN 'items' END,
                       CASE WHEN json_type(j.items) = 'ARRAY' AND len(list_filter(
                           from_json(j.items, '[{"product_id": "JSON", "quantity": "JSON", "unit_price": "JSON"}]'),
                           lambda i: i IS NULL OR NOT str_ok(json_type(i.product_id))
                                OR NOT (json_type(i.quantity) IS NULL OR json_type(i.quantity) IN ('NULL', 'UBIGINT', 'BIGINT'))
                                OR NOT num_ok(json_type(i.unit_price)))) > 0 THEN 'items[]' END
                   ], lambda x: x IS NOT NULL) AS wrong_fields
            FROM parsed_orders
        )
        SELECT source_file, record, is_object, wrong_fields,
               jstr(j.order_id) AS order_id, jstr(j.customer_id) AS customer_id,
               jstr(j.timestamp) AS timestamp_raw,
               TRY_CAST(jstr(j.timestamp) AS TIMESTAMPTZ) AS ts,
               to_amount(j.total_amount::VARCHAR) AS total_amount,
               jstr(j.currency) AS currency, jstr(j.payment_status) AS payment_status,
               CASE WHEN json_type(j.items) = 'ARRAY' THEN list_transform(
                   from_json(j.items, '[{"product_id": "JSON", "quantity": "JSON", "unit_price": "JSON"}]'),
                   lambda i: {'product_id': jstr(i.product_id),
                          'quantity': TRY_CAST(i.quantity::VARCHAR AS BIGINT),
                          'unit_price': to_amount(i.unit_price::VARCHAR)}) END AS items
        FROM typed
    """)
    con.execute("""
        CREATE TABLE order_keys AS
        SELECT DISTINCT order_id FROM typed_orders WHERE is_object AND order_id IS NOT NULL
    """)
    # Exact duplicates collapse to one; the kept copy is validated like any row.
    con.execute(f"""
        CREATE TABLE checked_orders AS
        WITH dedup AS (
            SELECT order_id, customer_id, coalesce(ts::VARCHAR, timestamp_raw) AS ts_key,
                   any_value(timestamp_raw) AS timestamp_raw, any_value(ts) AS ts,
                   total_amount, currency, items, payment_status,
                   min(record) AS record, min(source_file) AS source_file, count(*) AS copies
            FROM typed_orders WHERE is_object AND len(wrong_fields) = 0
            GROUP BY order_id, customer_id, ts_key, total_amount, currency, items, payment_status
        ), keyed AS (
            SELECT *, count(*) OVER (PARTITION BY order_id) AS versions FROM dedup
        )
        SELECT *, failures([
            fail(order_id IS NULL, 'order_id_required', 'order_id is missing'),
            fail(customer_id IS NULL, 'customer_id_required', 'customer_id is missing'),
            fail(timestamp_raw IS NULL, 'timestamp_required', 'timestamp is missing'),
            fail(timestamp_raw IS NOT NULL AND ts IS NULL, 'timestamp_invalid', 'timestamp is not ISO-8601'),
            fail(total_amount IS NULL, 'total_amount_required', 'total_amount is missing'),
            fail(total_amount <= 0, 'total_amount_not_positive', 'total_amount must be > 0'),
            fail(currency IS NULL, 'currency_required', 'currency is missing'),
            fail(currency NOT IN {rates_listed}, 'unknown_currency', 'currency has no rate in conf/fx_rates.csv'),
            fail(items IS NULL OR len(items) = 0, 'items_empty', 'items is missing or empty'),
            fail(len(list_filter(items, lambda i: i IS NULL OR i.product_id IS NULL OR i.quantity IS NULL
                                         OR i.unit_price IS NULL)) > 0,
                 'item_field_missing', 'an item lacks product_id, quantity or unit_price'),
            fail(len(list_filter(items, lambda i: i.quantity <= 0)) > 0,
                 'item_quantity_not_positive', 'an item quantity is <= 0'),
            fail(len(list_filter(items, lambda i: i.unit_price <= 0)) > 0,
                 'item_unit_price_not_positive', 'an item unit_price is <= 0'),
            fail(abs(list_sum(list_transform(items, lambda i: i.quantity * i.unit_price)) - total_amount) > 0.01,
                 'items_total_mismatch', 'sum(quantity * unit_price) differs from total_amount by > 0.01'),
            fail(payment_status IS NULL, 'payment_status_required', 'payment_status is missing'),
            fail(payment_status NOT IN {common.ORDER_STATUSES}, 'payment_status_invalid',
                 'payment_status is not paid / failed / refunded'),
            fail(order_id IS NOT NULL AND versions > 1, 'conflicting_duplicate',
                 'another row has the same order_id and different content')
        ]) AS failed_rules
        FROM keyed
    """)


def build_transactions(con, as_of: str) -> None:
    parse_json(con, "transactions", ["transaction_id", "order_id", "timestamp", "amount",
                                     "currency", "status", "payment_method", "error_code"])
    con.execute("""
        CREATE TABLE typed_transactions AS
        WITH typed AS (
            SELECT *, CASE WHEN json_type(j.payment_method) = 'OBJECT'
                           THEN from_json(j.payment_method, '{"type": "JSON", "provider": "JSON"}') END AS pm
            FROM parsed_transactions
        )
        SELECT source_file, record, is_object,
               list_filter([
                   CASE WHEN NOT str_ok(json_type(j.transaction_id)) THEN 'transaction_id' END,
                   CASE WHEN NOT str_ok(json_type(j.order_id)) THEN 'order_id' END,
                   CASE WHEN NOT str_ok(json_type(j.timestamp)) THEN 'timestamp' END,
                   CASE WHEN NOT num_ok(json_type(j.amount)) THEN 'amount' END,
                   CASE WHEN NOT str_ok(json_type(j.currency)) THEN 'currency' END,
                   CASE WHEN NOT str_ok(json_type(j.status)) THEN 'status' END,
                   CASE WHEN json_type(j.payment_method) NOT IN ('OBJECT', 'NULL') THEN 'payment_method' END,
                   CASE WHEN NOT str_ok(json_type(pm.type)) THEN 'payment_method.type' END,
                   CASE WHEN NOT str_ok(json_type(pm.provider)) THEN 'payment_method.provider' END,
                   CASE WHEN NOT str_ok(json_type(j.error_code)) THEN 'error_code' END
               ], lambda x: x IS NOT NULL) AS wrong_fields,
               jstr(j.transaction_id) AS transaction_id, jstr(j.order_id) AS order_id,
               jstr(j.timestamp) AS timestamp_raw, TRY_CAST(jstr(j.timestamp) AS TIMESTAMPTZ) AS ts,
               to_amount(j.amount::VARCHAR) AS amount, jstr(j.currency) AS currency,
               jstr(j.status) AS status, jstr(pm.type) AS payment_method,
               jstr(pm.provider) AS payment_provider, jstr(j.error_code) AS error_code
        FROM typed
    """)
    con.execute("""
        CREATE TABLE transaction_keys AS
        SELECT DISTINCT transaction_id FROM typed_transactions
        WHERE is_object AND transaction_id IS NOT NULL
    """)
    con.execute(f"""
        CREATE TABLE checked_transactions AS
        WITH dedup AS (
            SELECT transaction_id, order_id, coalesce(ts::VARCHAR, timestamp_raw) AS ts_key,
                   any_value(timestamp_raw) AS timestamp_raw, any_value(ts) AS ts,
                   amount, currency, status, payment_method, payment_provider, error_code,
                   min(record) AS record, min(source_file) AS source_file, count(*) AS copies
            FROM typed_transactions WHERE is_object AND len(wrong_fields) = 0
            GROUP BY transaction_id, order_id, ts_key, amount, currency, status,
                     payment_method, payment_provider, error_code
        ), keyed AS (
            SELECT *, count(*) OVER (PARTITION BY transaction_id) AS versions,
                   CAST(ts AS DATE) AS txn_date
            FROM dedup
        ), priced AS (
            -- the rate in force: latest valid_from not after the transaction's date
            SELECT k.*, fx.rate_to_usd AS fx_rate
            FROM keyed AS k ASOF LEFT JOIN fx_rates AS fx
              ON k.currency = fx.currency AND k.txn_date >= fx.valid_from
        ), joined AS (
            SELECT p.*, o.currency AS order_currency, o.total_amount AS order_total,
                   o.order_id IS NOT NULL AS parent_valid, ok.order_id IS NOT NULL AS parent_seen
            FROM priced AS p
            LEFT JOIN valid_orders AS o ON p.order_id = o.order_id
            LEFT JOIN order_keys AS ok ON p.order_id = ok.order_id
        )
        SELECT *, failures([
            fail(transaction_id IS NULL, 'transaction_id_required', 'transaction_id is missing'),
            fail(order_id IS NULL, 'order_id_required', 'order_id is missing'),
            fail(timestamp_raw IS NULL, 'timestamp_required', 'timestamp is missing'),
            fail(timestamp_raw IS NOT NULL AND ts IS NULL, 'timestamp_invalid', 'timestamp is not ISO-8601'),
            fail(ts > TIMESTAMPTZ '{as_of}', 'timestamp_after_as_of', 'timestamp is after --as-of'),
            fail(amount IS NULL, 'amount_required', 'amount is missing'),
            fail(amount <= 0, 'amount_not_positive', 'amount must be > 0'),
            fail(currency IS NULL, 'currency_required', 'currency is missing'),
            fail(status IS NULL, 'status_required', 'status is missing'),
            fail(status NOT IN {common.TXN_STATUSES}, 'status_invalid', 'status is not completed / failed / pending'),
            fail(payment_method IS NULL, 'payment_method_type_required', 'payment_method.type is missing'),
            fail(payment_method NOT IN {common.PAYMENT_TYPES}, 'payment_method_type_invalid',
                 'payment_method.type is not credit_card / debit_card / wallet'),
            fail(payment_provider IS NULL, 'payment_provider_required', 'payment_method.provider is missing'),
            fail(status = 'failed' AND error_code IS NULL, 'error_code_missing', 'a failed transaction needs error_code'),
            fail(status IN ('completed', 'pending') AND error_code IS NOT NULL, 'error_code_unexpected',
                 'error_code must be null unless status is failed'),
            fail(transaction_id IS NOT NULL AND versions > 1, 'conflicting_duplicate',
                 'another row has the same transaction_id and different content'),
            fail(currency IS NOT NULL AND ts IS NOT NULL AND fx_rate IS NULL, 'unknown_currency',
                 'no rate for the currency in force on the transaction date'),
            fail(order_id IS NOT NULL AND NOT parent_seen, 'orphan', 'order_id names no order in the input'),
            fail(parent_seen AND NOT parent_valid, 'parent_quarantined', 'the order was quarantined'),
            fail(parent_valid AND currency <> order_currency, 'currency_mismatch',
                 'currency differs from the order currency')
        ]) AS failed_rules,
        CASE WHEN parent_valid AND amount <> order_total THEN ['amount_mismatch'] ELSE [] END AS dq_warnings
        FROM joined
    """)


def build_chargebacks(con, reason_codes_sql: str) -> None:
    con.execute(f"""
        CREATE TABLE typed_chargebacks AS
        WITH rows AS (
            SELECT source_file, record, regexp_full_match(record, '{CSV_ROW}') AS is_row,
                   CASE WHEN is_row THEN regexp_extract_all(record || ',', '{CSV_FIELD},', 1) END AS f
            FROM raw_chargebacks
            WHERE record <> '{",".join(common.CHARGEBACK_COLUMNS)}'
        )
        SELECT source_file, record, is_row AS is_object,
               unquote(f[1]) AS transaction_id, unquote(f[2]) AS dispute_raw,
               TRY_CAST(unquote(f[2]) AS TIMESTAMPTZ) AS dispute_ts,
               unquote(f[3]) AS amount_raw, to_amount(unquote(f[3])) AS amount,
               unquote(f[4]) AS reason_code, unquote(f[5]) AS status,
               unquote(f[6]) AS resolution_raw, TRY_CAST(unquote(f[6]) AS TIMESTAMPTZ) AS resolution_ts,
               CASE WHEN unquote(f[3]) IS NOT NULL AND to_amount(unquote(f[3])) IS NULL
                    THEN ['amount'] ELSE [] END AS wrong_fields
        FROM rows
    """)
    con.execute(f"""
        CREATE TABLE checked_chargebacks AS
        WITH dedup AS (
            SELECT transaction_id, coalesce(dispute_ts::VARCHAR, dispute_raw) AS dispute_key,
                   any_value(dispute_raw) AS dispute_raw, any_value(dispute_ts) AS dispute_ts,
                   amount, reason_code, status,
                   coalesce(resolution_ts::VARCHAR, resolution_raw) AS resolution_key,
                   any_value(resolution_raw) AS resolution_raw, any_value(resolution_ts) AS resolution_ts,
                   min(record) AS record, min(source_file) AS source_file, count(*) AS copies
            FROM typed_chargebacks WHERE is_object AND len(wrong_fields) = 0
            GROUP BY transaction_id, dispute_key, amount, reason_code, status, resolution_key
        ), keyed AS (
            SELECT *, count(*) OVER (PARTITION BY transaction_id, dispute_key) AS versions FROM dedup
        ), joined AS (
            SELECT k.*, t.status AS txn_status, t.ts AS txn_ts, t.amount AS txn_amount,
                   t.currency, t.txn_date, t.payment_method, t.fx_rate,
                   t.transaction_id IS NOT NULL AS parent_valid,
                   tk.transaction_id IS NOT NULL AS parent_seen,
                   coalesce(rc.category, 'unknown') AS reason_category
            FROM keyed AS k
            LEFT JOIN valid_transactions AS t ON k.transaction_id = t.transaction_id
            LEFT JOIN transaction_keys AS tk ON k.transaction_id = tk.transaction_id
            LEFT JOIN ({reason_codes_sql}) AS rc ON lower(k.reason_code) = rc.reason_code
        )
        SELECT *, failures([
            fail(transaction_id IS NULL, 'transaction_id_required', 'transaction_id is missing'),
            fail(dispute_raw IS NULL, 'dispute_date_required', 'dispute_date is missing'),
            fail(dispute_raw IS NOT NULL AND dispute_ts IS NULL, 'dispute_date_invalid', 'dispute_date is not ISO-8601'),
            fail(amount IS NULL, 'amount_required', 'amount is missing'),
            fail(amount <= 0, 'amount_not_positive', 'amount must be > 0'),
            fail(reason_code IS NULL, 'reason_code_required', 'reason_code is missing'),
            fail(status IS NULL, 'status_required', 'status is missing'),
            fail(status NOT IN {common.CB_OPEN + common.CB_CLOSED}, 'status_invalid', 'status is not a chargeback status'),
            fail(status IN {common.CB_OPEN} AND resolution_raw IS NOT NULL, 'resolution_date_unexpected',
                 'an open chargeback has a resolution_date'),
            fail(status IN {common.CB_CLOSED} AND resolution_raw IS NULL, 'resolution_date_missing',
                 'a closed chargeback needs a resolution_date'),
            fail(resolution_raw IS NOT NULL AND resolution_ts IS NULL, 'resolution_date_invalid',
                 'resolution_date is not ISO-8601'),
            fail(resolution_ts < dispute_ts, 'resolution_before_dispute', 'resolution_date is before dispute_date'),
            fail(transaction_id IS NOT NULL AND dispute_raw IS NOT NULL AND versions > 1, 'conflicting_duplicate',
                 'another row has the same (transaction_id, dispute_date) and different content'),
            fail(transaction_id IS NOT NULL AND NOT parent_seen, 'orphan', 'transaction_id names no transaction in the input'),
            fail(parent_seen AND NOT parent_valid, 'parent_quarantined', 'the transaction was quarantined'),
            fail(parent_valid AND txn_status <> 'completed', 'transaction_not_completed', 'the transaction is not completed'),
            fail(parent_valid AND dispute_ts < txn_ts, 'dispute_before_transaction', 'dispute_date is before the transaction'),
            fail(parent_valid AND amount > txn_amount, 'amount_exceeds_transaction', 'amount exceeds the transaction amount')
        ]) AS failed_rules
        FROM joined
    """)


def quarantine_sql(source: str, run_id: str) -> str:
    reader = f"""
        SELECT '{source}' AS source, record,
               CASE WHEN NOT coalesce(is_object, false)
                    THEN [{{'rule': 'malformed_record', 'message': 'not a parseable record'}}]
                    ELSE [{{'rule': 'wrong_type', 'message': 'wrong type: ' || array_to_string(wrong_fields, ', ')}}]
               END AS failed_rules, source_file
        FROM typed_{source} WHERE NOT coalesce(is_object, false) OR len(wrong_fields) > 0
    """
    checked = f"""
        SELECT '{source}', record, failed_rules, source_file
        FROM checked_{source} WHERE len(failed_rules) > 0
    """
    return f"""
        SELECT source, record, failed_rules, source_file, '{run_id}' AS run_id,
               now() AS quarantined_at
        FROM ({reader} UNION ALL {checked})
    """


def counts(con, source: str) -> dict[str, int]:
    rows_read, = con.execute(f"SELECT count(*) FROM typed_{source}").fetchall()[0]
    rejected, = con.execute(
        f"SELECT count(*) FROM typed_{source} WHERE NOT coalesce(is_object, false) OR len(wrong_fields) > 0"
    ).fetchall()[0]
    valid, invalid, dropped = con.execute(f"""
        SELECT count(*) FILTER (len(failed_rules) = 0), count(*) FILTER (len(failed_rules) > 0),
               coalesce(sum(copies - 1), 0)
        FROM checked_{source}
    """).fetchall()[0]
    return {"rows_read": rows_read, "rows_valid": valid,
            "rows_quarantined": rejected + invalid, "duplicates_dropped": int(dropped)}


METRICS = """
    CREATE TABLE payment_metrics AS
    SELECT txn_date, payment_method,
           count(*) AS attempts,
           count(*) FILTER (status = 'completed') AS completed_count,
           count(*) FILTER (status = 'failed') AS failed_count,
           count(*) FILTER (status = 'pending') AS pending_count,
           CASE WHEN count(*) FILTER (status IN ('completed', 'failed')) > 0 THEN
               count(*) FILTER (status = 'failed') / count(*) FILTER (status IN ('completed', 'failed'))
           END::DOUBLE AS failure_rate,
           coalesce(sum(amount_usd) FILTER (status = 'completed'), 0)::DECIMAL(18, 2) AS completed_volume_usd,
           coalesce(sum(amount_usd) FILTER (status = 'failed'), 0)::DECIMAL(18, 2) AS failed_volume_usd
    FROM valid_transactions GROUP BY txn_date, payment_method;

    CREATE TABLE chargeback_metrics AS
    WITH cb AS (
        SELECT txn_date, payment_method,
               count(*) AS chargeback_count,
               sum(amount_usd)::DECIMAL(18, 2) AS disputed_amount_usd,
               count(*) FILTER (status = 'won') AS won_count,
               count(*) FILTER (status = 'lost') AS lost_count,
               count(*) FILTER (status IN ('open', 'pending_response', 'under_review')) AS open_count,
               count(*) FILTER (reason_category = 'fraud') AS fraud_chargeback_count
        FROM valid_chargebacks GROUP BY txn_date, payment_method
    )
    SELECT p.txn_date, p.payment_method, p.completed_count, p.completed_volume_usd,
           coalesce(cb.chargeback_count, 0) AS chargeback_count,
           coalesce(cb.disputed_amount_usd, 0)::DECIMAL(18, 2) AS disputed_amount_usd,
           CASE WHEN p.completed_volume_usd > 0
                THEN coalesce(cb.disputed_amount_usd, 0)::DOUBLE / p.completed_volume_usd::DOUBLE END AS chargeback_rate,
           CASE WHEN p.completed_count > 0
                THEN coalesce(cb.chargeback_count, 0) / p.completed_count END::DOUBLE AS chargeback_rate_count,
           coalesce(cb.won_count, 0) AS won_count, coalesce(cb.lost_count, 0) AS lost_count,
           coalesce(cb.open_count, 0) AS open_count,
           CASE WHEN coalesce(cb.won_count, 0) + coalesce(cb.lost_count, 0) > 0
                THEN cb.won_count / (cb.won_count + cb.lost_count) END::DOUBLE AS win_rate,
           coalesce(cb.fraud_chargeback_count, 0) AS fraud_chargeback_count
    FROM payment_metrics AS p
    LEFT JOIN cb ON p.txn_date = cb.txn_date AND p.payment_method = cb.payment_method;
"""

USD = "round(amount * CAST(fx_rate AS DECIMAL(18, 6)), 2)::DECIMAL(18, 2)"


def run(input_dir: str, out_dir: str, as_of: str, threads: int | None) -> dict:
    files = {source: common.source_files(input_dir, source) for source in common.SOURCES}
    common.check_chargeback_headers(files["chargebacks"])
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    if threads:
        con.execute(f"SET threads = {threads}")
    con.execute(MACROS)
    con.execute("CREATE TABLE fx_rates (currency VARCHAR, rate_to_usd DOUBLE, valid_from DATE)")
    con.executemany("INSERT INTO fx_rates VALUES (?, ?, ?)", common.load_fx_rates())
    rates_listed = "(" + ", ".join(sorted({f"'{c}'" for c, _, _ in common.load_fx_rates()})) + ")"
    reason_codes = common.load_reason_codes()
    reason_codes_sql = "SELECT * FROM (VALUES " + ", ".join(
        f"('{code.replace(chr(39), chr(39) * 2)}', '{category}')" for code, category in reason_codes.items()
    ) + ") AS rc(reason_code, category)"
    as_of_ts = con.execute("SELECT ?::TIMESTAMPTZ::VARCHAR", [as_of]).fetchall()[0][0]
    run_id = str(uuid.uuid4())

    for source in common.SOURCES:
        load_raw_lines(con, source, files[source])
    build_orders(con, rates_listed)
    con.execute("""
        CREATE TABLE valid_orders AS
        SELECT order_id, customer_id, ts AS timestamp, total_amount, o.currency, items, payment_status,
               fx.rate_to_usd AS fx_rate, CAST(ts AS DATE) AS order_date
        FROM checked_orders AS o ASOF LEFT JOIN fx_rates AS fx
          ON o.currency = fx.currency AND CAST(o.ts AS DATE) >= fx.valid_from
        WHERE len(failed_rules) = 0
    """)
    build_transactions(con, as_of_ts)
    con.execute(f"""
        CREATE TABLE valid_transactions AS
        SELECT transaction_id, order_id, ts AS timestamp, ts, amount, currency, status,
               payment_method, payment_provider, error_code, fx_rate, {USD} AS amount_usd,
               dq_warnings, txn_date
        FROM checked_transactions WHERE len(failed_rules) = 0
    """)
    build_chargebacks(con, reason_codes_sql)
    con.execute(f"""
        CREATE TABLE valid_chargebacks AS
        SELECT transaction_id, dispute_ts AS dispute_date, amount, currency, reason_code, reason_category,
               status, resolution_ts AS resolution_date, txn_date, payment_method, fx_rate,
               {USD} AS amount_usd, CAST(dispute_ts AS DATE) AS chargeback_date
        FROM checked_chargebacks WHERE len(failed_rules) = 0
    """)
    con.execute(METRICS)

    out = Path(out_dir)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    outputs = {
        "orders": f"SELECT *, {USD.replace('amount', 'total_amount', 1)} AS amount_usd FROM valid_orders",
        "transactions": "SELECT * EXCLUDE (ts) FROM valid_transactions",
        "chargebacks": "SELECT * FROM valid_chargebacks",
        "quarantine": " UNION ALL ".join(quarantine_sql(s, run_id) for s in common.SOURCES),
        "payment_metrics": "SELECT * FROM payment_metrics",
        "chargeback_metrics": "SELECT * FROM chargeback_metrics",
    }
    for table, query in outputs.items():
        con.execute(f"COPY ({query}) TO '{out / (table + '.parquet')}' (FORMAT parquet)")
    return {source: counts(con, source) for source in common.SOURCES}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="duckdb_impl")
    parser.add_argument("--input", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--as-of", default=dt.datetime.now(dt.timezone.utc).isoformat())
    parser.add_argument("--threads", type=int, default=None, help="DuckDB threads (default: all cores)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        result = run(args.input, args.out, args.as_of, args.threads)
    except common.InputError as error:
        print(f"duckdb_impl: {error}", file=sys.stderr)
        return 2
    common.print_counts("duckdb", result)
    print(f"duckdb_impl: done in {time.monotonic() - started:.1f}s, wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
