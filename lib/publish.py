"""Delta writes that replace instead of appending twice.

Tables a run owns outright are overwritten whole (one atomic Delta commit each, mode
Overwrite in the history). Tables that keep every run (`dq_results`, `run_log`) replace the
rows of this run_id only, so retrying a run never duplicates it. Every commit carries the run id
as its `userMetadata`, and each write returns the Delta version it committed: `run_log` records
them, so a reader can find the set of versions one run published.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from contextlib import contextmanager

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lib import storage


def table_path(warehouse: str, name: str) -> str:
    return f"{warehouse.rstrip('/')}/{name}"


# Below this many rows a table is written by one task without a shuffle: the shuffle that gives
# one file per partition costs a stage of its own, more than writing a small table serially.
SMALL_TABLE_ROWS = 200_000


def is_small(rows: int) -> bool:
    return rows < SMALL_TABLE_ROWS


def overwrite(frame: DataFrame, path: str, partition_by: Sequence[str], run_id: str,
              small: bool = False) -> int:
    """Replace the table at `path` with `frame` (one Delta commit), one file per partition;
    return the version committed.

    A `small` table (the caller knows: staging counted every source) skips the shuffle: one task
    writes every partition, still one file each.
    """
    # One shuffle on the partition columns puts each date (x method) in one task: one file per
    # partition instead of one per task per partition (10M rows: ~90 files, not ~18,000).
    spread = frame.coalesce(1) if small else frame.repartition(*partition_by)
    (
        spread.write.format("delta")
        .mode("overwrite")
        .option("overwriteSchema", "true")
        .option("userMetadata", run_id)
        .partitionBy(*partition_by)
        .save(path)
    )
    return committed_version(frame.sparkSession, path, run_id)


def replace_run(
    spark: SparkSession, frame: DataFrame, path: str, run_id: str, partition_by: Sequence[str]
) -> int:
    """Replace this run's rows of a table that keeps every run; return the version committed."""
    writer = (frame.coalesce(1).write.format("delta").partitionBy(*partition_by)
              .option("userMetadata", run_id)
              # run_log gained columns (status, started_at, table_versions): older rows read null
              .option("mergeSchema", "true"))
    if DeltaTable.isDeltaTable(spark, path):
        writer = writer.mode("overwrite").option("replaceWhere", f"run_id = '{run_id}'")
    else:
        writer = writer.mode("append")
    writer.save(path)
    return committed_version(spark, path, run_id)


def committed_version(spark: SparkSession, path: str, run_id: str) -> int:
    """The table's latest version, which must be this run's commit: the warehouse lock keeps
    other runs out, and one run writes each table from one thread at a time.

    Read from the Delta log itself (the newest `_delta_log/<version>.json` and its commitInfo
    line), on the driver: `DeltaTable.history` would run a Spark job for each of a run's dozen
    commits."""
    version, user_metadata = storage.latest_commit(spark, path)
    if user_metadata != run_id:
        writer = f"run {user_metadata}'s" if user_metadata else "one without a run id"
        raise RuntimeError(f"{path}: the latest commit (version {version}) is not run "
                           f"{run_id}'s but {writer}: another writer is at work")
    return version


def overwrite_whole(frame: DataFrame, path: str, run_id: str, partition_by: Sequence[str],
                    properties: Mapping[str, str] | None = None) -> int:
    """Replace a table with `frame` as its tasks hold it, without a shuffle: each task writes a
    file per partition it has rows of (the key state: a few months per task).

    `properties`, Delta table properties the table must have: a new table is created with them;
    Delta ignores them on an existing table's overwrite, so one that lacks them is altered first
    (once in its life, by this run: the commit carries the run id)."""
    spark = frame.sparkSession
    if properties and DeltaTable.isDeltaTable(spark, path):
        _ensure_properties(spark, path, properties)
    writer = (frame.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
              .option("userMetadata", run_id).partitionBy(*partition_by))
    for key, value in (properties or {}).items():
        writer = writer.option(key, value)
    writer.save(path)
    return committed_version(spark, path, run_id)


def _ensure_properties(spark: SparkSession, path: str, properties: Mapping[str, str]) -> None:
    current = DeltaTable.forPath(spark, path).detail().first().properties
    missing = {k: v for k, v in properties.items() if current.get(k) != v}
    if missing:
        settings = ", ".join(f"'{k}' = '{v}'" for k, v in sorted(missing.items()))
        spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ({settings})")


def append(frame: DataFrame, path: str, run_id: str) -> int:
    frame.coalesce(1).write.format("delta").mode("append").option("userMetadata", run_id).save(path)
    return committed_version(frame.sparkSession, path, run_id)


def replace_keys(frame: DataFrame, removed: DataFrame, path: str, match: Sequence[str],
                 run_id: str, within: str = "TRUE") -> int:
    """One MERGE: delete every row of the table whose `match` columns equal (null-safe) a row of
    `removed`, and insert `frame`'s rows. Files holding no removed row keep their files.

    `within`, a predicate on the table's partition columns (as `t.<column>`) that every removed
    row satisfies, confines the MERGE's search to those partitions' files: without it, the
    MERGE reads the key columns of the whole table. The caller holds `commit_metadata` (a MERGE
    takes no writer options)."""
    spark = frame.sparkSession
    source = (frame.withColumn("_delete", F.lit(False))
              .unionByName(removed.select(*match).distinct().withColumn("_delete", F.lit(True)),
                           allowMissingColumns=True))
    condition = " AND ".join([f"({within})"] + [f"t.`{c}` <=> s.`{c}`" for c in match] + ["s._delete"])
    (DeltaTable.forPath(spark, path).alias("t")
     .merge(source.alias("s"), condition)
     .whenMatchedDelete()
     .whenNotMatchedInsert(condition="NOT s._delete",
                           values={f"`{c}`": f"s.`{c}`" for c in frame.columns})
     .execute())
    return committed_version(spark, path, run_id)


def in_dates(column: str, dates: Sequence[dt.date | None]) -> str:
    """A SQL predicate: `column` is one of `dates` (None: is null); FALSE for no dates."""
    listed = ", ".join(f"DATE'{d.isoformat()}'" for d in sorted(d for d in dates if d is not None))
    terms = ([f"{column} IN ({listed})"] if listed else []) + ([f"{column} IS NULL"] if None in dates else [])
    return f"({' OR '.join(terms)})" if terms else "FALSE"


def replace_dates(frame: DataFrame, path: str, date_column: str, dates: Sequence[dt.date],
                  partition_by: Sequence[str], run_id: str) -> int:
    """Replace the partitions of `dates` (and only those) with `frame`'s rows."""
    (frame.coalesce(1).write.format("delta").mode("overwrite")
     .option("replaceWhere", in_dates(date_column, dates))
     .option("userMetadata", run_id).partitionBy(*partition_by).save(path))
    return committed_version(frame.sparkSession, path, run_id)


_METADATA_CONF = "spark.databricks.delta.commitInfo.userMetadata"


@contextmanager
def commit_metadata(spark: SparkSession, run_id: str):
    """The run id on every commit made inside (MERGE takes no writer options): set once around
    all of a run's concurrent writes, so that every one of them carries it."""
    spark.conf.set(_METADATA_CONF, run_id)
    try:
        yield
    finally:
        spark.conf.unset(_METADATA_CONF)
