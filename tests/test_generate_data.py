"""The generator writes what its manifest says: counts recomputed from the files with plain Spark,
byte-identical output per seed, the assignment layout, every defect class of docs/rules.md."""
from __future__ import annotations

import filecmp
import gzip
import json
import os
import re
import subprocess
from functools import reduce
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from jobs.generate_data import main
from lib.generator.draws import money, uuid, weighted
from lib.generator.params import GeneratorParams
from lib.generator.plan import transaction_ids
from lib.schemas import CHARGEBACK_CSV_COLUMNS

AS_OF = "2026-11-01T00:00:00Z"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
CSV_HEADER = ",".join(CHARGEBACK_CSV_COLUMNS)
CONTRACT_FIELDS = {
    "transactions": {"transaction_id", "order_id", "timestamp", "amount", "currency", "status",
                     "payment_method", "error_code"},
    "orders": {"order_id", "customer_id", "timestamp", "total_amount", "currency", "items",
               "payment_status"},
}


def generate(repo_root: Path, out: Path, *, rows: int, fmt: str, seed: int = 11,
             defect_rate: float = 0.3, chargeback_rate: float = 0.3, parts: int | None = None) -> dict:
    argv = [
        "--out", str(out), "--rows", str(rows), "--format", fmt, "--seed", str(seed),
        "--as-of", AS_OF, "--defect-rate", str(defect_rate), "--chargeback-rate", str(chargeback_rate),
        "--reason-codes", str(repo_root / "conf/reason_codes.csv"),
        "--fx-rates", str(repo_root / "conf/fx_rates.csv"),
    ] + (["--parts", str(parts)] if parts else [])
    assert main(argv) == 0
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def jsonl(spark, repo_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "jsonl"
    return out, generate(repo_root, out, rows=2000, fmt="jsonl", parts=3)


@pytest.fixture(scope="module")
def clean_assignment(spark, repo_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "clean"
    return out, generate(repo_root, out, rows=1500, fmt="assignment", defect_rate=0.0,
                         chargeback_rate=0.015)


@pytest.fixture(scope="module")
def defective_assignment(spark, repo_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "defective"
    return out, generate(repo_root, out, rows=800, fmt="assignment")


def rules_of(repo_root: Path) -> dict[str, set[str]]:
    """Quarantine rule names per source, from the tables of docs/rules.md."""
    rules: dict[str, set[str]] = {}
    section = None
    for line in (repo_root / "docs/rules.md").read_text().splitlines():
        heading = re.match(r"^## (\w+)", line)
        if heading:
            section = heading.group(1).lower()
            continue
        row = re.match(r"^\| `(\w+)` \|(.*)$", line)
        if row and section:
            action = "warn" if "| warn |" in line else "quarantine"
            rules.setdefault(section, set())
            if action == "quarantine":
                rules[section].add(row.group(1))
    reader = rules.pop("reader")
    return {source: names | reader for source, names in rules.items()}


def json_lines(spark, folder: Path, key: str):
    """Each line with its key; `malformed` when the line is not a JSON object."""
    parsed = F.from_json("value", f"{key} string, _corrupt_record string",
                         {"columnNameOfCorruptRecord": "_corrupt_record"})
    return (spark.read.text(str(folder))
            .select(F.col("value").alias("line"), parsed.alias("json"))
            .select("line", F.col(f"json.{key}").alias("key"),
                    F.col("json._corrupt_record").isNotNull().alias("malformed")))


def chargeback_rows(spark, folder: Path):
    fields = F.split("value", ",", -1)
    return (spark.read.text(str(folder))
            .where(F.col("value") != CSV_HEADER)
            .select(F.col("value").alias("line"), fields.alias("fields"))
            .select("line", (F.size("fields") != 6).alias("malformed"),
                    *[F.col("fields")[n].alias(name) for n, name in enumerate(CHARGEBACK_CSV_COLUMNS)]))


def conflicting_rows(lines, key_columns: list[str]) -> int:
    present = [F.coalesce(F.trim(c) != "", F.lit(False)) for c in key_columns]
    keyed = lines.where(~F.col("malformed")).where(reduce(lambda a, b: a & b, present))
    conflicting = (keyed.groupBy(*key_columns)
                   .agg(F.countDistinct("line").alias("versions"), F.count(F.lit(1)).alias("rows"))
                   .where(F.col("versions") > 1))
    return conflicting.agg(F.coalesce(F.sum("rows"), F.lit(0))).first()[0]


def exact_copies(lines) -> int:
    well_formed = lines.where(~F.col("malformed"))
    return well_formed.count() - well_formed.select("line").distinct().count()


def string_ids(lines, field: str):
    """Keys given as non-blank JSON strings in well-formed lines."""
    return (lines.where(~F.col("malformed") & F.col("line").contains(f'"{field}": "'))
            .where(F.trim("key") != "").select(F.col("key").alias("parent_key")).distinct())


# --- small transforms ---------------------------------------------------------------------------

def test_money_renders_cents_with_two_decimals(spark):
    cents = spark.createDataFrame([(1250,), (5,), (-5,), (0,), (100000,)], "cents long")
    expected = spark.createDataFrame(
        [(1250, "12.50"), (5, "0.05"), (-5, "-0.05"), (0, "0.00"), (100000, "1000.00")],
        "cents long, text string")
    assert_df_equality(cents.select("cents", money(F.col("cents")).alias("text")), expected,
                       ignore_nullable=True)


def test_uuid_is_version_4_shaped_and_a_function_of_seed_and_key(spark):
    ids = spark.range(500).select(uuid(1, [F.col("id")], "t").alias("a"),
                                  uuid(1, [F.col("id")], "t").alias("again"),
                                  uuid(2, [F.col("id")], "t").alias("other_seed"))
    rows = ids.collect()
    assert all(UUID.match(r.a) for r in rows)
    assert all(r.a == r.again and r.a != r.other_seed for r in rows)
    assert len({r.a for r in rows}) == 500


def test_weighted_picks_by_cumulative_band(spark):
    draws = spark.createDataFrame([(0.0,), (0.49,), (0.5,), (0.79,), (0.8,), (0.999,)], "u double")
    picked = draws.select("u", weighted(F.col("u"), [("a", 5), ("b", 3), ("c", 2)]).alias("v"))
    expected = spark.createDataFrame(
        [(0.0, "a"), (0.49, "a"), (0.5, "b"), (0.79, "b"), (0.8, "c"), (0.999, "c")], "u double, v string")
    assert_df_equality(picked, expected, ignore_nullable=True)


def test_chunks_cover_every_transaction_once_one_partition_each(spark):
    params = GeneratorParams(rows=10, seed=1, as_of=None, defect_rate=0, format="jsonl", parts=3)
    ids = transaction_ids(spark, params, [0, 2])
    assert ids.rdd.getNumPartitions() == 2
    by_partition = ids.rdd.glom().map(lambda rows: [(r.chunk, r.txn_idx) for r in rows]).collect()
    assert by_partition == [[(0, 0), (0, 1), (0, 2)], [(2, 6), (2, 7), (2, 8), (2, 9)]]


# --- JSON Lines ---------------------------------------------------------------------------------

def test_jsonl_layout_names_parts_by_chunk_with_every_other_gzipped(jsonl):
    out, _ = jsonl
    assert sorted(os.listdir(out)) == ["chargebacks", "manifest.json", "orders", "transactions"]
    for source in ("transactions", "orders"):
        assert sorted(os.listdir(out / source)) == [
            "part-00000.jsonl", "part-00001.jsonl.gz", "part-00002.jsonl"]
        with gzip.open(out / source / "part-00001.jsonl.gz", "rt") as part:
            assert part.readline().startswith("{")
    assert sorted(os.listdir(out / "chargebacks")) == ["part-00000.csv", "part-00001.csv", "part-00002.csv"]
    for part in (out / "chargebacks").iterdir():
        lines = part.read_text().splitlines()
        assert lines[0] == CSV_HEADER
        assert lines.count(CSV_HEADER) == 1


def test_jsonl_rows_written_are_the_lines_in_the_files(spark, jsonl):
    out, manifest = jsonl
    for source in ("transactions", "orders"):
        assert spark.read.text(str(out / source)).count() == manifest[source]["rows_written"]
    assert chargeback_rows(spark, out / "chargebacks").count() == manifest["chargebacks"]["rows_written"]


def test_jsonl_injects_every_rule_of_docs_rules(jsonl, repo_root):
    _, manifest = jsonl
    for source, rules in rules_of(repo_root).items():
        assert set(manifest[source]["defects"]) == rules, source
        assert manifest[source]["duplicates_dropped"] > 0
    assert manifest["transactions"]["warnings"]["amount_mismatch"] > 0


def test_jsonl_counts_recomputed_from_the_files(spark, jsonl):
    out, manifest = jsonl
    transactions = json_lines(spark, out / "transactions", "transaction_id")
    orders = json_lines(spark, out / "orders", "order_id")
    chargebacks = chargeback_rows(spark, out / "chargebacks")
    for source, lines in (("transactions", transactions), ("orders", orders), ("chargebacks", chargebacks)):
        counts = manifest[source]
        assert lines.where("malformed").count() == counts["defects"]["malformed_record"], source
        assert exact_copies(lines) == counts["duplicates_dropped"], source
    assert conflicting_rows(transactions, ["key"]) == manifest["transactions"]["defects"]["conflicting_duplicate"]
    assert conflicting_rows(orders, ["key"]) == manifest["orders"]["defects"]["conflicting_duplicate"]
    assert (conflicting_rows(chargebacks, ["transaction_id", "dispute_date"])
            == manifest["chargebacks"]["defects"]["conflicting_duplicate"])

    amount = F.regexp_extract("line", r'"amount": (-?[0-9]+\.[0-9]{2})[,}]', 1)
    not_positive = transactions.where(~F.col("malformed") & (amount != "") & (amount.cast("double") <= 0))
    assert not_positive.count() == manifest["transactions"]["defects"]["amount_not_positive"]
    timestamp = F.expr("try_to_timestamp(get_json_object(line, '$.timestamp'))")
    late = transactions.where(~F.col("malformed") & (timestamp > F.lit(AS_OF).cast("timestamp")))
    assert late.count() == manifest["transactions"]["defects"]["timestamp_after_as_of"]
    wrong_amount = chargebacks.where(~F.col("malformed") & F.col("amount").rlike("^[a-z]+$"))
    assert wrong_amount.count() == manifest["chargebacks"]["defects"]["wrong_type"]


def test_jsonl_orphans_name_keys_that_exist_nowhere(spark, jsonl):
    out, manifest = jsonl
    transactions = json_lines(spark, out / "transactions", "transaction_id")
    orders = json_lines(spark, out / "orders", "order_id")
    order_of = F.get_json_object("line", "$.order_id")
    orphan_transactions = (
        transactions.where(~F.col("malformed") & F.col("line").contains('"order_id": "'))
        .select(order_of.alias("order_id")).where(F.trim("order_id") != "")
        .join(string_ids(orders, "order_id"), F.col("order_id") == F.col("parent_key"), how="left_anti")
    )
    assert orphan_transactions.count() == manifest["transactions"]["defects"]["orphan"]
    orphan_chargebacks = (
        chargeback_rows(spark, out / "chargebacks").where(~F.col("malformed"))
        .where(F.trim("transaction_id") != "")
        .join(string_ids(transactions, "transaction_id"),
              F.col("transaction_id") == F.col("parent_key"), how="left_anti")
    )
    assert orphan_chargebacks.count() == manifest["chargebacks"]["defects"]["orphan"]


def test_same_seed_same_bytes_on_any_cluster_and_other_seed_differs(jsonl, repo_root, tmp_path):
    out, manifest = jsonl
    again = tmp_path / "again"
    generate(repo_root, again, rows=2000, fmt="jsonl", parts=3)
    for source in ("transactions", "orders", "chargebacks"):
        names = sorted(os.listdir(out / source))
        assert names == sorted(os.listdir(again / source))
        match, mismatch, errors = filecmp.cmpfiles(out / source, again / source, names, shallow=False)
        assert (mismatch, errors) == ([], [])
    other = tmp_path / "other"
    generate(repo_root, other, rows=2000, fmt="jsonl", parts=3, seed=12)
    for name in ("part-00000.jsonl", "part-00001.jsonl.gz"):
        assert (out / "transactions" / name).read_bytes() != (other / "transactions" / name).read_bytes()


@pytest.mark.e2e
def test_spark_submit_run_gives_the_same_bytes_as_the_in_process_run(jsonl, repo_root, tmp_path):
    out, _ = jsonl
    submitted = tmp_path / "submitted"
    command = [
        "./spark-submit.sh", "jobs/generate_data.py", "--out", str(submitted), "--rows", "2000",
        "--format", "jsonl", "--seed", "11", "--as-of", AS_OF, "--defect-rate", "0.3",
        "--chargeback-rate", "0.3", "--parts", "3",
    ]
    subprocess.run(command, cwd=repo_root, check=True, capture_output=True, timeout=600)
    for source in ("transactions", "orders", "chargebacks"):
        names = sorted(os.listdir(out / source))
        assert names == sorted(os.listdir(submitted / source))
        _, mismatch, errors = filecmp.cmpfiles(out / source, submitted / source, names, shallow=False)
        assert (mismatch, errors) == ([], [])
    assert (json.loads((submitted / "manifest.json").read_text())["transactions"]
            == json.loads((out / "manifest.json").read_text())["transactions"])


# --- assignment format --------------------------------------------------------------------------

def test_assignment_files_parse_and_hold_exactly_the_contract_fields(clean_assignment):
    out, manifest = clean_assignment
    assert sorted(os.listdir(out)) == ["chargebacks.csv", "manifest.json", "orders.json", "transactions.json"]
    for source, fields in CONTRACT_FIELDS.items():
        records = json.loads((out / f"{source}.json").read_text())
        assert len(records) == manifest[source]["rows_written"]
        assert all(set(record) == fields for record in records), source
    transactions = json.loads((out / "transactions.json").read_text())
    assert all(set(t["payment_method"]) == {"type", "provider"} for t in transactions)
    orders = json.loads((out / "orders.json").read_text())
    assert all(set(item) == {"product_id", "quantity", "unit_price"} for o in orders for item in o["items"])
    lines = (out / "chargebacks.csv").read_text().splitlines()
    assert lines[0] == CSV_HEADER
    assert len(lines) - 1 == manifest["chargebacks"]["rows_written"]


def test_clean_assignment_is_all_valid(clean_assignment, repo_root):
    out, manifest = clean_assignment
    for source in ("transactions", "orders", "chargebacks"):
        counts = manifest[source]
        assert counts["quarantined_rows"] == counts["duplicates_dropped"] == 0
        assert counts["valid_rows"] == counts["rows_written"] > 0
    assert manifest["transactions"]["warnings"] == {"amount_mismatch": 0}

    as_of = AS_OF.replace("Z", "+00:00")
    orders = {o["order_id"]: o for o in json.loads((out / "orders.json").read_text(), parse_float=Decimal)}
    transactions = json.loads((out / "transactions.json").read_text(), parse_float=Decimal)
    assert 0.8 < len(orders) / len(transactions) < 1.0  # retries share an order
    for order in orders.values():
        assert UUID.match(order["order_id"]) and UUID.match(order["customer_id"])
        assert 1 <= len(order["items"]) <= 4
        assert sum(i["quantity"] * i["unit_price"] for i in order["items"]) == order["total_amount"]
        assert all(isinstance(i["quantity"], int) and i["quantity"] > 0 for i in order["items"])
        assert order["payment_status"] in {"paid", "failed", "refunded"}
    by_id = {}
    for txn in transactions:
        order = orders[txn["order_id"]]
        assert UUID.match(txn["transaction_id"])
        assert txn["amount"] == order["total_amount"] and txn["currency"] == order["currency"]
        assert _instant(order["timestamp"]) <= _instant(txn["timestamp"]) <= as_of
        assert txn["currency"] in {"USD", "EUR", "GBP", "ILS"}
        assert (txn["status"] == "failed") == (txn["error_code"] is not None)
        method = txn["payment_method"]
        cards = {"Visa", "MasterCard", "Amex", "Discover"}
        assert method["provider"] in (cards if method["type"] != "wallet" else {"PayPal", "Stripe"})
        by_id[txn["transaction_id"]] = txn
    assert {t["status"] for t in transactions} == {"completed", "failed", "pending"}

    rows = (out / "chargebacks.csv").read_text().splitlines()[1:]
    completed = sum(t["status"] == "completed" for t in transactions)
    assert 0.005 < len(rows) / completed < 0.03
    for row in rows:
        txn_id, dispute, amount, reason, status, resolution = row.split(",")
        txn = by_id[txn_id]
        assert txn["status"] == "completed"
        assert _instant(txn["timestamp"]) <= _instant(dispute) <= as_of
        assert 0 < Decimal(amount) <= txn["amount"]
        assert reason
        if status in {"open", "pending_response", "under_review"}:
            assert resolution == ""
        else:
            assert status in {"resolved", "won", "lost"} and _instant(resolution) >= _instant(dispute)


def _instant(text: str) -> str:
    """An ISO date or timestamp as a comparable UTC text (a date is its midnight)."""
    return text + "T00:00:00+00:00" if len(text) == 10 else text.replace("Z", "+00:00")


def test_assignment_with_defects_keeps_json_arrays_parseable(defective_assignment, repo_root):
    out, manifest = defective_assignment
    expected = rules_of(repo_root)
    for source in ("transactions", "orders"):
        records = json.loads((out / f"{source}.json").read_text())
        assert len(records) == manifest[source]["rows_written"]
        assert set(manifest[source]["defects"]) <= expected[source] - {"malformed_record", "wrong_type"}
    assert {"malformed_record", "wrong_type"} <= set(manifest["chargebacks"]["defects"])
