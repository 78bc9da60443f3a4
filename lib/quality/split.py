"""One pass over a source: exact duplicates collapse, every rule is evaluated on every row, and
each row ends up valid or quarantined with the list of rules it failed.

The steps share one shuffle: rows are hash-partitioned by the source's key and sorted by
(key, content hash, ...). The duplicate collapse (a window per key and content) and the suite's
uniqueness windows (per key) both run on that one sort.

Rule outcomes are built without lambdas (`array_compact` instead of `filter`): Spark interprets a
projection that holds a lambda row by row instead of compiling it.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lib.schemas import SourceSpec

BLOCKING_ACTIONS = ("quarantine", "fail")
FAILED_RULES_TYPE = "array<struct<rule:string,message:string>>"


def in_scope() -> Column:
    """The rows Great Expectations validates: those the reader could type."""
    return F.col("reader_failure").isNull()


@dataclass(frozen=True)
class RowCheck:
    """A rule evaluated on rows: a suite expectation or a cross-source rule."""
    name: str
    action: str
    message: str
    failure: Column

    @property
    def flag(self) -> str:
        """The boolean column its failure is materialised as (once: the outcome and every count
        read it). The same name as `predicates.Rule.failure_flag`."""
        return flag_column(self.name)


def flag_column(rule: str) -> str:
    return f"_unexpected__{rule}"


def content_hash(rows: DataFrame, spec: SourceSpec) -> Column:
    """64-bit hash of a row's contract fields after parsing: equal for exact duplicates.

    A timestamp takes part as its parsed value (`...Z` and `...+00:00` are one value), or as its
    text when it does not parse. A row the reader rejected hashes its file and row id, so it never
    collapses with another, in this run or a later one (a file is read by one run only). Sorting
    and grouping on this hash instead of every content column keeps the shuffle's sort cheap; two
    different contents of one key colliding in 64 bits is not a practical concern at any size
    this job sees (~1e-19 per pair).
    """
    timestamps = {f.column for f in spec.fields if f.kind == "timestamp"}
    content = []
    for name in spec.columns:
        if name.endswith("_raw") and name[:-4] in timestamps:
            continue
        content.append(F.col(name))
        if name in timestamps:
            content.append(F.when(F.col(name).isNull(), F.col(f"{name}_raw")))
    return (F.when(in_scope(), F.xxhash64(*content))
            .otherwise(F.xxhash64(F.col("source_file"), F.col("row_id"))))


# Columns a de-duplicated row carries into the staged rows and the warehouse's key state
# (lib/incremental.py): its content hash, how many input rows it stands for, and of those how
# many this run read (`fresh_copies`), and whether the kept copy is one this run read (`fresh`).
VERSION_COLUMNS = ("_content", "copies", "fresh_copies", "fresh")


def as_read_this_run(rows: DataFrame, spec: SourceSpec) -> DataFrame:
    """The reader's rows as versions of one copy each, every one read by this run."""
    return rows.select("*", content_hash(rows, spec).alias("_content"), F.lit(1).alias("copies"),
                       F.lit(1).alias("fresh_copies"), F.lit(True).alias("fresh"))


def collapse_exact_duplicates(rows: DataFrame, spec: SourceSpec) -> DataFrame:
    """Rows identical in every contract field become one row; `copies` sums how many input rows
    it stands for, `fresh_copies` how many of those this run read.

    `rows` are the reader's rows, or (an incremental run) those together with the versions
    earlier runs kept of the same keys (VERSION_COLUMNS set). The kept copy is the one with the
    smallest (source_file, record), so reruns and later runs keep the one a full run keeps.
    Reader-rejected rows are never collapsed (see `content_hash`).
    """
    if "_content" not in rows.columns:
        rows = as_read_this_run(rows, spec)
    key = [F.col(k) for k in spec.key]
    same_content = Window.partitionBy(*key, "_content").orderBy("source_file", "record")
    every_copy = same_content.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    return (
        rows
        .repartition(*key)
        .withColumn("_copy", F.row_number().over(same_content))
        .withColumn("copies", F.sum("copies").over(every_copy))
        .withColumn("fresh_copies", F.sum("fresh_copies").over(every_copy))
        .where(F.col("_copy") == 1)
        .drop("_copy", *[c for c in ("row_id",) if c in rows.columns])
    )


def _failure_struct(check: RowCheck) -> Column:
    return F.when(
        check.failure,
        F.struct(F.lit(check.name).alias("rule"), F.lit(check.message).alias("message")),
    )


def _present(structs: list[Column]) -> Column:
    if not structs:
        return F.array().cast(FAILED_RULES_TYPE)
    return F.array_compact(F.array(*structs))


def add_failures(rows: DataFrame, checks: Sequence[RowCheck]) -> DataFrame:
    """Each check's failure as its flag column, accumulated into `_blocking` / `_warnings`
    (struct arrays).

    A row the reader rejected starts with its reader failure and fails nothing else (its fields
    cannot be trusted); every check's condition is false outside `in_scope()`.
    """
    rows = rows.select("*", *[c.failure.alias(c.flag) for c in checks])
    checks = [RowCheck(c.name, c.action, c.message, F.col(f"`{c.flag}`")) for c in checks]
    if "_blocking" not in rows.columns:
        rows = rows.select(
            "*",
            F.when(~in_scope(), F.array(F.col("reader_failure")))
            .otherwise(_present([])).alias("_blocking"),
            _present([]).alias("_warnings"),
        )
    blocking = [_failure_struct(c) for c in checks if c.action in BLOCKING_ACTIONS]
    warnings = [_failure_struct(c) for c in checks if c.action == "warn"]
    return rows.select(
        *[c for c in rows.columns if c not in ("_blocking", "_warnings")],
        F.concat("_blocking", _present(blocking)).alias("_blocking"),
        F.concat("_warnings", _present(warnings)).alias("_warnings"),
    )


def settle(rows: DataFrame) -> DataFrame:
    """`failed_rules` (every failed rule, reader rule first), `dq_warnings` (names of failed warn
    rules) and `quarantined` (a reader rule or any quarantine/fail rule failed)."""
    return rows.select(
        *[c for c in rows.columns if c not in ("_blocking", "_warnings")],
        F.concat("_blocking", "_warnings").alias("failed_rules"),
        F.col("_warnings.rule").alias("dq_warnings"),
        (F.size("_blocking") > 0).alias("quarantined"),
    )


def count_columns(reader_rules: Sequence[str], checks: Sequence[RowCheck]) -> list[Column]:
    """Aggregates of a settled frame that still carries the checks' flags: rows failing each rule
    (`rule:<name>`), rows in scope, valid, quarantined, duplicates dropped. Plain aggregates over
    columns computed once: usable in `observe`."""
    return [
        *[F.count_if(F.col("reader_failure.rule") == name).alias(f"rule:{name}") for name in reader_rules],
        *[F.count_if(F.col(f"`{c.flag}`")).alias(f"rule:{c.name}") for c in checks],
        F.count_if(in_scope()).alias("in_scope"),
        # The run's own numbers, over the rows it read: a version counts as valid or quarantined
        # where its kept copy is one of them; every other row it read is a duplicate dropped.
        F.count_if(~F.col("quarantined") & F.col("fresh")).alias("rows_valid"),
        F.count_if(F.col("quarantined") & F.col("fresh")).alias("rows_quarantined"),
        F.coalesce(F.sum(F.col("fresh_copies") - F.col("fresh").cast("int")), F.lit(0))
        .alias("duplicates_dropped"),
        F.count(F.lit(1)).alias("rows_validated"),
    ]
