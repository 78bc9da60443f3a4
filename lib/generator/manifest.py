"""What the generated data should give a correct pipeline, counted by Spark from the labels."""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lib.generator.params import AMOUNT_MISMATCH


def source_manifest(lines: DataFrame, *, warnings: tuple[str, ...] = ()) -> dict:
    """rows_written = valid_rows + quarantined_rows + duplicates_dropped, by construction:
    every written row is exactly one of an extra exact copy, a quarantined row, a valid row."""
    counts = (
        lines.where(~F.col("is_header"))
        .groupBy("rule", "warning", "is_extra_copy")
        .agg(F.count(F.lit(1)).alias("rows"))
        .collect()
    )
    defects: dict[str, int] = {}
    warned = {name: 0 for name in warnings}
    valid = duplicates = 0
    for row in counts:
        if row["is_extra_copy"]:
            duplicates += row["rows"]
        elif row["rule"] is not None:
            defects[row["rule"]] = defects.get(row["rule"], 0) + row["rows"]
        else:
            valid += row["rows"]
            if row["warning"] is not None:
                warned[row["warning"]] = warned.get(row["warning"], 0) + row["rows"]
    quarantined = sum(defects.values())
    return {
        "rows_written": valid + quarantined + duplicates,
        "valid_rows": valid,
        "duplicates_dropped": duplicates,
        "quarantined_rows": quarantined,
        "defects": dict(sorted(defects.items())),
        "warnings": dict(sorted(warned.items())),
    }


TRANSACTION_WARNINGS = (AMOUNT_MISMATCH,)
