"""One pass over a source: exact duplicates collapse, every rule is evaluated on every row, and
each row ends up valid or quarantined with the list of rules it failed.

The steps share one shuffle: rows are hash-partitioned by the source's key, which both the
duplicate collapse (grouping on every contract field, key first) and the uniqueness windows
of the suite (partitioned by the key) can use as they are.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lib.schemas import SourceSpec

def in_scope() -> Column:
    """The rows Great Expectations validates: those the reader could type."""
    return F.col("reader_failure").isNull()
BLOCKING_ACTIONS = ("quarantine", "fail")


@dataclass(frozen=True)
class RowCheck:
    """A rule evaluated on rows: a suite expectation or a cross-source rule."""
    name: str
    action: str
    message: str
    failure: Column


def _timestamp_fields(spec: SourceSpec) -> list[str]:
    return [f.column for f in spec.fields if f.kind == "timestamp"]


def collapse_exact_duplicates(rows: DataFrame, spec: SourceSpec) -> DataFrame:
    """Rows identical in every contract field after parsing become one row with `copies`.

    A timestamp takes part as its parsed value (so `...Z` and `...+00:00` are one value), or as
    its text when it does not parse. Rows the reader rejected are never collapsed. The kept copy
    is the one with the smallest (source_file, record), so reruns keep the same one.

    Done with a window sorted key first: the suite's uniqueness windows (partitioned by the key)
    then reuse this sort and the key shuffle, so a source costs one exchange and one sort.
    """
    timestamps = _timestamp_fields(spec)
    raw_columns = {f"{name}_raw" for name in timestamps}
    helpers = ("record", "source_file", "row_id")
    content = [F.col(k) for k in spec.key] + [
        F.col(c) for c in rows.columns
        if c not in raw_columns and c not in helpers and c not in spec.key
    ]
    # Computed once as columns: two windows over the same expressions would each compute their
    # own copy, which Spark cannot tell is the same ordering, and it would sort twice.
    distinguishers = {f"_{name}_unparsed": F.when(F.col(name).isNull(), F.col(f"{name}_raw"))
                      for name in timestamps}
    distinguishers["_reader_row"] = F.when(~in_scope(), F.col("row_id"))
    content += [F.col(name) for name in distinguishers]
    same_content = Window.partitionBy(*content).orderBy("source_file", "record")
    every_copy = same_content.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    return (
        rows
        .select("*", *[column.alias(name) for name, column in distinguishers.items()])
        .repartition(*[F.col(k) for k in spec.key])
        .withColumn("_copy", F.row_number().over(same_content))
        .withColumn("copies", F.count(F.lit(1)).over(every_copy))
        .where(F.col("_copy") == 1)
        .select(
            "record", "source_file", "copies", "reader_failure", *spec.columns,
            *[c for c in rows.columns
              if c not in spec.columns and c not in (*helpers, "reader_failure")],
        )
    )


def _failure_struct(check: RowCheck) -> Column:
    return F.when(
        check.failure,
        F.struct(F.lit(check.name).alias("rule"), F.lit(check.message).alias("message")),
    )


def _present(structs: list[Column]) -> Column:
    if not structs:
        return F.array().cast("array<struct<rule:string,message:string>>")
    return F.filter(F.array(*structs), lambda s: s.isNotNull())


def add_failures(rows: DataFrame, checks: Sequence[RowCheck]) -> DataFrame:
    """Accumulate the failures of `checks` into `_blocking` / `_warnings` (struct arrays).

    Called once for the suite's checks, before any join (their uniqueness windows then reuse
    the key partitioning), and once more for the cross-source checks after the parent join.
    """
    if "_blocking" not in rows.columns:
        rows = rows.select(
            "*",
            F.when(~in_scope(), F.array(F.col("reader_failure")))
            .otherwise(_present([])).alias("_blocking"),
            _present([]).alias("_warnings"),
        )
    blocking = [_failure_struct(c) for c in checks if c.action in BLOCKING_ACTIONS]
    warnings = [_failure_struct(c) for c in checks if c.action == "warn"]
    return (
        rows
        .withColumn("_blocking", F.concat("_blocking", _present(blocking)))
        .withColumn("_warnings", F.concat("_warnings", _present(warnings)))
    )


def settle(rows: DataFrame) -> DataFrame:
    """`failed_rules` (every failed rule, reader rule first), `dq_warnings` (names of failed warn
    rules) and `quarantined` (a reader rule or any quarantine/fail rule failed)."""
    return rows.select(
        *[c for c in rows.columns if c not in ("_blocking", "_warnings")],
        F.concat("_blocking", "_warnings").alias("failed_rules"),
        F.transform("_warnings", lambda w: w["rule"]).alias("dq_warnings"),
        (F.size("_blocking") > 0).alias("quarantined"),
    )


def rule_counts(validated: DataFrame, rule_names: Sequence[str]) -> dict[str, int]:
    """Rows failing each rule, and the run's invariant numbers, in one aggregation."""
    names = F.col("failed_rules.rule")
    row = validated.agg(
        *[F.sum(F.when(F.array_contains(names, name), 1).otherwise(0)).alias(f"rule:{name}")
          for name in rule_names],
        F.sum(F.when(in_scope(), 1).otherwise(0)).alias("in_scope"),
        F.sum(F.when(F.col("quarantined"), 0).otherwise(1)).alias("rows_valid"),
        F.sum(F.when(F.col("quarantined"), 1).otherwise(0)).alias("rows_quarantined"),
        F.sum(F.col("copies") - 1).alias("duplicates_dropped"),
        F.sum("copies").alias("rows_deduplicated_from"),
    ).first()
    return {key: int(value or 0) for key, value in row.asDict().items()}
