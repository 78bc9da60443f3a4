"""Readers for the raw zone: JSON arrays, JSON Lines (gzip too) and CSV with a header.

Every input row comes out as one row: `record` (the raw row as text), `source_file`, `row_id`,
`reader_failure` (null, or {rule, message} for `malformed_record` / `wrong_type`) and the typed
columns of its SourceSpec. Nothing is dropped here but blank lines and CSV header lines.

JSON is parsed once per record into a VARIANT; `schema_of_variant` then tells each field's JSON
type, which is how `"amount": "12.50"` (a string) is told apart from `12.50` (a number).
"""
from __future__ import annotations

import re

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from lib import storage
from lib.errors import UserError
from lib.schemas import CHARGEBACK_CSV_COLUMNS, RawField, SourceSpec

READER_COLUMNS = ("record", "source_file", "row_id", "reader_failure")
# The reader's own rules: a row failing one is quarantined with it alone and validated no further.
MALFORMED_RECORD = "malformed_record"
WRONG_TYPE = "wrong_type"
READER_RULES = (MALFORMED_RECORD, WRONG_TYPE)

_NUMBER_TYPE = r"^(TINYINT|SMALLINT|INT|BIGINT|FLOAT|DOUBLE|DECIMAL\(\d+,\d+\))$"
_INTEGER_TYPE = r"^(TINYINT|SMALLINT|INT|BIGINT|DECIMAL\(\d+,0\))$"
_CSV_HEADER = ",".join(CHARGEBACK_CSV_COLUMNS)


def _failure(rule: str, message: Column) -> Column:
    return F.struct(F.lit(rule).alias("rule"), message.alias("message"))


def _blank_to_null(text: Column) -> Column:
    trimmed = F.trim(text)
    return F.when(trimmed != "", trimmed)


def _absent(json_type: Column) -> Column:
    return json_type.isNull() | (json_type == "VOID")


# --- JSON -----------------------------------------------------------------------------------
def _item_struct(item: Column) -> Column:
    return F.struct(
        _blank_to_null(F.try_variant_get(item, "$.product_id", "string")).alias("product_id"),
        F.try_variant_get(item, "$.quantity", "bigint").alias("quantity"),
        F.try_variant_get(item, "$.unit_price", "decimal(18,2)").alias("unit_price"),
    )


def _item_type_ok(item: Column) -> Column:
    product_type = F.schema_of_variant(F.variant_get(item, "$.product_id", "variant"))
    quantity_type = F.schema_of_variant(F.variant_get(item, "$.quantity", "variant"))
    price_type = F.schema_of_variant(F.variant_get(item, "$.unit_price", "variant"))
    price = F.try_variant_get(item, "$.unit_price", "decimal(18,2)")
    return (
        F.schema_of_variant(item).startswith("OBJECT")
        & (_absent(product_type) | (product_type == "STRING"))
        & (_absent(quantity_type) | quantity_type.rlike(_INTEGER_TYPE))
        & (_absent(price_type) | (price_type.rlike(_NUMBER_TYPE) & price.isNotNull()))
    )


def _type_column(field: RawField) -> str:
    return f"_type_{field.column}"


# An `items` array whose merged JSON schema (schema_of_variant merges the elements' types) is
# exactly this needs no per-element check: merging an integer with a decimal gives a decimal, any
# non-object element gives VARIANT, so each element is an object with a string product_id, an
# integer quantity and a number that fits decimal(18,2) (at most 15 integer digits). Everything
# else takes the per-element path; both give the same result, the fast one without a lambda.
_ITEMS_FAST_TYPE = (
    r"^ARRAY<OBJECT<product_id: STRING, quantity: (TINYINT|SMALLINT|INT|BIGINT), "
    r"unit_price: (TINYINT|SMALLINT|INT|DECIMAL\((\d|1[0-5]),\d+\))>>$"
)
_ITEM_TYPE = "array<struct<product_id:string,quantity:bigint,unit_price:decimal(18,2)>>"

# The whole-record gate. A record whose JSON schema (schema_of_variant of the whole object: keys
# sorted, ", "-separated) is exactly the source's fields with types that can only be right
# (strings, amounts of at most 15 integer digits, plain items) needs no per-field type check and
# is typed by one cast of the whole object. Any other record (a key missing or extra, an integer
# or string amount, a wrong type) takes the per-field path, which decides exactly as before.
_FAST_FIELD_TYPES = {
    "string": r"(STRING|VOID)",
    "timestamp": r"(STRING|VOID)",
    "amount": r"(DECIMAL\((\d|1[0-5]),\d+\)|VOID)",
    "items": _ITEMS_FAST_TYPE[1:-1],
}
_CAST_TYPES = {"string": "string", "timestamp": "string", "amount": "decimal(18,2)", "items": _ITEM_TYPE}


def _field_tree(spec: SourceSpec) -> dict:
    """Nested {key: kind or subtree} of the JSON paths of `spec` ("$.a.b" -> {"a": {"b": kind}})."""
    tree: dict = {}
    for field in spec.fields:
        *parents, leaf = field.path[2:].split(".")
        node = tree
        for key in parents:
            node = node.setdefault(key, {})
        if field.kind == "object":
            node.setdefault(leaf, {})
        else:
            node[leaf] = field.kind
    return tree


def _record_pattern(tree: dict) -> str:
    parts = [f"{re.escape(key)}: " + (_record_pattern(kind) if isinstance(kind, dict) else _FAST_FIELD_TYPES[kind])
             for key, kind in sorted(tree.items())]
    return "OBJECT<" + ", ".join(parts) + ">"


def _record_cast_type(tree: dict) -> str:
    return "struct<" + ",".join(
        f"`{key}`:" + (_record_cast_type(kind) if isinstance(kind, dict) else _CAST_TYPES[kind])
        for key, kind in tree.items()) + ">"


def _fast_value(field: RawField) -> Column:
    """The field's value from the whole-record cast `_record` (see `_typed_json`)."""
    value = F.col("_record")
    for key in field.path[2:].split("."):
        value = value.getField(key)
    return value


def _needs_trim(strings: Column) -> Column:
    """True when some element of an array of strings is empty or has a space at either end
    (what `_blank_to_null` would change); null elements are skipped by array_join."""
    joined = F.array_join(strings, "\u0001")
    return joined.rlike("(^|\u0001)( |\u0001|$)| (\u0001|$)")


def _json_field(v: Column, field: RawField) -> tuple[dict[str, Column], Column]:
    """Typed column(s) of one scalar field and a Column that is true when its JSON type is right.

    The field's JSON type was computed once into `_type_<column>` (see `_typed_json`).
    """
    json_type = F.col(_type_column(field))
    fast = F.col("_fast")

    def extract(cast_type: str) -> Column:
        return F.when(fast, _fast_value(field)).otherwise(F.try_variant_get(v, field.path, cast_type))

    if field.kind == "string":
        value = _blank_to_null(extract("string"))
        return {field.column: value}, _absent(json_type) | (json_type == "STRING")
    if field.kind == "amount":
        value = extract("decimal(18,2)")
        ok = _absent(json_type) | (json_type.rlike(_NUMBER_TYPE) & value.isNotNull())
        return {field.column: value}, ok
    if field.kind == "timestamp":
        raw = _blank_to_null(extract("string"))
        return (
            {f"{field.column}_raw": raw, field.column: F.try_to_timestamp(raw)},
            _absent(json_type) | (json_type == "STRING"),
        )
    if field.kind == "object":
        return {}, _absent(json_type) | json_type.startswith("OBJECT")
    raise ValueError(f"unknown field kind {field.kind!r} for {field.column}")


def _problem(field: RawField, ok: Column) -> Column:
    return F.when(~ok, F.concat(F.lit(f"{field.column} is "), F.col(_type_column(field))))


def _items_columns(v: Column, field: RawField) -> dict[str, Column]:
    """Helper columns for `items`, computed with the scalar fields (no lambda: code-generated)."""
    fast = F.when(F.col("_fast"), _fast_value(field)).otherwise(
        F.try_variant_get(v, field.path, _ITEM_TYPE))
    is_fast = F.coalesce(
        (F.col("_fast") | F.col(_type_column(field)).rlike(_ITEMS_FAST_TYPE))
        & ~_needs_trim(fast.getField("product_id")),
        F.lit(False),
    )
    return {
        "_items_fast": fast,
        "_items_is_fast": is_fast,
        # Only the per-element path reads the elements as VARIANTs.
        "_items_v": F.when(~is_fast, F.try_variant_get(v, field.path, "array<variant>")),
    }


def _typed_json(parsed: DataFrame, spec: SourceSpec) -> DataFrame:
    """`parsed` has record, source_file, row_id, _v (VARIANT or null), is_object.

    Projections split so that the costly ones are code-generated: Spark evaluates a projection
    that holds a lambda (transform, forall) row by row in the interpreter, every column of it.
    1. the whole-record gate (`_fast`);
    2. off the gate only, each field's JSON type, once (the check and the message both read it);
       through it, the one cast of the whole record (`_record`);
    3. every scalar field typed, and the type problems of all but `items`;
    4. only `items` (orders), where an array that does not take the fast path needs lambdas.
    """
    v = F.col("_v")
    tree = _field_tree(spec)
    gated = parsed.select(
        "*",
        F.coalesce(F.schema_of_variant(v).rlike(f"^{_record_pattern(tree)}$"), F.lit(False))
        .alias("_fast"),
    )
    # A record through the gate has every type right: its `_type_` columns stay null (absent),
    # which every check below reads as "nothing wrong".
    with_types = gated.select(
        "*",
        F.when(F.col("_fast"), F.try_variant_get(v, "$", _record_cast_type(tree))).alias("_record"),
        *[F.when(~F.col("_fast"), F.schema_of_variant(F.variant_get(v, f.path, "variant")))
          .alias(_type_column(f)) for f in spec.fields],
    )
    typed: dict[str, Column] = {}
    problems_before: list[Column] = []  # fields before `items`, then after it: message order
    problems_after: list[Column] = []
    items_field = None
    for field in spec.fields:
        if field.kind == "items":
            items_field = field
            typed[field.column] = F.lit(None)  # placeholder: keeps the column order
            continue
        columns, ok = _json_field(v, field)
        typed.update(columns)
        (problems_after if items_field else problems_before).append(_problem(field, ok))
    malformed = ~F.col("is_object")
    helpers = _items_columns(v, items_field) if items_field else {}
    scalars = with_types.select(
        "record", "source_file", "row_id", "is_object",
        *[F.when(~malformed, column).alias(name) for name, column in typed.items()
          if items_field is None or name != items_field.column],
        *[column.alias(name) for name, column in helpers.items()],
        _non_empty(F.concat_ws(", ", *problems_before)).alias("_problems_before"),
        _non_empty(F.concat_ws(", ", *problems_after)).alias("_problems_after"),
        *([F.col(_type_column(items_field))] if items_field else []),
    )
    if items_field is not None:
        scalars = scalars.transform(_with_items, items_field)
    problems = F.concat_ws(", ", "_problems_before", *(["_items_problem"] if items_field else []),
                           "_problems_after")
    reader_failure = (
        F.when(malformed, _failure(MALFORMED_RECORD, F.lit("not a JSON object (does not parse)")))
        .when(problems != "", _failure(WRONG_TYPE, F.concat(F.lit("wrong JSON type: "), problems)))
    )
    return scalars.select(
        "record", "source_file", "row_id",
        reader_failure.alias("reader_failure"),
        *typed,
    )


def _non_empty(text: Column) -> Column:
    return F.when(text != "", text)


def _with_items(scalars: DataFrame, field: RawField) -> DataFrame:
    """`items` typed and its type problem: the fast cast, or per element with lambdas."""
    json_type = F.col(_type_column(field))
    elements = F.col("_items_v")
    fast = F.col("_items_is_fast")
    ok = _absent(json_type) | (
        json_type.startswith("ARRAY") & (fast | F.forall(elements, _item_type_ok))
    )
    items = F.when(fast, F.col("_items_fast")).otherwise(F.transform(elements, _item_struct))
    return scalars.select(
        *[c for c in scalars.columns if not c.startswith(("_items", "_type_"))],
        F.when(F.col("is_object"), items).alias(field.column),
        F.when(~ok, F.concat(F.lit(f"{field.column} is "), json_type)).alias("_items_problem"),
    )


def _json_lines(spark: SparkSession, files: list[str]) -> DataFrame:
    lines = spark.read.text(files).select(
        F.col("value").alias("record"), F.col("_metadata.file_path").alias("source_file")
    )
    return (
        lines
        .filter(F.trim(F.col("record")) != "")
        .withColumn("_v", F.try_parse_json(F.col("record")))
        .withColumn(
            "is_object",
            F.col("_v").isNotNull() & F.ltrim(F.col("record")).startswith("{"),
        )
    )


def _json_arrays(spark: SparkSession, files: list[str]) -> DataFrame:
    documents = (
        spark.read.text(files, wholetext=True)
        .select(F.col("value").alias("document"), F.col("_metadata.file_path").alias("source_file"))
        .filter(F.trim(F.col("document")) != "")
        .withColumn("_doc", F.try_parse_json(F.col("document")))
        .withColumn("_elements", F.try_variant_get(F.col("_doc"), "$", "array<variant>"))
    )
    # A file that does not parse as an array is one record; each element of one that does is one.
    broken = documents.filter(F.col("_elements").isNull()).select(
        F.col("document").alias("record"),
        "source_file",
        F.lit(None).cast("variant").alias("_v"),
    )
    elements = documents.filter(F.col("_elements").isNotNull()).select(
        "source_file", F.explode("_elements").alias("_v")
    ).select(F.to_json(F.col("_v")).alias("record"), "source_file", "_v")
    return broken.unionByName(elements).withColumn(
        "is_object", F.col("_v").isNotNull() & F.col("record").startswith("{")
    )


def read_json_source(
    spark: SparkSession, spec: SourceSpec, files: list[str], json_format: str = "auto"
) -> DataFrame:
    if json_format == "auto":
        json_format = "array" if storage.starts_with_array(spark, files) else "lines"
    parsed = (_json_arrays if json_format == "array" else _json_lines)(spark, files)
    return _typed_json(parsed.withColumn("row_id", F.monotonically_increasing_id()), spec)


# --- CSV ------------------------------------------------------------------------------------
def check_csv_headers(spark: SparkSession, files: list[str]) -> None:
    for file in files:
        header = storage.first_line(spark, file).lstrip("\ufeff").rstrip("\r")
        if header != _CSV_HEADER:
            raise UserError(
                f"{file}: CSV header must be exactly '{_CSV_HEADER}', found '{header[:200]}'"
            )


def read_csv_source(spark: SparkSession, spec: SourceSpec, files: list[str]) -> DataFrame:
    check_csv_headers(spark, files)
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
                {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt"},
            ),
        )
    )
    typed: dict[str, Column] = {}
    type_problems: list[Column] = []
    for field in spec.fields:
        raw = _blank_to_null(F.col(f"_csv.{field.path}"))
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
    malformed = F.col("_csv._corrupt").isNotNull()
    problems = F.concat_ws(", ", *type_problems)
    reader_failure = (
        F.when(malformed, _failure(
            MALFORMED_RECORD,
            F.lit(f"CSV row does not have the {len(CHARGEBACK_CSV_COLUMNS)} fields of the header"),
        ))
        .when(problems != "", _failure(WRONG_TYPE, F.concat(F.lit("wrong type: "), problems)))
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
