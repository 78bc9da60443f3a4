"""What the two non-Spark baselines (duckdb_impl, pandas_impl) share: finding the raw sources,
the CSV header check, the reference data, and the counts line that bench/run.py records.

Only the I/O edges live here; each baseline implements the rules itself, in its own idiom.
"""
from __future__ import annotations

import csv
import gzip
import json
from pathlib import Path

SOURCES = ("orders", "transactions", "chargebacks")
CHARGEBACK_COLUMNS = [
    "transaction_id", "dispute_date", "amount", "reason_code", "status", "resolution_date",
]
TXN_STATUSES = ("completed", "failed", "pending")
PAYMENT_TYPES = ("credit_card", "debit_card", "wallet")
ORDER_STATUSES = ("paid", "failed", "refunded")
CB_OPEN = ("open", "pending_response", "under_review")
CB_CLOSED = ("resolved", "won", "lost")
ROOT = Path(__file__).resolve().parents[1]


class InputError(Exception):
    """A missing source or a bad CSV header: the run stops before writing anything."""


def source_files(input_dir: str, source: str) -> list[Path]:
    """`DIR/<source>*`: a file, or a directory of part files (hidden and `_` files skipped)."""
    matches = sorted(Path(input_dir).glob(f"{source}*"))
    if not matches:
        raise InputError(f"missing input source {source!r}: nothing matches {input_dir}/{source}*")
    files: list[Path] = []
    for match in matches:
        if match.is_dir():
            files += sorted(
                p for p in match.rglob("*")
                if p.is_file() and not p.name.startswith((".", "_"))
            )
        else:
            files.append(match)
    if not files:
        raise InputError(f"input source {source!r} has no files under {input_dir}/{source}*")
    return files


def open_text(path: Path):
    if path.name.endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def is_json_array_file(path: Path) -> bool:
    """The assignment's format: the first non-blank character is '['."""
    with open_text(path) as handle:
        for line in handle:
            stripped = line.strip()
            if stripped:
                return stripped.startswith("[")
    return False


def check_chargeback_headers(files: list[Path]) -> None:
    for path in files:
        with open_text(path) as handle:
            header = next(csv.reader([handle.readline().rstrip("\r\n")]), [])
        if header != CHARGEBACK_COLUMNS:
            raise InputError(
                f"{path}: CSV header must be exactly {','.join(CHARGEBACK_COLUMNS)}, got {','.join(header)!r}"
            )


def load_fx_rates(path: Path | None = None) -> list[tuple[str, float, str]]:
    with open(path or ROOT / "conf" / "fx_rates.csv", encoding="utf-8", newline="") as handle:
        return [
            (row["currency"].strip(), float(row["rate_to_usd"]), row["valid_from"].strip())
            for row in csv.DictReader(handle)
        ]


def load_reason_codes(path: Path | None = None) -> dict[str, str]:
    with open(path or ROOT / "conf" / "reason_codes.csv", encoding="utf-8", newline="") as handle:
        return {
            row["reason_code"].strip().lower(): row["category"].strip()
            for row in csv.DictReader(handle)
        }


def print_counts(implementation: str, counts: dict[str, dict[str, int]]) -> None:
    """One machine-readable line that bench/run.py picks up to compare implementations."""
    print("BENCH_COUNTS " + json.dumps({"implementation": implementation, "counts": counts}))
