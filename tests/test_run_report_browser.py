"""The run report in a real headless Chromium (Debian's `chromium` package).

Two pages. The first is of a warehouse written by hand (tests/report_warehouse.py): every number
on it is known, and its screenshot is docs/run_report.png. The second is of a real pipeline run
(`jobs.pipeline.main` in-process) on the tiny fixture plus records whose customer_id, product_id,
payment provider, error_code, order_id, reason_code and transaction_id carry the payloads, in rows
that stay valid and in rows that are quarantined; its page is checked against the published
tables read back from Delta.

In the first, the warehouse's quarantined records carry `<script>alert(1)</script>` and
`"><img src=x onerror=alert(1)>` in their raw text, a file path and a rule message; the run's
input paths carry them too. The page must run none of them, show them as text, and render every
chart with its marks. The screenshot of the page is kept as docs/run_report.png (README).

Without chromium the test fails and names the package: it never skips.
"""
from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from jobs.pipeline import main as pipeline_main
from lib.report_data import RunFacts
from lib.run_report import write_run_report
from tests import report_warehouse as wh
from tests.chromium import PACKAGE_HINT, Chromium, find_chromium

REPO_ROOT = Path(__file__).resolve().parents[1]
SCREENSHOT = REPO_ROOT / "docs" / "run_report.png"
GENERATED_AT = dt.datetime(2026, 11, 1, 0, 8, 2)  # fixed: the same page gives the same picture

# What the page holds, as the browser built it (not as the file spells it).
PAGE_FACTS = """(() => {
  const box = (element) => { const b = element.getBBox(); return [b.width, b.height]; };
  return {
    text: document.body.innerText,
    scripts: document.scripts.length,
    images: document.images.length,
    embedded: document.querySelectorAll('iframe, object, embed, frame').length,
    handlers: [...document.querySelectorAll('*')].flatMap(e =>
      [...e.attributes].filter(a => a.name.startsWith('on')).map(a => e.tagName + ' ' + a.name)),
    records: [...document.querySelectorAll('pre.record')].map(p => p.textContent),
    charts: [...document.querySelectorAll('svg.chart')].map(svg => ({
      kind: svg.getAttribute('class'),
      size: [svg.getBoundingClientRect().width, svg.getBoundingClientRect().height],
      bars: [...svg.querySelectorAll('rect.bar')].map(box),
      lines: [...svg.querySelectorAll('polyline.series')].map(p => p.points.numberOfItems),
      series: [...svg.querySelectorAll('polyline.series')].map(
        p => [p.getAttribute('data-series'), p.points.numberOfItems]),
      points: [...svg.querySelectorAll('circle.point')].map(box),
    })),
  };
})()"""


@pytest.fixture(scope="module")
def chromium() -> str:
    binary = find_chromium()
    if binary is None:
        pytest.fail(f"chromium not found on PATH: {PACKAGE_HINT}")
    return binary


def test_report_runs_no_payload_shows_records_as_text_and_renders_every_chart(spark, tmp_path, chromium):
    warehouse = tmp_path / "warehouse"
    wh.write_published_tables(spark, warehouse)
    facts = RunFacts(
        run_id=wh.RUN_ID, as_of=wh.AS_OF, mode="full",
        inputs=(f"s3a://raw-zone/2026-11-01/{wh.IMG}", f"s3a://raw-zone/{wh.SCRIPT}/orders.json"),
        data_docs=tuple((s, f"_data_docs/validations/{s}/{wh.RUN_ID}/page.html")
                        for s in ("orders", "transactions", "chargebacks")),
    )
    report = write_run_report(spark, str(warehouse), facts, generated_at=GENERATED_AT)

    with Chromium(chromium) as browser:
        page = browser.open(Path(report.path).as_uri())
        seen = page.evaluate(PAGE_FACTS)
        SCREENSHOT.write_bytes(page.screenshot(max_height=2900))
        dialogs = browser.dialogs

    # No payload ran: no dialog opened, and none became an element or an event handler.
    assert dialogs == []
    assert (seen["scripts"], seen["images"], seen["embedded"], seen["handlers"]) == (0, 0, 0, [])
    # The quarantined records are shown as text, each exactly as read back from the table.
    assert seen["records"] == [s.record for s in report.data.samples]
    for payload in wh.PAYLOADS:
        assert sum(payload in record for record in seen["records"]) >= 2, payload
        assert payload in seen["text"], payload
    assert f"amount_mismatch: {wh.IMG}" in seen["text"]                 # a rule message
    assert f"s3a://raw-zone/2026-11-01/{wh.IMG}/part-00001.jsonl" in seen["text"]  # a file path
    assert f"s3a://raw-zone/{wh.SCRIPT}/orders.json" in seen["text"]     # an input path

    # Every chart rendered, with its marks laid out at a visible size.
    kinds = [chart["kind"] for chart in seen["charts"]]
    assert kinds == ["chart bar-chart", "chart line-chart", "chart line-chart", "chart stacked-bar-chart"]
    for chart in seen["charts"]:
        assert min(chart["size"]) > 100, chart["kind"]
    rules, chargeback_rate, failure_rate, volume = seen["charts"]
    assert len(rules["bars"]) == len(report.data.rule_counts) == 6
    assert all(width > 0 and height > 0 for width, height in rules["bars"])
    widths = [width for width, _ in rules["bars"]]
    assert widths == sorted(widths, reverse=True) and widths[0] / widths[-1] == pytest.approx(21, rel=1e-3)
    for rates in (chargeback_rate, failure_rate):
        # 3 methods x 14 dates; wallet has no outcome and no volume on one date: its line breaks
        assert rates["lines"] == [14, 14, 5, 8], rates["lines"]
        assert len(rates["points"]) == 41 and all(w > 0 and h > 0 for w, h in rates["points"])
    assert len(volume["bars"]) == 41 and all(w > 0 and h > 0 for w, h in volume["bars"])


# --- scripts/test_tools.sh: what `make test` does when chromium is missing -------------------------
def _tools_run(tmp_path: Path, uid: str, with_chromium: bool):
    """The script with a PATH of fakes: `id` answers `uid`; chromium exists or not."""
    fakes = tmp_path / "bin"
    fakes.mkdir()
    commands = {"id": f"echo {uid}"} | ({"chromium": "exit 0"} if with_chromium else {})
    for name, body in commands.items():
        (fakes / name).write_text(f"#!/bin/sh\n{body}\n")
        (fakes / name).chmod(0o755)
    return subprocess.run(["/bin/bash", str(REPO_ROOT / "scripts" / "test_tools.sh")],
                          env={"PATH": str(fakes)}, capture_output=True, text=True, timeout=60)


def test_test_tools_stop_with_one_line_naming_the_package_when_they_cannot_install(tmp_path):
    run = _tools_run(tmp_path, uid="1000", with_chromium=False)
    assert run.returncode == 1
    assert (run.stdout, run.stderr) == ("", "test-tools: the browser test needs Debian's chromium package; "
                                            "install it (as root: apt-get install chromium) and run make test again\n")


def test_test_tools_do_nothing_when_chromium_is_there(tmp_path):
    run = _tools_run(tmp_path, uid="1000", with_chromium=True)
    assert (run.returncode, run.stdout, run.stderr) == (0, "", "")


# --- the report of a real pipeline run ------------------------------------------------------------
SCRIPT, IMG = wh.SCRIPT, wh.IMG
REAL_RUN_ID = "browser-real-run"
TINY = REPO_ROOT / "bench" / "fixtures" / "tiny"


def _json_line(record: dict) -> str:
    return json.dumps(record) + "\n"


def _order(order_id: str, customer_id: str, product_id: str, currency: str = "USD") -> str:
    return _json_line({"order_id": order_id, "customer_id": customer_id, "timestamp": "2026-06-16T09:00:00Z",
                       "total_amount": 30.0, "currency": currency,
                       "items": [{"product_id": product_id, "quantity": 3, "unit_price": 10.0}],
                       "payment_status": "paid"})


def _transaction(transaction_id: str, order_id: str, amount: float, status: str, provider: str,
                 error_code: str | None) -> str:
    return _json_line({"transaction_id": transaction_id, "order_id": order_id,
                       "timestamp": "2026-06-16T10:00:00Z", "amount": amount, "currency": "USD",
                       "status": status, "payment_method": {"type": "debit_card", "provider": provider},
                       "error_code": error_code})


def write_payload_input(raw: Path) -> None:
    """The tiny fixture plus a part file per source whose text fields carry the payloads: in rows
    that stay valid (o20, t20, t21, the chargeback of t20) and in rows the run quarantines."""
    shutil.copytree(TINY, raw)
    (raw / "orders" / "part-00002.jsonl").write_text(
        _order("o20", customer_id=SCRIPT, product_id=IMG)                        # valid
        + _order("o21", customer_id=IMG, product_id=SCRIPT, currency="XYZ")      # unknown_currency
        + '{"order_id": "o22", "customer_id": "' + SCRIPT + '", \n')             # malformed_record
    (raw / "transactions" / "part-00002.jsonl").write_text(
        _transaction("t20", "o20", 30.0, "completed", provider=SCRIPT, error_code=None)  # valid
        + _transaction("t21", "o20", 30.0, "failed", provider=IMG, error_code=SCRIPT)    # valid
        + _transaction("t22", "o20", -5.0, "failed", provider=SCRIPT, error_code=IMG)    # amount_not_positive
        + _transaction("t23", IMG, 30.0, "completed", provider="Visa", error_code=None))  # orphan
    (raw / "chargebacks" / "part-00002.csv").write_text(
        "transaction_id,dispute_date,amount,reason_code,status,resolution_date\n"
        f"t20,2026-06-20,10.00,{SCRIPT},open,\n"        # valid: an unknown reason code is a category
        f"{SCRIPT},2026-06-20,5.00,4837,open,\n")       # orphan


@pytest.fixture(scope="module")
def real_run(spark, tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("real-run")
    write_payload_input(tmp / "raw")
    warehouse = tmp / "warehouse"
    code = pipeline_main(["--input", str(tmp / "raw"), "--warehouse", str(warehouse),
                          "--as-of", "2026-11-01T00:00:00Z", "--run-id", REAL_RUN_ID], spark=spark)
    assert code == 0
    return warehouse


def _table(spark, warehouse: Path, name: str):
    return spark.read.format("delta").load(str(warehouse / name))


def _expected_lines(keys, values: dict) -> list[list]:
    """[series, points] of each polyline: a method's values by date, broken where one is None
    (lib/report_svg.line_chart), in the order methods first appear by (date, method)."""
    runs: list[list] = []
    open_run: dict[str, list] = {}
    for method in dict.fromkeys(method for _, method in sorted(keys)):
        for day in sorted(day for day, m in keys if m == method):
            if values.get((day, method)) is None:
                open_run.pop(method, None)
            else:
                if method not in open_run:
                    open_run[method] = [method, 0]
                    runs.append(open_run[method])
                open_run[method][1] += 1
    return runs


def test_report_of_a_real_run_with_payloads_runs_none_and_shows_the_quarantine_table(spark, real_run,
                                                                                     chromium):
    warehouse = real_run
    # The payloads are in rows that stayed valid: published as they came.
    published = {
        "orders": [tuple(r) for r in _table(spark, warehouse, "orders").where("order_id = 'o20'")
                   .select("customer_id", F.col("items")[0]["product_id"]).collect()],
        "transactions": sorted(tuple(r) for r in _table(spark, warehouse, "transactions")
                               .where("transaction_id IN ('t20', 't21')")
                               .select("transaction_id", "payment_provider", "error_code").collect()),
        "chargebacks": [tuple(r) for r in _table(spark, warehouse, "chargebacks")
                        .where("transaction_id = 't20'").select("reason_code", "reason_category").collect()],
    }
    assert published == {"orders": [(SCRIPT, IMG)],
                          "transactions": [("t20", SCRIPT, None), ("t21", IMG, SCRIPT)],
                          "chargebacks": [(SCRIPT, "unknown")]}
    quarantine = _table(spark, warehouse, "quarantine").where(F.col("run_id") == REAL_RUN_ID)
    quarantined = quarantine.select("source", "record").collect()
    per_source = {s: sum(r.source == s for r in quarantined)
                  for s in ("orders", "transactions", "chargebacks")}
    # Fewer than 20 per source, so the page shows every quarantined record of the run.
    assert per_source == {"orders": 8, "transactions": 12, "chargebacks": 11}
    payload_records = [r.record for r in quarantined if SCRIPT in r.record or IMG in r.record]
    assert len(payload_records) == 5

    page_path = warehouse / "_reports" / f"{REAL_RUN_ID}.html"
    with Chromium(chromium) as browser:
        page = browser.open(page_path.as_uri())
        seen = page.evaluate(PAGE_FACTS)
        dialogs = browser.dialogs

    # No payload ran, or became an element or an event handler.
    assert dialogs == []
    assert (seen["scripts"], seen["images"], seen["embedded"], seen["handlers"]) == (0, 0, 0, [])
    # The records shown are the quarantine table's, as text: every one of the run, each once.
    assert sorted(seen["records"]) == sorted(r.record for r in quarantined)
    for record in payload_records:
        assert record in seen["records"] and record.strip() in seen["text"], record

    # Every chart rendered, its marks counted from the published tables.
    kinds = [chart["kind"] for chart in seen["charts"]]
    assert kinds == ["chart bar-chart", "chart line-chart", "chart line-chart", "chart stacked-bar-chart"]
    rules, chargeback_rate, failure_rate, volume = seen["charts"]
    for chart in seen["charts"]:
        assert min(chart["size"]) > 100, chart["kind"]
    rule_pairs = (quarantine.select("source", F.explode("failed_rules.rule").alias("rule"))
                  .distinct().count())
    assert len(rules["bars"]) == rule_pairs == 26  # 6 orders, 11 transactions, 9 chargebacks rules
    assert all(width > 0 and height > 0 for width, height in rules["bars"])
    payments = {(r.txn_date, r.payment_method): r
                for r in _table(spark, warehouse, "payment_metrics").collect()}
    chargebacks = {(r.txn_date, r.payment_method): r.chargeback_rate
                   for r in _table(spark, warehouse, "chargeback_metrics").collect()}
    failure_rates = {key: r.failure_rate for key, r in payments.items()}
    charted_chargebacks = {key: chargebacks.get(key) for key in payments}
    for chart, values in ((chargeback_rate, charted_chargebacks), (failure_rate, failure_rates)):
        # wallet's one date has no completed or failed payment: no rate, no line
        assert chart["series"] == _expected_lines(payments, values) == [["credit_card", 2], ["debit_card", 3]]
        assert len(chart["points"]) == sum(v is not None for v in values.values()) == 5
        assert all(w > 0 and h > 0 for w, h in chart["points"])
    assert len(volume["bars"]) == sum((r.completed_volume_usd or 0) > 0 for r in payments.values()) == 5
    assert all(w > 0 and h > 0 for w, h in volume["bars"])
