"""The run report page: ReportData + RunFacts -> one self-contained HTML document.

No script, no external file, no font to fetch: the page is HTML, inline CSS and inline SVG
(lib/report_svg.py). A Content-Security-Policy forbids scripts and every external load, as a
second wall behind escaping: every text that comes from data or from the command line goes
through `_e` (text and attribute values), and link targets through `docs_href`.
"""
from __future__ import annotations

import datetime as dt
import html
import os
from collections.abc import Sequence
from decimal import Decimal
from urllib.parse import quote, urlsplit

from lib.report_data import DailyMetric, QuarantinedRecord, ReportData, RunFacts
from lib.report_svg import Bar, bar_chart, line_chart, series_colors, stacked_bar_chart

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

STYLE = """
body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1000px;color:#222;padding:0 16px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin-bottom:6px}
table{border-collapse:collapse;margin:8px 0}th,td{border:1px solid #ddd;padding:4px 8px;
text-align:left;vertical-align:top}td.n{text-align:right;font-variant-numeric:tabular-nums}
.passed{color:#0a6b2d;font-weight:600}.failed{color:#b00020;font-weight:600}
.badge{display:inline-block;padding:2px 10px;border-radius:10px;color:#fff}
.badge.passed{background:#0a6b2d}.badge.failed{background:#b00020}
table.samples{width:100%;table-layout:fixed}table.samples col.i{width:32px}
table.samples col.r{width:48%}table.samples col.f{width:22%}
pre.record{white-space:pre-wrap;word-break:break-all;margin:0;font-size:12px}
span.file{word-break:break-all;font-size:12px}
ul.rules{margin:0;padding-left:16px}.muted{color:#666}.legend span.swatch{display:inline-block;
width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
svg.chart{display:block;max-width:100%;height:auto}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _pct(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}%}"


def _pct_axis(value: float) -> str:
    return f"{value * 100:.3g}%"


def _usd(value: float | Decimal) -> str:
    return f"{value:,.2f}"


def _usd_axis(value: float) -> str:
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"{value / size:.3g}{suffix}"
    return f"{value:.0f}"


def _local(path: str) -> str | None:
    """A local absolute path for a local path or file: URL; None for any other scheme."""
    parts = urlsplit(path)
    if parts.scheme == "file":
        return os.path.abspath(parts.path)
    if parts.scheme:
        return None
    return os.path.abspath(path)


def docs_href(target: str, warehouse: str) -> str | None:
    """Link from WAREHOUSE/_reports/<run>.html to a data docs page; None when a browser cannot
    open it (another file system outside the warehouse). A page inside the warehouse is linked
    relatively, so the warehouse folder can be copied or served elsewhere whole."""
    scheme = urlsplit(target).scheme
    if scheme in ("http", "https"):
        return target
    if not scheme and not target.startswith("/"):
        return "../" + quote(target)  # relative to the warehouse
    base = warehouse.rstrip("/")
    local_base, local_target = _local(base), _local(target)
    if local_base and local_target:
        if local_target.startswith(local_base.rstrip("/") + "/"):
            return "../" + quote(os.path.relpath(local_target, local_base))
        return "file://" + quote(local_target)
    if target.startswith(base + "/"):
        return "../" + quote(target[len(base) + 1:])
    return None


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = (),
           opening: str = "<table>") -> str:
    """Cells are HTML already (the caller escapes); `numeric` columns align right."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f'<td class="n">{c}</td>' if i in numeric else f"<td>{c}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"{opening}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _run_section(facts: RunFacts, data: ReportData, warehouse: str) -> str:
    links = []
    for label, target in facts.data_docs:
        href = docs_href(target, warehouse)
        links.append(f'<a href="{_e(href)}">{_e(label)}</a>' if href else f"{_e(label)}: {_e(target)}")
    rows = [
        ("run id", _e(facts.run_id)),
        ("as-of", _e(facts.as_of.isoformat(sep=" ")) + " UTC"),
        ("mode", _e(facts.mode)),
        ("finished", _e(data.finished_at.isoformat(sep=" ", timespec="seconds")) + " UTC" if data.finished_at else "n/a"),
        ("status", _e(data.status or "n/a")),
        ("published versions", ", ".join(f"{_e(t)} v{v}" for t, v in data.table_versions) or "n/a"),
        ("inputs", "<br>".join(_e(p) for p in facts.inputs) or "n/a"),
        ("data docs", " · ".join(links) or '<span class="muted">none for this run</span>'),
    ]
    return "<h2>The run</h2>" + "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def _counts_section(data: ReportData) -> str:
    rows = []
    for c in data.counts:
        verdict = '<span class="passed">passed</span>' if c.nothing_lost else '<span class="failed">FAILED</span>'
        rows.append((_e(c.source), f"{c.rows_read:,}", f"{c.rows_valid:,}", f"{c.rows_quarantined:,}",
                     f"{c.duplicates_dropped:,}",
                     f"{c.rows_read:,} = {c.rows_valid:,} + {c.rows_quarantined:,} + "
                     f"{c.duplicates_dropped:,}: {verdict}"))
    if not rows:
        return '<h2>Rows per source</h2><p class="failed">run_log has no rows for this run.</p>'
    return ("<h2>Rows per source</h2>"
            + _table(("source", "read", "valid", "quarantined", "duplicates dropped",
                      "nothing lost: read = valid + quarantined + duplicates"), rows, numeric=(1, 2, 3, 4)))


def _rules_section(data: ReportData) -> str:
    if not data.rule_counts:
        return "<h2>Quarantine by rule</h2><p>No row was quarantined in this run.</p>"
    bars = [Bar(f"{c.source}: {c.rule}", c.rows, c.action if c.action not in (None, "quarantine") else "")
            for c in data.rule_counts]
    return ("<h2>Quarantine by rule</h2><p class=\"muted\">This run's rows in the quarantine table "
            "that list each rule; a row that failed several rules counts once for each.</p>"
            + bar_chart(bars, title="quarantined rows by rule", value_format=lambda v: f"{v:,.0f}",
                        label_width=340))


def _series(daily: Sequence[DailyMetric], field: str) -> dict[str, list[tuple[dt.date, float | None]]]:
    series: dict[str, list[tuple[dt.date, float | None]]] = {}
    for m in daily:
        value = getattr(m, field)
        series.setdefault(m.payment_method, []).append((m.txn_date, None if value is None else float(value)))
    return series


def _legend(colors: dict[str, str]) -> str:
    # the colours come from PALETTE (series_colors), never from data; the names are escaped
    return '<p class="legend">' + "".join(
        f'<span class="swatch" style="background:{color}"></span>{_e(name)}' for name, color in colors.items()) + "</p>"


def _metrics_section(data: ReportData) -> str:
    if not data.daily:
        return "<h2>KPIs by date</h2><p>The metric tables have no rows.</p>"
    colors = series_colors([m.payment_method for m in data.daily])
    completed = sum((m.completed_volume_usd for m in data.daily), Decimal("0"))
    disputed = sum((m.disputed_amount_usd for m in data.daily), Decimal("0"))
    outcomes = sum(m.completed_count + m.failed_count for m in data.daily)
    failed = sum(m.failed_count for m in data.daily)
    overall = (f"<p>Over all dates: completed volume <b>{_usd(completed)} USD</b>, chargeback rate "
               f"<b>{_pct(float(disputed / completed) if completed else None, 3)}</b> (disputed / completed "
               f"volume), payment failure rate <b>{_pct(failed / outcomes if outcomes else None)}</b> "
               "(failed / (completed + failed)).</p>")
    volume = {name: [(d, float(v or 0)) for d, v in points]
              for name, points in _series(data.daily, "completed_volume_usd").items()}
    return ("<h2>KPIs by date and payment method</h2>" + overall + _legend(colors)
            + "<h3>Chargeback rate (chargeback_metrics.chargeback_rate)</h3>"
            + line_chart(_series(data.daily, "chargeback_rate"), title="chargeback rate by date",
                         colors=colors, value_format=_pct_axis)
            + "<h3>Payment failure rate (payment_metrics.failure_rate)</h3>"
            + line_chart(_series(data.daily, "failure_rate"), title="payment failure rate by date",
                         colors=colors, value_format=_pct_axis)
            + "<h3>Completed volume, USD (payment_metrics.completed_volume_usd)</h3>"
            + stacked_bar_chart(volume, title="completed volume in USD by date", colors=colors,
                                value_format=_usd_axis))


def _record_cell(sample: QuarantinedRecord) -> str:
    more = (f'<br><span class="muted">first {len(sample.record):,} of {sample.record_chars:,} characters</span>'
            if sample.record_chars > len(sample.record) else "")
    return f'<pre class="record">{_e(sample.record)}</pre>{more}'


def _samples_section(data: ReportData, per_source: int) -> str:
    parts = [f"<h2>Quarantined records (up to {per_source} per source)</h2>"]
    if not data.samples:
        parts.append("<p>No row was quarantined in this run.</p>")
    quarantined = {c.source: c.rows_quarantined for c in data.counts}
    for source in dict.fromkeys(s.source for s in data.samples):
        mine = [s for s in data.samples if s.source == source]
        total = quarantined.get(source)
        parts.append(f"<h3>{_e(source)}: {len(mine)} of {f'{total:,}' if total is not None else '?'}</h3>")
        rows = [(str(i), _record_cell(s),
                 '<ul class="rules">' + "".join(f"<li><b>{_e(rule)}</b>: {_e(message)}</li>"
                                                for rule, message in s.failed_rules) + "</ul>",
                 f'<span class="file">{_e(s.source_file or "")}</span>')
                for i, s in enumerate(mine, 1)]
        parts.append(_table(("#", "record (raw text)", "failed rules", "file"), rows, numeric=(0,),
                            opening='<table class="samples"><colgroup><col class="i"><col class="r">'
                                    '<col><col class="f"></colgroup>'))
    return "".join(parts)


def render(facts: RunFacts, data: ReportData, warehouse: str, per_source: int, generated_at: dt.datetime) -> str:
    verdict = "passed" if data.nothing_lost else "failed"
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>chargeback-pipeline run {_e(facts.run_id)}</title><style>{STYLE}</style></head><body>"
        f"<h1>chargeback-pipeline run <code>{_e(facts.run_id)}</code></h1>"
        f'<p>Nothing lost: <span class="badge {verdict}">{verdict}</span> '
        f'<span class="muted">values read back from the published Delta tables</span></p>'
        + _run_section(facts, data, warehouse) + _counts_section(data) + _rules_section(data)
        + _metrics_section(data) + _samples_section(data, per_source)
        + f'<p class="muted">Generated {_e(generated_at.isoformat(sep=" ", timespec="seconds"))} UTC from '
        "run_log, quarantine, dq_results, payment_metrics and chargeback_metrics.</p></body></html>\n"
    )
