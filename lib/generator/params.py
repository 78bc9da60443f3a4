"""What a generator run is asked for, and the defect classes it may inject per source.

A defect class is a rule name of docs/rules.md (the row gets exactly that one rule), or one of
`exact_duplicate` / `amount_mismatch`, which leave the row valid (dropped copy; warning).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone

EXACT_DUPLICATE = "exact_duplicate"
AMOUNT_MISMATCH = "amount_mismatch"
CONFLICTING_DUPLICATE = "conflicting_duplicate"
MALFORMED = "malformed_record"
WRONG_TYPE = "wrong_type"
ORPHAN = "orphan"
PARENT_QUARANTINED = "parent_quarantined"
NOT_QUARANTINED = (EXACT_DUPLICATE, AMOUNT_MISMATCH)

# Reader rules that need JSON Lines: one bad line or one mistyped value in a JSON-array file
# is out of scope for the assignment format (the brief keeps that file parseable and typed).
JSON_READER_DEFECTS = (MALFORMED, WRONG_TYPE)

ORDER_DEFECTS = (
    "order_id_required", "customer_id_required", "timestamp_required", "timestamp_invalid",
    "total_amount_required", "total_amount_not_positive", "currency_required", "unknown_currency",
    "items_empty", "item_field_missing", "item_quantity_not_positive",
    "item_unit_price_not_positive", "items_total_mismatch", "payment_status_required",
    "payment_status_invalid", CONFLICTING_DUPLICATE, EXACT_DUPLICATE,
) + JSON_READER_DEFECTS

TRANSACTION_DEFECTS = (
    "transaction_id_required", "order_id_required", "timestamp_required", "timestamp_invalid",
    "timestamp_after_as_of", "amount_required", "amount_not_positive", "currency_required",
    "status_required", "status_invalid", "payment_method_type_required",
    "payment_method_type_invalid", "payment_provider_required", "error_code_missing",
    "error_code_unexpected", CONFLICTING_DUPLICATE, "unknown_currency", ORPHAN,
    "currency_mismatch", AMOUNT_MISMATCH, EXACT_DUPLICATE,
) + JSON_READER_DEFECTS

# `transaction_not_completed` is not drawn: it is a chargeback made on a failed/pending payment.
CHARGEBACK_DEFECTS = (
    "transaction_id_required", "dispute_date_required", "dispute_date_invalid", "amount_required",
    "amount_not_positive", "reason_code_required", "status_required", "status_invalid",
    "resolution_date_unexpected", "resolution_date_missing", "resolution_date_invalid",
    "resolution_before_dispute", CONFLICTING_DUPLICATE, ORPHAN, "dispute_before_transaction",
    "amount_exceeds_transaction", EXACT_DUPLICATE, MALFORMED, WRONG_TYPE,
)
# A transaction's second chargeback never loses its dispute date: two such rows of one
# transaction would share the key (transaction_id, null).
SECOND_CHARGEBACK_DEFECTS = tuple(
    d for d in CHARGEBACK_DEFECTS if d not in ("dispute_date_required", "dispute_date_invalid")
)

CURRENCIES = ("USD", "EUR", "GBP", "ILS")

# Codes that are not in conf/reason_codes.csv, so category "unknown" occurs.
UNLISTED_REASON_CODES = ("99.9", "goodwill_adjustment", "4999", "r03")

FORMATS = ("assignment", "jsonl")


@dataclass(frozen=True)
class GeneratorParams:
    rows: int
    seed: int
    as_of: datetime
    defect_rate: float
    format: str
    days: int = 90
    chargeback_rate: float = 0.015
    parts: int = 2
    reason_codes: tuple[str, ...] = ()
    # earliest fx valid_from per currency, epoch seconds (conf/fx_rates.csv)
    fx_valid_from: dict[str, int] = field(default_factory=dict)

    @property
    def as_of_epoch(self) -> int:
        return int(self.as_of.astimezone(timezone.utc).timestamp())

    @property
    def start_epoch(self) -> int:
        return self.as_of_epoch - self.days * 86_400

    def defects(self, source: str) -> tuple[str, ...]:
        classes = {
            "orders": ORDER_DEFECTS,
            "transactions": TRANSACTION_DEFECTS,
            "chargebacks": CHARGEBACK_DEFECTS,
        }[source]
        if self.format == "assignment" and source != "chargebacks":
            classes = tuple(c for c in classes if c not in JSON_READER_DEFECTS)
        return classes

    def validate(self) -> None:
        if self.rows < 1:
            raise ValueError("--rows must be at least 1")
        if not 0 <= self.defect_rate <= 1:
            raise ValueError("--defect-rate must be between 0 and 1")
        if self.format not in FORMATS:
            raise ValueError(f"--format must be one of {', '.join(FORMATS)}")
        if self.days < 1:
            raise ValueError("--days must be at least 1")
        if not self.reason_codes:
            raise ValueError("the reason codes file lists no codes")
        late = [c for c in CURRENCIES if self.fx_valid_from.get(c, self.start_epoch + 1) > self.start_epoch]
        if late:
            raise ValueError(
                f"no fx rate in force from the first generated day for: {', '.join(late)}"
            )


def default_parts(rows: int) -> int:
    """About 250k transactions a part file, at least 2 (so jsonl has a gzip part), at most rows."""
    return max(1, min(rows, max(2, -(-rows // 250_000))))
