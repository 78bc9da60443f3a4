"""The run report: escaping, chart marks from tiny hand-made inputs, the nothing-lost check, links;
then the values it reads back from Delta tables and the files it writes.

The real browser opens the page in tests/test_run_report_browser.py.
"""
from __future__ import annotations

import datetime as dt
import re
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from lib import report_data, schemas
from lib.report_data import DailyMetric, QuarantinedRecord, ReportData, RuleCount, RunFacts, SourceCounts
from lib.report_html import docs_href, render
from lib.report_svg import Bar, bar_chart, line_chart, nice_ceiling, stacked_bar_chart
from lib.run_report import _write_hadoop, report_file_name, write_run_report
from tests import report_warehouse as wh

SCRIPT, IMG = wh.SCRIPT, wh.IMG
SCRIPT_TEXT = "&lt;script&gt;alert(1)&lt;/script&gt;"
IMG_TEXT = "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"
D1, D2, D3 = dt.date(2026, 10, 1), dt.date(2026, 10, 2), dt.date(2026, 10, 3)
GENERATED = dt.datetime(2026, 11, 1, 0, 8)


def _facts(**changes) -> RunFacts:
    fields = dict(run_id="r1", as_of=dt.datetime(2026, 11, 1), inputs=("raw",), mode="full", data_docs=())
    fields.update(changes)
    return RunFacts(**fields)


def _data(**changes) -> ReportData:
    fields = dict(counts=(SourceCounts("orders", 10, 8, 1, 1),), rule_counts=(), daily=(), samples=(),
                  finished_at=None, is_newest_run=True)
    fields.update(changes)
    return ReportData(**fields)


def _metric(day: dt.date, method: str, rate: float | None = 0.1) -> DailyMetric:
    return DailyMetric(day, method, rate, rate, 10, 1, Decimal("100.00"), Decimal("10.00"))


# --- escaping -------------------------------------------------------------------------------------
def test_every_text_from_data_is_escaped():
    facts = _facts(run_id=SCRIPT, inputs=(f"/raw/{IMG}",), mode=IMG,
                   data_docs=((SCRIPT, f"_data_docs/validations/orders/{IMG}/page.html"),))
    data = _data(
        counts=(SourceCounts(SCRIPT, 1, 0, 1, 0),),
        rule_counts=(RuleCount("orders", IMG, 1, SCRIPT),),
        daily=(_metric(D1, SCRIPT), _metric(D2, SCRIPT)),
        samples=(QuarantinedRecord("orders", SCRIPT, len(SCRIPT), ((IMG, SCRIPT),), f"/raw/{IMG}"),
                 QuarantinedRecord("orders", IMG, len(IMG), (("wrong_type", IMG),), "/raw/a")),
    )

    page = render(facts, data, "/wh", 20, GENERATED)

    # Nothing of the payloads is markup: no script, image or event handler anywhere.
    assert "<script" not in page.lower() and "<img" not in page.lower() and "onerror=alert(1)>" not in page
    # Each place shows the escaped text, exactly.
    for expected in (
        f"<title>chargeback-pipeline run {SCRIPT_TEXT}</title>",       # run id
        f"<tr><th>inputs</th><td>/raw/{IMG_TEXT}</td></tr>",           # input paths
        f"<tr><th>mode</th><td>{IMG_TEXT}</td></tr>",
        f'<a href="../_data_docs/validations/orders/%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E/page.html">'
        f"{SCRIPT_TEXT}</a>",                                          # a data docs link
        f"<tr><td>{SCRIPT_TEXT}</td>",                                 # a source in the counts
        f">orders: {IMG_TEXT} ({SCRIPT_TEXT})</text>",                 # a rule and its action in the bar chart
        f'<pre class="record">{SCRIPT_TEXT}</pre>',                    # raw records
        f'<pre class="record">{IMG_TEXT}</pre>',
        f"<li><b>{IMG_TEXT}</b>: {SCRIPT_TEXT}</li>",                  # failed rule and message
        f"<li><b>wrong_type</b>: {IMG_TEXT}</li>",
        f'<span class="file">/raw/{IMG_TEXT}</span>',                  # file path
        f'<polyline class="series" data-series="{SCRIPT_TEXT}"',       # a payment method in a chart
        f'<span class="swatch" style="background:#0072B2"></span>{SCRIPT_TEXT}</p>',  # and in the legend
    ):
        assert expected in page, expected


def test_the_page_loads_nothing_and_runs_nothing():
    page = render(_facts(), _data(daily=(_metric(D1, "wallet"),)), "/wh", 20, GENERATED)

    assert ('<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'\">") in page
    for external in ("<script", "<link", "<img", "src=", "@import", "url(", "http://", "https://"):
        assert external not in page, external


# --- charts from tiny inputs ------------------------------------------------------------------------
def _attributes(svg: str, element: str, attribute: str) -> list[str]:
    return re.findall(rf'<{element}\b[^>]*\b{attribute}="([^"]*)"', svg)


def test_bar_lengths_are_proportional_to_the_counts():
    svg = bar_chart([Bar("a", 10), Bar("b", 5), Bar("c", 1)], title="t", width=760, label_width=300)
    # plot width: 760 - 300 labels - 90 for the value text = 370 for the largest count
    assert _attributes(svg, "rect", "width") == ["370.00", "185.00", "37.00"]
    assert _attributes(svg, "rect", "class") == ["bar"] * 3


def test_lines_connect_known_values_and_break_at_a_missing_rate():
    svg = line_chart({"card": [(D3, 0.25), (D1, 0.5), (D2, None)]}, title="t",
                     colors={"card": "#0072B2"}, value_format=str)
    # x: 70 + 40 padding for the first date, + 590 for the last; y: top 0.5 -> 12, 0.25 -> 12 + 212 / 2
    assert _attributes(svg, "polyline", "points") == ["110.00,12.00", "700.00,118.00"]
    assert list(zip(_attributes(svg, "circle", "cx"), _attributes(svg, "circle", "cy"))) == [
        ("110.00", "12.00"), ("700.00", "118.00")]


def test_one_series_per_payment_method_with_its_own_colour():
    svg = line_chart({"debit_card": [(D1, 0.1), (D2, 0.2)], "credit_card": [(D1, 0.3), (D2, 0.4)]},
                     title="t", colors={"credit_card": "#0072B2", "debit_card": "#E69F00"}, value_format=str)
    assert _attributes(svg, "polyline", "data-series") == ["debit_card", "credit_card"]
    assert _attributes(svg, "polyline", "stroke") == ["#E69F00", "#0072B2"]
    assert [len(p.split()) for p in _attributes(svg, "polyline", "points")] == [2, 2]


def test_stacked_bar_heights_are_proportional_to_the_volumes():
    svg = stacked_bar_chart({"b": [(D1, 10.0)], "a": [(D1, 30.0)]}, title="t",
                            colors={"a": "#0072B2", "b": "#E69F00"}, value_format=str)
    # top = 50 (the round number above 40); plot height 212: 30 -> 127.2 at the bottom, 10 above it
    assert _attributes(svg, "rect", "height") == ["127.20", "42.40"]
    assert _attributes(svg, "rect", "y") == ["96.80", "54.40"]
    assert _attributes(svg, "rect", "data-series") == ["a", "b"]


@pytest.mark.parametrize("value, ceiling", [
    (0, 1.0), (0.0037, 0.005), (0.5, 0.5), (0.51, 1.0), (3, 5), (40, 50), (1234.5, 2000), (2500, 2500),
])
def test_value_axis_tops_are_round_numbers(value, ceiling):
    assert nice_ceiling(value) == pytest.approx(ceiling)


# --- the nothing-lost check -------------------------------------------------------------------------
def test_nothing_lost_shows_failed_when_the_numbers_do_not_add_up():
    data = _data(counts=(SourceCounts("orders", 10, 8, 1, 1), SourceCounts("transactions", 100, 90, 5, 3)))

    page = render(_facts(), data, "/wh", 20, GENERATED)

    assert not data.nothing_lost
    assert '<span class="badge failed">failed</span>' in page
    assert '<td>10 = 8 + 1 + 1: <span class="passed">passed</span></td>' in page
    assert '<td>100 = 90 + 5 + 3: <span class="failed">FAILED</span></td>' in page


def test_nothing_lost_passes_when_every_source_adds_up():
    page = render(_facts(), _data(), "/wh", 20, GENERATED)
    assert '<span class="badge passed">passed</span>' in page and "FAILED" not in page


def test_a_run_without_run_log_rows_does_not_pass_the_check():
    page = render(_facts(), _data(counts=()), "/wh", 20, GENERATED)
    assert '<span class="badge failed">failed</span>' in page
    assert "run_log has no rows for this run." in page


# --- links and file names ---------------------------------------------------------------------------
@pytest.mark.parametrize("target, warehouse, href", [
    ("_data_docs/index.html", "/wh", "../_data_docs/index.html"),
    ("/wh/_data_docs/validations/orders/r 1/x.html", "/wh/", "../_data_docs/validations/orders/r%201/x.html"),
    ("file:///wh/_data_docs/index.html", "file:/wh", "../_data_docs/index.html"),
    ("/elsewhere/docs/index.html", "/wh", "file:///elsewhere/docs/index.html"),
    ("https://docs.example/run/1", "/wh", "https://docs.example/run/1"),
    ("s3a://bucket/wh/_data_docs/index.html", "s3a://bucket/wh", "../_data_docs/index.html"),
    ("s3a://other/docs/index.html", "s3a://bucket/wh", None),
    ("javascript:alert(1)", "/wh", None),
])
def test_data_docs_links_from_the_reports_folder(target, warehouse, href):
    assert docs_href(target, warehouse) == href


@pytest.mark.parametrize("run_id, name", [
    ("2026-11-01-nightly", "2026-11-01-nightly.html"),
    ("3f2c7e1a-0b1d-4c55-9a9e-2f3b8d7c6a10", "3f2c7e1a-0b1d-4c55-9a9e-2f3b8d7c6a10.html"),
    ("../../etc/passwd", "_.._etc_passwd.html"),
    (SCRIPT, "_script_alert_1___script_.html"),
    ("..", "run.html"),
])
def test_report_file_name_stays_in_the_reports_folder(run_id, name):
    assert report_file_name(run_id) == name


# --- values read back with Spark ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def warehouse(spark, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("report") / "warehouse"
    wh.write_published_tables(spark, folder)
    return folder


def _read(spark, warehouse: Path, name: str):
    return spark.read.format("delta").load(str(warehouse / name))


def test_counts_are_this_runs_run_log_rows_in_source_order(spark, warehouse):
    counts, finished_at, newest = report_data.run_counts(_read(spark, warehouse, "run_log"), wh.RUN_ID)
    assert counts == [SourceCounts(s, *wh.COUNTS[s]) for s in ("orders", "transactions", "chargebacks")]
    assert (finished_at, newest) == (wh.FINISHED_AT, True)
    assert report_data.run_counts(_read(spark, warehouse, "run_log"), wh.EARLIER_RUN_ID)[2] is False
    # A run killed while publishing started later but never finished: it is not the newest.
    killed = report_data.run_record(_read(spark, warehouse, "run_log"), wh.KILLED_RUN_ID)
    assert (killed[1], killed[2], killed[3]["status"], killed[3]["table_versions"]) == (None, False, "publishing", None)
    record = report_data.run_record(_read(spark, warehouse, "run_log"), wh.RUN_ID)[3]
    assert (record["status"], record["table_versions"]) == ("completed", wh.TABLE_VERSIONS)


def test_rule_counts_are_this_runs_quarantined_rows_per_rule_with_the_action(spark, warehouse):
    counts = report_data.rule_counts(_read(spark, warehouse, "quarantine"),
                                      _read(spark, warehouse, "dq_results"), wh.RUN_ID)
    assert counts == [
        RuleCount("transactions", "orphan", 21, "quarantine"),
        RuleCount("orders", "wrong_type", 7, "quarantine"),
        RuleCount("chargebacks", "orphan", 4, "quarantine"),
        RuleCount("transactions", "amount_not_positive", 2, "quarantine"),
        RuleCount("transactions", "malformed_record", 2, "quarantine"),
        RuleCount("transactions", "amount_mismatch", 1, "warn"),
    ]


def test_sample_is_at_most_20_per_source_of_this_run_and_cuts_long_records(spark, warehouse):
    quarantine = _read(spark, warehouse, "quarantine")
    sample = report_data.quarantine_sample(quarantine, wh.RUN_ID)

    per_source = {s: [r for r in sample if r.source == s] for s in ("orders", "transactions", "chargebacks")}
    assert {s: len(rows) for s, rows in per_source.items()} == {"orders": 7, "transactions": 20, "chargebacks": 4}
    this_run = {(r[5], r[0][:report_data.RECORD_CHARS]) for r in wh.quarantine_rows()}
    assert {(r.source, r.record) for r in sample} <= this_run
    [long] = [r for r in sample if r.record_chars > report_data.RECORD_CHARS] or [None]
    if long is not None:  # the 5000-character record is in the sample when its hash ranks it
        assert (len(long.record), long.record_chars) == (report_data.RECORD_CHARS, wh.LONG_RECORD_CHARS)
    assert report_data.quarantine_sample(quarantine, wh.RUN_ID) == sample  # the same rows every time
    small = report_data.quarantine_sample(quarantine, wh.RUN_ID, per_source=2)
    assert [r.source for r in small] == ["orders", "orders", "transactions", "transactions",
                                         "chargebacks", "chargebacks"]


def test_long_records_are_cut_in_spark(spark):
    rows = [("y" * 2500, [("malformed_record", "m")], "f", "r", wh.FINISHED_AT, "orders")]
    sample = report_data.quarantine_sample(spark.createDataFrame(rows, schemas.QUARANTINE), "r")
    assert [(len(s.record), s.record_chars, s.failed_rules) for s in sample] == [
        (report_data.RECORD_CHARS, 2500, (("malformed_record", "m"),))]


def test_daily_metrics_join_both_tables_by_date_and_method(spark, warehouse):
    daily = report_data.daily_metrics(_read(spark, warehouse, "payment_metrics"),
                                      _read(spark, warehouse, "chargeback_metrics"))
    payments, chargebacks = wh.metric_rows()
    assert [(m.txn_date, m.payment_method) for m in daily] == [(p[7], p[8]) for p in payments]
    assert [(m.failure_rate, m.completed_volume_usd) for m in daily] == [(p[4], p[5]) for p in payments]
    assert [(m.chargeback_rate, m.disputed_amount_usd) for m in daily] == [(c[4], c[3]) for c in chargebacks]


def test_write_run_report_writes_the_run_page_and_latest(spark, warehouse):
    facts = _facts(run_id=wh.RUN_ID, as_of=wh.AS_OF, inputs=("s3a://raw-zone/2026-11-01",))

    report = write_run_report(spark, str(warehouse), facts)

    reports = warehouse / "_reports"
    assert (report.path, report.latest_path) == (f"{warehouse}/_reports/{wh.RUN_ID}.html",
                                                 f"{warehouse}/_reports/latest.html")
    assert sorted(p.name for p in reports.iterdir()) == ["2026-11-01-nightly.html", "latest.html"]  # no temp files
    page = (reports / f"{wh.RUN_ID}.html").read_text()
    assert (reports / "latest.html").read_text() == page
    assert f"<h1>chargeback-pipeline run <code>{wh.RUN_ID}</code></h1>" in page
    assert page.count('<span class="passed">passed</span>') == 3
    assert page.count('<svg class="chart') == 4
    assert "<tr><th>status</th><td>completed</td></tr>" in page
    assert ("<tr><th>published versions</th><td>chargeback_metrics v1, chargebacks v1, dq_results v1, "
            "orders v1, payment_metrics v1, quarantine v1, transactions v1</td></tr>") in page
    assert report.data.rule_counts[0] == RuleCount("transactions", "orphan", 21, "quarantine")


def test_a_report_of_an_older_run_leaves_latest_alone(spark, warehouse, tmp_path):
    copy = tmp_path / "warehouse"
    shutil.copytree(warehouse, copy, ignore=shutil.ignore_patterns("_reports"))
    later = [("later-run", wh.AS_OF, s, 1, 1, 0, 0, wh.FINISHED_AT + dt.timedelta(hours=1), "completed",
              wh.FINISHED_AT, {}, "full", [], None, None, None, None, None) for s in wh.COUNTS]
    spark.createDataFrame(later, schemas.RUN_LOG).write.format("delta").mode("append").save(str(copy / "run_log"))
    latest = copy / "_reports" / "latest.html"
    latest.parent.mkdir(parents=True)
    latest.write_text("the later run's page")

    report = write_run_report(spark, str(copy), _facts(run_id=wh.RUN_ID))

    assert report.latest_path is None and report.data.is_newest_run is False
    assert latest.read_text() == "the later run's page"
    assert (copy / "_reports" / f"{wh.RUN_ID}.html").is_file()


def test_hadoop_writer_replaces_a_page_in_place(spark, tmp_path):
    target = tmp_path / "_reports" / "r.html"
    _write_hadoop(spark, f"file://{target}", "first")
    _write_hadoop(spark, f"file://{target}", "<p>second</p>")
    assert target.read_text() == "<p>second</p>"
    assert sorted(p.name for p in target.parent.iterdir() if not p.name.endswith(".crc")) == ["r.html"]
