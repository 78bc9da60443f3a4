"""Several runs of the job in one driver JVM, one after another, as a long-lived driver would run
them (bench/incremental_warm.py submits it):

    ./spark-submit.sh bench/warm_jvm.py MODE,INPUT,WAREHOUSE,AS_OF,RUN_ID ...

Every run is `jobs/pipeline.py`'s `main` with one SparkSession. The first run warms the JVM:
HotSpot compiles the Spark, Delta and Janino code every run executes, and Spark caches the
classes it generates. Each run prints one line, `WARM_RUN <run id> <exit code> <wall seconds>
<end, seconds since the epoch>`.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from jobs import pipeline  # noqa: E402  (the repository root, put on the path above)
from lib.session import build_session  # noqa: E402


def main(argv: list[str]) -> int:
    spark = build_session("chargeback-pipeline")
    failed = 0
    for spec in argv:
        mode, input_dir, warehouse, as_of, run_id = spec.split(",")
        started = time.monotonic()
        code = pipeline.main(["--input", input_dir, "--warehouse", warehouse, "--as-of", as_of,
                              "--mode", mode, "--run-id", run_id], spark)
        print(f"WARM_RUN {run_id} {code} {time.monotonic() - started:.2f} {time.time():.2f}", flush=True)
        failed = failed or code
    return failed


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
