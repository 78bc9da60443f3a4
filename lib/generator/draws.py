"""Deterministic draws and value formats.

Every random choice is a hash of (seed, keys, salt): the same seed gives the same value for a row
on any cluster and under any partitioning, which `F.rand` (seeded per partition) cannot promise.
The salt names the choice, so two choices about the same row are independent.
"""
from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column
from pyspark.sql import functions as F

_UNIT = float(1 << 53)
DAY = 86_400


def _hash(seed: int, keys: Sequence[Column], salt: str) -> Column:
    return F.xxhash64(F.lit(seed).cast("long"), *keys, F.lit(salt))


def uniform(seed: int, keys: Sequence[Column], salt: str) -> Column:
    """A double in [0, 1): the top 53 bits of the hash."""
    return F.shiftrightunsigned(_hash(seed, keys, salt), 11).cast("double") / F.lit(_UNIT)


def below(seed: int, keys: Sequence[Column], salt: str, n: int | Column) -> Column:
    """An integer in [0, n)."""
    bound = n if isinstance(n, Column) else F.lit(n)
    return F.pmod(_hash(seed, keys, salt), bound.cast("long"))


def weighted(u: Column, choices: Sequence[tuple[object, float]]) -> Column:
    """The value whose cumulative-weight band contains `u` (weights need not sum to 1)."""
    total = sum(weight for _, weight in choices)
    expr = None
    bound = 0.0
    for value, weight in choices[:-1]:
        bound += weight / total
        expr = F.when(u < bound, F.lit(value)) if expr is None else expr.when(u < bound, F.lit(value))
    last = F.lit(choices[-1][0])
    return last if expr is None else expr.otherwise(last)


def one_of(values: Sequence[object], index: Column) -> Column:
    """values[index] (0-based); a None in `values` gives null."""
    return F.element_at(F.array(*[F.lit(v) for v in values]), (index + 1).cast("int"))


def uuid(seed: int, keys: Sequence[Column], salt: str) -> Column:
    """A version-4-shaped UUID string made of two 64-bit hashes."""
    high = _hash(seed, keys, salt + "/high")
    low = _hash(seed, keys, salt + "/low")
    digits = F.concat(_hex16(high), _hex16(low))
    variant = one_of(["8", "9", "a", "b"], F.pmod(low, F.lit(4)))
    return F.concat_ws(
        "-",
        F.substring(digits, 1, 8),
        F.substring(digits, 9, 4),
        F.concat(F.lit("4"), F.substring(digits, 14, 3)),
        F.concat(variant, F.substring(digits, 18, 3)),
        F.substring(digits, 21, 12),
    )


def _hex16(value: Column) -> Column:
    return F.lpad(F.lower(F.hex(value)), 16, "0")


def floor_div(value: Column, divisor: int) -> Column:
    return F.floor(value / F.lit(divisor)).cast("long")


def money(cents: Column) -> Column:
    """Integer cents as a decimal text with exactly two decimals: 1250 -> "12.50", -5 -> "-0.05"."""
    magnitude = F.abs(cents)
    return F.concat(
        F.when(cents < 0, F.lit("-")).otherwise(F.lit("")),
        floor_div(magnitude, 100).cast("string"),
        F.lit("."),
        F.lpad(F.pmod(magnitude, F.lit(100)).cast("string"), 2, "0"),
    )


def iso_timestamp(epoch_seconds: Column) -> Column:
    """ISO-8601 UTC with a `Z`; the session time zone must be UTC (lib.session sets it)."""
    return F.date_format(F.timestamp_seconds(epoch_seconds), "yyyy-MM-dd'T'HH:mm:ss'Z'")


def iso_date(epoch_seconds: Column) -> Column:
    return F.date_format(F.timestamp_seconds(epoch_seconds), "yyyy-MM-dd")
