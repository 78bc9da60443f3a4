"""The compiled counts are Great Expectations' numbers: GX's own engine proves it, rule by rule.

For every expectation of every suite, the result built from the one-pass counts
(`rule_count_aggregates` over the in-scope rows) must equal what GX's engine returns for the same
rows: element, missing and unexpected counts, every percent, `success`, and the expectation
configuration. Checked on a frame made for GX's NULL semantics (every supported type and option),
on the tiny per-rule cases (tests/rule_cases.py) and on generated data; and the numbers are also
written down by hand, so both sides are checked against the contract, not only each other.
"""
from __future__ import annotations

import csv
import datetime as dt
import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import Observation, functions as F

from jobs import generate_data
from lib import sources, storage
from lib.quality import gx_audit, gx_results
from lib.quality.predicates import (
    SUPPORTED_EXPECTATIONS, RuleCounts, rule_count_aggregates, rule_counts_from, rule_flag_columns, suite_rules,
)
from lib.quality.split import in_scope
from lib.quality.suites import Suite, load_suites
from lib.quality.validate import validate_source
from lib.schemas import SOURCE_SPECS, SOURCES
from tests.rule_cases import CASES, PARAMETERS, case_frame

RUN_ID = "run-2026-11-01-a"
RUN_TIME = dt.datetime(2026, 11, 1, 12, 30)
REPO_ROOT = Path(__file__).resolve().parents[1]


def compiled_counts(rows, rules) -> dict[str, RuleCounts]:
    """What the pipeline does: select the failure flags once, then one plain aggregation."""
    flagged = rows.select("*", *rule_flag_columns(rules))
    return rule_counts_from(flagged.agg(*rule_count_aggregates(rules)).first(), rules)


def compiled_results(frames, suites, parameters, scope):
    results, counts = {}, {}
    for source, frame in frames.items():
        rules = suite_rules(suites[source], parameters, scope)
        counts[source] = compiled_counts(frame, rules)
        results[source] = gx_results.suite_result(suites[source], rules, counts[source], RUN_ID, RUN_TIME)
        # the pipeline's dq_results come straight from the counts, without GX's objects
        assert gx_results.compiled_rule_results(source, rules, counts[source]) == \
            gx_results.rule_results(source, results[source]), source
    return results, counts


def by_rule(result) -> dict:
    return {r.expectation_config.meta["rule"]: r for r in result.results}


def assert_same_as_engine(engine, compiled):
    """Equal in everything GX reports, not only in what `gx_audit.differences` compares."""
    assert gx_audit.differences(engine, compiled) == []
    for source, engine_result in engine.items():
        ours = by_rule(compiled[source])
        assert set(ours) == set(by_rule(engine_result)), source
        for rule, theirs in by_rule(engine_result).items():
            assert ours[rule].result == theirs.result, (source, rule)
            assert ours[rule].success == theirs.success, (source, rule)
            config = theirs.expectation_config.to_json_dict()
            config["kwargs"].pop("batch_id")
            config.pop("id")
            assert ours[rule].expectation_config.to_json_dict() == config, (source, rule)
        assert compiled[source].statistics == engine_result.statistics, source
        assert compiled[source].success == engine_result.success, source


# --- GX's semantics, one expectation type and option at a time ------------------------------------
SEMANTICS_ROWS = [  # k, j, a, b, status
    ("a", "x", 1.0, 2.0, "failed"),
    ("a", None, None, 1.0, "failed"),
    ("b", "x", -1.0, None, "completed"),
    (None, None, 5.0, None, None),
    (None, "y", 5.0, 7.0, "failed"),
    ("c", "y", None, 9.0, "pending"),
    ("c", "y", 3.0, 1.0, "failed"),
    ("d", "z", None, None, "pending"),
]
FAILED = {"row_condition": 'status = "failed"', "condition_parser": "spark"}
NOTHING = {"row_condition": 'status = "zzz"', "condition_parser": "spark"}
# rule -> (type, kwargs, element_count, missing_count (None: GX reports none), unexpected_count,
#          unexpected_percent, success); for a table expectation, element_count is observed_value
SEMANTICS = {
    # not_be_null / be_null: no missing_count; percent of element_count; the domain is the
    # row_condition's rows (a NULL status is outside 'status = "failed"')
    "k_not_null": ("expect_column_values_to_not_be_null", {"column": "k"}, 8, None, 2, 25.0, False),
    "k_not_null_mostly": ("expect_column_values_to_not_be_null", {"column": "k", "mostly": 0.75},
                          8, None, 2, 25.0, True),
    "j_not_null_if_failed": ("expect_column_values_to_not_be_null", {"column": "j", **FAILED},
                             4, None, 1, 25.0, False),
    "j_null_if_failed": ("expect_column_values_to_be_null", {"column": "j", **FAILED},
                         4, None, 3, 75.0, False),
    # column-map: a NULL is missing, never unexpected; percent and mostly of the non-missing
    "a_positive": ("expect_column_values_to_be_between", {"column": "a", "min_value": 0, "strict_min": True},
                   8, 3, 1, 1 / 5 * 100, False),
    "a_positive_if_failed": ("expect_column_values_to_be_between",
                             {"column": "a", "min_value": 0, "strict_min": True, **FAILED},
                             4, 1, 0, 0.0, True),
    "a_positive_mostly_80": ("expect_column_values_to_be_between",
                             {"column": "a", "min_value": 0, "strict_min": True, "mostly": 0.8},
                             8, 3, 1, 1 / 5 * 100, True),
    "a_positive_mostly_85": ("expect_column_values_to_be_between",
                             {"column": "a", "min_value": 0, "strict_min": True, "mostly": 0.85},
                             8, 3, 1, 1 / 5 * 100, False),
    "status_in_set": ("expect_column_values_to_be_in_set", {"column": "status", "value_set": ["failed", "completed"]},
                      8, 1, 2, 2 / 7 * 100, False),
    "j_matches_x": ("expect_column_values_to_match_regex", {"column": "j", "regex": "^x$"},
                    8, 2, 4, 4 / 6 * 100, False),
    "j_not_x": ("expect_column_values_to_not_be_in_set", {"column": "j", "value_set": ["x"]},
                8, 2, 2, 2 / 6 * 100, False),
    "k_unique": ("expect_column_values_to_be_unique", {"column": "k"}, 8, 2, 4, 4 / 6 * 100, False),
    "k_unique_if_failed": ("expect_column_values_to_be_unique", {"column": "k", **FAILED},
                           4, 1, 2, 2 / 3 * 100, False),
    # compound / pair: the rows ignore_row_if drops are the missing ones
    "kj_unique_any": ("expect_compound_columns_to_be_unique",
                      {"column_list": ["k", "j"], "ignore_row_if": "any_value_is_missing"},
                      8, 3, 2, 2 / 5 * 100, False),
    "kj_unique_all": ("expect_compound_columns_to_be_unique", {"column_list": ["k", "j"]},
                      8, 1, 2, 2 / 7 * 100, False),
    "kj_unique_never": ("expect_compound_columns_to_be_unique",
                        {"column_list": ["k", "j"], "ignore_row_if": "never"}, 8, 0, 2, 25.0, False),
    "a_ge_b_either": ("expect_column_pair_values_a_to_be_greater_than_b",
                      {"column_A": "a", "column_B": "b", "or_equal": True,
                       "ignore_row_if": "either_value_is_missing"}, 8, 5, 2, 2 / 3 * 100, False),
    # one NULL of the pair is considered (not missing) yet never unexpected
    "a_gt_b_both": ("expect_column_pair_values_a_to_be_greater_than_b", {"column_A": "a", "column_B": "b"},
                    8, 1, 2, 2 / 7 * 100, False),
    # two NULLs hold with or_equal (NULL-safe equality) and are not unexpected without it
    "a_ge_b_neither": ("expect_column_pair_values_a_to_be_greater_than_b",
                       {"column_A": "a", "column_B": "b", "or_equal": True, "ignore_row_if": "neither"},
                       8, 0, 2, 25.0, False),
    "a_gt_b_neither": ("expect_column_pair_values_a_to_be_greater_than_b",
                       {"column_A": "a", "column_B": "b", "ignore_row_if": "neither"}, 8, 0, 2, 25.0, False),
    # an empty domain: a SUM-counted rule reports unexpected None, a row-counted one 0
    "status_in_set_of_none": ("expect_column_values_to_be_in_set",
                              {"column": "status", "value_set": ["x"], **NOTHING}, 0, 0, None, None, True),
    "k_not_null_of_none": ("expect_column_values_to_not_be_null", {"column": "k", **NOTHING},
                           0, None, None, None, True),
    "k_unique_of_none": ("expect_column_values_to_be_unique", {"column": "k", **NOTHING}, 0, 0, 0, None, True),
    "rows": ("expect_table_row_count_to_be_between", {"min_value": 1}, 8, None, None, None, True),
    "failed_rows_1_to_3": ("expect_table_row_count_to_be_between", {"min_value": 1, "max_value": 3, **FAILED},
                           4, None, None, None, False),
    "failed_rows_over_4": ("expect_table_row_count_to_be_between",
                           {"min_value": 4, "strict_min": True, **FAILED}, 4, None, None, None, False),
}


@pytest.fixture(scope="module")
def semantics(spark):
    frame = spark.createDataFrame(SEMANTICS_ROWS, "k string, j string, a double, b double, status string")
    suite = Suite("semantics", "semantics.json", {"name": "semantics", "expectations": [
        {"type": kind, "kwargs": kwargs, "meta": {"rule": rule, "action": "warn"}}
        for rule, (kind, kwargs, *_) in SEMANTICS.items()]})
    compiled, _ = compiled_results({"semantics": frame}, {"semantics": suite}, {}, F.lit(True))
    engine = gx_audit.engine_results({"semantics": frame}, {"semantics": suite}, {})
    return compiled["semantics"], engine["semantics"]


@pytest.mark.parametrize("rule", SEMANTICS)
def test_compiled_counts_follow_gx_semantics(semantics, rule):
    compiled, _ = semantics
    _, _, element, missing, unexpected, percent, success = SEMANTICS[rule]
    result = by_rule(compiled)[rule]
    if SEMANTICS[rule][0] == "expect_table_row_count_to_be_between":
        assert result.result == {"observed_value": element}
    else:
        actual = (result.result["element_count"], result.result.get("missing_count"),
                  result.result["unexpected_count"], result.result["unexpected_percent"])
        assert actual == (element, missing, unexpected, percent)
    assert result.success is success


def test_gx_engine_agrees_on_every_supported_type_and_option(semantics):
    compiled, engine = semantics
    assert_same_as_engine({"semantics": engine}, {"semantics": compiled})


# --- the suites on the tiny per-rule cases -----------------------------------------------------
# Counts written by hand from tests/rule_cases.py: the domain of rules with a row_condition, and
# the rows each value rule counts as missing (every other rule: all cases, none missing).
CASE_DOMAINS = {
    "transactions": {"timestamp_invalid": 24, "error_code_missing": 2, "error_code_unexpected": 21},
    "orders": {"timestamp_invalid": 19},
    "chargebacks": {"dispute_date_invalid": 17, "resolution_date_unexpected": 13,
                    "resolution_date_missing": 5, "resolution_date_invalid": 5},
}
CASE_MISSING = {
    "transactions": {"timestamp_after_as_of": 2, "amount_not_positive": 1, "status_invalid": 1,
                     "payment_method_type_invalid": 1, "conflicting_duplicate": 2},
    "orders": {"total_amount_not_positive": 1, "unknown_currency": 1, "item_quantity_not_positive": 2,
               "item_unit_price_not_positive": 3, "items_total_mismatch": 4, "payment_status_invalid": 1,
               "conflicting_duplicate": 1},
    "chargebacks": {"amount_not_positive": 1, "status_invalid": 1, "resolution_before_dispute": 16,
                    "conflicting_duplicate": 5},
}


@pytest.fixture(scope="module")
def suites(repo_root):
    return load_suites(str(repo_root / "expectations"), SOURCES, with_gx=True)


@pytest.fixture(scope="module")
def cases(spark, suites):
    """Compiled over every row with the pipeline's scope (a reader-rejected row included)."""
    rows = {s: case_frame(spark, s, reader_rejected=True) for s in SOURCES}
    compiled, counts = compiled_results(rows, suites, PARAMETERS, in_scope())
    return rows, compiled, counts


@pytest.fixture(scope="module")
def cases_by_engine(cases, suites):
    """GX's engine over the in-scope rows only, as the pipeline hands them to it."""
    rows, _, _ = cases
    in_scope_rows = {s: frame.where(in_scope()).drop("case", "reader_failure") for s, frame in rows.items()}
    return gx_audit.engine_results(in_scope_rows, suites, PARAMETERS)


@pytest.mark.parametrize("source", SOURCES)
def test_compiled_counts_of_each_rule_equal_the_hand_counts(suites, cases, source):
    _, _, counts = cases
    _, written = CASES[source]
    expected = {}
    for rule in suites[source].expectations:
        name = rule["meta"]["rule"]
        if rule["type"] == "expect_table_row_count_to_be_between":
            expected[name] = RuleCounts(len(written), 0, 0)
        else:
            expected[name] = RuleCounts(
                element_count=CASE_DOMAINS[source].get(name, len(written)),
                missing_count=CASE_MISSING[source].get(name, 0),
                unexpected_count=sum(name in failed for _, failed in written.values()))
    assert counts[source] == expected


def test_gx_engine_agrees_with_the_compiled_results_on_the_cases(cases, cases_by_engine):
    _, compiled, _ = cases
    assert_same_as_engine(cases_by_engine, compiled)


def test_the_aggregates_work_inside_one_observe_with_other_metrics(suites, cases):
    rows, _, counts = cases
    rules = suite_rules(suites["transactions"], PARAMETERS, in_scope())
    observation = Observation("transactions_counts")
    (rows["transactions"]
     .select("*", *rule_flag_columns(rules))
     .observe(observation, F.count(F.lit(1)).alias("rows"), *rule_count_aggregates(rules))
     .write.format("noop").mode("overwrite").save())
    assert observation.get["rows"] == len(CASES["transactions"][1]) + 1
    assert rule_counts_from(observation.get, rules) == counts["transactions"]


def test_dq_result_rows_come_from_the_compiled_results(cases):
    _, compiled, _ = cases
    rows = {r.rule: r for r in gx_results.rule_results("transactions", compiled["transactions"])}
    assert rows["error_code_missing"] == gx_results.RuleResult(
        "transactions", "error_code_missing", "expect_column_values_to_not_be_null", "quarantine",
        element_count=2, unexpected_count=1, unexpected_percent=50.0, success=False)
    assert rows["amount_not_positive"] == gx_results.RuleResult(
        "transactions", "amount_not_positive", "expect_column_values_to_be_between", "quarantine",
        element_count=25, unexpected_count=2, unexpected_percent=2 / 24 * 100, success=False)
    assert rows["source_not_empty"] == gx_results.RuleResult(
        "transactions", "source_not_empty", "expect_table_row_count_to_be_between", "warn",
        element_count=25, unexpected_count=None, unexpected_percent=None, success=True)
    assert list(rows) == [e.expectation_config.meta["rule"] for e in compiled["transactions"].results]


def test_the_audit_names_every_number_that_differs(suites, cases, cases_by_engine):
    _, _, counts = cases
    engine = cases_by_engine
    rules = suite_rules(suites["transactions"], PARAMETERS, in_scope())
    wrong = dict(counts["transactions"])
    wrong["amount_not_positive"] = RuleCounts(25, 1, 3)  # one unexpected row too many
    wrong["error_code_missing"] = RuleCounts(2, 0, 0)     # its one unexpected row lost
    wrong["source_not_empty"] = RuleCounts(24, 0, 0)
    compiled = {"transactions": gx_results.suite_result(suites["transactions"], rules, wrong, RUN_ID, RUN_TIME)}
    assert gx_audit.differences({"transactions": engine["transactions"]}, compiled) == [
        "transactions.amount_not_positive: unexpected_count GX 2, compiled 3",
        f"transactions.amount_not_positive: unexpected_percent GX {2 / 24 * 100}, compiled {3 / 24 * 100}",
        "transactions.error_code_missing: unexpected_count GX 1, compiled 0",
        "transactions.error_code_missing: unexpected_percent GX 50.0, compiled 0.0",
        "transactions.error_code_missing: success GX False, compiled True",
        "transactions.source_not_empty: observed_value GX 25, compiled 24",
    ]


def test_data_docs_from_compiled_results_name_the_run_and_show_the_counts(suites, cases, tmp_path):
    _, compiled, _ = cases
    docs = gx_results.build_data_docs(compiled, suites, str(tmp_path / "docs"))

    run_folder = tmp_path / "docs" / "validations" / "transactions" / RUN_ID / "20261101T123000.000000Z"
    assert docs.validations["transactions"] == str(run_folder / "transactions.html")
    assert docs.index == str(tmp_path / "docs" / "index.html")
    assert f"validations/transactions/{RUN_ID}/" in Path(docs.index).read_text()
    page = html.unescape(re.sub(r"<[^>]+>", " ", Path(docs.validations["transactions"]).read_text()))
    text = re.sub(r"\s+", " ", page)
    assert f"Run Name {RUN_ID}" in text
    assert "Evaluated Expectations 17 Successful Expectations 1 Unsuccessful Expectations 16" in text
    # amount_not_positive: 2 unexpected, percent of the 24 non-missing rows (GX says "of 25 total")
    assert "values must be greater than 0.0 . 2 unexpected values found. ≈8.333% of 25 total rows." in text
    assert ('If status = "failed" , then values must never be null. '
            "1 unexpected values found. 50% of 2 total rows.") in text
    assert "Must have greater than or equal to 1 rows. 25" in text


# --- the suites on generated data --------------------------------------------------------------
@pytest.fixture(scope="module")
def generated(spark, suites, tmp_path_factory):
    raw = tmp_path_factory.mktemp("gx_generated") / "raw"
    as_of = "2026-11-01T00:00:00Z"
    assert generate_data.main([
        "--out", str(raw), "--rows", "1500", "--format", "jsonl", "--seed", "11", "--as-of", as_of,
        "--defect-rate", "0.2", "--chargeback-rate", "0.8",
    ]) == 0
    with open(REPO_ROOT / "conf" / "fx_rates.csv") as rates:
        currencies = sorted({row["currency"] for row in csv.DictReader(rates)})
    parameters = {"as_of": dt.datetime(2026, 11, 1), "fx_currencies": currencies}
    validated = {}
    for source in SOURCES:
        spec = SOURCE_SPECS[source]
        read = sources.read_source(spark, spec, storage.source_files(spark, str(raw), source))
        validation = validate_source(read, spec, suite_rules(suites[source], parameters, in_scope()))
        # as staged: without the failure flags the counts were taken from
        validated[source] = validation.rows.drop(*[c.flag for c in validation.row_checks]).persist()
    in_scope_rows = {
        s: v.where(in_scope()).select(*SOURCE_SPECS[s].columns, *[c for c in v.columns if c.startswith("items_")])
        for s, v in validated.items()}
    yield validated, in_scope_rows, parameters
    for rows in validated.values():
        rows.unpersist()


def test_gx_engine_agrees_with_the_compiled_results_on_generated_data(suites, generated):
    validated, in_scope_rows, parameters = generated
    over_in_scope, in_scope_counts = compiled_results(in_scope_rows, suites, parameters, F.lit(True))
    over_all_rows, all_rows_counts = compiled_results(validated, suites, parameters, in_scope())
    engine = gx_audit.engine_results(in_scope_rows, suites, parameters)

    assert_same_as_engine(engine, over_in_scope)
    assert_same_as_engine(engine, over_all_rows)
    assert all_rows_counts == in_scope_counts
    # the data must exercise the rules, or agreement proves little: every row rule fails rows
    # and rows outside the scope exist
    for source in SOURCES:
        idle = [rule for rule, counts in in_scope_counts[source].items()
                if counts.unexpected_count == 0 and rule != "source_not_empty"]
        assert idle == [], source
        assert validated[source].where(~in_scope()).count() > 0, source


# --- GX is imported only by what needs it ------------------------------------------------------
def test_compiling_and_loading_suites_does_not_import_great_expectations(repo_root):
    script = (
        "import sys\n"
        "from lib.quality import gx_audit, gx_results, predicates, suites\n"
        "suites.load_suites('expectations', ('orders', 'transactions', 'chargebacks'))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'great_expectations'))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=repo_root, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# --- an expectation the compilation cannot translate stops the run at start-up -----------------
def test_an_untranslatable_expectation_stops_the_pipeline_before_anything_is_written(
        spark, tmp_path, capsys):
    from jobs import pipeline

    conf = tmp_path / "conf"
    shutil.copytree(REPO_ROOT / "conf", conf)
    shutil.copytree(REPO_ROOT / "expectations", tmp_path / "expectations")
    suite_path = tmp_path / "expectations" / "orders.json"
    suite = json.loads(suite_path.read_text())
    suite["expectations"].append({
        "type": "expect_column_kl_divergence_to_be_less_than",
        "kwargs": {"column": "total_amount", "partition_object": None, "threshold": 0.1},
        "meta": {"rule": "total_amount_drift", "action": "warn"}})
    suite_path.write_text(json.dumps(suite))
    warehouse = tmp_path / "warehouse"
    capsys.readouterr()

    code = pipeline.main(["--input", str(REPO_ROOT / "bench" / "fixtures" / "tiny"),
                          "--warehouse", str(warehouse), "--conf", str(conf / "local.yaml"),
                          "--as-of", "2026-11-01T00:00:00Z"], spark=spark)

    _, err = capsys.readouterr()
    assert code == 2, err
    assert err.strip() == (
        f"pipeline: {suite_path}: expectation {len(suite['expectations']) - 1} "
        "(expect_column_kl_divergence_to_be_less_than): no row condition for this expectation type; "
        "supported: " + ", ".join(sorted(SUPPORTED_EXPECTATIONS)))
    assert not warehouse.exists()
