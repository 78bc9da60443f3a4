"""Settings of the contract's keys alone, and the packaged suites they fall back to, in a checkout
and inside the --py-files zip (the wheel's case is in tests/test_packaging.py)."""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lib.config import load_settings
from lib.errors import UserError
from lib.quality.suites import load_suites
from lib.resources import as_traversable, packaged_suites
from lib.schemas import SOURCES

REPO_ROOT = Path(__file__).resolve().parents[1]


def _conf_folder(tmp_path: Path, yaml_text: str) -> Path:
    folder = tmp_path / "conf"
    folder.mkdir()
    for name in ("fx_rates.csv", "reason_codes.csv"):
        shutil.copy(REPO_ROOT / "conf" / name, folder / name)
    (folder / "settings.yaml").write_text(yaml_text)
    return folder / "settings.yaml"


def test_a_yaml_of_the_contracts_two_keys_uses_the_packaged_suites(tmp_path):
    conf = _conf_folder(tmp_path, "fx_rates: fx_rates.csv\nreason_codes: reason_codes.csv\n")

    settings = load_settings(str(conf))

    assert settings.fx_rates == str(tmp_path / "conf" / "fx_rates.csv")
    assert settings.reason_codes == str(tmp_path / "conf" / "reason_codes.csv")
    assert settings.expectations == REPO_ROOT / "expectations"  # a checkout: the folder beside lib/
    assert (settings.data_docs, settings.json_format, settings.shuffle_partitions) == ("_data_docs", "auto", None)
    # The suites load from it as from a path in the YAML.
    suites = load_suites(settings.expectations, SOURCES)
    assert suites == load_suites(str(REPO_ROOT / "expectations"), SOURCES)


def test_a_yaml_that_names_its_suites_keeps_them(tmp_path):
    conf = _conf_folder(tmp_path, "fx_rates: fx_rates.csv\nreason_codes: reason_codes.csv\n"
                                  "expectations: ../my_suites\n")
    assert load_settings(str(conf)).expectations == str(tmp_path / "my_suites")


@pytest.mark.parametrize("yaml_text, missing", [
    ("reason_codes: reason_codes.csv\n", "fx_rates"),
    ("fx_rates: fx_rates.csv\n", "reason_codes"),
    ("expectations: ../expectations\n", "fx_rates, reason_codes"),
])
def test_the_contracts_two_keys_are_still_required(tmp_path, yaml_text, missing):
    conf = _conf_folder(tmp_path, yaml_text)
    with pytest.raises(UserError, match=f"^config file {conf} lacks {missing}$"):
        load_settings(str(conf))


def test_packaged_suites_in_a_checkout_are_the_expectations_folder():
    suites = packaged_suites()
    assert suites == REPO_ROOT / "expectations"
    assert json.loads(suites.joinpath("orders.json").read_text()) == json.loads(
        (REPO_ROOT / "expectations" / "orders.json").read_text())


def test_as_traversable_reads_a_path_string_and_a_traversable_alike():
    text = (REPO_ROOT / "expectations" / "orders.json").read_text()
    for folder in (str(REPO_ROOT / "expectations"), packaged_suites()):
        assert as_traversable(folder).joinpath("orders.json").read_text() == text


def test_packaged_suites_inside_the_py_files_zip(tmp_path):
    """lib imported from the zip spark-submit.sh ships: no filesystem path, a zipfile.Path."""
    spec = importlib.util.spec_from_file_location("build_bundle", REPO_ROOT / "scripts" / "build_bundle.py")
    build_bundle = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build_bundle)
    bundle = tmp_path / "chargeback_pipeline.zip"
    with zipfile.ZipFile(bundle, "w") as archive:  # the same files build_bundle.build() packs
        for path in build_bundle.bundle_files():
            archive.write(path, path.relative_to(build_bundle.ROOT).as_posix())
    probe = (
        "import json, sys\n"
        f"sys.path.insert(0, {str(bundle)!r})\n"
        "import lib\n"
        "from lib.resources import packaged_suites, as_traversable\n"
        "suites = packaged_suites()\n"
        "print(lib.__file__)\n"
        "print(type(suites).__module__, type(suites).__name__)\n"
        "print(sorted(p.name for p in suites.iterdir()))\n"
        "print(json.dumps(json.loads(as_traversable(suites).joinpath('orders.json').read_text())))\n"
    )
    # Run from the temporary folder with no PYTHONPATH: `lib` can only come from the zip.
    run = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env={"PATH": "/usr/bin:/bin"},
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr

    origin, kind, names, orders = run.stdout.splitlines()

    assert origin == str(bundle / "lib" / "__init__.py")
    assert kind.split()[0].startswith("zipfile") and kind.endswith(" Path")  # zipfile._path in 3.12
    assert names == str(sorted(p.name for p in (REPO_ROOT / "expectations").glob("*.json")))
    assert json.loads(orders) == json.loads((REPO_ROOT / "expectations" / "orders.json").read_text())
