"""The run report in a real headless Chromium (Debian's `chromium` package).

The warehouse's quarantined records carry `<script>alert(1)</script>` and
`"><img src=x onerror=alert(1)>` in their raw text, a file path and a rule message; the run's
input paths carry them too. The page must run none of them, show them as text, and render every
chart with its marks. The screenshot of the page is kept as docs/run_report.png (README).

Without chromium the test fails and names the package: it never skips.
"""
from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest

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
