"""Files bundled in the chargeback-pipeline wheel (see setup.py): the suites and conf/.

On a cluster that installed the wheel there is no checkout, so a job that was given no path can
fall back to the copies under `lib/_resources/`. From a source checkout or the --py-files zip
there is no `_resources` folder and the answer is None: the caller uses the paths it was given.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def bundled_path(*parts: str) -> Path | None:
    """Path of `lib/_resources/<parts...>` when it is a file on disk, e.g.
    `bundled_path("conf", "fx_rates.csv")`, `bundled_path("expectations", "orders.json")`."""
    resource = files("lib").joinpath("_resources")
    for part in parts:
        resource = resource.joinpath(part)  # one at a time: joinpath(*parts) needs Python 3.11
    # Only a real file counts: inside a zip (--py-files) there is no path to hand to Spark.
    if isinstance(resource, Path) and resource.is_file():
        return resource
    return None
