"""Spark's floor: the cost of reading each raw source once with Spark's own typed reader and
writing it once as a Delta table.

    ./spark-submit.sh bench/floor_job.py --input DIR --warehouse DIR [--text]

Same session as the pipeline (lib.session.build_session). Each source, `DIR/<source>*` (a file or
a directory of part files, gzip or not), is read by Spark's native reader with the source's typed
schema (JSON: `spark.read.json`, JSON Lines or one array per file; CSV: `spark.read.csv` with the
header) and written once as a Delta table `WAREHOUSE/<source>_raw`. No validation, no joins, no
metrics: whatever the full job spends above this is the price of the contract, not of Spark.

`--text` is the older, lower floor: each source read as text lines (no parsing at all) and
written once.

`--keyed` is a higher floor, the least any warehouse kept by key with a daily increment must do
(JSON Lines and CSV input): each line read as text and parsed with the typed schema, keeping the
raw line; one shuffle by the source's key, exact duplicates collapsed by a window over (key,
content hash); the result written once as the key state (every column, the raw line included),
and the clean table (the typed columns, one file per date) written from it. No rules, no
quarantine, no referential checks, no metrics, no staging before an audit.
"""
from __future__ import annotations

import argparse
import sys
import time

from pyspark.sql import Window, functions as F, types as T

from lib.incremental import STATE_DATE_OF
from lib.schemas import AMOUNT, ITEM, SOURCE_SPECS, SourceSpec
from lib.session import build_session
from lib.storage import source_files, starts_with_array

SOURCES = ("orders", "transactions", "chargebacks")
TYPES = {"string": T.StringType(), "timestamp": T.TimestampType(), "amount": AMOUNT,
         "items": T.ArrayType(ITEM)}


def typed_schema(spec: SourceSpec) -> T.StructType:
    """The source's fields as Spark's reader types them (nested JSON paths as structs)."""
    tree: dict = {}
    for field in spec.fields:
        *parents, leaf = field.path.removeprefix("$.").split(".")
        node = tree
        for key in parents:
            node = node.setdefault(key, {})
        if field.kind == "object":
            node.setdefault(leaf, {})
        else:
            node[leaf] = TYPES[field.kind]

    def struct(node: dict) -> T.StructType:
        return T.StructType([T.StructField(k, struct(v) if isinstance(v, dict) else v)
                             for k, v in node.items()])
    return struct(tree)


def keyed_floor(spark, spec: SourceSpec, files: str, table: str) -> None:
    """`--keyed` for one source (see the module doc)."""
    schema = typed_schema(spec)
    lines = (spark.read.text(files)
             .select(F.col("value").alias("record"), F.col("_metadata.file_path").alias("source_file"))
             .where(F.trim("record") != ""))
    ddl = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in schema.fields)
    parsed = F.from_csv("record", ddl) if spec.file_format == "csv" else F.from_json("record", schema)
    typed = lines.select("record", "source_file", parsed.alias("_typed")).select("record", "source_file", "_typed.*")
    if spec.file_format == "csv":  # the header line of each file
        typed = typed.where(~F.col("record").startswith(schema.names[0]))
    key = [F.col(k) for k in spec.key]
    content = F.xxhash64(*[F.col(c) for c in schema.names])
    same_content = Window.partitionBy(*key, "_content").orderBy("source_file", "record")
    state = (typed.withColumn("_content", content).repartition(*key)
             .withColumn("_copy", F.row_number().over(same_content)).where(F.col("_copy") == 1).drop("_copy"))
    state.write.format("delta").mode("overwrite").save(f"{table}_state")
    date = F.to_date(F.col(STATE_DATE_OF[spec.name]))  # the date the pipeline's tables go by
    clean = (spark.read.format("delta").load(f"{table}_state").drop("record", "source_file", "_content")
             .withColumn("_date", date))
    clean.repartition("_date").write.format("delta").mode("overwrite").partitionBy("_date").save(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="floor_job")
    parser.add_argument("--input", required=True)
    parser.add_argument("--warehouse", required=True)
    parser.add_argument("--text", action="store_true", help="read text lines only (no parsing)")
    parser.add_argument("--keyed", action="store_true",
                        help="parse, de-duplicate by key, write the key state and a clean table")
    args = parser.parse_args(argv)
    spark = build_session("chargeback-pipeline-floor")
    for source in SOURCES:
        started = time.monotonic()
        # A glob matching a directory reads every file in it, as the pipeline's readers do.
        files = f"{args.input.rstrip('/')}/{source}*"
        spec = SOURCE_SPECS[source]
        if args.keyed:
            keyed_floor(spark, spec, files, f"{args.warehouse.rstrip('/')}/{source}")
            print(f"floor_job: {source} keyed in {time.monotonic() - started:.1f}s", flush=True)
            continue
        if args.text:
            rows = spark.read.text(files)
        elif spec.file_format == "csv":
            rows = spark.read.schema(typed_schema(spec)).csv(files, header=True)
        else:
            arrays = starts_with_array(spark, source_files(spark, args.input, source))
            rows = spark.read.schema(typed_schema(spec)).json(files, multiLine=arrays)
        rows.write.format("delta").mode("overwrite").save(f"{args.warehouse.rstrip('/')}/{source}_raw")
        print(f"floor_job: {source} read and written in {time.monotonic() - started:.1f}s", flush=True)
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
