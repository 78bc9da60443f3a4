"""Validate one source end to end: collapse duplicates, suite rules, cross-source rules."""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lib.quality.predicates import Rule, suite_rules
from lib.quality.split import RowCheck, add_failures, collapse_exact_duplicates, in_scope, settle
from lib.quality.suites import Suite
from lib.schemas import SourceSpec

CrossSource = Callable[[DataFrame], tuple[DataFrame, list[RowCheck]]]


@dataclass(frozen=True)
class Validation:
    source: str
    rows: DataFrame                 # every de-duplicated row: failed_rules, quarantined, copies
    suite_rules: list[Rule]
    cross_source_checks: list[RowCheck]

    @property
    def rule_names(self) -> list[str]:
        reader = ["malformed_record", "wrong_type"]
        return reader + [r.name for r in self.suite_rules] + [c.name for c in self.cross_source_checks]

    def gx_frame(self, columns: list[str]) -> DataFrame:
        """The rows Great Expectations validates: those the reader could type."""
        return self.rows.where(in_scope()).select(*columns)


def validate_source(
    rows: DataFrame,
    spec: SourceSpec,
    suite: Suite,
    parameters: Mapping[str, Any],
    cross_source: CrossSource | None = None,
) -> Validation:
    rules = suite_rules(suite, parameters, in_scope())
    row_rules = [RowCheck(r.name, r.action, r.message, r.failure) for r in rules if r.failure is not None]
    checked = add_failures(collapse_exact_duplicates(rows, spec), row_rules)
    cross_checks: list[RowCheck] = []
    if cross_source is not None:
        checked, cross_checks = cross_source(checked)
        checked = add_failures(checked, cross_checks)
    settled = settle(checked).drop(*[c for c in ("_parent_key", "_parent") if c in checked.columns])
    return Validation(spec.name, settled.transform(_raw_text_for_quarantine_only), rules, cross_checks)


def _raw_text_for_quarantine_only(settled: DataFrame) -> DataFrame:
    """Only the quarantine publishes `record` and `source_file`; a valid row keeps them null.

    The raw line is the widest column (most of a row's bytes), and these rows are cached and
    scanned by every later step (counts, Great Expectations, publishing): the cache of valid
    rows without it is a fraction of the size, cheaper to build and to read.
    """
    quarantined = F.col("quarantined")
    return settled.select(*[
        F.when(quarantined, F.col(c)).alias(c) if c in ("record", "source_file") else c
        for c in settled.columns
    ])
