"""Baseline (b): Spark's floor. The cost of scanning the raw bytes once and writing them once.

    ./spark-submit.sh bench/floor_job.py --input DIR --warehouse DIR

Same session as the pipeline (lib.session.build_session). Each source, `DIR/<source>*` (a file or
a directory of part files, gzip or not), is read as text lines, one string column, no parsing,
and written once as a Delta table `WAREHOUSE/<source>_raw`. No validation, no joins, no metrics:
whatever the full job spends above this is the price of the contract, not of Spark.
"""
from __future__ import annotations

import argparse
import sys
import time

from lib.session import build_session

SOURCES = ("transactions", "orders", "chargebacks")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="floor_job")
    parser.add_argument("--input", required=True)
    parser.add_argument("--warehouse", required=True)
    args = parser.parse_args(argv)
    spark = build_session("chargeback-pipeline-floor")
    for source in SOURCES:
        started = time.monotonic()
        # A glob matching a directory reads every file in it, as the pipeline's readers do.
        lines = spark.read.text(f"{args.input.rstrip('/')}/{source}*")
        lines.write.format("delta").mode("overwrite").save(f"{args.warehouse.rstrip('/')}/{source}_raw")
        print(f"floor_job: {source} scanned and written in {time.monotonic() - started:.1f}s")
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
