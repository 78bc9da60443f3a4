"""Charts of the run report as inline SVG, written by hand: no library, no script, no network.

Each chart is a string of SVG markup to put inside the HTML page. Every mark a person reads has
a class the browser test counts (`bar`, `series`, `point`) and a <title> that shows its exact
value on hover. Every text that may come from data (rule names, payment methods, labels) goes
through `_text`, so markup in the data stays text.
"""
from __future__ import annotations

import datetime as dt
import html
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

# Colour-blind safe (Okabe-Ito); the series of a report keep the same colour in every chart.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000")
AXIS = "#555555"
GRID = "#dddddd"
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _text(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float) -> str:
    """Coordinates with two decimals: enough for a screen, and exact strings for tests."""
    return f"{value:.2f}"


def series_colors(names: Sequence[str]) -> dict[str, str]:
    """A colour per series name, in sorted order, so every chart of one report agrees."""
    return {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(sorted(set(names)))}


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k that is >= value: a round top for a value axis."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power * (1 + 1e-12):
            return step * power
    return 10 * power


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    note: str = ""  # shown after the label, e.g. the rule's action


def bar_chart(bars: Sequence[Bar], *, title: str, value_format: Callable[[float], str] = str,
              width: int = 760, label_width: int = 300, bar_height: int = 20, gap: int = 6) -> str:
    """Horizontal bars, longest first as given; a bar's length is value / max x plot width."""
    plot_left, value_room = label_width, 90
    plot_width = width - plot_left - value_room
    top = max((b.value for b in bars), default=0) or 1
    height = len(bars) * (bar_height + gap) + gap
    parts = [f'<svg class="chart bar-chart" role="img" aria-label="{_text(title)}" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" {FONT}>',
             f"<title>{_text(title)}</title>"]
    for i, bar in enumerate(bars):
        y = gap + i * (bar_height + gap)
        length = plot_width * bar.value / top
        label = bar.label + (f" ({bar.note})" if bar.note else "")
        parts.append(
            f'<text x="{plot_left - 8}" y="{_num(y + bar_height * 0.7)}" text-anchor="end" '
            f'fill="#222">{_text(label)}</text>'
            f'<rect class="bar" x="{plot_left}" y="{y}" width="{_num(length)}" height="{bar_height}" '
            f'fill="{PALETTE[0]}" data-value="{_text(bar.value)}">'
            f"<title>{_text(label)}: {_text(value_format(bar.value))}</title></rect>"
            f'<text x="{_num(plot_left + length + 6)}" y="{_num(y + bar_height * 0.7)}" '
            f'fill="#222">{_text(value_format(bar.value))}</text>')
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class Frame:
    """The plot area of a chart with a date axis and a value axis from 0 to `top`."""
    first: dt.date
    last: dt.date
    top: float
    width: int = 760
    height: int = 260
    left: int = 70
    right: int = 20
    upper: int = 12
    lower: int = 36
    pad: int = 40  # between the value axis and the first date, the last date and the edge

    def x(self, day: dt.date) -> float:
        span = (self.last - self.first).days
        inner = self.width - self.left - self.right - 2 * self.pad
        if span == 0:
            return self.left + self.pad + inner / 2
        return self.left + self.pad + inner * (day - self.first).days / span

    def y(self, value: float) -> float:
        inner = self.height - self.upper - self.lower
        return self.upper + inner * (1 - value / self.top)

    @property
    def baseline(self) -> float:
        return self.y(0)


def _axes(frame: Frame, days: Sequence[dt.date], value_format: Callable[[float], str]) -> list[str]:
    parts = []
    for k in range(5):  # value grid: 0, 1/4, ..., top
        value = frame.top * k / 4
        y = _num(frame.y(value))
        parts.append(f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{y}" y2="{y}" '
                     f'stroke="{GRID}"/><text x="{frame.left - 6}" y="{y}" dy="4" text-anchor="end" '
                     f'fill="{AXIS}">{_text(value_format(value))}</text>')
    shown = sorted(set(days))
    if len(shown) > 6:  # at most 6 date labels, first and last included
        step = (len(shown) - 1) / 5
        shown = [shown[round(k * step)] for k in range(6)]
    for day in shown:
        x = _num(frame.x(day))
        parts.append(f'<text x="{x}" y="{frame.height - frame.lower + 18}" text-anchor="middle" '
                     f'fill="{AXIS}">{day.isoformat()}</text>')
    parts.append(f'<line x1="{frame.left}" x2="{frame.width - frame.right}" y1="{_num(frame.baseline)}" '
                 f'y2="{_num(frame.baseline)}" stroke="{AXIS}"/>')
    return parts


def _open(frame: Frame, css_class: str, title: str) -> str:
    return (f'<svg class="chart {css_class}" role="img" aria-label="{_text(title)}" '
            f'viewBox="0 0 {frame.width} {frame.height}" width="{frame.width}" '
            f'height="{frame.height}" {FONT}><title>{_text(title)}</title>')


def line_chart(series: Mapping[str, Sequence[tuple[dt.date, float | None]]], *, title: str,
               colors: Mapping[str, str], value_format: Callable[[float], str]) -> str:
    """One line per series over dates; a None value (a rate with a zero denominator) breaks the
    line. Each known value is also a circle, so a series of one date is still visible."""
    points = [(day, value) for values in series.values() for day, value in values]
    days = [day for day, _ in points]
    if not days:
        return ""
    frame = Frame(min(days), max(days), nice_ceiling(max((v for _, v in points if v is not None), default=0)))
    parts = [_open(frame, "line-chart", title), *_axes(frame, days, value_format)]
    for name, values in series.items():
        color = colors[name]
        segment: list[str] = []
        segments = [segment]
        for day, value in sorted(values):
            if value is None:
                segment = []
                segments.append(segment)
            else:
                segment.append(f"{_num(frame.x(day))},{_num(frame.y(value))}")
        for run in segments:
            if run:
                parts.append(f'<polyline class="series" data-series="{_text(name)}" fill="none" '
                             f'stroke="{color}" stroke-width="2" points="{" ".join(run)}"/>')
        for day, value in sorted(values):
            if value is not None:
                parts.append(f'<circle class="point" cx="{_num(frame.x(day))}" cy="{_num(frame.y(value))}" '
                             f'r="3" fill="{color}"><title>{_text(name)} {day.isoformat()}: '
                             f"{_text(value_format(value))}</title></circle>")
    parts.append("</svg>")
    return "".join(parts)


def stacked_bar_chart(series: Mapping[str, Sequence[tuple[dt.date, float]]], *, title: str,
                      colors: Mapping[str, str], value_format: Callable[[float], str]) -> str:
    """A column per date, one block per series stacked in sorted series order; a block's height
    is value / top x plot height, where top is a round number above the largest column."""
    totals: dict[dt.date, float] = {}
    for values in series.values():
        for day, value in values:
            totals[day] = totals.get(day, 0.0) + value
    if not totals:
        return ""
    frame = Frame(min(totals), max(totals), nice_ceiling(max(totals.values())))
    inner = frame.width - frame.left - frame.right - 2 * frame.pad
    column = max(2.0, min(28.0, 0.7 * inner / ((frame.last - frame.first).days + 1)))
    parts = [_open(frame, "stacked-bar-chart", title), *_axes(frame, list(totals), value_format)]
    stacked: dict[dt.date, float] = {}
    for name in sorted(series):
        for day, value in sorted(series[name]):
            if value <= 0:
                continue
            below = stacked.get(day, 0.0)
            stacked[day] = below + value
            top_y, bottom_y = frame.y(below + value), frame.y(below)
            parts.append(f'<rect class="bar" data-series="{_text(name)}" x="{_num(frame.x(day) - column / 2)}" '
                         f'y="{_num(top_y)}" width="{_num(column)}" height="{_num(bottom_y - top_y)}" '
                         f'fill="{colors[name]}"><title>{_text(name)} {day.isoformat()}: '
                         f"{_text(value_format(value))}</title></rect>")
    parts.append("</svg>")
    return "".join(parts)
