"""Run settings from the YAML file named by --conf.

Reference-data paths in the YAML are relative to the YAML file's folder, so a run can bring its
own fx rates, reason codes and suites by pointing --conf at another folder. Only the contract's
two keys are required (`fx_rates`, `reason_codes`); every other key has a default, the suites
that ship with the code included (lib/resources.py `packaged_suites`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from lib.errors import UserError
from lib.quality.referential import DEFAULT_CROSS_SOURCE_ACTIONS
from lib.resources import Traversable, packaged_suites

JSON_FORMATS = ("auto", "array", "lines")
ACTIONS = ("warn", "quarantine", "fail")

# Cross-source rules are code, not suite entries (declared in lib/quality/referential.py); their
# actions are settings, defaulting to the contract's (amount differing from the order total is a
# warning, everything else quarantines).


@dataclass(frozen=True)
class Settings:
    fx_rates: str
    reason_codes: str
    # A folder path from the YAML (str), or the packaged suites (a Traversable: a pathlib.Path in
    # a checkout or the wheel, a zipfile.Path inside the --py-files zip). Read suites through
    # lib.resources.as_traversable(expectations).joinpath("<source>.json").read_text().
    expectations: str | Traversable = field(default_factory=packaged_suites)
    data_docs: str | None = "_data_docs"
    json_format: str = "auto"
    shuffle_partitions: int | None = None  # None: sized from the input (lib/storage.py)
    cross_source_actions: dict[str, str] = field(
        default_factory=lambda: dict(DEFAULT_CROSS_SOURCE_ACTIONS)
    )


def _resolve(base: Path, value: str) -> str:
    if "://" in value or value.startswith("dbfs:"):
        return value
    path = Path(value)
    return str(path if path.is_absolute() else (base / path).resolve())


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's message spans lines (context, problem, a quoted excerpt): its problem and where."""
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    mark = getattr(error, "problem_mark", None)
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


def load_settings(conf_file: str) -> Settings:
    path = Path(conf_file)
    if not path.exists():
        raise UserError(f"config file not found: {conf_file}")
    if path.is_dir():
        raise UserError(f"config file {conf_file} is a folder, not a YAML file")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as error:
        raise UserError(f"config file {conf_file} cannot be read: {error.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"config file {conf_file} is not UTF-8 text") from None
    except yaml.YAMLError as error:
        raise UserError(f"config file {conf_file} is not valid YAML: {_yaml_problem(error)}") from None
    if not isinstance(raw, dict):
        raise UserError(f"config file {conf_file} must be a YAML mapping")
    missing = [key for key in ("fx_rates", "reason_codes") if key not in raw]
    if missing:
        raise UserError(f"config file {conf_file} lacks {', '.join(missing)}")
    for key in ("fx_rates", "reason_codes", "expectations"):
        if key in raw and not isinstance(raw[key], str):
            raise UserError(f"config file {conf_file}: {key} must be a path")
    json_format = raw.get("json_format", "auto")
    if json_format not in JSON_FORMATS:
        raise UserError(
            f"config file {conf_file}: json_format must be one of {', '.join(JSON_FORMATS)}"
        )
    actions = dict(DEFAULT_CROSS_SOURCE_ACTIONS)
    for rule, action in (raw.get("cross_source_actions") or {}).items():
        if rule not in actions or action not in ACTIONS:
            raise UserError(
                f"config file {conf_file}: cross_source_actions.{rule}={action} is not a known "
                f"rule ({', '.join(actions)}) with an action of {', '.join(ACTIONS)}"
            )
        actions[rule] = action
    shuffle_partitions = raw.get("shuffle_partitions", "auto")
    if shuffle_partitions != "auto" and not (isinstance(shuffle_partitions, int) and shuffle_partitions > 0):
        raise UserError(f"config file {conf_file}: shuffle_partitions must be auto or a positive integer")
    base = path.resolve().parent
    return Settings(
        fx_rates=_resolve(base, raw["fx_rates"]),
        reason_codes=_resolve(base, raw["reason_codes"]),
        expectations=_resolve(base, raw["expectations"]) if "expectations" in raw else packaged_suites(),
        data_docs=raw.get("data_docs", "_data_docs"),
        json_format=json_format,
        shuffle_partitions=None if shuffle_partitions == "auto" else shuffle_partitions,
        cross_source_actions=actions,
    )
