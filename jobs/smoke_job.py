"""A tiny job for checking a cluster: writes a Delta table of which executor ran which task.

spark-submit.sh jobs/smoke_job.py --out DIR [--rows N]
"""
from __future__ import annotations

import argparse
import socket
import sys

from pyspark.sql import functions as F

from lib.session import build_session


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="smoke_job")
    parser.add_argument("--out", required=True)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args(argv)
    spark = build_session("chargeback-pipeline-smoke")
    tasks = spark.sparkContext.defaultParallelism
    rows = (
        spark.range(args.rows, numPartitions=max(tasks, 2))
        .withColumn("bucket", F.col("id") % 10)
        .groupBy("bucket")
        .agg(F.count(F.lit(1)).alias("rows"), F.sum("id").alias("id_sum"))
    )
    rows.write.format("delta").mode("overwrite").save(args.out)
    print(f"smoke_job wrote {args.out} from driver {socket.gethostname()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
