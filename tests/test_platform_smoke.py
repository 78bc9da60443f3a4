"""The stack works together: Delta round-trip and one real Great Expectations validation."""
from __future__ import annotations

from decimal import Decimal

import great_expectations as gx
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual


def test_delta_round_trip_keeps_rows_and_records_an_overwrite(spark, tmp_path):
    table = str(tmp_path / "payments")
    first = spark.createDataFrame(
        [("t1", Decimal("10.50"), "credit_card"), ("t2", Decimal("3.00"), "wallet")],
        "transaction_id string, amount decimal(18,2), payment_method string",
    )
    first.write.format("delta").partitionBy("payment_method").save(table)
    second = spark.createDataFrame(
        [("t3", Decimal("7.25"), "debit_card")],
        "transaction_id string, amount decimal(18,2), payment_method string",
    )
    second.write.format("delta").mode("overwrite").save(table)

    assertDataFrameEqual(
        spark.read.format("delta").load(table),
        [Row(transaction_id="t3", amount=Decimal("7.25"), payment_method="debit_card")],
    )
    history = spark.sql(f"DESCRIBE HISTORY delta.`{table}`").orderBy("version").collect()
    assert [(h.version, h.operationParameters["mode"]) for h in history] == [
        (0, "ErrorIfExists"),
        (1, "Overwrite"),
    ]


def test_great_expectations_counts_unexpected_and_missing_values_on_spark(spark):
    amounts = spark.createDataFrame([(1.0,), (None,), (-1.0,), (5.0,)], "amount double")
    context = gx.get_context(mode="ephemeral")
    batch = (
        context.data_sources.add_spark(name="smoke")
        .add_dataframe_asset(name="amounts")
        .add_batch_definition_whole_dataframe("all")
        .get_batch(batch_parameters={"dataframe": amounts})
    )
    suite = gx.ExpectationSuite(
        name="smoke",
        expectations=[
            gx.expectations.ExpectColumnValuesToBeBetween(
                column="amount", min_value=0, strict_min=True
            )
        ],
    )
    result = batch.validate(suite, result_format="SUMMARY").results[0]

    assert result.success is False
    assert result.result["element_count"] == 4
    assert result.result["unexpected_count"] == 1
    assert result.result["missing_count"] == 1
    assert result.result["partial_unexpected_list"] == [-1.0]


def test_local_files_are_written_without_forking_chmod_and_keep_their_permissions(spark, tmp_path):
    """The session writes file:// through jvm/'s NoForkLocalFileSystem (no `chmod` process per
    file); the files and directories it creates get the same mode Hadoop's would (umask 022)."""
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(f"file://{tmp_path}/probe")
    file_system = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    assert file_system.getClass().getName() == "chargeback.fs.NoForkLocalFileSystem"

    table = tmp_path / "by_method"
    spark.createDataFrame([("t1", "wallet")], "transaction_id string, payment_method string") \
        .write.format("delta").partitionBy("payment_method").save(str(table))

    partition = table / "payment_method=wallet"
    data_files = [p for p in partition.iterdir() if p.suffix == ".parquet"]
    assert len(data_files) == 1
    assert oct(partition.stat().st_mode & 0o777) == "0o755"
    assert oct(data_files[0].stat().st_mode & 0o777) == "0o644"
