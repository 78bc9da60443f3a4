"""The one translation: a Great Expectations expectation -> Spark Columns over the rows.

For each row expectation a `Rule` carries the three row conditions GX counts, with GX 1.24's
semantics on Spark (checked against its engine rule by rule in tests/test_gx_compiled_counts.py):
- `domain`: the rows GX counts in `element_count`: in scope and matching the `row_condition`
  (GX filters by the row_condition before it counts anything, element_count included);
- `missing`: the rows of the domain GX reports as missing and leaves out of `unexpected_percent`
  and `mostly`: a NULL in the column for column-map expectations, the rows `ignore_row_if` drops
  for column-pair and compound expectations; none for not_be_null / be_null (GX reports no
  missing_count for them, their percent is of element_count);
- `failure`: the rows GX counts as unexpected, which the split quarantines or warns on. A value
  rule never fails a row it counts as missing, so a required field needs its own not-null rule.
A table expectation (`expect_table_row_count_to_be_between`) fails no row; its observed value is
the count of its domain.

An expectation type without a translation, or a kwarg a translation does not implement, stops the
job at start-up (`UnsupportedExpectation`): a kwarg ignored here would make the counts differ from
GX's without a word.

Counting: `rule_flag_columns` are the per-row failure flags (uniqueness is a window, which cannot
sit inside an aggregate), to be selected once; `rule_count_aggregates` are plain aggregates over
those flags and the row columns, for one `.agg(...)` or `DataFrame.observe(...)` with other
metrics; `rule_counts_from` reads the aggregated row back.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, Window
from pyspark.sql import functions as F

from lib.errors import UserError
from lib.quality.suites import Suite

TABLE_ROW_COUNT = "expect_table_row_count_to_be_between"
# Kwargs every expectation may carry that change no count.
_INERT_KWARGS = frozenset({"result_format", "catch_exceptions"})
_ROW_CONDITION_KWARGS = frozenset({"row_condition", "condition_parser"})


@dataclass(frozen=True)
class ResultShape:
    """How GX 1.24 on Spark reports a row expectation's counts.

    `reports_missing`: the result has missing_count, and unexpected_percent and `mostly` are
    relative to the rows not missing (not_be_null / be_null: relative to element_count).
    `unexpected_is_a_sum`: GX computes unexpected_count as a SQL SUM, which is NULL (reported as
    None) over an empty domain; a window or row-filter count (uniqueness, column-pair, compound)
    reports 0 there.
    """
    reports_missing: bool
    unexpected_is_a_sum: bool


_NULLITY = ResultShape(reports_missing=False, unexpected_is_a_sum=True)
_COLUMN_MAP = ResultShape(reports_missing=True, unexpected_is_a_sum=True)
_ROW_COUNTED = ResultShape(reports_missing=True, unexpected_is_a_sum=False)


@dataclass(frozen=True)
class Rule:
    source: str
    name: str
    action: str
    expectation_type: str
    message: str
    failure: Column | None          # GX's unexpected rows; None for table expectations
    domain: Column                  # GX's element_count rows: in scope and in the row_condition
    missing: Column | None          # GX's missing rows within the domain; None for table expectations
    kwargs: Mapping[str, Any]       # suite parameters resolved
    shape: ResultShape | None       # None for table expectations

    @property
    def failure_flag(self) -> str:
        """The column `rule_flag_columns` materialises this rule's failure as."""
        return f"_unexpected__{self.name}"


@dataclass(frozen=True)
class RuleCounts:
    """Rows of one rule's domain, and of those the missing and the unexpected ones."""
    element_count: int
    missing_count: int
    unexpected_count: int


class UnsupportedExpectation(UserError):
    pass


@dataclass(frozen=True)
class _Translation:
    shape: ResultShape
    arguments: frozenset[str]                     # the kwargs it implements
    required: frozenset[str]                      # of those, the ones GX requires
    ignored: Callable[[dict], Column]             # rows GX leaves out of the check (missing)
    unexpected: Callable[[dict, Column], Column]  # (kwargs, rows considered) -> NULL is not unexpected


def _column(kwargs: dict) -> Column:
    return F.col(kwargs["column"])


def _column_is_null(kwargs: dict) -> Column:
    return _column(kwargs).isNull()


def _nothing(_kwargs: dict) -> Column:
    return F.lit(False)


def _outside(kwargs: dict, _considered: Column) -> Column:
    column = _column(kwargs)
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    outside = F.lit(False)
    if low is not None:
        outside = outside | (column <= F.lit(low) if kwargs.get("strict_min") else column < F.lit(low))
    if high is not None:
        outside = outside | (column >= F.lit(high) if kwargs.get("strict_max") else column > F.lit(high))
    return outside


def _not_in_set(kwargs: dict, _considered: Column) -> Column:
    if kwargs["value_set"] is None:  # GX: vacuously true
        return F.lit(False)
    return ~_column(kwargs).isin(list(kwargs["value_set"]))


def _repeated(columns: list[Column], considered: Column) -> Column:
    # GX counts a value's rows among the rows it considers (NULLs of a compound key group together).
    return F.sum(F.when(considered, 1)).over(Window.partitionBy(*columns)) > 1


def _ignore_row_if(columns: list[str], option: str, all_missing: str, any_missing: str,
                   keep_all: str) -> Column:
    missing = [F.col(c).isNull() for c in columns]
    if option == all_missing:
        return F.least(*missing) if len(missing) > 1 else missing[0]
    if option == any_missing:
        return F.greatest(*missing) if len(missing) > 1 else missing[0]
    if option == keep_all:
        return F.lit(False)
    raise UnsupportedExpectation(f"ignore_row_if={option!r}")


def _compound_ignored(kwargs: dict) -> Column:
    return _ignore_row_if(kwargs["column_list"], kwargs.get("ignore_row_if", "all_values_are_missing"),
                          "all_values_are_missing", "any_value_is_missing", "never")


def _pair_ignored(kwargs: dict) -> Column:
    return _ignore_row_if([kwargs["column_A"], kwargs["column_B"]],
                          kwargs.get("ignore_row_if", "both_values_are_missing"),
                          "both_values_are_missing", "either_value_is_missing", "neither")


def _a_not_greater(kwargs: dict, _considered: Column) -> Column:
    a, b = F.col(kwargs["column_A"]), F.col(kwargs["column_B"])
    # GX's condition: with or_equal, two NULLs hold (eqNullSafe); one NULL is never unexpected.
    holds = ((a >= b) | a.eqNullSafe(b)) if kwargs.get("or_equal") else (a > b)
    return ~holds


def _translation(shape, required, optional=(), ignored=_column_is_null, unexpected=None):
    return _Translation(shape, frozenset(required) | frozenset(optional), frozenset(required),
                        ignored, unexpected)


_TRANSLATIONS: dict[str, _Translation] = {
    "expect_column_values_to_not_be_null": _translation(
        _NULLITY, {"column"}, ignored=_nothing,
        unexpected=lambda k, _c: _column(k).isNull()),
    "expect_column_values_to_be_null": _translation(
        _NULLITY, {"column"}, ignored=_nothing,
        unexpected=lambda k, _c: _column(k).isNotNull()),
    "expect_column_values_to_be_in_set": _translation(
        _COLUMN_MAP, {"column", "value_set"}, unexpected=_not_in_set),
    "expect_column_values_to_not_be_in_set": _translation(
        _COLUMN_MAP, {"column", "value_set"},
        unexpected=lambda k, _c: _column(k).isin(list(k["value_set"]))),
    "expect_column_values_to_match_regex": _translation(
        _COLUMN_MAP, {"column", "regex"}, unexpected=lambda k, _c: ~_column(k).rlike(k["regex"])),
    "expect_column_values_to_be_between": _translation(
        _COLUMN_MAP, {"column"}, {"min_value", "max_value", "strict_min", "strict_max"},
        unexpected=_outside),
    "expect_column_values_to_be_unique": _translation(
        _ROW_COUNTED, {"column"}, unexpected=lambda k, c: _repeated([_column(k)], c)),
    "expect_compound_columns_to_be_unique": _translation(
        _ROW_COUNTED, {"column_list"}, {"ignore_row_if"}, ignored=_compound_ignored,
        unexpected=lambda k, c: _repeated([F.col(name) for name in k["column_list"]], c)),
    "expect_column_pair_values_a_to_be_greater_than_b": _translation(
        _ROW_COUNTED, {"column_A", "column_B"}, {"or_equal", "ignore_row_if"},
        ignored=_pair_ignored, unexpected=_a_not_greater),
}
_TABLE_ARGUMENTS = frozenset({"min_value", "max_value", "strict_min", "strict_max"})

SUPPORTED_EXPECTATIONS = frozenset(_TRANSLATIONS) | {TABLE_ROW_COUNT}


def _resolve(value: Any, parameters: Mapping[str, Any], where: str) -> Any:
    if isinstance(value, dict) and "$PARAMETER" in value:
        name = value["$PARAMETER"]
        if name not in parameters:
            raise UserError(f"{where} uses suite parameter {name!r}, which the run does not set")
        return parameters[name]
    return value


def _row_condition(kwargs: dict, where: str) -> Column:
    condition = kwargs.get("row_condition")
    if not condition:
        return F.lit(True)
    if isinstance(condition, dict):  # GX 1.24 serialises a spark condition as pass_through
        condition = condition.get("pass_through_filter")
    if kwargs.get("condition_parser") not in (None, "spark") or not isinstance(condition, str):
        raise UnsupportedExpectation(f"{where}: only spark row_conditions are supported")
    # GX filters with the condition, so a row where it is NULL is outside the domain.
    return F.coalesce(F.expr(condition), F.lit(False))


def _check_kwargs(kwargs: dict, arguments: frozenset[str], required: frozenset[str],
                  where: str, bounds_required: bool = False) -> None:
    missing = sorted(required - set(kwargs))
    if missing:
        raise UnsupportedExpectation(f"{where}: lacks {', '.join(missing)}")
    unknown = sorted(set(kwargs) - arguments - _INERT_KWARGS - _ROW_CONDITION_KWARGS)
    if unknown:
        raise UnsupportedExpectation(
            f"{where}: no row condition for kwarg(s) {', '.join(unknown)}; supported: "
            f"{', '.join(sorted(arguments))}")
    mostly = kwargs.get("mostly", 1)
    if isinstance(mostly, bool) or not isinstance(mostly, (int, float)) or not 0 <= mostly <= 1:
        raise UnsupportedExpectation(f"{where}: mostly must be a number from 0 to 1")
    low, high = kwargs.get("min_value"), kwargs.get("max_value")
    if bounds_required and low is None and high is None:
        raise UnsupportedExpectation(f"{where}: min_value and max_value cannot both be null")
    try:
        reversed_bounds = low is not None and high is not None and low > high
    except TypeError:
        raise UnsupportedExpectation(f"{where}: min_value and max_value do not compare") from None
    if reversed_bounds:
        raise UnsupportedExpectation(f"{where}: min_value is greater than max_value")


def _default_message(expectation_type: str, kwargs: dict) -> str:
    shown = {k: v for k, v in kwargs.items() if k not in ("row_condition", "condition_parser")}
    return f"{expectation_type}({', '.join(f'{k}={v}' for k, v in shown.items())})"


def suite_rules(suite: Suite, parameters: Mapping[str, Any], scope: Column) -> list[Rule]:
    """Every expectation of `suite` as a Rule, in suite order; `scope` marks the rows GX validates."""
    rules = []
    for position, expectation in enumerate(suite.expectations):
        expectation_type = expectation["type"]
        where = f"{suite.path}: expectation {position} ({expectation_type})"
        meta = expectation["meta"]
        kwargs = {k: _resolve(v, parameters, where) for k, v in expectation["kwargs"].items()}
        domain = scope & _row_condition(kwargs, where)
        if expectation_type == TABLE_ROW_COUNT:
            if meta["action"] == "quarantine":
                raise UnsupportedExpectation(
                    f"{where}: a table expectation cannot quarantine rows; use warn or fail")
            _check_kwargs(kwargs, _TABLE_ARGUMENTS, frozenset(), where)
            failure = missing = shape = None
        elif expectation_type in _TRANSLATIONS:
            translation = _TRANSLATIONS[expectation_type]
            _check_kwargs(kwargs, translation.arguments | {"mostly"}, translation.required, where,
                          bounds_required=expectation_type == "expect_column_values_to_be_between")
            missing = domain & F.coalesce(translation.ignored(kwargs), F.lit(False))
            considered = domain & ~missing
            failure = considered & F.coalesce(translation.unexpected(kwargs, considered), F.lit(False))
            shape = translation.shape
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
            domain=domain,
            missing=missing,
            kwargs=kwargs,
            shape=shape,
        ))
    return rules


def rule_flag_columns(rules: Sequence[Rule]) -> list[Column]:
    """Each row rule's failure as a boolean column named `rule.failure_flag`.

    Select them once (`rows.select("*", *rule_flag_columns(rules))`) before aggregating: a
    uniqueness failure is a window, and Spark allows no window inside an aggregate.
    """
    return [r.failure.alias(r.failure_flag) for r in rules if r.failure is not None]


def _alias(rule: Rule, count: str) -> str:
    return f"gx:{rule.name}:{count}"


def rule_count_aggregates(rules: Sequence[Rule]) -> list[Column]:
    """Plain aggregates (aliased `gx:<rule>:<count>`) of every rule's counts, over rows that carry
    `rule_flag_columns(rules)`; for one `.agg(...)` or `.observe(...)` with other metrics.

    Rules without a row_condition share their domain, and Spark computes identical aggregates
    once, so the cost grows with the distinct conditions, not the rule count.
    """
    aggregates = []
    for rule in rules:
        aggregates.append(F.count_if(rule.domain).alias(_alias(rule, "element_count")))
        if rule.failure is not None:
            aggregates.append(F.count_if(rule.missing).alias(_alias(rule, "missing_count")))
            aggregates.append(
                F.count_if(F.col(f"`{rule.failure_flag}`")).alias(_alias(rule, "unexpected_count")))
    return aggregates


def rule_counts_from(row: Any, rules: Sequence[Rule]) -> dict[str, RuleCounts]:
    """The counts of `rule_count_aggregates` read back from the aggregated Row (or the dict
    `Observation.get` returns), by rule name."""
    values = row.asDict() if hasattr(row, "asDict") else dict(row)
    return {
        rule.name: RuleCounts(
            element_count=int(values.get(_alias(rule, "element_count")) or 0),
            missing_count=int(values.get(_alias(rule, "missing_count")) or 0),
            unexpected_count=int(values.get(_alias(rule, "unexpected_count")) or 0),
        )
        for rule in rules
    }
