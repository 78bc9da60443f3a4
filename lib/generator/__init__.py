"""Synthetic raw payment data with known defects, and the manifest of what a pipeline must find.

`source_lines` gives, per source, a DataFrame of output lines with labels (`rule`, `warning`,
`is_extra_copy`, `is_header`); writers and the manifest both read it.
"""
from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession

from lib.generator.chargebacks import plan_chargebacks, render_chargeback_lines
from lib.generator.json_lines import JsonStyle, render_orders, render_transactions
from lib.generator.params import GeneratorParams
from lib.generator.plan import plan_transactions, transaction_ids

SOURCES = ("transactions", "orders", "chargebacks")


def source_lines(spark: SparkSession, params: GeneratorParams, chunks: list[int], *,
                 pretty: bool, csv_headers: bool) -> dict[str, DataFrame]:
    style = JsonStyle(pretty=pretty)
    plan = plan_transactions(transaction_ids(spark, params, chunks), params)
    return {
        "transactions": render_transactions(plan, params, style),
        "orders": render_orders(plan, params, style),
        "chargebacks": render_chargeback_lines(
            plan_chargebacks(plan, params, headers=csv_headers), params),
    }
