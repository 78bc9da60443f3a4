"""Every suite rule on tiny frames (tests/rule_cases.py): each row fails exactly the rules the
contract says; and what the compilation of a suite refuses at start-up.
"""
from __future__ import annotations

import pytest
from pyspark.sql import Row, functions as F
from pyspark.testing import assertDataFrameEqual

from lib.quality.predicates import UnsupportedExpectation, suite_rules
from lib.quality.split import RowCheck, add_failures, in_scope, settle
from lib.quality.suites import Suite, load_suites
from lib.schemas import SOURCES
from tests.rule_cases import CASES, PARAMETERS, case_frame


@pytest.fixture(scope="module")
def suites(repo_root):
    return load_suites(str(repo_root / "expectations"), SOURCES)


def split(frame, suite):
    rules = suite_rules(suite, PARAMETERS, in_scope())
    checks = [RowCheck(r.name, r.action, r.message, r.failure) for r in rules if r.failure is not None]
    return settle(add_failures(frame, checks)), rules


@pytest.mark.parametrize("source", SOURCES)
def test_each_rule_fails_exactly_the_rows_the_contract_says(spark, suites, source):
    validated, _ = split(case_frame(spark, source), suites[source])
    actual = validated.select(
        "case", F.array_sort(F.col("failed_rules.rule")).alias("rules"), "quarantined")
    expected = [Row(case=case, rules=sorted(rules), quarantined=bool(rules))
                for case, (_, rules) in CASES[source][1].items()]
    assertDataFrameEqual(actual, expected)


def test_an_expectation_without_a_row_condition_stops_the_job(spark):
    suite = Suite("transactions", "x.json", {"expectations": [{
        "type": "expect_column_kl_divergence_to_be_less_than",
        "kwargs": {"column": "amount"}, "meta": {"rule": "drift", "action": "warn"}}]})
    with pytest.raises(UnsupportedExpectation, match="x.json: expectation 0 .*no row condition"):
        suite_rules(suite, PARAMETERS, in_scope())


def test_a_table_expectation_cannot_quarantine(spark):
    suite = Suite("orders", "o.json", {"expectations": [{
        "type": "expect_table_row_count_to_be_between",
        "kwargs": {"min_value": 1}, "meta": {"rule": "rows", "action": "quarantine"}}]})
    with pytest.raises(UnsupportedExpectation, match="cannot quarantine"):
        suite_rules(suite, PARAMETERS, in_scope())


def test_a_suite_parameter_the_run_does_not_set_is_named(spark, suites):
    with pytest.raises(Exception, match="suite parameter 'as_of'"):
        suite_rules(suites["transactions"], {"fx_currencies": []}, in_scope())


@pytest.mark.parametrize("kwargs, message", [
    # a kwarg the compilation would ignore would make its counts differ from GX's: refused
    ({"column": "amount", "min_value": 0, "parse_strings_as_datetimes": True},
     "no row condition for kwarg.*parse_strings_as_datetimes"),
    ({"column": "amount", "min_value": 0, "mostly": 1.5}, "mostly must be a number from 0 to 1"),
    ({"column": "amount"}, "min_value and max_value cannot both be null"),
    ({"column": "amount", "min_value": 5, "max_value": 1}, "min_value is greater than max_value"),
    ({"min_value": 0}, "lacks column"),
])
def test_a_kwarg_the_compilation_does_not_implement_stops_the_job(spark, kwargs, message):
    suite = Suite("transactions", "t.json", {"expectations": [{
        "type": "expect_column_values_to_be_between",
        "kwargs": kwargs, "meta": {"rule": "amount_bounds", "action": "quarantine"}}]})
    with pytest.raises(UnsupportedExpectation, match=f"t.json: expectation 0 .*{message}"):
        suite_rules(suite, PARAMETERS, in_scope())
