"""Bar charts drawn on the server: the numbers of an SVG the templates write out (pure, no I/O).

A chart is a list of labelled values, each a count or a withheld entry (the disclosure marker, such
as ``<10``). The templates write the elements with presentation attributes only (no ``style``), so
the Content-Security-Policy holds, and give the SVG ``role="img"``, a ``<title>`` and a
``<desc>`` holding ``summary``: the chart's figures as one sentence, so a screen reader says them.

A withheld entry is drawn as an empty, dashed bar reaching up to the highest count it may stand for
(one below the threshold) with its marker written above it, never a number: the reader sees that
something is there and how large it can at most be, which the table beside it says anyway.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from focalpoint.console.i18n import PageLanguage

__all__ = ["CHART_HEIGHT", "CHART_WIDTH", "Bar", "BarChart", "bar_chart"]

CHART_WIDTH, CHART_HEIGHT = 640, 260
_TOP, _BOTTOM, _SIDE = 30.0, 40.0, 20.0
_MIN_SLOT = 100.0  # below this the labels under the bars would run into each other
_MARKER = re.compile(r"<(\d{1,6})")


@dataclass(frozen=True, slots=True)
class Bar:
    """One bar of the chart, in the SVG's user units (y grows downwards)."""

    label: str
    value: str
    x: float
    y: float
    width: float
    height: float
    label_x: float
    value_y: float  # where the count (or the marker) is written, just above the bar
    withheld: bool = False  # drawn empty and dashed: ``value`` is the marker, not a count


@dataclass(frozen=True, slots=True)
class BarChart:
    """A bar chart's numbers; ``total`` is what the title says the bars add up to."""

    width: int
    height: int
    baseline: float
    bars: tuple[Bar, ...]
    total: str
    summary: str  # the chart's figures as one sentence, for its description
    label_y: float  # where the labels are written, under the baseline


def _ceiling(value: str) -> int:
    """The highest count a withheld entry may stand for: one below its marker's threshold."""
    found = _MARKER.fullmatch(value.strip())
    return max(0, int(found[1]) - 1) if found else 0


def bar_chart(points: Sequence[tuple[str, int | str]], lang: PageLanguage, *, total: str = "") -> BarChart:
    """The bars of ``points`` (label, count or withheld marker), in order. Negative counts draw as
    zero; ``total`` defaults to the sum of the counts, in the page's language."""
    counts = [max(0, v) if isinstance(v, int) else _ceiling(v) for _, v in points]
    top = max(counts, default=0) or 1
    slot = max((CHART_WIDTH - 2 * _SIDE) / max(len(points), 1), _MIN_SLOT)
    width = max(CHART_WIDTH, round(2 * _SIDE + slot * len(points)))
    room = CHART_HEIGHT - _TOP - _BOTTOM
    baseline = CHART_HEIGHT - _BOTTOM
    bars = []
    for i, ((label, value), n) in enumerate(zip(points, counts, strict=True)):
        height = round(room * n / top, 1)
        withheld = isinstance(value, str)
        bars.append(
            Bar(
                label=label,
                value=value if isinstance(value, str) else lang.number(n),
                x=round(_SIDE + i * slot + slot * 0.15, 1),
                y=round(baseline - height, 1),
                width=round(slot * 0.7, 1),
                height=height,
                label_x=round(_SIDE + i * slot + slot / 2, 1),
                value_y=round(baseline - height - 6, 1),
                withheld=withheld,
            )
        )
    summary = "; ".join(f"{b.label}: {b.value}" for b in bars)
    if not total:
        total = lang.number(sum(v for _, v in points if isinstance(v, int) and v > 0))
    return BarChart(width, CHART_HEIGHT, baseline, tuple(bars), total, summary, baseline + 22)
