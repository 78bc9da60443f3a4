"""JSON sources typed: Spark's native parser where it provably agrees, VARIANT for the rest.

The precise path defines the reader's semantics. Each record is parsed into a VARIANT and
`schema_of_variant` of each field tells its JSON type, so `"12.50"` (a string) is a `wrong_type`
while `12.50` is an amount. It is exact but costly: a type string per field per record.

The fast path is Spark's native `from_json` with the source's typed schema, without type strings.
It silently coerces some wrong types instead of failing (a string amount becomes a decimal, a
number id becomes text; docs/decisions.md, Reading), so a record takes it only when `_fast_gate`
proves that its native values are the ones the precise path would give. `typed_json` is the one
function that chooses; `path="precise"` sends every record the precise way (tests compare both).
"""
from __future__ import annotations

import re
from functools import reduce

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from lib import storage
from lib.raw_values import (
    MALFORMED_RECORD, NOT_UTF8_MESSAGE, WRONG_TYPE, blank_to_null, failure, not_utf8,
)
from lib.schemas import AMOUNT, ITEM, RawField, SourceSpec

# Duplicate keys: the last occurrence wins in both paths (the native parser does so by itself).
DUPLICATE_KEYS_CONF = "spark.sql.variant.allowDuplicateKeys"

_NUMBER_TYPE = r"^(TINYINT|SMALLINT|INT|BIGINT|FLOAT|DOUBLE|DECIMAL\(\d+,\d+\))$"
_INTEGER_TYPE = r"^(TINYINT|SMALLINT|INT|BIGINT|DECIMAL\(\d+,0\))$"

# The native parser rejects what the VARIANT parser rejects (single quotes, NaN), so that a record
# that parses natively also parses as a VARIANT.
_STRICT = {"allowSingleQuotes": "false", "allowNonNumericNumbers": "false"}
_CORRUPT = "_corrupt_record"
_NATIVE_OPTIONS = {**_STRICT, "mode": "PERMISSIVE", "columnNameOfCorruptRecord": _CORRUPT}
_NATIVE_TYPES = {"string": T.StringType(), "timestamp": T.StringType(), "amount": AMOUNT,
                 "items": T.ArrayType(ITEM)}
_ITEM_AMOUNT_KEYS = ("unit_price",)
# The VARIANT parser refuses a string of more than 20 million characters (Jackson's limit) where
# the native one takes it; a record of under 1 MiB cannot hold one (real records are ~300 bytes).
_FAST_MAX_BYTES = 1 << 20

# A number as the native parser writes it into a string field: 5, -1.5, 1.0E-5.
_NUMBER_TEXT = r"^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"
# Product ids joined with \x01, a null one written \x02 (a parsed string holds neither: the parser
# rejects raw control characters and a record with `\u` never gets here). One that is null (or
# its whole item is: the precise path finds a null item is not an object), empty or padded (the
# precise path trims it, element by element, with a lambda) or that may not be a JSON string (see
# `_maybe_not_a_string`) sends the record the precise way.
_UNSAFE_PRODUCT_IDS = (
    r"(?:^|\x01)(?:$|\x01| |[\[{\"\x02]|(?:true|false|-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)(?:\x01|$))"
    r"| (?:\x01|$)"
)


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


def _native_struct(tree: dict) -> T.StructType:
    return T.StructType([
        T.StructField(key, _native_struct(kind) if isinstance(kind, dict) else _NATIVE_TYPES[kind])
        for key, kind in tree.items()
    ])


def native_schema(spec: SourceSpec) -> T.StructType:
    """The typed schema the native parser reads a record of `spec` with, plus the corrupt flag."""
    return _native_struct(_field_tree(spec)).add(_CORRUPT, T.StringType())


def _native_value(field: RawField) -> Column:
    value = F.col("_native")
    for key in field.path[2:].split("."):
        value = value.getField(key)
    return value


# --- the gate -------------------------------------------------------------------------------
def _maybe_not_a_string(text: Column) -> Column:
    """True when a string field's native value may come from a token that is not a JSON string.

    The native parser writes such a token as text instead of failing: `5` -> "5", `true` -> "true",
    `{"a": 1}` -> '{"a":1}', `1e400` -> '"Infinity"' (quotes included). A real string may look the
    same ("123"): that record just takes the precise path. The first character is tested before
    the regex, so most values (currencies, statuses, ids starting with a letter) never reach it.
    """
    first = F.substring(text, 1, 1)
    return text.isNotNull() & (
        first.isin("{", "[", '"')
        | text.isin("true", "false")
        | (first.isin(*"-0123456789") & text.rlike(_NUMBER_TEXT))
    )


def _maybe_not_a_plain_number(record: Column, key: str) -> Column:
    """True when some `"key": value` in the raw text is a string, an exponent or a long number.

    The native parser reads "12.50" into a decimal (the precise path: wrong_type). VARIANT reads an
    exponent (1.5e2) as a DOUBLE, and so any number of more than 38 digits, where the native parser
    keeps an exact decimal: rounding to cents can differ. 20 characters hold every decimal(18,2).
    The regex starts with a literal, which Java finds with a Boyer-Moore search; it sees every
    occurrence of the key (duplicates, nested objects: a false alarm costs only the precise path).
    """
    return record.rlike(rf'"{re.escape(key)}"\s*:\s*(?:"|-?[0-9.]*[eE]|-?[0-9.]{{20}})')


def _items_unsafe(items: Column) -> Column:
    # Not `array_compact` for the null items: it is a lambda, and a projection that holds a lambda
    # is not code-generated as a whole.
    product_ids = F.array_join(items.getField("product_id"), "\x01", null_replacement="\x02")
    return items.isNotNull() & product_ids.rlike(_UNSAFE_PRODUCT_IDS)


def _fast_gate(spec: SourceSpec) -> Column:
    """True when the native values of the record are exactly the precise path's.

    The record starts with `{` and is not huge; the native parse succeeded (so the record is an
    object with the expected shapes: a quantity that is not a JSON integer, a non-object
    payment_method, a non-array items, an amount that does not fit decimal(18,2) all make it
    corrupt); nothing is written with `\\u` (an escaped key, "\\u0061mount", would hide from the text
    checks below); no invalid UTF-8 (the precise path finds it malformed); no
    string field may come from another JSON type; no amount is a string, an exponent or a long
    number. Cheap checks first: `&` stops at the first false.
    """
    record = F.col("record")
    checks = [~F.col("_broken_document"), record.startswith("{"),
              F.octet_length(record) < _FAST_MAX_BYTES,
              F.col("_native").getField(_CORRUPT).isNull(), ~record.contains("\\u"),
              ~not_utf8(record)]
    amount_keys: list[str] = []
    for field in spec.fields:
        if field.kind in ("string", "timestamp"):
            checks.append(~_maybe_not_a_string(_native_value(field)))
        elif field.kind == "amount":
            amount_keys.append(field.path.split(".")[-1])
        elif field.kind == "items":
            checks.append(~_items_unsafe(_native_value(field)))
            amount_keys += _ITEM_AMOUNT_KEYS
    checks += [~_maybe_not_a_plain_number(record, key) for key in amount_keys]
    return F.coalesce(reduce(Column.__and__, checks), F.lit(False))


def _with_gate(records: DataFrame, spec: SourceSpec, path: str) -> DataFrame:
    if path not in ("auto", "precise"):
        raise ValueError(f"path must be 'auto' or 'precise', not {path!r}")
    native = records.select(
        "*", F.from_json(F.col("record"), native_schema(spec), _NATIVE_OPTIONS).alias("_native"))
    return native.select("*", (_fast_gate(spec) if path == "auto" else F.lit(False)).alias("_fast"))


def takes_fast_path(records: DataFrame, spec: SourceSpec) -> DataFrame:
    """`records` with `fast_path`: whether `typed_json` takes each record's native values."""
    return _with_gate(records, spec, "auto").select(
        *records.columns, F.col("_fast").alias("fast_path"))


# --- the precise path -----------------------------------------------------------------------
def _absent(json_type: Column) -> Column:
    return json_type.isNull() | (json_type == "VOID")


def _item_struct(item: Column) -> Column:
    return F.struct(
        blank_to_null(F.try_variant_get(item, "$.product_id", "string")).alias("product_id"),
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


def _precise_field(v: Column, field: RawField) -> tuple[dict[str, Column], Column]:
    """Typed column(s) of one field read from the record's VARIANT `v`, and its type problem."""
    json_type = F.schema_of_variant(F.variant_get(v, field.path, "variant"))
    if field.kind in ("string", "timestamp"):
        text = blank_to_null(F.try_variant_get(v, field.path, "string"))
        columns = ({field.column: text} if field.kind == "string"
                   else {f"{field.column}_raw": text, field.column: F.try_to_timestamp(text)})
        ok = json_type == "STRING"
    elif field.kind == "amount":
        value = F.try_variant_get(v, field.path, "decimal(18,2)")
        columns, ok = {field.column: value}, json_type.rlike(_NUMBER_TYPE) & value.isNotNull()
    elif field.kind == "items":
        elements = F.try_variant_get(v, field.path, "array<variant>")
        columns = {field.column: F.transform(elements, _item_struct)}
        ok = json_type.startswith("ARRAY") & F.forall(elements, _item_type_ok)
    elif field.kind == "object":
        columns, ok = {}, json_type.startswith("OBJECT")
    else:
        raise ValueError(f"unknown field kind {field.kind!r} for {field.column}")
    problem = F.when(~(_absent(json_type) | ok), F.concat(F.lit(f"{field.column} is "), json_type))
    return columns, problem


def _precise(spec: SourceSpec, record: Column, v: Column) -> Column:
    """The reader's columns of one record, from its VARIANT `v` (null when it did not parse)."""
    # A JSON object, not an array or a scalar (`ltrim` strips spaces only: a tab before `{` is
    # malformed, as it always was).
    broken_text = not_utf8(record)
    malformed = v.isNull() | ~F.ltrim(record).startswith("{") | broken_text
    typed: dict[str, Column] = {}
    problems: list[Column] = []
    for field in spec.fields:
        columns, problem = _precise_field(v, field)
        typed.update(columns)
        problems.append(problem)
    message = F.concat_ws(", ", *problems)
    reader_failure = (
        F.when(broken_text, failure(MALFORMED_RECORD, F.lit(NOT_UTF8_MESSAGE)))
        .when(malformed, failure(MALFORMED_RECORD, F.lit("not a JSON object (does not parse)")))
        .when(message != "", failure(WRONG_TYPE, F.concat(F.lit("wrong JSON type: "), message)))
    )
    return F.struct(reader_failure.alias("reader_failure"),
                    *[F.when(~malformed, column).alias(name) for name, column in typed.items()])


def _fast(spec: SourceSpec) -> dict[str, Column]:
    """The reader's typed columns from the native values (only read where the gate holds)."""
    columns: dict[str, Column] = {}
    for field in spec.fields:
        value = _native_value(field)
        if field.kind == "string":
            columns[field.column] = blank_to_null(value)
        elif field.kind == "timestamp":
            columns[f"{field.column}_raw"] = blank_to_null(value)
            columns[field.column] = F.try_to_timestamp(blank_to_null(value))
        elif field.kind in ("amount", "items"):
            columns[field.column] = value
    return columns


def typed_json(records: DataFrame, spec: SourceSpec, path: str = "auto") -> DataFrame:
    """The reader's rows of `records` (record, source_file, row_id, _broken_document).

    Off the gate, the record is parsed into a VARIANT once and typed by `_precise` inside a lambda:
    Spark generates no code for a lambda's body, it interprets it, which costs nothing on the few
    records that get there and keeps the generated code of the projections every record goes
    through small (the JVM compiles it late, so its size is what a cold run pays for).
    """
    gated = _with_gate(records, spec, path)
    record, fast = F.col("record"), F.col("_fast")
    variant = F.when(~F.col("_broken_document"), F.try_parse_json(record))
    precise = F.transform(F.array(variant), lambda v: _precise(spec, record, v))[0]
    with_precise = gated.select("*", F.when(~fast, precise).alias("_precise"))
    fast_columns = _fast(spec)
    assert tuple(fast_columns) == spec.columns
    return with_precise.select(
        "record", "source_file", "row_id",
        F.col("_precise.reader_failure").alias("reader_failure"),
        *[F.when(fast, column).otherwise(F.col("_precise").getField(name)).alias(name)
          for name, column in fast_columns.items()],
    )


# --- files into records ---------------------------------------------------------------------
def json_lines(spark: SparkSession, files: list[str]) -> DataFrame:
    """One record per non-blank line."""
    return (
        spark.read.text(files)
        .select(F.col("value").alias("record"), F.col("_metadata.file_path").alias("source_file"),
                F.lit(False).alias("_broken_document"))
        .filter(F.trim(F.col("record")) != "")
    )


def json_arrays(spark: SparkSession, files: list[str]) -> DataFrame:
    """One record per element of each file's array, re-serialised (compact, keys sorted); a file
    that does not parse as an array is one record, its whole text, marked `_broken_document`.

    The document is parsed into one VARIANT per element: a VARIANT holds at most 128 MiB, and
    `try_parse_json` of a bigger array gives NULL, so a large valid file would read as broken.
    """
    elements = F.from_json(F.col("document"), "array<variant>", _STRICT)
    # A byte-order mark opens some exports (Windows tools); the line reader of JSON Lines and CSV
    # drops it at a file's start, the whole-file reader keeps it, and the parser refuses it.
    text = F.col("value")
    document = F.when(text.startswith("\ufeff"), F.substr(text, F.lit(2))).otherwise(text)
    documents = (
        spark.read.text(files, wholetext=True)
        .select(document.alias("document"), F.col("_metadata.file_path").alias("source_file"))
        .filter(F.trim(F.col("document")) != "")
        .select("document", "source_file", elements.alias("_elements"))
        # Before the explode: a column read after it is copied into every element's row.
        .select("*", F.col("_elements").isNull().alias("_broken_document"))
    )
    return documents.select(
        F.explode(F.when(F.col("_broken_document"), F.array("document"))
                  .otherwise(F.transform("_elements", lambda element: F.to_json(element))))
        .alias("record"),
        "source_file",
        "_broken_document",
    )


def read_json_source(spark: SparkSession, spec: SourceSpec, files: list[str],
                     json_format: str = "auto", path: str = "auto") -> DataFrame:
    if spark.conf.get(DUPLICATE_KEYS_CONF, "false").lower() != "true":
        raise RuntimeError(
            f"{DUPLICATE_KEYS_CONF} must be true (lib/session.py sets it): without it a record with "
            "a duplicate key is malformed on the precise path and typed on the fast one")
    if json_format == "auto":
        json_format = "array" if storage.starts_with_array(spark, files) else "lines"
    records = (json_arrays if json_format == "array" else json_lines)(spark, files)
    return typed_json(records.withColumn("row_id", F.monotonically_increasing_id()), spec, path)
