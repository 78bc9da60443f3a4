"""Delta writes that replace instead of appending twice.

Tables a run owns outright are overwritten whole (one atomic Delta commit each, mode
Overwrite in the history). Tables that keep every run (`dq_results`, `run_log`) replace the
rows of this run_id only, so retrying a run never duplicates it.
"""
from __future__ import annotations

from collections.abc import Sequence

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession


def table_path(warehouse: str, name: str) -> str:
    return f"{warehouse.rstrip('/')}/{name}"


# Below this many rows a table is written by one task without a shuffle: the shuffle that gives
# one file per partition costs a stage of its own, more than writing a small table serially.
SMALL_TABLE_ROWS = 200_000


def is_small(rows: int) -> bool:
    return rows < SMALL_TABLE_ROWS


def overwrite(frame: DataFrame, path: str, partition_by: Sequence[str], small: bool = False) -> None:
    """Replace the table at `path` with `frame` (one Delta commit), one file per partition.

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
        .partitionBy(*partition_by)
        .save(path)
    )


def replace_run(
    spark: SparkSession, frame: DataFrame, path: str, run_id: str, partition_by: Sequence[str]
) -> None:
    writer = frame.coalesce(1).write.format("delta").partitionBy(*partition_by)
    if DeltaTable.isDeltaTable(spark, path):
        writer = writer.mode("overwrite").option("replaceWhere", f"run_id = '{run_id}'")
    else:
        writer = writer.mode("append")
    writer.save(path)
