"""Great Expectations' own engine, to prove the compiled counts (`--gx-audit` and the tests).

`engine_results` validates the in-scope rows of each source with GX's engine (what the pipeline
did on every run before the counts were compiled: ~44 Spark jobs, 25 s at 1M rows);
`differences` lists every number where GX's engine and the compiled results disagree. A run
started with --gx-audit stops, publishing nothing, when the list is not empty.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pyspark.sql import DataFrame

from lib.quality.suites import Suite

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuiteValidationResult

# The numbers compared, per expectation; a table expectation has only observed_value.
COMPARED = ("element_count", "observed_value", "missing_count", "unexpected_count",
            "unexpected_percent")


def engine_results(
    frames: Mapping[str, DataFrame],
    suites: Mapping[str, Suite],
    parameters: Mapping[str, Any],
    run_id: str | None = None,
    run_time: dt.datetime | None = None,
) -> dict[str, ExpectationSuiteValidationResult]:
    """GX's engine on each frame (source -> the rows GX validates), SUMMARY results."""
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    # persist=False: the frames are views of rows the pipeline has cached already; GX's default
    # would build and keep a second cache of each one.
    datasource = context.data_sources.add_spark(name="in_scope_rows", persist=False)
    run = RunIdentifier(run_name=run_id, run_time=run_time or dt.datetime.now(dt.timezone.utc))
    results = {}
    # One suite at a time: GX is not thread-safe (its suite-parameter parser, a shared pyparsing
    # grammar, fails when two validations resolve parameters at once; seen in tests).
    for source, frame in frames.items():
        definition = context.validation_definitions.add(gx.ValidationDefinition(
            name=f"{source}_validation",
            data=datasource.add_dataframe_asset(name=source)
            .add_batch_definition_whole_dataframe(f"{source}_rows"),
            suite=context.suites.add(suites[source].to_gx()),
        ))
        results[source] = definition.run(
            batch_parameters={"dataframe": frame},
            expectation_parameters=dict(parameters),
            # Counts only: sampling unexpected values costs ~2 extra Spark jobs per expectation.
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 0},
            run_id=run,
        )
    return results


def differences(
    engine: Mapping[str, ExpectationSuiteValidationResult],
    compiled: Mapping[str, ExpectationSuiteValidationResult],
) -> list[str]:
    """Every number where GX's engine and the compiled results differ, one line each, in suite
    order: `source.rule: unexpected_count GX 3, compiled 2`."""
    lines = []
    for source, compiled_result in compiled.items():
        # GX's engine returns the results grouped by metric, not in suite order
        by_engine = {r.expectation_config.meta["rule"]: r for r in engine[source].results}
        for ours in compiled_result.results:
            rule = ours.expectation_config.meta["rule"]
            where = f"{source}.{rule}"
            theirs = by_engine.pop(rule, None)
            exception = theirs and (theirs.exception_info or {}).get("exception_message")
            if theirs is None:
                lines.append(f"{where}: not validated by Great Expectations")
            elif exception:
                lines.append(f"{where}: Great Expectations could not evaluate it: "
                             f"{exception.splitlines()[0]}")
            else:
                lines += [f"{where}: {name} GX {theirs.result.get(name)}, compiled {ours.result.get(name)}"
                          for name in COMPARED if theirs.result.get(name) != ours.result.get(name)]
                if bool(theirs.success) != bool(ours.success):
                    lines.append(f"{where}: success GX {theirs.success}, compiled {ours.success}")
        lines += [f"{source}.{rule}: validated by Great Expectations, not compiled" for rule in by_engine]
    return lines


def audit(
    frames: Mapping[str, DataFrame],
    suites: Mapping[str, Suite],
    parameters: Mapping[str, Any],
    compiled: Mapping[str, ExpectationSuiteValidationResult],
) -> list[str]:
    """--gx-audit: validate `frames` (source -> in-scope rows) with GX's engine and list every
    difference from the `compiled` results (source -> `gx_results.suite_result`); [] when none."""
    return differences(engine_results(frames, suites, parameters), compiled)
