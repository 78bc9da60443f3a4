"""spark-submit.sh's JVM options for the driver: the JIT option always, the parallel collector in
local mode, and a user's own options added to them, a user's own collector in its place (the JVM
refuses two collectors)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# Prints the driver JVM's collectors (their MXBean names) and its command-line options.
PROBE = '''
from pyspark.sql import SparkSession
jvm = SparkSession.builder.getOrCreate().sparkContext._jvm
management = jvm.java.lang.management.ManagementFactory
print("collectors=" + ",".join(b.getName() for b in management.getGarbageCollectorMXBeans()))
print("options=" + " ".join(management.getRuntimeMXBean().getInputArguments()))
'''


def driver_jvm(tmp_path: Path, *options: str) -> tuple[set[str], list[str]]:
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE)
    submitted = subprocess.run(
        [str(REPO_ROOT / "spark-submit.sh"), "--master", "local[1]", "--conf", "spark.ui.enabled=false",
         *options, str(probe)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    lines = dict(line.split("=", 1) for line in submitted.stdout.splitlines() if "=" in line)
    return set(lines["collectors"].split(",")), lines["options"].split()


@pytest.mark.e2e
def test_local_mode_drivers_use_the_parallel_collector_unless_the_user_names_one(tmp_path):
    collectors, options = driver_jvm(tmp_path)
    assert collectors == {"PS Scavenge", "PS MarkSweep"}
    assert {"-XX:-DontCompileHugeMethods", "-XX:+UseParallelGC"} <= set(options)

    collectors, options = driver_jvm(tmp_path, "--driver-java-options", "-XX:+UseSerialGC -Dprobe.user=1")
    assert collectors == {"Copy", "MarkSweepCompact"}
    assert {"-XX:-DontCompileHugeMethods", "-XX:+UseSerialGC", "-Dprobe.user=1"} <= set(options)
    assert "-XX:+UseParallelGC" not in options
