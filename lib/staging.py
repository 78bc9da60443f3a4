"""Write, audit, publish: the validated rows of each source are written once, as Parquet under
`WAREHOUSE/_staging/<run_id>/<source>`, and counted on the way; nothing is published until every
count has been audited. Publishing then reads the staged rows back (columnar, only the columns
each table needs), so no step holds the data in memory and the driver's footprint does not grow
with the input.

The counts come from Spark Observations on the same job that writes the rows: `rows_read` on the
raw scan, everything else on the validated rows. No second pass over the data.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pyspark.sql import DataFrame, Observation, SparkSession
from pyspark.sql import functions as F

from lib.quality.predicates import RuleCounts, rule_count_aggregates, rule_counts_from
from lib.quality.split import count_columns
from lib.quality.validate import Validation
from lib.raw_values import READER_RULES

STAGING_DIR = "_staging"


@dataclass(frozen=True)
class SourceCounts:
    """The four numbers of the nothing-lost invariant, and what each rule failed."""
    rows_read: int
    rows_valid: int
    rows_quarantined: int
    duplicates_dropped: int
    rows_validated: int           # de-duplicated rows this run validated (in an incremental
                                  # run, the versions of every key its files touch)
    rows_checked: int             # of those, the rows the reader typed: what the suites validate
    failing: Mapping[str, int]    # rows failing each row rule (reader, suite, cross-source)
    suite: Mapping[str, RuleCounts]  # each expectation's counts as Great Expectations reports them

    @property
    def nothing_lost(self) -> bool:
        return self.rows_read == self.rows_valid + self.rows_quarantined + self.duplicates_dropped


@dataclass(frozen=True)
class StagedSource:
    validation: Validation
    path: str
    counts: SourceCounts
    # An incremental run's: the key state's rows of the keys it validated again, as the last run
    # left them (lib/incremental.py, `KeyState.earlier_versions`).
    earlier_path: str | None = None

    @property
    def source(self) -> str:
        return self.validation.source

    def rows(self, spark: SparkSession) -> DataFrame:
        return spark.read.parquet(self.path)

    def earlier_rows(self, spark: SparkSession) -> DataFrame:
        return spark.read.parquet(self.earlier_path)


def staging_path(warehouse: str, run_id: str | None = None, source: str | None = None) -> str:
    """WAREHOUSE/_staging (every run's), /<run_id> (one run's) or /<run_id>/<source>."""
    base = f"{warehouse.rstrip('/')}/{STAGING_DIR}"
    for part in (run_id, source):
        base = base if part is None else f"{base}/{part}"
    return base


def read_counted(raw: DataFrame, source: str) -> tuple[DataFrame, Observation]:
    """`raw` with an Observation of its row count (filled when the staging job runs)."""
    observation = Observation(f"{source}_read")
    return raw.observe(observation, F.count(F.lit(1)).alias("rows_read")), observation


def materialized(spark: SparkSession, frame: DataFrame, path: str) -> DataFrame:
    """`frame` written once to `path` and read back: a small frame that later jobs read more
    than once (the keys an incremental run touches) is computed once, not once per job."""
    frame.write.mode("overwrite").parquet(path)
    return spark.read.parquet(path)


def stage(validation: Validation, read: Observation, path: str) -> StagedSource:
    """Write the validated rows to `path` in one job and return them with their counts."""
    counted = Observation(f"{validation.source}_counts")
    checks = validation.row_checks
    (
        validation.rows
        .observe(counted, *count_columns(READER_RULES, checks),
                 *rule_count_aggregates(validation.suite_rules))
        .drop(*[c.flag for c in checks])
        # Staged rows are read back once or twice, column by column: no dictionary pages
        # (the ids and raw texts are unique, so Parquet would build each dictionary, then drop it).
        .write.mode("overwrite").option("parquet.enable.dictionary", "false").parquet(path)
    )
    observed = _observed(counted)
    numbers = {key: int(value or 0) for key, value in observed.items() if not key.startswith("gx:")}
    counts = SourceCounts(
        rows_read=int(_observed(read).get("rows_read", 0)),
        rows_valid=numbers.get("rows_valid", 0),
        rows_quarantined=numbers.get("rows_quarantined", 0),
        duplicates_dropped=numbers.get("duplicates_dropped", 0),
        rows_validated=numbers.get("rows_validated", 0),
        rows_checked=numbers.get("in_scope", 0),
        failing={name: numbers.get(f"rule:{name}", 0) for name in [*READER_RULES, *[c.name for c in checks]]},
        suite=rule_counts_from(observed, validation.suite_rules),
    )
    return StagedSource(validation, path, counts)


def _observed(observation: Observation) -> dict:
    """The observed metrics; {} when no row reached the observation (an empty source: the scan
    has no partition, so Spark reports no metrics and `Observation.get` would fail on the empty
    row). Every metric here is a count, so missing means 0."""
    row = observation._jo.getRow()  # what Observation.get converts; empty when nothing ran
    return observation.get if row.length() > 0 else {}


def remove(spark: SparkSession, path: str) -> None:
    """Delete a staging folder on whatever file system it is (a no-op when it is not there)."""
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration()).delete(hadoop_path, True)
