"""Validate one source: collapse duplicates, suite rules, then cross-source rules against its
parent's validated rows. A pure DataFrame -> DataFrame step; the caller decides where the rows
go (lib/staging.py writes them once and counts them on the way)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import DataFrame

from lib.quality.predicates import Rule
from lib.quality.referential import Parentage, join_parent, parent_reference
from lib.quality.split import RowCheck, add_failures, collapse_exact_duplicates, in_scope, settle
from lib.schemas import SOURCE_SPECS, SourceSpec
from lib.raw_values import READER_RULES


@dataclass(frozen=True)
class ParentRows:
    """The validated rows of a child's parent, and how the child names it."""
    parentage: Parentage
    rows: DataFrame


@dataclass(frozen=True)
class Validation:
    source: str
    rows: DataFrame                 # every de-duplicated row: failed_rules, quarantined, copies
    suite_rules: list[Rule]
    cross_source_checks: list[RowCheck]

    @property
    def rule_names(self) -> list[str]:
        return [*READER_RULES, *[r.name for r in self.suite_rules],
                *[c.name for c in self.cross_source_checks]]

    @property
    def row_checks(self) -> list[RowCheck]:
        """Every rule evaluated on rows (suite row rules, then cross-source rules); each one's
        failure is the flag column `RowCheck.flag` of `rows`."""
        return [*suite_row_checks(self.suite_rules), *self.cross_source_checks]

    def gx_frame(self, columns: Sequence[str]) -> DataFrame:
        """The rows Great Expectations validates: those the reader could type."""
        return self.rows.where(in_scope()).select(*columns)


def validate_source(
    rows: DataFrame,
    spec: SourceSpec,
    suite_rules: list[Rule],
    parent: ParentRows | None = None,
    cross_source_checks: Sequence[RowCheck] = (),
) -> Validation:
    """`rows` as the reader gives them (with, in an incremental run, the versions earlier runs
    kept of the same keys) -> every de-duplicated row with `failed_rules`, `dq_warnings`,
    `quarantined` and the version columns of `split.VERSION_COLUMNS` (and `_parent` for a child
    source), plus each rule's failure flag (`RowCheck.flag`) for the counts; the stager drops
    the flags. The raw `record` and `source_file` stay on every row: a valid row's raw text is
    what the quarantine shows if a later file retracts it."""
    checked = add_failures(collapse_exact_duplicates(rows, spec), suite_row_checks(suite_rules))
    if parent is not None:
        parent_key = SOURCE_SPECS[parent.parentage.parent].key[0]
        reference = parent_reference(parent.rows, parent.parentage, parent_key)
        checked = add_failures(join_parent(checked, parent.parentage, reference), cross_source_checks)
    settled = settle(checked).drop(*[c for c in ("_parent_key",) if c in checked.columns])
    return Validation(spec.name, settled, list(suite_rules), list(cross_source_checks))


def suite_row_checks(rules: Sequence[Rule]) -> list[RowCheck]:
    return [RowCheck(r.name, r.action, r.message, r.failure) for r in rules if r.failure is not None]

