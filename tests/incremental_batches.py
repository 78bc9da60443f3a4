"""The batches of tests/test_incremental.py and the helpers that read them and their warehouses.

Generated part files are dealt into three batches by part number (PARTS_BY_BATCH); hand-written
records (a payment re-sent with another amount, a payment delivered twice, a chargeback three
months late) join them. The raw files are read back in plain Python (RawRecord, Arrivals) so the
test can measure the hard cases on the files themselves. The rest runs the pipeline's entry point
(`run_job`, `write_conf`) and reads what it published (Delta tables, run_log, table versions).
"""
from __future__ import annotations

import contextlib
import csv
import gzip
import io
import json
import os
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml
from chispa import assert_df_equality
from deltalake import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from jobs import pipeline
from lib.schemas import CHARGEBACK_CSV_COLUMNS, SOURCES
from lib.storage import local_path

REPO_ROOT = Path(__file__).resolve().parents[1]
GENERATED_UNTIL = "2026-11-01T00:00:00Z"
BATCH_AS_OF = ("2026-10-15T00:00:00Z", "2026-10-25T00:00:00Z", "2026-11-01T00:00:00Z")
# Part numbers per batch: a payment's order and chargebacks carry its part number.
PARTS_BY_BATCH = {
    "orders": ({0, 1}, {2, 3}, {4, 5}),
    "transactions": ({0, 2}, {1, 4}, {3, 5}),
    "chargebacks": ({1}, {0, 5}, {2, 3, 4}),
}
PUBLISHED = ("transactions", "orders", "chargebacks", "quarantine", "payment_metrics", "chargeback_metrics")
VERSIONED = (*PUBLISHED, "processed_files")
PER_RUN_COLUMNS = ("run_id", "quarantined_at")
KEYS = {"transactions": ("transaction_id",), "orders": ("order_id",),
        "chargebacks": ("transaction_id", "dispute_date")}
COUNTS = ("rows_read", "rows_valid", "rows_quarantined", "duplicates_dropped")


# --- hand-written records: dates before the generated 90 days, so their metric rows are theirs alone
def _json_line(record: dict) -> str:
    return json.dumps(record) + "\n"


def _order(order_id: str, at: str, total: str, sku: str) -> str:
    return _json_line({"order_id": order_id, "customer_id": f"cust-{order_id}", "timestamp": at,
                       "total_amount": float(total), "currency": "USD", "payment_status": "paid",
                       "items": [{"product_id": sku, "quantity": 1, "unit_price": float(total)}]})


def _payment(transaction_id: str, order_id: str, at: str, amount: str, method: str, provider: str) -> str:
    return _json_line({"transaction_id": transaction_id, "order_id": order_id, "timestamp": at,
                       "amount": float(amount), "currency": "USD", "status": "completed",
                       "payment_method": {"type": method, "provider": provider}, "error_code": None})


RESENT, COPIED = "txn-hand-resent", "txn-hand-copied"
RESENT_DATE, COPIED_DATE = "2026-07-15", "2026-07-16"
RESENT_PAYMENT = _payment(RESENT, "order-hand-1", f"{RESENT_DATE}T10:00:00Z", "120.00", "credit_card", "Visa")
RESENT_AGAIN = _payment(RESENT, "order-hand-1", f"{RESENT_DATE}T10:00:00Z", "110.00", "credit_card", "Visa")
COPIED_PAYMENT = _payment(COPIED, "order-hand-2", f"{COPIED_DATE}T14:02:00Z", "45.50", "wallet", "PayPal")
CHARGEBACK_HEADER = ",".join(CHARGEBACK_CSV_COLUMNS) + "\n"
HAND_FILES = (  # batch -> (source, file name, text)
    {("orders", "part-hand-1.jsonl"): _order("order-hand-1", f"{RESENT_DATE}T09:58:00Z", "120.00", "SKU-HAND-1")
                                      + _order("order-hand-2", f"{COPIED_DATE}T14:00:00Z", "45.50", "SKU-HAND-2"),
     ("transactions", "part-hand-1.jsonl"): RESENT_PAYMENT + COPIED_PAYMENT,
     ("chargebacks", "part-hand-1.csv"):
         CHARGEBACK_HEADER + f"{RESENT},2026-08-01,30.00,fraudulent_charge,lost,2026-08-20\n"},
    {("transactions", "part-hand-2.jsonl"): RESENT_AGAIN + COPIED_PAYMENT},
    {("chargebacks", "part-hand-3.csv"):  # disputed three months after the payment
         CHARGEBACK_HEADER + f"{COPIED},2026-10-20,20.00,product_not_received,won,2026-10-28\n"},
)


# --- raw files, read in plain Python --------------------------------------------------------------
def text_lines(path: Path) -> list[str]:
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as handle:
        return [line for line in handle if line.strip()]


def data_rows(path: Path) -> int:
    """Rows a file holds by the contract: non-blank lines, a CSV's header not counted."""
    return len(text_lines(path)) - (1 if path.name.endswith(".csv") else 0)


@dataclass(frozen=True)
class RawRecord:
    source: str
    batch: int
    fields: dict  # {} for a line that does not parse

    @property
    def key(self) -> tuple | None:
        values = tuple(self.fields.get(k) for k in KEYS[self.source])
        return values if all(isinstance(v, str) and v.strip() for v in values) else None

    @property
    def content(self) -> str:
        return json.dumps(self.fields, sort_keys=True)


def raw_records(source: str, batch: int, path: Path) -> list[RawRecord]:
    lines = text_lines(path)
    if source == "chargebacks":
        rows = [row for row in csv.reader(io.StringIO("".join(lines[1:])))]
        return [RawRecord(source, batch, dict(zip(CHARGEBACK_CSV_COLUMNS, (v.strip() for v in row)))
                          if len(row) == len(CHARGEBACK_CSV_COLUMNS) else {}) for row in rows]
    records = []
    for line in lines:
        try:
            fields = json.loads(line)
        except ValueError:
            fields = {}
        records.append(RawRecord(source, batch, fields if isinstance(fields, dict) else {}))
    return records


def moment(text: object) -> datetime | None:
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


@dataclass
class Arrivals:
    """Where each key first arrives, and the measured hard cases."""
    records: list[RawRecord]
    first_batch: dict[tuple[str, tuple], int] = field(default_factory=dict)

    def __post_init__(self):
        for r in self.records:
            if r.key is not None:
                self.first_batch[(r.source, r.key)] = min(r.batch, self.first_batch.get((r.source, r.key), 9))

    def of(self, source: str) -> list[RawRecord]:
        return [r for r in self.records if r.source == source]

    def arrival(self, source: str, key: object) -> int | None:
        return self.first_batch.get((source, (key,)))

    def chargebacks_before_their_payment(self) -> list[RawRecord]:
        return [c for c in self.of("chargebacks") if c.key
                and (self.arrival("transactions", c.fields["transaction_id"]) or 0) > c.batch]

    def late_chargebacks(self) -> list[RawRecord]:
        return [c for c in self.of("chargebacks") if c.key
                and (self.arrival("transactions", c.fields["transaction_id"]) or 9) < c.batch]

    def payments_before_their_order(self) -> list[RawRecord]:
        return [t for t in self.of("transactions") if isinstance(t.fields.get("order_id"), str)
                and (self.arrival("orders", t.fields["order_id"]) or 0) > t.batch]

    def versions_by_key(self) -> dict[tuple, dict[str, set[int]]]:
        versions: dict[tuple, dict[str, set[int]]] = {}
        for r in self.records:
            if r.key is not None:
                versions.setdefault((r.source, r.key), {}).setdefault(r.content, set()).add(r.batch)
        return versions

    def conflicting_across_batches(self) -> list[tuple]:
        return [key for key, contents in self.versions_by_key().items()
                if any(b1 != b2 for c1, s1 in contents.items() for c2, s2 in contents.items()
                       if c1 != c2 for b1 in s1 for b2 in s2)]

    def copies_across_batches(self) -> list[tuple]:
        return [key for key, contents in self.versions_by_key().items()
                if any(len(batches) > 1 for batches in contents.values())]

    def payments_after(self, as_of: str, batch: int) -> list[RawRecord]:
        limit = moment(as_of)
        return [t for t in self.of("transactions") if t.batch == batch
                and (moment(t.fields.get("timestamp")) or limit) > limit]


def chain_arrivals(batches: list[dict[str, list[Path]]]) -> Arrivals:
    return Arrivals([r for batch, files in enumerate(batches, start=1)
                     for source, paths in files.items() for p in paths for r in raw_records(source, batch, p)])


# --- dealing the batches ------------------------------------------------------------------------
def batch_sources(generated: Path, hand_dir: Path) -> list[dict[str, list[Path]]]:
    """Per batch: source -> files (generated parts by PARTS_BY_BATCH, then the hand-written)."""
    batches = []
    for batch, hand in enumerate(HAND_FILES):
        files = {s: sorted(p for p in (generated / s).iterdir()
                           if int(p.name.split(".")[0].split("-")[1]) in PARTS_BY_BATCH[s][batch])
                 for s in SOURCES}
        for (source, name), text in hand.items():
            path = hand_dir / f"batch{batch + 1}" / source / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            files[source].append(path)
        batches.append(files)
    return batches


# --- runs and tables -----------------------------------------------------------------------------
@dataclass(frozen=True)
class RunResult:
    code: int
    stdout: str
    stderr: str


def run_job(spark: SparkSession, input_dir: Path, warehouse: Path, as_of: str, mode: str,
            run_id: str, conf: Path) -> RunResult:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = pipeline.main(["--input", str(input_dir), "--warehouse", str(warehouse), "--as-of", as_of,
                              "--mode", mode, "--run-id", run_id, "--conf", str(conf)], spark=spark)
    return RunResult(code, out.getvalue(), err.getvalue())


def write_conf(folder: Path, fx_rates_text: str) -> Path:
    """A run's own reference data: fx rates given, the shipped reason codes and suites."""
    folder.mkdir(parents=True)
    (folder / "fx_rates.csv").write_text(fx_rates_text)
    shutil.copy(REPO_ROOT / "conf" / "reason_codes.csv", folder / "reason_codes.csv")
    conf = folder / "run.yaml"
    conf.write_text(yaml.safe_dump({"fx_rates": "fx_rates.csv", "reason_codes": "reason_codes.csv",
                                    "expectations": str(REPO_ROOT / "expectations"), "data_docs": None}))
    return conf


def table(spark: SparkSession, warehouse: Path, name: str, version: int | None = None) -> DataFrame:
    reader = spark.read.format("delta")
    if version is not None:
        reader = reader.option("versionAsOf", version)
    frame = reader.load(str(warehouse / name))
    return frame.drop(*PER_RUN_COLUMNS) if name == "quarantine" else frame


def table_versions(warehouse: Path) -> dict[str, int]:
    return {name: DeltaTable(str(warehouse / name)).version() for name in VERSIONED}


def published_payments(spark, warehouse: Path, version: int | None = None) -> set[str]:
    return {r[0] for r in table(spark, warehouse, "transactions", version).select("transaction_id").collect()}


def disputed_payments(spark, warehouse: Path, version: int | None = None) -> set[str]:
    return {r[0] for r in table(spark, warehouse, "chargebacks", version).select("transaction_id").collect()}


def quarantine_reasons(spark, warehouse: Path, source: str, version: int | None = None) -> dict[str, list[set]]:
    """transaction_id (or order_id) -> the rule sets of its quarantined rows."""
    rows = table(spark, warehouse, "quarantine", version).where(F.col("source") == source)
    if source == "chargebacks":
        columns = ", ".join(f"{c} STRING" for c in CHARGEBACK_CSV_COLUMNS)
        key = F.trim(F.from_csv("record", columns)["transaction_id"])
    else:
        key = F.trim(F.get_json_object("record", f"$.{KEYS[source][0]}"))
    reasons: dict[str, list[set]] = {}
    for row in rows.select(key.alias("key"), F.col("failed_rules.rule").alias("rules")).collect():
        reasons.setdefault(row["key"], []).append(set(row["rules"]))
    return reasons


def metric_row(spark, warehouse: Path, name: str, day: str, method: str, version: int | None = None):
    rows = (table(spark, warehouse, name, version)
            .where((F.col("txn_date") == day) & (F.col("payment_method") == method)).collect())
    assert len(rows) <= 1, rows
    return rows[0].asDict() if rows else None


def assert_same_tables(spark, actual: Path, expected: Path, names=PUBLISHED) -> None:
    for name in names:
        want = table(spark, expected, name)
        assert want.count() > 0, name
        assert_df_equality(table(spark, actual, name), want, ignore_row_order=True,
                           ignore_column_order=True, ignore_nullable=True)


def run_log_rows(spark, warehouse: Path, run_id: str) -> dict[str, dict]:
    rows = table(spark, warehouse, "run_log").where(F.col("run_id") == run_id).collect()
    return {r["source"]: r.asDict() for r in rows}


def files_of(paths) -> set[Path]:
    return {local_path(str(p)).resolve() for p in paths}


def delta_rs_rows(path: Path) -> list[dict]:
    rows = [{k: v for k, v in r.items() if k not in PER_RUN_COLUMNS}
            for r in DeltaTable(str(path)).to_pyarrow_table().to_pylist()]
    return sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))


# --- a processed file changed; a refused run ----------------------------------------------------
@contextlib.contextmanager
def changed_file(path: Path, how: str):
    """A processed file touched (a newer mtime) or appended to; put back as it was after."""
    status = path.stat()
    try:
        if how == "touched":
            os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 3_600 * 10**9))
        else:
            with open(path, "a", encoding="utf-8") as handle:
                handle.write("\n")
        yield path
    finally:
        os.truncate(path, status.st_size)
        os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns))


def assert_refused(result: RunResult, *named: str) -> None:
    assert result.code == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pipeline: "), result.stderr
    assert all(name in lines[0] for name in named), (named, lines[0])
