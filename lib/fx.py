"""Reference data (FX rates, reason codes) and the two lookups that use it: USD amounts and
reason categories.

Reference files are tiny and part of the contract, so they are read and checked on the driver:
a bad file fails the run with one line naming the path, before anything is written. The lookups
are broadcast equi-joins, never range joins: `daily_rates` turns rate intervals into one row per
(currency, day), so a transaction finds its rate with a plain (currency, date) key.
"""
from __future__ import annotations

import csv
import datetime as dt
import math
import re
from collections.abc import Mapping

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F, types as T

from lib.schemas import AMOUNT, FX_RATES, REASON_CODES

REASON_CATEGORIES = ("fraud", "authorization", "processing_error", "consumer_dispute")
UNKNOWN_CATEGORY = "unknown"

# Enough scale that no rate in conf/ loses a digit before the decimal multiplication.
RATE_DECIMAL = T.DecimalType(20, 10)

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


# --- reading the reference files ------------------------------------------------------------------
def _reference_rows(spark: SparkSession, path: str, schema: T.StructType) -> list[tuple[int, list[str]]]:
    """(line number, fields) of every non-blank data line; the header must be exactly the schema's
    column names in order. Read through Spark so any filesystem Spark reads works."""
    expected_header = [field.name for field in schema.fields]
    try:
        lines = [row.value for row in spark.read.text(path).collect()]
    except Exception as exc:  # noqa: BLE001 - any read failure becomes the one-line message
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path}: cannot read reference file: {reason}") from exc
    numbered = [(number, line) for number, line in enumerate(lines, start=1) if line.strip()]
    if not numbered:
        raise ValueError(f"{path}: empty reference file, expected header {','.join(expected_header)}")
    (_, header_line), *data_lines = numbered
    header = next(csv.reader([header_line.lstrip("\ufeff")]))
    if [name.strip() for name in header] != expected_header:
        raise ValueError(
            f"{path}: bad header {header_line!r}, expected {','.join(expected_header)}"
        )
    rows = []
    for number, line in data_lines:
        fields = next(csv.reader([line]))
        if len(fields) != len(expected_header):
            raise ValueError(
                f"{path}: line {number}: expected {len(expected_header)} fields, got {len(fields)}"
            )
        rows.append((number, [value.strip() for value in fields]))
    return rows


def _bad_value(path: str, number: int, column: str, value: str, why: str) -> ValueError:
    return ValueError(f"{path}: line {number}: {column} {value!r} {why}")


def read_fx_rates(spark: SparkSession, path: str) -> DataFrame:
    """conf/fx_rates.csv as FX_RATES: currency (trimmed), rate_to_usd > 0, valid_from a date.

    Raises ValueError naming the path on a bad header, an unparseable or missing value, or two
    rows for the same (currency, valid_from), which would make the rate in force ambiguous.
    """
    parsed, seen = [], {}
    for number, (currency, rate_text, valid_from_text) in _reference_rows(spark, path, FX_RATES):
        if not currency:
            raise _bad_value(path, number, "currency", currency, "is missing")
        try:
            rate = float(rate_text)
        except ValueError:
            raise _bad_value(path, number, "rate_to_usd", rate_text, "is not a number") from None
        if not math.isfinite(rate) or rate <= 0:
            raise _bad_value(path, number, "rate_to_usd", rate_text, "is not a positive number")
        try:
            if not _ISO_DATE.match(valid_from_text):
                raise ValueError(valid_from_text)
            valid_from = dt.date.fromisoformat(valid_from_text)
        except ValueError:
            raise _bad_value(path, number, "valid_from", valid_from_text, "is not a YYYY-MM-DD date") from None
        if (currency, valid_from) in seen:
            raise ValueError(
                f"{path}: line {number}: {currency} valid_from {valid_from_text} repeats line "
                f"{seen[(currency, valid_from)]}"
            )
        seen[(currency, valid_from)] = number
        parsed.append((currency, rate, valid_from))
    return spark.createDataFrame(parsed, FX_RATES)


def read_reason_codes(spark: SparkSession, path: str) -> DataFrame:
    """conf/reason_codes.csv as REASON_CODES, reason_code already the lookup key (trimmed,
    lower-cased), one row per key.

    Raises ValueError naming the path on a bad header, a missing code, a category outside the
    contract's four, or one key listed with two different categories.
    """
    categories: dict[str, tuple[str, int]] = {}
    for number, (code, category) in _reference_rows(spark, path, REASON_CODES):
        if not code:
            raise _bad_value(path, number, "reason_code", code, "is missing")
        if category not in REASON_CATEGORIES:
            raise _bad_value(
                path, number, "category", category, f"is not one of {', '.join(REASON_CATEGORIES)}"
            )
        key = code.lower()
        if key in categories and categories[key][0] != category:
            raise ValueError(
                f"{path}: line {number}: reason_code {key!r} is {category} here but "
                f"{categories[key][0]} on line {categories[key][1]}"
            )
        categories.setdefault(key, (category, number))
    return spark.createDataFrame(
        [(key, category) for key, (category, _) in categories.items()], REASON_CODES
    )


# --- the rate in force, one row per currency and day -----------------------------------------------
def daily_rates(
    fx_rates: DataFrame,
    first_date: dt.date | str,
    last_date: dt.date | str,
) -> DataFrame:
    """(currency, rate_date, rate_to_usd) for every day in [first_date, last_date] on which the
    currency has a rate in force: the row with the latest valid_from not after the day.

    Each rate holds from its valid_from to the day before the currency's next valid_from; the
    interval is clipped to the requested range and exploded with sequence(), so the result is
    (currencies x days) rows, small enough to broadcast against any fact table.
    """
    first, last = F.lit(first_date).cast("date"), F.lit(last_date).cast("date")
    next_valid_from = F.lead("valid_from").over(Window.partitionBy("currency").orderBy("valid_from"))
    intervals = (
        fx_rates
        .select(
            "currency",
            "rate_to_usd",
            F.greatest(F.col("valid_from"), first).alias("interval_start"),
            F.least(F.coalesce(F.date_sub(next_valid_from, 1), last), last).alias("interval_end"),
        )
        .where(F.col("interval_start") <= F.col("interval_end"))
    )
    return intervals.select(
        F.col("currency"),
        F.explode(F.sequence("interval_start", "interval_end", F.expr("INTERVAL 1 DAY"))).alias("rate_date"),
        F.col("rate_to_usd").cast(T.DoubleType()).alias("rate_to_usd"),
    )


# --- lookups ---------------------------------------------------------------------------------------
def _replace_or_append(df: DataFrame, new_columns: Mapping[str, Column], drop: tuple[str, ...]) -> DataFrame:
    """Final select: each new column takes the place of a same-named input column (so a frame
    already shaped like a clean table keeps its column order), else goes last; helper columns of
    the lookup are dropped."""
    kept = [
        new_columns[name].alias(name) if name in new_columns else F.col(name)
        for name in df.columns
        if name not in drop
    ]
    appended = [column.alias(name) for name, column in new_columns.items() if name not in df.columns]
    return df.select(*kept, *appended)


def with_usd(
    df: DataFrame,
    daily: DataFrame,
    *,
    amount_col: str,
    currency_col: str,
    date_col: str,
    rate_col: str = "fx_rate",
    usd_col: str = "amount_usd",
) -> DataFrame:
    """Add the rate in force (double, null when none) and amount_usd = round(amount * rate, 2),
    half up, in decimal arithmetic, as decimal(18,2); null when no rate is in force.

    `daily` is `daily_rates(...)` covering the dates of `df`; it is broadcast and joined on
    (currency, date). `date_col` may be a date or a timestamp (its UTC date is used). Existing
    `rate_col` / `usd_col` columns are replaced in place.
    """
    rates = F.broadcast(
        daily.select(
            F.col("currency").alias("_fx_currency"),
            F.col("rate_date").alias("_fx_date"),
            F.col("rate_to_usd").alias("_fx_rate"),
        )
    )
    joined = df.join(
        rates,
        on=(F.col(currency_col) == F.col("_fx_currency"))
        & (F.col(date_col).cast("date") == F.col("_fx_date")),
        how="left",
    )
    amount = F.col(amount_col)
    if not isinstance(df.schema[amount_col].dataType, T.DecimalType):
        amount = amount.cast(AMOUNT)
    # A double product would turn 1.00 * 1.085 into 1.0849999...; decimals round it to 1.09.
    usd = F.round(amount * F.col("_fx_rate").cast(RATE_DECIMAL), 2).cast(AMOUNT)
    return _replace_or_append(
        joined,
        {rate_col: F.col("_fx_rate").cast(T.DoubleType()), usd_col: usd},
        drop=("_fx_currency", "_fx_date", "_fx_rate"),
    )


def with_reason_category(
    df: DataFrame,
    reason_codes: DataFrame,
    *,
    code_col: str = "reason_code",
    out_col: str = "reason_category",
) -> DataFrame:
    """Add the category of each reason code, matched after trimming and lower-casing both sides;
    `unknown` when the code is not listed (or missing). An existing `out_col` is replaced in place."""
    categories = F.broadcast(
        reason_codes
        .select(
            F.lower(F.trim(F.col("reason_code"))).alias("_reason_key"),
            F.col("category").alias("_reason_category"),
        )
        .distinct()
    )
    joined = df.join(
        categories,
        on=F.lower(F.trim(F.col(code_col))) == F.col("_reason_key"),
        how="left",
    )
    return _replace_or_append(
        joined,
        {out_col: F.coalesce(F.col("_reason_category"), F.lit(UNKNOWN_CATEGORY))},
        drop=("_reason_key", "_reason_category"),
    )


def with_usd_clamped(
    frame: DataFrame,
    daily: DataFrame,
    *,
    amount: str,
    currency: str,
    date: Column,
    last_rate_date: dt.date,
) -> DataFrame:
    """`with_usd` at the rate in force on `date`, where `daily` ends at `last_rate_date`: past
    that day the latest rate stays in force, so the date is clamped to it before the join."""
    return (
        frame
        .withColumn("_rate_on", F.least(date, F.lit(last_rate_date)))
        .transform(lambda f: with_usd(
            f, daily, amount_col=amount, currency_col=currency, date_col="_rate_on"))
        .drop("_rate_on")
    )
