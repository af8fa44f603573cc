"""Amounts as each language reads them (万 / 亿, K / M / B) and the bar chart's geometry."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.read_models.charts import (
    CHART_WIDTH,
    PAD,
    BarRow,
    bar_chart,
    compact_amount,
    fit,
    text_width,
)


@pytest.mark.parametrize(
    ("amount", "zh", "en"),
    [
        (1_090_000, "109 万", "1.09M"),
        (0, "0", "0"),
        (Decimal("0.00"), "0", "0"),
        (-1_090_000, "-109 万", "-1.09M"),
        (9_999, "9,999", "10K"),
        (10_000, "1 万", "10K"),
        (12_345, "1.23 万", "12.35K"),  # half up: 1.2345 万 -> 1.23, 12.345K -> 12.35
        (12_355, "1.24 万", "12.36K"),
        (Decimal("654000.00"), "65.4 万", "654K"),
        (250_000_000, "2.5 亿", "250M"),
        (100_000_000, "1 亿", "100M"),
        (99_999_999, "1 亿", "100M"),  # 10,000.00 万 once rounded: one 亿
        (99_994_999, "9,999.5 万", "99.99M"),
        (-350_000_000, "-3.5 亿", "-350M"),
        (12_000_000_000, "120 亿", "12B"),
        (Decimal("0.4"), "0", "0"),
        (Decimal("-0.4"), "0", "0"),
        (Decimal("999.5"), "1,000", "1K"),
        (Decimal("9999.5"), "1 万", "10K"),
        (Decimal("-9999.5"), "-1 万", "-10K"),
    ],
)
def test_compact_amounts(amount, zh, en):
    assert compact_amount(amount, "zh") == zh
    assert compact_amount(amount, "en") == en


def test_a_label_too_long_is_shortened_to_fit():
    assert fit("2027-03", 200) == "2027-03"
    long = "华东精密制造股份有限公司 MES 二期项目"
    shown = fit(long, 120)
    assert shown.endswith("…") and long.startswith(shown[:-1])
    assert text_width(shown) <= 120
    # a CJK character takes about twice a Latin one
    assert text_width("上海") > text_width("ab") * 1.5


def test_stacked_bars_share_one_scale_and_rows_do_not_overlap():
    rows = [
        BarRow("2027-03", "35 万", [("demo", 300.0), ("negotiation", 100.0)], ["a", "b"]),
        BarRow("2027-04", "80 万", [("demo", 800.0), ("negotiation", 0.0)], ["c", "d"]),
    ]
    chart = bar_chart(rows, stacked=True)
    span = CHART_WIDTH - 2 * PAD
    first, second = chart.rows
    assert second.bars[0].width == pytest.approx(span)  # the largest row fills the width
    assert first.bars[0].width == pytest.approx(span * 300 / 800, abs=0.06)
    assert first.bars[1].x == pytest.approx(first.bars[0].x + first.bars[0].width, abs=0.06)
    bottom = first.bars[0].y + first.bars[0].height
    assert second.label_y - 11 > bottom  # the next label starts below this row's bar
    assert chart.height > second.bars[0].y + second.bars[0].height
    assert [b.title for b in first.bars] == ["a", "b"]


def test_grouped_bars_one_below_the_other():
    chart = bar_chart(
        [BarRow("深圳", "22.5 万 → 30 万", [("forecast", 225.0), ("won", 300.0)], ["f", "w"])],
        stacked=False,
    )
    forecast, won = chart.rows[0].bars
    assert won.width == pytest.approx(CHART_WIDTH - 2 * PAD)
    assert forecast.x == won.x and won.y >= forecast.y + forecast.height
    # the label leaves room for the figure on the same line
    assert text_width(chart.rows[0].label) + text_width("22.5 万 → 30 万") < CHART_WIDTH


def test_nothing_to_draw_draws_empty_bars():
    chart = bar_chart([BarRow("2027-05", "0", [("demo", 0.0)], ["t"])], stacked=True)
    assert chart.rows[0].bars[0].width == 0
