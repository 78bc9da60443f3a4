"""One shared local SparkSession with Delta for the whole test run."""
from __future__ import annotations

from pathlib import Path

import pytest

from lib.session import build_session

REPO_ROOT = Path(__file__).resolve().parents[1]
JAR_DIR = REPO_ROOT / ".cache" / "jars"
LOCAL_FS_JAR = REPO_ROOT / ".cache" / "localfs" / "chargeback-localfs.jar"


def cached_jars() -> list[str]:
    jars = sorted(str(p) for p in JAR_DIR.glob("*.jar"))
    if not jars:
        raise RuntimeError(f"no Delta JARs in {JAR_DIR}: run scripts/bootstrap.sh first")
    return jars


@pytest.fixture(scope="session")
def spark():
    session = build_session(
        "chargeback-pipeline-tests",
        master="local[2]",
        jars=cached_jars(),
        conf={
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.databricks.delta.snapshotPartitions": "2",
            "spark.sql.sources.parallelPartitionDiscovery.parallelism": "2",
            "spark.driver.memory": "3g",
            # spark-submit.sh's local-mode file system: no `chmod` fork per file written.
            "spark.driver.extraClassPath": str(LOCAL_FS_JAR),
            "spark.hadoop.fs.file.impl": "chargeback.fs.NoForkLocalFileSystem",
        },
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
