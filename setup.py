"""The `chargeback-pipeline` wheel: package `lib` with its rules and settings inside it.

A cluster that installs the wheel (a Databricks library, an EMR bootstrap `pip install`) has no
checkout of this repository, so the Great Expectations suites in expectations/ and everything in
conf/ travel in the wheel as `lib/_resources/expectations/...` and `lib/_resources/conf/...`
(the two folders keep their relative layout, so conf/local.yaml's `../expectations` still holds).
`lib.resources.bundled_path` finds them. jobs/ is not packaged: a cluster runs the entry point
as a script (spark_python_task, spark-submit) that imports `lib` from the wheel.

Runtime requirements are the pins of requirements.txt, minus what the platform provides
(pyspark, delta-spark and their JVM side) and minus test/benchmark/build tools.

Build: .venv/bin/python -m pip wheel . --no-deps --no-build-isolation -w dist/
"""
from __future__ import annotations

import re
from pathlib import Path

from setuptools import find_packages, setup

ROOT = Path(__file__).resolve().parent
RUNTIME_REQUIREMENTS = ("great-expectations", "PyYAML", "pandas", "pyarrow", "numpy")
# Only folders that exist: git keeps no empty expectations/ before the first suite is committed.
RESOURCES = {
    package: folder
    for package, folder in {
        "lib._resources.expectations": "expectations",
        "lib._resources.conf": "conf",
    }.items()
    if (ROOT / folder).is_dir()
}


def runtime_pins() -> list[str]:
    """`name==version` lines of requirements.txt for RUNTIME_REQUIREMENTS, in that order."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(r"^\s*([A-Za-z0-9._-]+)\s*==\s*([^\s#;]+)", line)
        if match:
            pins[match[1].lower()] = f"{match[1]}=={match[2]}"
    missing = [name for name in RUNTIME_REQUIREMENTS if name.lower() not in pins]
    if missing:
        raise SystemExit(f"setup.py: requirements.txt has no pin for {missing}")
    return [pins[name.lower()] for name in RUNTIME_REQUIREMENTS]


setup(
    name="chargeback-pipeline",
    version="0.1.0",
    description="Payments and chargebacks to Delta: validation, quarantine, USD metrics (Spark batch job)",
    python_requires=">=3.10",
    packages=find_packages(include=["lib", "lib.*"]) + list(RESOURCES),
    # Data-only folders mapped under lib._resources; they have no __init__.py on purpose.
    package_dir=RESOURCES,
    package_data={
        "lib._resources.expectations": ["*.json"],
        "lib._resources.conf": ["*"],  # settings, reference CSVs, log4j2.properties
    },
    install_requires=runtime_pins(),
    zip_safe=False,
)
