"""Server-side charts: amounts as each language reads them, and horizontal bar charts drawn as
inline SVG by the `templates/_charts.html` macros (no script, no CDN).

Amounts on charts and on zh pages are short: a Chinese team counts in 万 (10^4) and 亿 (10^8),
so 1,090,000 is "109 万"; an English page keeps the full figure in its tables and shortens only
chart labels, as 1.09M. The full figure is always in the tooltip (`<title>`) and in exports.

Bar charts are horizontal, one row per category: the label and the row's figure on one line,
its bars below. A label therefore never collides with a neighbour's, whatever the language or
the width; the SVG scales with its viewBox (a phone at 390 px shows the same drawing, smaller),
and a label too long for the row is shortened with "…" (the whole label is in the tooltip and
in the table beside the chart).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

WAN = Decimal(10_000)
YI = Decimal(100_000_000)

CHART_WIDTH = 320
FONT_SIZE = 11  # SVG user units; the chart's labels
LABEL_LINE = 15  # the label line's height
BAR_HEIGHT = 12  # one bar (a stacked row is one bar; a grouped row one bar per series)
ROW_GAP = 8
PAD = 4


def _plain(value: Decimal, places: int) -> str:
    """`value` rounded half away from zero to at most `places` decimals, no trailing zeros,
    thousands grouped."""
    quantum = Decimal(1).scaleb(-places)
    rounded = value.quantize(quantum, rounding=ROUND_HALF_UP)
    text = f"{rounded:,.{places}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def compact_amount(amount: Decimal | int | float, language: str) -> str:
    """An amount (major units) shortened as the reader counts: zh 1,090,000 -> "109 万",
    250,000,000 -> "2.5 亿" (two decimals at most); en 1,090,000 -> "1.09M", 98,000 -> "98K".
    Below 10^4 (zh) or 10^3 (en) the figure is written whole, grouped, to the unit."""
    value = Decimal(str(amount))
    sign = "-" if value < 0 else ""
    size = abs(value)
    if language == "zh":
        steps = ((YI, " 亿"), (WAN, " 万"))
    else:
        steps = ((Decimal(10**9), "B"), (Decimal(10**6), "M"), (Decimal(10**3), "K"))
    for index, (unit, suffix) in enumerate(steps):
        if size >= unit:
            shown = (size / unit).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            # 99,999,999 is 10,000.00 万 once rounded: say 1 亿 instead
            bigger = steps[index - 1][0] if index else None
            if bigger is not None and shown * unit >= bigger:
                shown = (size / bigger).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
                suffix = steps[index - 1][1]
            return sign + _plain(shown, 2) + suffix
    whole = size.quantize(Decimal(1), rounding=ROUND_HALF_UP)
    if whole >= steps[-1][0]:  # 9,999.5 is 10,000 once rounded: say 1 万
        return compact_amount(-whole if sign else whole, language)
    text = _plain(whole, 0)
    return "0" if text == "0" else sign + text


def text_width(text: str, size: float = FONT_SIZE) -> float:
    """The width a label takes in SVG units: a wide (CJK) character is about 1 em, a Latin
    letter or digit about 0.6 em (Noto Sans; a safe over-estimate for the fallbacks)."""
    width = 0.0
    for char in text:
        width += 1.0 if unicodedata.east_asian_width(char) in ("W", "F") else 0.6
    return width * size


def fit(text: str, width: float, size: float = FONT_SIZE) -> str:
    """`text`, shortened with "…" until it fits `width`."""
    if text_width(text, size) <= width:
        return text
    ellipsis = text_width("…", size)
    shown = ""
    for char in text:
        if text_width(shown + char, size) + ellipsis > width:
            break
        shown += char
    return shown + "…"


@dataclass
class BarRow:
    """One category: its label, the figure written beside it, and (series key, value) pairs;
    `titles`: the tooltip of each series' bar (full figures), in the same order."""

    label: str
    figure: str
    values: list[tuple[str, float]]
    titles: list[str]


@dataclass
class Bar:
    series: str  # a key the stylesheet colours (chart-s-<key>)
    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass
class DrawnRow:
    label: str  # as shown (maybe shortened)
    full_label: str
    figure: str
    label_y: float
    bars: list[Bar] = field(default_factory=list)


@dataclass
class BarChart:
    rows: list[DrawnRow]
    width: int
    height: float
    left: float
    right: float


def bar_chart(rows: list[BarRow], *, stacked: bool, width: int = CHART_WIDTH) -> BarChart:
    """Horizontal bars, one row per BarRow: stacked (the values side by side on one bar, a
    whole) or grouped (one thinner bar per value). Bars share one scale, the largest row."""
    left, right = PAD, width - PAD
    span = right - left
    if stacked:
        largest = max((sum(max(v, 0) for _, v in row.values) for row in rows), default=0)
    else:
        largest = max((max((v for _, v in row.values), default=0) for row in rows), default=0)
    scale = span / largest if largest > 0 else 0.0
    drawn, y = [], float(PAD)
    for row in rows:
        figure_width = text_width(row.figure)
        label = fit(row.label, span - figure_width - 2 * PAD)
        line = DrawnRow(label, row.label, row.figure, round(y + FONT_SIZE, 1))
        y += LABEL_LINE
        x = float(left)
        for (series, value), title in zip(row.values, row.titles, strict=True):
            length = round(max(value, 0) * scale, 1)
            if stacked:
                line.bars.append(Bar(series, round(x, 1), y, length, BAR_HEIGHT, title))
                x += length
            else:
                line.bars.append(Bar(series, float(left), y, length, BAR_HEIGHT - 3, title))
                y += BAR_HEIGHT - 2
        y += BAR_HEIGHT if stacked else 0
        y += ROW_GAP
        drawn.append(line)
    return BarChart(drawn, width, round(y, 1), left, right)
