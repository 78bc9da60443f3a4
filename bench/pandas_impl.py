"""Baseline (d): the contract the way the original assignment invites it: Python + Pydantic + pandas.

    .venv/bin/python bench/pandas_impl.py --input DIR --out DIR [--as-of TS]

- every JSON Lines line (plain or .gz) is read with Python's `json.loads`; every CSV row with the
  `csv` module; JSON-array files with one `json.load`;
- one Pydantic v2 model per source validates each record: strict types give `wrong_type`, and
  one field validator per field raises the contract's rule by name (cross-field rules such as
  `error_code_missing` or `items_total_mismatch` read the fields validated before them through
  `info.data`), so Pydantic collects every failed rule of a row in one ValidationError;
- exact duplicates, `conflicting_duplicate`, referential rules, USD conversion and both metric
  tables are pandas merges and groupbys; the six tables are written as Parquet (pyarrow).

Simplifications (also in docs/benchmarks.md): single Parquet files instead of partitioned Delta
tables; no dq_results / run log table (the four counts per source are printed as BENCH_COUNTS);
no Great Expectations; everything is held in memory (no spilling), which is the point of the
comparison. The duplicate check compares trimmed raw values, with timestamps compared as parsed
instants only for rows that pass validation.
"""
from __future__ import annotations

import argparse
import bisect
import csv
import datetime as dt
import json
import shutil
import sys
import time
import uuid
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Strict, StrictStr, ValidationError,
                      ValidationInfo, field_validator)
from pydantic_core import PydanticCustomError

import baseline_common as common

CENT = Decimal("0.01")
TYPE_ERRORS = {"string_type", "float_type", "int_type", "model_type", "model_attributes_type",
               "list_type", "dict_type", "decimal_type", "decimal_parsing", "bool_type"}


def _trim(value: Any) -> Any:
    """Strings are trimmed and an empty one is missing; anything else reaches the type check."""
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


Text = Annotated[StrictStr | None, BeforeValidator(_trim)]
Number = Annotated[float, Strict()] | None
Integer = Annotated[int, Strict()] | None


def rule(name: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(name, message)


def parse_ts(value: str) -> dt.datetime | None:
    """ISO-8601; no offset means UTC; a date alone means midnight UTC."""
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=dt.timezone.utc) if parsed.tzinfo is None else parsed.astimezone(dt.timezone.utc)


def to_amount(value: float | str) -> Decimal:
    return Decimal(repr(value) if isinstance(value, float) else str(value)).quantize(CENT, ROUND_HALF_UP)


def required(value: Any, name: str) -> Any:
    if value is None:
        raise rule(f"{name}_required", f"{name} is missing")
    return value


def timestamp_field(value: str | None, name: str) -> dt.datetime:
    parsed = parse_ts(required(value, name))
    if parsed is None:
        raise rule(f"{name}_invalid", f"{name} is not ISO-8601")
    return parsed


def positive_amount(value: float | None, name: str) -> Decimal:
    amount = to_amount(required(value, name))
    if amount <= 0:
        raise rule(f"{name}_not_positive", f"{name} must be > 0")
    return amount


def one_of(value: str | None, name: str, allowed: tuple[str, ...]) -> str:
    if required(value, name) not in allowed:
        raise rule(f"{name}_invalid", f"{name} is not one of {', '.join(allowed)}")
    return value


class Item(BaseModel):
    product_id: Text = None
    quantity: Integer = None
    unit_price: Number = None


class Order(BaseModel):
    model_config = ConfigDict(validate_default=True)
    order_id: Text = None
    customer_id: Text = None
    timestamp: Text = None
    total_amount: Number = None
    currency: Text = None
    items: list[Item | None] | None = None
    payment_status: Text = None

    @field_validator("order_id", "customer_id")
    @classmethod
    def _required(cls, value, info: ValidationInfo):
        return required(value, info.field_name)

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, value):
        return timestamp_field(value, "timestamp")

    @field_validator("total_amount")
    @classmethod
    def _total(cls, value):
        return positive_amount(value, "total_amount")

    @field_validator("currency")
    @classmethod
    def _currency(cls, value, info: ValidationInfo):
        if required(value, "currency") not in info.context["currencies"]:
            raise rule("unknown_currency", "currency has no rate in conf/fx_rates.csv")
        return value

    @field_validator("items")
    @classmethod
    def _items(cls, items, info: ValidationInfo):
        if not items:
            raise rule("items_empty", "items is missing or empty")
        failed = []
        if any(i is None or None in (i.product_id, i.quantity, i.unit_price) for i in items):
            failed.append("item_field_missing")
        if any(i is not None and i.quantity is not None and i.quantity <= 0 for i in items):
            failed.append("item_quantity_not_positive")
        if any(i is not None and i.unit_price is not None and i.unit_price <= 0 for i in items):
            failed.append("item_unit_price_not_positive")
        total = info.data.get("total_amount")
        if "item_field_missing" not in failed and total is not None:
            items_sum = sum(i.quantity * to_amount(i.unit_price) for i in items)
            if abs(items_sum - total) > CENT:
                failed.append("items_total_mismatch")
        if failed:
            raise PydanticCustomError("several", "{rules}", {"rules": failed})
        return items

    @field_validator("payment_status")
    @classmethod
    def _status(cls, value):
        return one_of(value, "payment_status", common.ORDER_STATUSES)


class PaymentMethod(BaseModel):
    type: Text = None
    provider: Text = None


class Transaction(BaseModel):
    model_config = ConfigDict(validate_default=True)
    transaction_id: Text = None
    order_id: Text = None
    timestamp: Text = None
    amount: Number = None
    currency: Text = None
    status: Text = None
    payment_method: PaymentMethod | None = None
    error_code: Text = None

    @field_validator("transaction_id", "order_id", "currency")
    @classmethod
    def _required(cls, value, info: ValidationInfo):
        return required(value, info.field_name)

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, value, info: ValidationInfo):
        parsed = timestamp_field(value, "timestamp")
        if parsed > info.context["as_of"]:
            raise rule("timestamp_after_as_of", "timestamp is after --as-of")
        return parsed

    @field_validator("amount")
    @classmethod
    def _amount(cls, value):
        return positive_amount(value, "amount")

    @field_validator("status")
    @classmethod
    def _status(cls, value):
        return one_of(value, "status", common.TXN_STATUSES)

    @field_validator("payment_method")
    @classmethod
    def _payment_method(cls, value):
        pm = value or PaymentMethod()
        failed = []
        if pm.type is None:
            failed.append("payment_method_type_required")
        elif pm.type not in common.PAYMENT_TYPES:
            failed.append("payment_method_type_invalid")
        if pm.provider is None:
            failed.append("payment_provider_required")
        if failed:
            raise PydanticCustomError("several", "{rules}", {"rules": failed})
        return pm

    @field_validator("error_code")
    @classmethod
    def _error_code(cls, value, info: ValidationInfo):
        status = info.data.get("status")
        if status == "failed" and value is None:
            raise rule("error_code_missing", "a failed transaction needs error_code")
        if status in ("completed", "pending") and value is not None:
            raise rule("error_code_unexpected", "error_code must be null unless status is failed")
        return value


class Chargeback(BaseModel):
    model_config = ConfigDict(validate_default=True)
    transaction_id: Text = None
    dispute_date: Text = None
    amount: Text = None
    reason_code: Text = None
    status: Text = None
    resolution_date: Text = None

    @field_validator("amount", mode="before")
    @classmethod
    def _amount_is_number(cls, value):
        value = _trim(value)
        if value is not None:
            try:
                Decimal(value)
            except InvalidOperation:
                raise PydanticCustomError("decimal_parsing", "amount is not a number") from None
        return value

    @field_validator("transaction_id", "reason_code")
    @classmethod
    def _required(cls, value, info: ValidationInfo):
        return required(value, info.field_name)

    @field_validator("dispute_date")
    @classmethod
    def _dispute(cls, value):
        return timestamp_field(value, "dispute_date")

    @field_validator("amount")
    @classmethod
    def _amount(cls, value):
        return positive_amount(value, "amount")

    @field_validator("status")
    @classmethod
    def _status(cls, value):
        return one_of(value, "status", common.CB_OPEN + common.CB_CLOSED)

    @field_validator("resolution_date")
    @classmethod
    def _resolution(cls, value, info: ValidationInfo):
        status = info.data.get("status")
        if status in common.CB_OPEN and value is not None:
            raise rule("resolution_date_unexpected", "an open chargeback has a resolution_date")
        if status in common.CB_CLOSED and value is None:
            raise rule("resolution_date_missing", "a closed chargeback needs a resolution_date")
        if value is None:
            return None
        parsed = parse_ts(value)
        if parsed is None:
            raise rule("resolution_date_invalid", "resolution_date is not ISO-8601")
        dispute = info.data.get("dispute_date")
        if dispute is not None and parsed < dispute:
            raise rule("resolution_before_dispute", "resolution_date is before dispute_date")
        return parsed


MODELS = {"orders": Order, "transactions": Transaction, "chargebacks": Chargeback}
KEYS = {"orders": ["order_id"], "transactions": ["transaction_id"],
        "chargebacks": ["transaction_id", "dispute_date"]}
CONTENT_FIELDS = {
    "orders": ("order_id", "customer_id", "timestamp", "total_amount", "currency", "items", "payment_status"),
    "transactions": ("transaction_id", "order_id", "timestamp", "amount", "currency", "status",
                     "payment_method", "error_code"),
    "chargebacks": tuple(common.CHARGEBACK_COLUMNS),
}
TIME_FIELDS = {"timestamp", "dispute_date", "resolution_date"}


class FxRates:
    """The rate in force on a date: the latest valid_from not after it."""

    def __init__(self, rows: list[tuple[str, float, str]]):
        table: dict[str, list[tuple[dt.date, float]]] = {}
        for currency, rate, valid_from in rows:
            table.setdefault(currency, []).append((dt.date.fromisoformat(valid_from), rate))
        self.table = {c: sorted(v) for c, v in table.items()}
        self.cache: dict[tuple[str, dt.date], float | None] = {}

    def rate(self, currency: str, day: dt.date) -> float | None:
        key = (currency, day)
        if key not in self.cache:
            history = self.table.get(currency, [])
            at = bisect.bisect_right([d for d, _ in history], day)
            self.cache[key] = history[at - 1][1] if at else None
        return self.cache[key]


def usd(amount: Decimal, rate: float) -> Decimal:
    return (amount * Decimal(repr(rate))).quantize(CENT, ROUND_HALF_UP)


def normalised(field: str, value: Any) -> Any:
    value = _trim(value)
    if field in TIME_FIELDS and isinstance(value, str):
        parsed = parse_ts(value)
        return parsed.isoformat() if parsed else value
    if isinstance(value, dict):
        return {k: _trim(v) for k, v in value.items()}
    if isinstance(value, list):
        return [{k: _trim(v) for k, v in i.items()} if isinstance(i, dict) else i for i in value]
    return value


def read_records(source: str, files: list[Path]):
    """Yield (source_file, record text, dict or None when the record is malformed)."""
    for path in files:
        if source == "chargebacks":
            with common.open_text(path) as handle:
                handle.readline()  # the header, checked before anything was read
                for line in handle:
                    line = line.rstrip("\r\n")
                    if line.strip():
                        row = next(csv.reader([line]))
                        yield path, line, dict(zip(common.CHARGEBACK_COLUMNS, row)) if len(row) == 6 else None
        elif common.is_json_array_file(path):
            with common.open_text(path) as handle:
                text = handle.read()
            try:
                elements = json.loads(text)
            except ValueError:
                yield path, text, None
                continue
            for element in elements if isinstance(elements, list) else [elements]:
                yield path, json.dumps(element), element if isinstance(element, dict) else None
        else:
            with common.open_text(path) as handle:
                for line in handle:
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line)
                    except ValueError:
                        obj = None
                    yield path, line.rstrip("\r\n"), obj if isinstance(obj, dict) else None


def references(source: str, obj: dict) -> dict:
    """What the duplicate and referential rules need, taken from the record even when it failed."""
    refs = {key: normalised(key, obj.get(key)) for key in KEYS[source]}
    if source == "transactions":
        refs["order_id"] = _trim(obj.get("order_id"))
        refs["currency"] = _trim(obj.get("currency"))
    if source == "chargebacks":
        dispute = _trim(obj.get("dispute_date"))
        refs["dispute_ts"] = parse_ts(dispute) if dispute else None
        try:
            refs["amount"] = to_amount(_trim(obj.get("amount")) or "x")
        except InvalidOperation:
            refs["amount"] = None
    return refs


class Validated:
    """One source after validation: de-duplicated rows, reader rejects, and the counts."""

    def __init__(self, rows: pd.DataFrame, rejected: list, rows_read: int, dropped: int, keys_seen: set):
        self.rows, self.rejected, self.rows_read = rows, rejected, rows_read
        self.dropped, self.keys_seen = dropped, keys_seen

    def counts(self, rows: pd.DataFrame) -> dict[str, int]:
        valid = int(is_valid(rows).sum())
        return {"rows_read": self.rows_read, "rows_valid": valid,
                "rows_quarantined": len(self.rejected) + len(rows) - valid,
                "duplicates_dropped": self.dropped}


def validate(source: str, files: list[Path], context: dict) -> Validated:
    """Each record through its Pydantic model, then exact duplicates and conflicting keys."""
    model = MODELS[source]
    rows, rejected, rows_read, keys_seen = [], [], 0, set()
    key_field = KEYS[source][0]
    for path, record, obj in read_records(source, files):
        rows_read += 1
        if obj is not None and isinstance(obj.get(key_field), str) and obj[key_field].strip():
            # a parent that parsed has a key even when it is quarantined (parent_quarantined, not orphan)
            keys_seen.add(obj[key_field].strip())
        if obj is None:
            rejected.append((source, record, [("malformed_record", "not a parseable record")], str(path)))
            continue
        try:
            parsed, failures = model.model_validate(obj, context=context), []
        except ValidationError as error:
            errors = error.errors(include_url=False)
            wrong = [".".join(map(str, e["loc"])) for e in errors if e["type"] in TYPE_ERRORS]
            if wrong:
                rejected.append((source, record, [("wrong_type", "wrong type: " + ", ".join(wrong))], str(path)))
                continue
            parsed, failures = None, []
            for e in errors:
                if e["type"] == "several":
                    failures += [(name, name.replace("_", " ")) for name in e["ctx"]["rules"]]
                else:
                    failures.append((e["type"], e["msg"]))
        content = json.dumps([normalised(f, obj.get(f)) for f in CONTENT_FIELDS[source]], default=str)
        rows.append({**references(source, obj), "content": content, "record": record,
                     "source_file": str(path), "failures": failures, "parsed": parsed})
    frame = pd.DataFrame(rows, columns=[*references(source, {}).keys(), "content", "record",
                                        "source_file", "failures", "parsed"])
    # Exact duplicates collapse to one; then every version of a key with several contents fails.
    deduped = frame.drop_duplicates("content").copy()
    keys = KEYS[source]
    conflicting = deduped[keys].notna().all(axis=1) & deduped.duplicated(keys, keep=False)
    deduped["failures"] = [
        f + [("conflicting_duplicate", "another row has the same key and different content")] if c else f
        for f, c in zip(deduped["failures"], conflicting)
    ]
    return Validated(deduped.reset_index(drop=True), rejected, rows_read, len(frame) - len(deduped), keys_seen)


def add_failures(frame: pd.DataFrame, checks: list[tuple[str, str, pd.Series]]) -> None:
    for name, message, failed in checks:
        frame["failures"] = [f + [(name, message)] if hit else f
                             for f, hit in zip(frame["failures"], failed.fillna(False).astype(bool))]


def is_valid(frame: pd.DataFrame) -> pd.Series:
    return frame["failures"].map(len) == 0


def run(input_dir: str, out_dir: str, as_of: str) -> dict:
    files = {source: common.source_files(input_dir, source) for source in common.SOURCES}
    common.check_chargeback_headers(files["chargebacks"])
    fx = FxRates(common.load_fx_rates())
    categories = common.load_reason_codes()
    context = {"as_of": parse_ts(as_of), "currencies": set(fx.table)}
    run_id, now = str(uuid.uuid4()), dt.datetime.now(dt.timezone.utc)
    counts, quarantine = {}, []

    order_result = validate("orders", files["orders"], context)
    orders = order_result.rows
    valid_orders = pd.DataFrame(
        [(o.order_id, o.customer_id, o.timestamp, o.total_amount, o.currency,
          [i.model_dump() for i in o.items], o.payment_status)
         for o in orders.loc[is_valid(orders), "parsed"]],
        columns=["order_id", "customer_id", "timestamp", "total_amount", "currency", "items", "payment_status"])
    counts["orders"] = order_result.counts(orders)

    txn_result = validate("transactions", files["transactions"], context)
    txns = txn_result.rows.merge(valid_orders[["order_id", "currency", "total_amount"]].rename(
        columns={"currency": "order_currency"}), how="left", on="order_id")
    seen = txns["order_id"].isin(order_result.keys_seen)
    valid_parent = txns["order_currency"].notna()
    add_failures(txns, [
        ("orphan", "order_id names no order in the input", txns["order_id"].notna() & ~seen),
        ("parent_quarantined", "the order was quarantined", seen & ~valid_parent),
        ("currency_mismatch", "currency differs from the order currency",
         valid_parent & txns["currency"].notna() & (txns["currency"] != txns["order_currency"])),
    ])
    # The rate in force on the transaction's date; none in force is a quarantine reason.
    no_rate = [p is not None and fx.rate(p.currency, p.timestamp.date()) is None for p in txns["parsed"]]
    add_failures(txns, [("unknown_currency", "no rate for the currency in force on the transaction date",
                         pd.Series(no_rate, index=txns.index))])
    good = txns[is_valid(txns)]
    valid_txns = pd.DataFrame(
        [(t.transaction_id, t.order_id, t.timestamp, t.amount, t.currency, t.status,
          t.payment_method.type, t.payment_method.provider, t.error_code,
          fx.rate(t.currency, t.timestamp.date()), ["amount_mismatch"] if t.amount != total else [],
          t.timestamp.date())
         for t, total in zip(good["parsed"], good["total_amount"])],
        columns=["transaction_id", "order_id", "timestamp", "amount", "currency", "status",
                 "payment_method", "payment_provider", "error_code", "fx_rate", "dq_warnings", "txn_date"])
    valid_txns["amount_usd"] = [usd(a, r) for a, r in zip(valid_txns["amount"], valid_txns["fx_rate"])]
    counts["transactions"] = txn_result.counts(txns)

    cb_result = validate("chargebacks", files["chargebacks"], context)
    cbs = cb_result.rows.merge(valid_txns[["transaction_id", "status", "timestamp", "amount", "currency", "txn_date",
                                "payment_method", "fx_rate"]].rename(
        columns={"status": "txn_status", "timestamp": "txn_ts", "amount": "txn_amount"}),
        how="left", on="transaction_id")
    seen = cbs["transaction_id"].isin(txn_result.keys_seen)
    valid_parent = cbs["txn_status"].notna()
    add_failures(cbs, [
        ("orphan", "transaction_id names no transaction in the input", cbs["transaction_id"].notna() & ~seen),
        ("parent_quarantined", "the transaction was quarantined", seen & ~valid_parent),
        ("transaction_not_completed", "the transaction is not completed",
         valid_parent & (cbs["txn_status"] != "completed")),
        ("dispute_before_transaction", "dispute_date is before the transaction",
         valid_parent & pd.Series([d is not None and t is not None and d < t
                                   for d, t in zip(cbs["dispute_ts"], cbs["txn_ts"])], index=cbs.index)),
        ("amount_exceeds_transaction", "amount exceeds the transaction amount",
         valid_parent & pd.Series([a is not None and t is not None and not pd.isna(t) and a > t
                                   for a, t in zip(cbs["amount"], cbs["txn_amount"])], index=cbs.index)),
    ])
    good = cbs[is_valid(cbs)]
    valid_cbs = pd.DataFrame(
        [(c.transaction_id, c.dispute_date, c.amount, cur, c.reason_code,
          categories.get(c.reason_code.lower(), "unknown"), c.status, c.resolution_date, day, pm, rate,
          usd(c.amount, rate), c.dispute_date.date())
         for c, cur, day, pm, rate in zip(good["parsed"], good["currency"], good["txn_date"],
                                          good["payment_method"], good["fx_rate"])],
        columns=["transaction_id", "dispute_date", "amount", "currency", "reason_code", "reason_category",
                 "status", "resolution_date", "txn_date", "payment_method", "fx_rate", "amount_usd",
                 "chargeback_date"])
    counts["chargebacks"] = cb_result.counts(cbs)
    for result in (order_result, txn_result, cb_result):
        quarantine += result.rejected

    payment_metrics, chargeback_metrics = metrics(valid_txns, valid_cbs)
    for source, frame in (("orders", orders), ("transactions", txns), ("chargebacks", cbs)):
        bad = frame[~is_valid(frame)]
        quarantine += [(source, r, f, s) for r, f, s in zip(bad["record"], bad["failures"], bad["source_file"])]
    quarantine_table = pd.DataFrame(
        [(src, rec, [{"rule": n, "message": m} for n, m in failed], path, run_id, now)
         for src, rec, failed, path in quarantine],
        columns=["source", "record", "failed_rules", "source_file", "run_id", "quarantined_at"])

    valid_orders["fx_rate"] = [fx.rate(c, t.date()) for c, t in zip(valid_orders["currency"], valid_orders["timestamp"])]
    valid_orders["amount_usd"] = [usd(a, r) for a, r in zip(valid_orders["total_amount"], valid_orders["fx_rate"])]
    valid_orders["order_date"] = [t.date() for t in valid_orders["timestamp"]]
    out = Path(out_dir)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for name, table in (("orders", valid_orders), ("transactions", valid_txns), ("chargebacks", valid_cbs),
                        ("quarantine", quarantine_table), ("payment_metrics", payment_metrics),
                        ("chargeback_metrics", chargeback_metrics)):
        table.to_parquet(out / f"{name}.parquet", index=False)
    return counts


def metrics(txns: pd.DataFrame, cbs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    keys = ["txn_date", "payment_method"]
    t = txns.assign(
        cents=[int(a * 100) for a in txns["amount_usd"]],
        completed=txns["status"] == "completed", failed=txns["status"] == "failed",
        pending=txns["status"] == "pending")
    t["completed_cents"] = t["cents"].where(t["completed"], 0)
    t["failed_cents"] = t["cents"].where(t["failed"], 0)
    payment = t.groupby(keys, as_index=False).agg(
        attempts=("status", "size"), completed_count=("completed", "sum"), failed_count=("failed", "sum"),
        pending_count=("pending", "sum"), completed_cents=("completed_cents", "sum"),
        failed_cents=("failed_cents", "sum"))
    outcomes = payment["completed_count"] + payment["failed_count"]
    payment["failure_rate"] = (payment["failed_count"] / outcomes).where(outcomes > 0)
    c = cbs.assign(cents=[int(a * 100) for a in cbs["amount_usd"]], won=cbs["status"] == "won",
                   lost=cbs["status"] == "lost", open=cbs["status"].isin(common.CB_OPEN),
                   fraud=cbs["reason_category"] == "fraud")
    disputes = c.groupby(keys, as_index=False).agg(
        chargeback_count=("status", "size"), disputed_cents=("cents", "sum"), won_count=("won", "sum"),
        lost_count=("lost", "sum"), open_count=("open", "sum"), fraud_chargeback_count=("fraud", "sum"))
    chargeback = payment[keys + ["completed_count", "completed_cents"]].merge(disputes, how="left", on=keys)
    counted = ["chargeback_count", "disputed_cents", "won_count", "lost_count", "open_count",
               "fraud_chargeback_count"]
    chargeback[counted] = chargeback[counted].fillna(0).astype("int64")
    chargeback["chargeback_rate"] = (chargeback["disputed_cents"] / chargeback["completed_cents"]).where(
        chargeback["completed_cents"] > 0)
    chargeback["chargeback_rate_count"] = (chargeback["chargeback_count"] / chargeback["completed_count"]).where(
        chargeback["completed_count"] > 0)
    decided = chargeback["won_count"] + chargeback["lost_count"]
    chargeback["win_rate"] = (chargeback["won_count"] / decided).where(decided > 0)
    for frame, columns in ((payment, ["completed_cents", "failed_cents"]),
                           (chargeback, ["completed_cents", "disputed_cents"])):
        for column in columns:
            frame[column.replace("_cents", "_volume_usd" if "disputed" not in column else "_amount_usd")] = [
                (Decimal(int(v)) / 100).quantize(CENT) for v in frame[column]]
        frame.drop(columns=columns, inplace=True)
    return payment, chargeback


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pandas_impl")
    parser.add_argument("--input", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--as-of", default=dt.datetime.now(dt.timezone.utc).isoformat())
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        result = run(args.input, args.out, args.as_of)
    except common.InputError as error:
        print(f"pandas_impl: {error}", file=sys.stderr)
        return 2
    common.print_counts("pandas", result)
    print(f"pandas_impl: done in {time.monotonic() - started:.1f}s, wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
