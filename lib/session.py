"""The one place a Delta-enabled SparkSession is configured.

Entry points call `build_session` once; the tests' session fixture calls it too, so local runs,
spark-submit runs and tests share one configuration.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from pyspark.sql import SparkSession

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

# Every timestamp in the contract is UTC; a session in any other zone would shift dates.
BASE_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
    "spark.sql.adaptive.skewJoin.enabled": "true",
    "spark.databricks.delta.schema.autoMerge.enabled": "false",
    # A checksum file (.crc) beside each commit: Delta 4 writes it from the last one and the
    # commit's own actions, and the next load of the table reads its protocol and metadata from
    # it instead of replaying the log in a Spark job. An incremental run loads each of its dozen
    # tables several times: 155 -> 125 Spark jobs in its publishing at 20k rows, a full run's
    # job count unchanged (docs/benchmarks.md).
    "spark.databricks.delta.writeChecksumFile.enabled": "true",
    # A JSON key given twice: the last occurrence wins, as in Spark's native JSON reader (VARIANT
    # parsing would fail the whole record); lib/sources_json.py needs both to agree.
    "spark.sql.variant.allowDuplicateKeys": "true",
    # Parquet's INT96 timestamps (Spark's default) hold nanoseconds in 64 bits: delta-rs cannot read
    # a year 0001 or 9999 from them. Microseconds cover every year a timestamp can have.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
}


def build_session(
    app_name: str,
    *,
    master: str | None = None,
    jars: Iterable[str] = (),
    conf: Mapping[str, str] | None = None,
) -> SparkSession:
    """Return the Delta-enabled session for `app_name`.

    `jars` are the Delta JARs for runs that do not go through spark-submit (tests, plain python);
    spark-submit.sh passes them with --jars instead, and Databricks ships Delta built in.
    """
    builder = SparkSession.builder.appName(app_name)
    if master:
        builder = builder.master(master)
    settings = {**DELTA_CONF, **BASE_CONF, **(conf or {})}
    jar_list = ",".join(jars)
    if jar_list:
        settings["spark.jars"] = jar_list
    for key, value in settings.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
