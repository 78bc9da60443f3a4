"""The run's Great Expectations validation results, built from the compiled counts.

The per-rule counts of the one pass (`predicates.rule_count_aggregates`) become the result objects
GX's engine would return for the same in-scope rows: the same element, missing and unexpected
counts, the same percents and `success` (`mostly` included; a table expectation's min/max), each
result carrying its suite expectation's configuration with the suite parameters resolved, as GX's
own results do. `dq_results` rows and the data docs are derived from these objects.
`gx_audit` and the tests check them against GX's engine.

Great Expectations is imported inside the functions (seconds of start-up), so a run that builds
no data docs and no GX objects never imports it.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from lib.quality.predicates import Rule, RuleCounts
from lib.quality.suites import Suite

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult, ExpectationValidationResult

DATA_DOCS_SITE = "chargeback_pipeline"


@dataclass(frozen=True)
class RuleResult:
    source: str
    rule: str
    expectation_type: str
    action: str
    element_count: int | None
    unexpected_count: int | None
    unexpected_percent: float | None
    success: bool


@dataclass(frozen=True)
class DataDocs:
    index: str                   # the site's index.html
    validations: dict[str, str]  # source -> the run's validation page


def _mostly_success(considered: int, unexpected: int, mostly: float) -> bool:
    # GX's own arithmetic (expectation._mostly_success), float for float.
    return (float(considered) - float(unexpected)) / float(considered) >= mostly


def _map_result(rule: Rule, counts: RuleCounts) -> tuple[bool, dict[str, Any]]:
    """GX 1.24's ColumnMap / ColumnPairMap / MulticolumnMap `_validate` + `_format_map_output`
    (SUMMARY, no unexpected samples), from counts."""
    shape = rule.shape
    mostly = rule.kwargs.get("mostly", 1)
    element = counts.element_count
    unexpected: int | None = counts.unexpected_count
    if shape.unexpected_is_a_sum and element == 0:
        unexpected = None  # SUM over no rows
    if shape.reports_missing:
        considered = element - counts.missing_count
        vacuous = unexpected is None or element == 0 or considered == 0
        success = True if vacuous else _mostly_success(considered, unexpected, mostly)
    else:  # not_be_null / be_null: no missing, everything relative to element_count
        considered = None
        success = True if element == 0 else (element - unexpected) / element >= mostly

    percent_total = percent_nonmissing = missing_percent = None
    if unexpected is not None and element > 0:
        percent_total = unexpected / element * 100
        if considered is not None:
            missing_percent = counts.missing_count / element * 100
            percent_nonmissing = unexpected / considered * 100 if considered > 0 else None
        else:
            percent_nonmissing = percent_total
    result: dict[str, Any] = {
        "element_count": element,
        "unexpected_count": unexpected,
        "unexpected_percent": percent_nonmissing,
        "partial_unexpected_list": [],
    }
    if considered is not None:
        result.update({
            "missing_count": counts.missing_count,
            "missing_percent": missing_percent,
            "unexpected_percent_total": percent_total,
            "unexpected_percent_nonmissing": percent_nonmissing,
        })
    return success, result


def _table_result(rule: Rule, counts: RuleCounts) -> tuple[bool, dict[str, Any]]:
    """GX's `_validate_metric_value_between` on table.row_count (the rows of the domain)."""
    observed = counts.element_count
    low, high = rule.kwargs.get("min_value"), rule.kwargs.get("max_value")
    above = low is None or (observed > low if rule.kwargs.get("strict_min") else observed >= low)
    below = high is None or (observed < high if rule.kwargs.get("strict_max") else observed <= high)
    return bool(above and below), {"observed_value": observed}


def compiled_rule_results(
    source: str, rules: Sequence[Rule], counts: Mapping[str, RuleCounts]
) -> list[RuleResult]:
    """The dq_results numbers of each expectation straight from the compiled counts: what
    `rule_results(source, suite_result(...))` gives, without importing Great Expectations (a run
    needs GX's objects only for the data docs and --gx-audit)."""
    out = []
    for rule in rules:
        success, result = (_table_result if rule.failure is None else _map_result)(rule, counts[rule.name])
        element_count = result.get("element_count", result.get("observed_value"))
        out.append(RuleResult(
            source=source, rule=rule.name, expectation_type=rule.expectation_type,
            action=rule.action, element_count=element_count,
            unexpected_count=result.get("unexpected_count"),
            unexpected_percent=result.get("unexpected_percent"), success=success,
        ))
    return out


def _configuration(expectation, definition: dict, rule: Rule):
    """The suite expectation's configuration (GX's normalised kwargs) with its suite parameters
    resolved, as GX's engine puts it in a result."""
    from great_expectations.expectations.expectation_configuration import ExpectationConfiguration

    config = expectation.configuration
    resolved = {k: rule.kwargs[k] for k, v in definition["kwargs"].items()
                if isinstance(v, dict) and "$PARAMETER" in v}
    return ExpectationConfiguration(
        type=config.type,
        kwargs={**config.kwargs, **resolved},
        meta=config.meta,
        notes=config.notes,
        description=config.description,
        severity=config.severity,
    )


def _expectation_result(
    expectation, definition: dict, rule: Rule, counts: RuleCounts
) -> ExpectationValidationResult:
    from great_expectations.core import ExpectationValidationResult

    success, result = (_table_result if rule.failure is None else _map_result)(rule, counts)
    return ExpectationValidationResult(success=success, result=result,
                                      expectation_config=_configuration(expectation, definition, rule))


def suite_result(
    suite: Suite,
    rules: Sequence[Rule],
    counts: Mapping[str, RuleCounts],
    run_id: str,
    run_time: dt.datetime,
) -> ExpectationSuiteValidationResult:
    """The suite's validation result from the compiled counts of its rules (`suite_rules` order).

    `run_time` is required: GX would otherwise try to read a date out of the run id.
    """
    import great_expectations as gx
    from great_expectations.core import ExpectationSuiteValidationResult
    from great_expectations.core.run_identifier import RunIdentifier

    if [r.name for r in rules] != [e["meta"]["rule"] for e in suite.expectations]:
        raise ValueError(f"{suite.path}: the rules are not this suite's, in its order")
    expectations = suite.to_gx().expectations
    if [e.meta["rule"] for e in expectations] != [r.name for r in rules]:
        raise ValueError(f"{suite.path}: Great Expectations reordered the suite's expectations")
    results = [_expectation_result(e, d, r, counts[r.name])
               for e, d, r in zip(expectations, suite.expectations, rules)]
    successful = sum(1 for r in results if r.success)
    if run_time.tzinfo is None:
        run_time = run_time.replace(tzinfo=dt.timezone.utc)
    return ExpectationSuiteValidationResult(
        success=successful == len(results),
        results=results,
        suite_name=suite.name,
        statistics={
            "evaluated_expectations": len(results),
            "successful_expectations": successful,
            "unsuccessful_expectations": len(results) - successful,
            "success_percent": successful / len(results) * 100 if results else None,
        },
        meta={
            "great_expectations_version": gx.__version__,
            "run_id": RunIdentifier(run_name=run_id, run_time=run_time),
            "validation_time": run_time,
            "batch_spec": {"data_asset_name": suite.source,
                           "batch_data": "rows the reader typed (counts of the compiled pass)"},
        },
        batch_id=suite.source,
    )


def rule_results(source: str, result: ExpectationSuiteValidationResult) -> list[RuleResult]:
    """The dq_results numbers of each expectation of a suite result (compiled or GX's engine)."""
    rows = []
    for expectation in result.results:
        config = expectation.expectation_config
        counts = expectation.result or {}
        exception = (expectation.exception_info or {}).get("exception_message")
        if exception and not counts:
            raise RuntimeError(f"Great Expectations could not evaluate {source}.{config.meta['rule']}: "
                               f"{exception.splitlines()[0]}")
        element_count = counts.get("element_count", counts.get("observed_value"))
        rows.append(RuleResult(
            source=source,
            rule=config.meta["rule"],
            expectation_type=config.type,
            action=config.meta["action"],
            element_count=element_count if isinstance(element_count, int) else None,
            unexpected_count=counts.get("unexpected_count"),
            unexpected_percent=counts.get("unexpected_percent"),
            success=bool(expectation.success),
        ))
    return rows


def _path(url: str) -> str:
    return unquote(urlparse(url).path)


def build_data_docs(
    results: Mapping[str, ExpectationSuiteValidationResult],
    suites: Mapping[str, Suite],
    folder: str,
) -> DataDocs:
    """Render `results` (source -> suite result) as a GX data docs site under `folder` (a local,
    absolute path); each validation page is filed under its result's run id."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    context.add_data_docs_site(
        site_name=DATA_DOCS_SITE,
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                              "base_directory": str(Path(folder).absolute())},
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    identifiers = {}
    for source, result in results.items():
        context.suites.add(suites[source].to_gx())
        identifiers[source] = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=result.suite_name),
            run_id=result.meta["run_id"],
            batch_identifier=source,
        )
        context.validation_results_store.set(identifiers[source], result)
    context.build_data_docs(site_names=[DATA_DOCS_SITE])

    def url(identifier=None) -> str:
        [site] = context.get_docs_sites_urls(resource_identifier=identifier, site_name=DATA_DOCS_SITE)
        return _path(site["site_url"])

    return DataDocs(index=url(), validations={s: url(i) for s, i in identifiers.items()})
