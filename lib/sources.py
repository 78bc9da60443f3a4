"""Readers for the raw zone: JSON arrays, JSON Lines (gzip too) and CSV with a header.

Every input row comes out as one row: `record` (the raw row as text), `source_file`, `row_id`,
`reader_failure` (null, or {rule, message} for `malformed_record` / `wrong_type`) and the typed
columns of its SourceSpec. Nothing is dropped here but blank lines and CSV header lines.

JSON is typed in `lib/sources_json.py`: how `"amount": "12.50"` (a string) is told apart from
`12.50` (a number), and the fast path that does without telling when it provably can.
"""
from __future__ import annotations

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lib import storage
from lib.errors import UserError
from lib.raw_values import (
    MALFORMED_RECORD, NOT_UTF8_MESSAGE, WRONG_TYPE, blank_to_null, failure, not_utf8,
)
from lib.schemas import CHARGEBACK_CSV_COLUMNS, SourceSpec
from lib.sources_json import read_json_source

READER_COLUMNS = ("record", "source_file", "row_id", "reader_failure")

_CSV_HEADER = ",".join(CHARGEBACK_CSV_COLUMNS)


# --- CSV ------------------------------------------------------------------------------------
def check_csv_headers(spark: SparkSession, files: list[str]) -> None:
    """Every CSV file starts with the contract's header; an empty file (no bytes, or only blank
    lines: an export that found no rows) has no rows and needs none."""
    for file in files:
        head = storage.read_head(spark, file).lstrip("\ufeff")
        if not head.strip():
            continue
        header = head.splitlines()[0].rstrip("\r")
        if header != _CSV_HEADER:
            raise UserError(
                f"{file}: CSV header must be exactly '{_CSV_HEADER}', found '{header[:200]}'"
            )


def read_csv_source(spark: SparkSession, spec: SourceSpec, files: list[str]) -> DataFrame:
    """Every line but blank ones and header lines; the files' headers are checked once, when
    the run's files are known (`check_csv_headers`), before any job reads them."""
    schema = ", ".join(f"{c} string" for c in CHARGEBACK_CSV_COLUMNS) + ", _corrupt string"
    lines = (
        spark.read.text(files)
        .select(F.col("value").alias("record"), F.col("_metadata.file_path").alias("source_file"))
        .filter((F.trim(F.col("record")) != "") & (F.rtrim(F.col("record")) != _CSV_HEADER))
        .withColumn("row_id", F.monotonically_increasing_id())
        .withColumn(
            "_csv",
            F.from_csv(
                F.col("record"), schema,
                # RFC 4180: a quote inside a quoted field is written twice (`"say ""hi"""`);
                # Spark's default escape is a backslash, which no CSV writer here uses.
                {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt", "escape": '"'},
            ),
        )
    )
    typed: dict[str, Column] = {}
    type_problems: list[Column] = []
    for field in spec.fields:
        raw = blank_to_null(F.col(f"_csv.{field.path}"))
        if field.kind == "amount":
            value = raw.try_cast("decimal(18,2)")
            typed[field.column] = value
            type_problems.append(
                F.when(raw.isNotNull() & value.isNull(), F.lit(f"{field.column} is not a number"))
            )
        elif field.kind == "timestamp":
            typed[f"{field.column}_raw"] = raw
            typed[field.column] = F.try_to_timestamp(raw)
        else:
            typed[field.column] = raw
    broken_text = not_utf8(F.col("record"))
    malformed = F.col("_csv._corrupt").isNotNull() | broken_text
    problems = F.concat_ws(", ", *type_problems)
    reader_failure = (
        F.when(broken_text, failure(MALFORMED_RECORD, F.lit(NOT_UTF8_MESSAGE)))
        .when(malformed, failure(
            MALFORMED_RECORD,
            F.lit(f"CSV row does not have the {len(CHARGEBACK_CSV_COLUMNS)} fields of the header"),
        ))
        .when(problems != "", failure(WRONG_TYPE, F.concat(F.lit("wrong type: "), problems)))
    )
    return lines.select(
        "record",
        "source_file",
        "row_id",
        reader_failure.alias("reader_failure"),
        *[F.when(~malformed, column).alias(name) for name, column in typed.items()],
    )


# --- orders' item measures ------------------------------------------------------------------
def with_item_measures(orders: DataFrame) -> DataFrame:
    """Measures of `items` that the orders suite bounds (the bounds live in the suite).

    Field extraction over the array (`items.quantity`) instead of lambdas wherever the value is
    the same: a projection with a lambda is interpreted row by row. `items_field_missing_count`
    counts missing item fields (an item missing two counts twice); the suite bounds it at 0, so
    the rows it flags are exactly the orders with an item that lacks a field. Only the line total
    needs a lambda.
    """
    items = F.col("items")
    size = F.size(items)
    missing = [size - F.size(F.array_compact(items.getField(name)))
               for name in ("product_id", "quantity", "unit_price")]
    line_total = F.aggregate(
        items,
        F.lit(0).cast("decimal(38,2)"),
        lambda acc, i: (acc + i["quantity"] * i["unit_price"]).cast("decimal(38,2)"),
    )
    return orders.select(
        "*",
        F.coalesce(size, F.lit(0)).alias("items_count"),
        F.coalesce(missing[0] + missing[1] + missing[2], F.lit(0)).alias("items_field_missing_count"),
        F.array_min(items.getField("quantity")).alias("items_min_quantity"),
        F.array_min(items.getField("unit_price")).alias("items_min_unit_price"),
        # No items is `items_empty`'s failure; the sum rule applies only when there are items.
        F.when(size > 0, F.abs(line_total - F.col("total_amount")))
        .cast("decimal(38,2)").alias("items_total_diff"),
    )


def read_source(
    spark: SparkSession, spec: SourceSpec, files: list[str], json_format: str = "auto"
) -> DataFrame:
    """All rows of one source, typed, with reader failures marked (see module doc)."""
    if spec.file_format == "csv":
        frame = read_csv_source(spark, spec, files)
    else:
        frame = read_json_source(spark, spec, files, json_format)
    if spec.name == "orders":
        frame = frame.transform(with_item_measures)
    return frame
