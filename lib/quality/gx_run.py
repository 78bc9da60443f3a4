"""Great Expectations' own validation of each source: SUMMARY results, data docs, dq_results.

GX validates the same rows the split evaluates (the de-duplicated rows the reader could type),
so its per-rule unexpected counts must equal the split's; `compare_counts` says where not.
Only counts come back to the driver (result_format SUMMARY), never unexpected row lists.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import great_expectations as gx
from great_expectations.data_context.types.base import ProgressBarsConfig
from pyspark.sql import DataFrame

from lib.quality.suites import Suite


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


def run_suites(
    frames: Mapping[str, DataFrame],
    suites: Mapping[str, Suite],
    parameters: Mapping[str, Any],
    data_docs_dir: str | None = None,
) -> dict[str, list[RuleResult]]:
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    if data_docs_dir:
        context.add_data_docs_site(
            site_name="chargeback_pipeline",
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": data_docs_dir,
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    # persist=False: the frames are views of rows the pipeline has cached already; GX's default
    # would build and keep a second cache of each one.
    datasource = context.data_sources.add_spark(name="raw_zone", persist=False)
    definitions = {}
    for source in frames:
        batch_definition = (
            datasource.add_dataframe_asset(name=source)
            .add_batch_definition_whole_dataframe(f"{source}_rows")
        )
        definitions[source] = context.validation_definitions.add(gx.ValidationDefinition(
            name=f"{source}_validation",
            data=batch_definition,
            suite=context.suites.add(suites[source].to_gx()),
        ))

    def validate(source: str):
        return definitions[source].run(
            batch_parameters={"dataframe": frames[source]},
            expectation_parameters=dict(parameters),
            # Counts only: sampling unexpected values costs ~2 extra Spark jobs per expectation
            # (51 jobs instead of 19 for the transactions suite) and nothing here reads them.
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 0},
        )

    # One suite at a time: GX is not thread-safe (its suite-parameter parser, a shared pyparsing
    # grammar, fails when two validations resolve parameters at once; seen in tests).
    results = {source: [_rule_result(source, r) for r in validate(source).results]
               for source in definitions}
    if data_docs_dir:
        context.build_data_docs()
    return results


def _rule_result(source: str, result) -> RuleResult:
    config = result.expectation_config
    counts = result.result or {}
    exception = (result.exception_info or {}).get("exception_message")
    if exception and not counts:
        raise RuntimeError(f"Great Expectations could not evaluate {source}.{config.meta['rule']}: "
                           f"{exception.splitlines()[0]}")
    element_count = counts.get("element_count", counts.get("observed_value"))
    return RuleResult(
        source=source,
        rule=config.meta["rule"],
        expectation_type=config.type,
        action=config.meta["action"],
        element_count=element_count if isinstance(element_count, int) else None,
        unexpected_count=counts.get("unexpected_count"),
        unexpected_percent=counts.get("unexpected_percent"),
        success=bool(result.success),
    )


def compare_counts(results: list[RuleResult], split_counts: Mapping[str, int]) -> list[str]:
    """Rules whose GX unexpected_count differs from the split's count of failing rows."""
    return [
        f"{r.source}.{r.rule}: Great Expectations {r.unexpected_count}, split "
        f"{split_counts.get(r.rule, 0)}"
        for r in results
        if r.unexpected_count is not None and r.unexpected_count != split_counts.get(r.rule, 0)
    ]
