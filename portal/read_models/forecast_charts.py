"""The forecast page's three charts: the weighted pipeline by close month and stage, forecast
against won per region (the heatmap's ended months, summed), and the stalled deals (days in
their stage against the typical won deal's). Figures come from portal.deals (forecast,
stalled); portal.read_models.charts draws them and shortens the amounts for the reader's
language, each bar's tooltip holding the full figure."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from flask_babel import gettext as _

from portal.accounts.models import User
from portal.deals import forecast, services
from portal.deals.forecast import Accuracy, Heatmap
from portal.deals.stages import OPEN_STAGES, label
from portal.deals.views import DealView, views_of
from portal.exchange.columns import lang
from portal.read_models.charts import BarChart, BarRow, bar_chart, compact_amount

STALLED_SHOWN = 12  # the longest-stalled deals drawn; the table lists the same ones


def full_amount(minor: Decimal | int) -> str:
    """Minor units as the whole major-unit figure, grouped: 109000000 -> 1,090,000.00."""
    return f"{Decimal(minor) / 100:,.2f}"


def short_amount(minor: Decimal | int, language: str) -> str:
    return compact_amount(Decimal(minor) / 100, language)


@dataclass
class MonthRow:
    month: str
    by_stage: dict[str, Decimal]  # minor units

    @property
    def total(self) -> Decimal:
        return sum(self.by_stage.values(), Decimal(0))


@dataclass
class ForecastCharts:
    currency: str
    stages: list[str]  # the pipeline chart's series, in stage order
    months: list[MonthRow]
    pipeline: BarChart | None
    regions: dict[str, Accuracy]
    region_chart: BarChart | None
    stalled: list[DealView]
    stalled_chart: BarChart | None


def _pipeline(months: list[MonthRow], stages: list[str], currency: str, language: str):
    rows = [
        BarRow(
            label=row.month,
            figure=short_amount(row.total, language),
            values=[(stage, float(row.by_stage.get(stage, 0))) for stage in stages],
            titles=[
                _(
                    "%(month)s · %(stage)s: %(amount)s %(currency)s weighted",
                    month=row.month,
                    stage=label(stage),
                    amount=full_amount(row.by_stage.get(stage, 0)),
                    currency=currency,
                )
                for stage in stages
            ],
        )
        for row in months
    ]
    return bar_chart(rows, stacked=True) if rows else None


def _regions(regions: dict[str, Accuracy], currency: str, language: str):
    rows = []
    for region, cell in regions.items():
        name = region or _("(none)")
        rows.append(
            BarRow(
                label=name,
                figure=f"{short_amount(cell.forecast_minor, language)} → "
                f"{short_amount(cell.actual_minor, language)}",
                values=[("forecast", cell.forecast_minor), ("won", cell.actual_minor)],
                titles=[
                    _(
                        "%(region)s: forecast %(amount)s %(currency)s",
                        region=name,
                        amount=full_amount(cell.forecast_minor),
                        currency=currency,
                    ),
                    _(
                        "%(region)s: won %(amount)s %(currency)s",
                        region=name,
                        amount=full_amount(cell.actual_minor),
                        currency=currency,
                    ),
                ],
            )
        )
    return bar_chart(rows, stacked=False) if rows else None


def _stalled(views: list[DealView]):
    rows = []
    for view in views:
        stall = view.stall
        if stall is None:  # forecast_charts passes only stalled deals
            continue
        name = f"{view.deal.title} · {view.deal.customer.name}"
        rows.append(
            BarRow(
                label=name,
                figure=_(
                    "%(days)d / %(typical)d days",
                    days=stall.days_in_stage,
                    typical=stall.typical_days,
                ),
                values=[("stalled", stall.days_in_stage), ("typical", stall.typical_days)],
                titles=[
                    _(
                        "%(deal)s: %(days)d days in %(stage)s",
                        deal=name,
                        days=stall.days_in_stage,
                        stage=label(view.deal.stage),
                    ),
                    _(
                        "Won deals spent about %(num)d days in this stage",
                        num=stall.typical_days,
                    ),
                ],
            )
        )
    return bar_chart(rows, stacked=False) if rows else None


def forecast_charts(user: User, currency: str, heat: Heatmap) -> ForecastCharts:
    """The charts for `user` (forecast scope: a rep's own deals, a supervisor's team, all for
    an admin), in `currency`; `heat` is the page's deviation heatmap (its months and cells)."""
    language = lang()
    weighted = forecast.weighted_by_month_and_stage(user, currency)
    stages = [s for s in OPEN_STAGES if any(stage == s for _, stage in weighted)]
    months = [
        MonthRow(month, {s: v for (m, s), v in weighted.items() if m == month})
        for month in sorted({m for m, _ in weighted})
    ]
    regions = forecast.region_totals(heat)
    stalled = [v for v in views_of(services.list_deals(user)) if v.stall is not None]
    stalled.sort(key=lambda v: (-(v.stall.days_in_stage - v.stall.typical_days), v.deal.id))
    stalled = stalled[:STALLED_SHOWN]
    return ForecastCharts(
        currency=currency,
        stages=stages,
        months=months,
        pipeline=_pipeline(months, stages, currency, language),
        regions=regions,
        region_chart=_regions(regions, currency, language),
        stalled=stalled,
        stalled_chart=_stalled(stalled),
    )
