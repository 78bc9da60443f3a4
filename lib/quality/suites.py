"""Load the Great Expectations suites in expectations/ and check their rule metadata.

A suite file is GX 1.x JSON (`ExpectationSuite.to_json_dict()`); each expectation's `meta`
carries `rule` (its name in quarantine and dq_results) and `action` (warn, quarantine or fail).

Importing Great Expectations takes seconds, so nothing here imports it unless asked: the
compilation (`predicates.suite_rules`) checks every type and kwarg at start-up; GX's own check of
the suite (`with_gx=True`) is for runs that import GX anyway (data docs, --gx-audit).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lib.config import ACTIONS
from lib.errors import UserError
from lib.resources import Traversable, as_traversable

if TYPE_CHECKING:
    import great_expectations as gx


@dataclass(frozen=True)
class Suite:
    source: str
    path: str
    definition: dict[str, Any]

    @property
    def name(self) -> str:
        return self.definition.get("name", self.source)

    @property
    def expectations(self) -> list[dict[str, Any]]:
        return self.definition["expectations"]

    def to_gx(self) -> gx.ExpectationSuite:
        import great_expectations as gx

        return gx.ExpectationSuite(
            name=self.name,
            expectations=[dict(e) for e in self.expectations],
            meta=self.definition.get("meta"),
        )


def _check(source: str, path: str, definition: Any) -> None:
    if not isinstance(definition, dict) or not isinstance(definition.get("expectations"), list):
        raise UserError(f"{path}: not a Great Expectations suite (no 'expectations' list)")
    seen: set[str] = set()
    for position, expectation in enumerate(definition["expectations"]):
        if not isinstance(expectation, dict) or not isinstance(expectation.get("kwargs"), dict):
            raise UserError(f"{path}: expectation {position} is not an object with kwargs")
        meta = expectation.get("meta") or {}
        rule, action = meta.get("rule"), meta.get("action")
        where = f"{path}: expectation {position} ({expectation.get('type')})"
        if not rule:
            raise UserError(f"{where} has no meta.rule")
        if action not in ACTIONS:
            raise UserError(f"{where} has meta.action {action!r}; use one of {', '.join(ACTIONS)}")
        if rule in seen:
            raise UserError(f"{where} repeats rule name {rule!r}")
        seen.add(rule)


def check_with_gx(suite: Suite) -> None:
    """GX validates types and kwargs; its message names the problem."""
    try:
        suite.to_gx()
    except Exception as error:
        raise UserError(f"{suite.path}: Great Expectations rejects the suite: {error}".splitlines()[0])


def load_suite(expectations_dir: str | Traversable, source: str, with_gx: bool = False) -> Suite:
    """`<source>.json` of a suites folder: a path, or the packaged suites (a checkout, the
    --py-files zip or the wheel: lib.resources.packaged_suites)."""
    suite_file = as_traversable(expectations_dir).joinpath(f"{source}.json")
    path = str(suite_file)
    try:
        definition = json.loads(suite_file.read_text())
    except (FileNotFoundError, KeyError):  # a zipfile.Path raises KeyError for a missing member
        raise UserError(f"expectation suite not found: {path}") from None
    except json.JSONDecodeError as error:
        raise UserError(f"{path} is not valid JSON: {error}") from None
    _check(source, path, definition)
    suite = Suite(source=source, path=path, definition=definition)
    if with_gx:
        check_with_gx(suite)
    return suite


def load_suites(expectations_dir: str | Traversable, sources: tuple[str, ...], with_gx: bool = False) -> dict[str, Suite]:
    return {source: load_suite(expectations_dir, source, with_gx) for source in sources}
