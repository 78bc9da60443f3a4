"""Session settings sized to one run's input, set after discovery and given back when it ends.

The SparkSession outlives a run where a caller brings its own (tests, a notebook, Databricks):
what a run sizes for its input must not leak into the caller's next query.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

from pyspark.sql import SparkSession

from lib.storage import shuffle_partitions_for

# Below this many bytes of raw text, expressions are evaluated interpreted instead of compiled.
# A run of a few hundred rows spends most of its CPU compiling: Janino turns each stage's wide
# generated Java into bytecode, and HotSpot then compiles that code for rows it will never see
# again. Measured side by side (docs/benchmarks.md): interpreted took 0.88x the wall time at
# 20 rows (16 KB) and 1.16x at 100k rows (37 MB); 8 MiB sits between the two, nearer the small end.
INTERPRETED_BELOW_BYTES = 8 << 20

INTERPRETED = {
    "spark.sql.codegen.wholeStage": "false",
    # Expressions outside whole-stage code (projections, predicates, orderings) too.
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
}


def sized_for(input_bytes: int, parallelism: int, shuffle_partitions: int | None = None) -> dict[str, str]:
    """The settings of a run over `input_bytes` of raw text on `parallelism` cores.

    `shuffle_partitions` fixes the shuffle width (the settings file's key); None sizes it.
    """
    cores = max(1, parallelism)
    conf = {
        "spark.sql.shuffle.partitions": str(shuffle_partitions or shuffle_partitions_for(input_bytes, cores)),
        # Delta replays a table's log in this many tasks (default 50); every write and read of a
        # table pays it, and tables here have a log of a few commits. One task per core is plenty.
        "spark.databricks.delta.snapshotPartitions": str(min(50, cores)),
    }
    if input_bytes < INTERPRETED_BELOW_BYTES:
        conf.update(INTERPRETED)
    return conf


def apply(spark: SparkSession, conf: Mapping[str, str]) -> Callable[[], None]:
    """Set `conf` on the session; the function returned puts each key back as it was (unset
    where it was unset)."""
    before = {key: spark.conf.get(key, None) for key in conf}
    for key, value in conf.items():
        spark.conf.set(key, value)

    def restore() -> None:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)
    return restore
