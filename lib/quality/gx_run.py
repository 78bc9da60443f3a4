"""Transitional: the entry points of the pipeline before the compiled counts, kept so that
`jobs/pipeline.py` runs unchanged until it moves to `gx_results` (results from compiled counts)
and `gx_audit` (GX's engine, for --gx-audit). Delete this module then.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pyspark.sql import DataFrame

from lib.quality import gx_audit, gx_results
from lib.quality.gx_results import RuleResult
from lib.quality.suites import Suite

__all__ = ["RuleResult", "compare_counts", "run_suites"]


def run_suites(
    frames: Mapping[str, DataFrame],
    suites: Mapping[str, Suite],
    parameters: Mapping[str, Any],
    data_docs_dir: str | None = None,
) -> dict[str, list[RuleResult]]:
    """GX's engine on every suite (slow: ~44 Spark jobs, 25 s at 1M rows); data docs if asked."""
    results = gx_audit.engine_results(frames, suites, parameters)
    if data_docs_dir:
        gx_results.build_data_docs(results, suites, data_docs_dir)
    return {source: gx_results.rule_results(source, result) for source, result in results.items()}


def compare_counts(results: list[RuleResult], split_counts: Mapping[str, int]) -> list[str]:
    """Rules whose GX unexpected_count differs from the split's count of failing rows."""
    return [
        f"{r.source}.{r.rule}: Great Expectations {r.unexpected_count}, split "
        f"{split_counts.get(r.rule, 0)}"
        for r in results
        if r.unexpected_count is not None and r.unexpected_count != split_counts.get(r.rule, 0)
    ]
