"""The one translation: a Great Expectations expectation -> a per-row failure Column.

Each condition means what GX counts as unexpected for that expectation type, NULL handling
included: value expectations (in set, between, unique, regex) skip NULLs exactly as GX reports
them as `missing` rather than unexpected, so a required field needs its own not-null rule, and a
`row_condition` narrows the rows the rule applies to. An expectation type without a translation
stops the job at start-up (`UnsupportedExpectation`), never silently.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, Window
from pyspark.sql import functions as F

from lib.errors import UserError
from lib.quality.suites import Suite

# Checked by GX alone: they describe the table, not a row, so they cannot quarantine a row.
TABLE_EXPECTATIONS = frozenset({
    "expect_table_row_count_to_be_between",
    "expect_table_columns_to_match_ordered_list",
    "expect_table_columns_to_match_set",
})


@dataclass(frozen=True)
class Rule:
    source: str
    name: str
    action: str
    expectation_type: str
    message: str
    failure: Column | None  # true where the row fails; None for table expectations


def _resolve(value: Any, parameters: Mapping[str, Any], where: str) -> Any:
    if isinstance(value, dict) and "$PARAMETER" in value:
        name = value["$PARAMETER"]
        if name not in parameters:
            raise UserError(f"{where} uses suite parameter {name!r}, which the run does not set")
        return parameters[name]
    return value


def _between(kwargs: dict, _scope: Column) -> Column:
    column = F.col(kwargs["column"])
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    outside = F.lit(False)
    if low is not None:
        outside = outside | (column <= F.lit(low) if kwargs.get("strict_min") else column < F.lit(low))
    if high is not None:
        outside = outside | (column >= F.lit(high) if kwargs.get("strict_max") else column > F.lit(high))
    return column.isNotNull() & outside


def _unique(kwargs: dict, scope: Column) -> Column:
    column = F.col(kwargs["column"])
    counted = F.sum(F.when(scope & column.isNotNull(), 1)).over(Window.partitionBy(column))
    return column.isNotNull() & (counted > 1)


def _compound_unique(kwargs: dict, scope: Column) -> Column:
    columns = [F.col(name) for name in kwargs["column_list"]]
    ignore = kwargs.get("ignore_row_if", "all_values_are_missing")
    if ignore == "all_values_are_missing":
        considered = F.greatest(*[c.isNotNull() for c in columns])
    elif ignore == "any_value_is_missing":
        considered = F.least(*[c.isNotNull() for c in columns])
    elif ignore == "never":
        considered = F.lit(True)
    else:
        raise UnsupportedExpectation(f"ignore_row_if={ignore!r}")
    counted = F.sum(F.when(scope & considered, 1)).over(Window.partitionBy(*columns))
    return considered & (counted > 1)


def _pair_greater(kwargs: dict, _scope: Column) -> Column:
    a, b = F.col(kwargs["column_A"]), F.col(kwargs["column_B"])
    ignore = kwargs.get("ignore_row_if", "both_values_are_missing")
    if ignore == "either_value_is_missing":
        considered = a.isNotNull() & b.isNotNull()
    elif ignore == "both_values_are_missing":
        considered = a.isNotNull() | b.isNotNull()
    elif ignore == "neither":
        considered = F.lit(True)
    else:
        raise UnsupportedExpectation(f"ignore_row_if={ignore!r}")
    holds = (a >= b) if kwargs.get("or_equal") else (a > b)
    return considered & ~F.coalesce(holds, F.lit(False))


_TRANSLATIONS: dict[str, Callable[[dict, Column], Column]] = {
    "expect_column_values_to_not_be_null": lambda k, _s: F.col(k["column"]).isNull(),
    "expect_column_values_to_be_null": lambda k, _s: F.col(k["column"]).isNotNull(),
    "expect_column_values_to_be_in_set":
        lambda k, _s: F.col(k["column"]).isNotNull() & ~F.col(k["column"]).isin(list(k["value_set"])),
    "expect_column_values_to_not_be_in_set":
        lambda k, _s: F.col(k["column"]).isNotNull() & F.col(k["column"]).isin(list(k["value_set"])),
    "expect_column_values_to_match_regex":
        lambda k, _s: F.col(k["column"]).isNotNull() & ~F.col(k["column"]).rlike(k["regex"]),
    "expect_column_values_to_be_between": _between,
    "expect_column_values_to_be_unique": _unique,
    "expect_compound_columns_to_be_unique": _compound_unique,
    "expect_column_pair_values_a_to_be_greater_than_b": _pair_greater,
}

SUPPORTED_EXPECTATIONS = frozenset(_TRANSLATIONS) | TABLE_EXPECTATIONS


class UnsupportedExpectation(UserError):
    pass


def _row_condition(kwargs: dict, where: str) -> Column:
    condition = kwargs.get("row_condition")
    if not condition:
        return F.lit(True)
    if isinstance(condition, dict):  # GX 1.24 serialises a spark condition as pass_through
        condition = condition.get("pass_through_filter")
    if kwargs.get("condition_parser") not in (None, "spark") or not isinstance(condition, str):
        raise UnsupportedExpectation(f"{where}: only spark row_conditions are supported")
    return F.coalesce(F.expr(condition), F.lit(False))


def _default_message(expectation_type: str, kwargs: dict) -> str:
    shown = {k: v for k, v in kwargs.items() if k not in ("row_condition", "condition_parser")}
    return f"{expectation_type}({', '.join(f'{k}={v}' for k, v in shown.items())})"


def suite_rules(suite: Suite, parameters: Mapping[str, Any], scope: Column) -> list[Rule]:
    """Every expectation of `suite` as a Rule; `scope` marks the rows GX validates."""
    rules = []
    for position, expectation in enumerate(suite.expectations):
        expectation_type = expectation["type"]
        where = f"{suite.path}: expectation {position} ({expectation_type})"
        meta = expectation["meta"]
        kwargs = {k: _resolve(v, parameters, where) for k, v in expectation["kwargs"].items()}
        if expectation_type in TABLE_EXPECTATIONS:
            if meta["action"] == "quarantine":
                raise UnsupportedExpectation(
                    f"{where}: a table expectation cannot quarantine rows; use warn or fail"
                )
            failure = None
        elif expectation_type in _TRANSLATIONS:
            domain = scope & _row_condition(kwargs, where)
            failure = domain & F.coalesce(_TRANSLATIONS[expectation_type](kwargs, domain), F.lit(False))
        else:
            raise UnsupportedExpectation(
                f"{where}: no row condition for this expectation type; supported: "
                f"{', '.join(sorted(SUPPORTED_EXPECTATIONS))}"
            )
        rules.append(Rule(
            source=suite.source,
            name=meta["rule"],
            action=meta["action"],
            expectation_type=expectation_type,
            message=meta.get("message") or _default_message(expectation_type, kwargs),
            failure=failure,
        ))
    return rules
