"""Files that travel with the code: the Great Expectations suites and conf/.

The code runs three ways, and the files sit differently in each:
- a checkout: `expectations/` and `conf/` beside `lib/`;
- the --py-files zip of spark-submit.sh (scripts/build_bundle.py): the same layout inside the zip,
  where there is no filesystem path, only `importlib.resources` Traversables (zipfile.Path);
- the wheel (setup.py): copies under `lib/_resources/` (there is no checkout on such a cluster).
`packaged_suites` finds the suites in all three; `bundled_path` finds a wheel's file on disk.
"""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

try:
    from importlib.resources.abc import Traversable  # Python 3.11+
except ImportError:  # pragma: no cover - Python 3.10
    from importlib.abc import Traversable

SUITES_FOLDER = "expectations"


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


def packaged_suites() -> Traversable:
    """The suites folder that ships with the code: `lib/_resources/expectations` of the wheel, or
    `expectations/` beside `lib/` (a checkout: a pathlib.Path; the --py-files zip: a zipfile.Path).
    Read a suite with `packaged_suites().joinpath("orders.json").read_text()`."""
    package = files("lib")
    in_wheel = package.joinpath("_resources").joinpath(SUITES_FOLDER)
    if in_wheel.is_dir():
        return in_wheel
    # pathlib.Path and zipfile.Path both have .parent; the Traversable protocol does not promise it.
    parent = getattr(package, "parent", None)
    beside = parent.joinpath(SUITES_FOLDER) if parent is not None else None
    if beside is not None and beside.is_dir():
        return beside
    raise FileNotFoundError(f"no packaged expectation suites: neither {in_wheel} nor {beside} is a folder")


def as_traversable(folder: str | Traversable) -> Traversable:
    """A suites folder as a Traversable: a path string (from a YAML) becomes a pathlib.Path; a
    Traversable (packaged_suites()) stays as it is. `.joinpath(name).read_text()` reads both."""
    return Path(folder) if isinstance(folder, str) else folder
