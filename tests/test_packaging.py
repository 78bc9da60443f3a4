"""The chargeback-pipeline wheel carries `lib`, the suites and conf/, and leaves Spark to the platform.

The wheel is built from a copy of the packaging inputs in a temporary folder, so the test leaves
no build/ or *.egg-info in the shared working tree and does not race a build someone else runs.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGING_INPUTS = ("setup.py", "MANIFEST.in", "requirements.txt", "lib", "expectations", "conf")
RUNTIME = ("great-expectations", "PyYAML", "pandas", "pyarrow", "numpy")
PLATFORM_PROVIDED = ("pyspark", "delta-spark")


def _pins() -> dict[str, str]:
    pins = {}
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9._-]+)==(\S+)", line.strip())
        if match:
            pins[match[1].lower()] = f"{match[1]}=={match[2]}"
    return pins


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for name in PACKAGING_INPUTS:
        path = REPO_ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        elif path.exists():
            shutil.copy2(path, source / name)
    out = tmp_path_factory.mktemp("wheelhouse")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "-w", str(out)],
        cwd=source, capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    [built] = out.glob("chargeback_pipeline-0.1.0-py3-none-any.whl")
    return built


def _requires_dist(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read("chargeback_pipeline-0.1.0.dist-info/METADATA").decode()
    return [line.split(":", 1)[1].strip() for line in metadata.splitlines()
            if line.startswith("Requires-Dist:")]


def test_wheel_contains_the_code_and_every_suite_and_conf_file(wheel):
    bundled = [p.relative_to(REPO_ROOT).as_posix()
               for p in sorted((REPO_ROOT / "expectations").glob("*.json"))
               + sorted(p for p in (REPO_ROOT / "conf").glob("*") if p.is_file())]
    expected = {"lib/session.py", "lib/resources.py", "lib/quality/__init__.py",
                "lib/_resources/conf/fx_rates.csv"} | {f"lib/_resources/{name}" for name in bundled}

    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())

    assert "conf/fx_rates.csv" in bundled
    assert expected - names == set()
    # Only `lib` is installed: no top-level conf/, expectations/ or jobs/ packages.
    assert {n.split("/")[0] for n in names} == {"lib", "chargeback_pipeline-0.1.0.dist-info"}


def test_wheel_requires_the_runtime_pins_and_not_the_platform(wheel):
    pins = _pins()

    requires = _requires_dist(wheel)

    assert requires == [pins[name.lower()] for name in RUNTIME]
    assert not [r for r in requires if re.split(r"[=<>!~ ;\[]", r)[0].lower() in PLATFORM_PROVIDED]


def test_installed_wheel_finds_its_bundled_resources(wheel, tmp_path):
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check",
         "--target", str(target), str(wheel)],
        capture_output=True, text=True, timeout=120,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    probe = (
        "from lib.resources import bundled_path\n"
        "print(bundled_path('conf', 'fx_rates.csv'))\n"
        "print(bundled_path('conf', 'no_such_file.csv'))\n"
    )
    # cwd and PYTHONPATH point away from the checkout, so `lib` can only come from the wheel.
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr

    found, missing = run.stdout.splitlines()

    assert Path(found) == target / "lib" / "_resources" / "conf" / "fx_rates.csv"
    assert Path(found).read_bytes() == (REPO_ROOT / "conf" / "fx_rates.csv").read_bytes()
    assert missing == "None"


def test_installed_wheel_finds_its_packaged_suites(wheel, tmp_path):
    target = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--disable-pip-version-check",
         "--target", str(target), str(wheel)],
        capture_output=True, text=True, timeout=120,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    probe = (
        "from lib.resources import packaged_suites\n"
        "suites = packaged_suites()\n"
        "print(suites)\n"
        "print(suites.joinpath('orders.json').read_text())\n"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr

    folder, orders = run.stdout.split("\n", 1)

    assert Path(folder) == target / "lib" / "_resources" / "expectations"
    assert orders == (REPO_ROOT / "expectations" / "orders.json").read_text() + "\n"


def test_checkout_has_no_bundled_resources():
    from lib.resources import bundled_path

    assert bundled_path("conf", "fx_rates.csv") is None
