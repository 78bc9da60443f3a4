"""lib/console.py: the terminal lines a person reads, as exact strings."""
from __future__ import annotations

import datetime as dt
import io
from itertools import count

import pytest

from lib import console
from lib.report_data import RuleCount


def _clock(*readings: float):
    values = iter(readings)
    return lambda: next(values)


def _wall(start: dt.datetime, step_seconds: int = 12):
    ticks = count()
    return lambda: start + dt.timedelta(seconds=step_seconds * next(ticks))


@pytest.mark.parametrize("seconds, text", [
    (0.04, "0.0s"), (12.34, "12.3s"), (59.94, "59.9s"), (59.96, "1m 00s"), (125.4, "2m 05s"),
    (3599.4, "59m 59s"), (3600, "1h 00m"), (3725, "1h 02m"),
])
def test_format_seconds(seconds, text):
    assert console.format_seconds(seconds) == text


def test_stage_prints_a_line_as_it_starts_and_one_with_its_time_as_it_ends():
    out = io.StringIO()
    with console.stage("validate orders", stream=out, clock=_clock(100.0, 112.3),
                       now=_wall(dt.datetime(2026, 11, 1, 12, 1, 3))):
        out.write("(work)\n")
    assert out.getvalue() == ("[12:01:03] validate orders ...\n"
                              "(work)\n"
                              "[12:01:15] validate orders ... done in 12.3s\n")


def test_a_stage_that_raises_says_failed_and_the_error_goes_on():
    out = io.StringIO()
    with pytest.raises(ValueError, match="bad row"):
        with console.stage("publish", stream=out, clock=_clock(5.0, 7.5),
                           now=_wall(dt.datetime(2026, 11, 1, 23, 59, 58), step_seconds=3)):
            raise ValueError("bad row")
    assert out.getvalue() == ("[23:59:58] publish ...\n"
                              "[00:00:01] publish ... failed after 2.5s\n")


def test_stage_writes_to_stderr_by_default(capsys):
    with console.stage("read", clock=_clock(0.0, 0.25), now=_wall(dt.datetime(2026, 1, 2, 3, 4, 5))):
        pass
    out, err = capsys.readouterr()
    assert (out, err) == ("", "[03:04:05] read ...\n[03:04:17] read ... done in 0.2s\n")


@pytest.mark.parametrize("terminal, deploy_mode, wanted", [
    (True, None, True), (True, "client", True), (True, "cluster", False),
    (False, None, False), (False, "client", False),
])
def test_progress_bar_only_on_a_terminal_of_a_driver_that_runs_here(terminal, deploy_mode, wanted):
    assert console.wants_progress_bar(terminal, deploy_mode) is wanted


def test_progress_bar_conf_is_always_explicit():
    assert console.progress_bar_conf(True) == {"spark.ui.showConsoleProgress": "true"}
    assert console.progress_bar_conf(False) == {"spark.ui.showConsoleProgress": "false"}


RULES = [
    RuleCount("transactions", "orphan", 2, "quarantine"),
    RuleCount("chargebacks", "orphan", 2, "quarantine"),
    RuleCount("orders", "wrong_type", 1, "quarantine"),
    RuleCount("transactions", "amount_mismatch", 1_234_567, "warn"),
    RuleCount("orders", "conflicting_duplicate", 2, "quarantine"),
    RuleCount("transactions", "wrong_type", 1, None),
    RuleCount("chargebacks", "wrong_type", 3, "quarantine"),
]


def test_top_failed_rules_are_the_five_most_frequent_ties_by_source_then_rule():
    assert [(c.source, c.rule, c.rows) for c in console.top_failed_rules(RULES)] == [
        ("transactions", "amount_mismatch", 1_234_567),
        ("chargebacks", "wrong_type", 3),
        ("chargebacks", "orphan", 2),
        ("orders", "conflicting_duplicate", 2),
        ("transactions", "orphan", 2),
    ]


def test_closing_text_is_the_summary_then_the_top_rules_then_the_paths():
    text = console.closing_text("chargeback-pipeline: published to wh\n  (table)", RULES,
                                "wh/_reports/r1.html", "wh/_data_docs/index.html")
    assert text == (
        "chargeback-pipeline: published to wh\n"
        "  (table)\n"
        "  most frequent failed rules (quarantined rows of this run), top 5:\n"
        "    transactions.amount_mismatch (warn)   1,234,567\n"
        "    chargebacks.wrong_type                        3\n"
        "    chargebacks.orphan                            2\n"
        "    orders.conflicting_duplicate                  2\n"
        "    transactions.orphan                           2\n"
        "  report:    wh/_reports/r1.html\n"
        "  data docs: wh/_data_docs/index.html"
    )


def test_closing_text_of_a_clean_run_without_report_or_data_docs():
    assert console.closing_text("summary", [], None, None) == (
        "summary\n"
        "  no row was quarantined in this run\n"
        "  report:    not written\n"
        "  data docs: not written"
    )
