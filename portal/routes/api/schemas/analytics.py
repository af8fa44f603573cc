"""A template's figures and the team funnel."""

from __future__ import annotations

from pydantic import BaseModel, Field

from portal.routes.api.schemas.common import Answer

_PERIOD = "YYYY-MM-DD (the portal's time zone) or ISO date-time"
Share = float | None  # 0..1; null when there is nothing to divide


class Period(BaseModel):
    since: str | None = Field(default=None, description=f"sends at or after: {_PERIOD}")
    until: str | None = Field(
        default=None, description=f"sends before (a date: included): {_PERIOD}"
    )


class AnalyticsQuery(Period):
    version: str | None = Field(default=None, description="a version number (default: every one)")
    industry: str | None = Field(default=None, description="the customer's industry")
    region: str | None = Field(default=None, description="the customer's region")
    team: str | None = Field(default=None, description="the sender's team")


class VisitsQuery(AnalyticsQuery):
    template: str | None = Field(default=None, description="a template id (its sends only)")


class FunnelQuery(Period):
    group: str | None = Field(default=None, description="rep, team, region or month (default)")


class PageFigures(Answer):
    page: int | None = None
    readers: int | None = None
    median_seconds: float | None = None


class TemplateAnalytics(Answer):
    template_id: int
    version: int | None = None
    sends: int
    opens: int = Field(description="sends a customer opened (confirmed in a browser)")
    open_rate: Share = None
    median_read_seconds: float | None = None
    p75_read_seconds: float | None = None
    completion_rate: Share = Field(
        default=None, description="opened sends whose last page was read"
    )
    previews: int | None = Field(
        default=None, description="fetches never confirmed (link previews, scanners)"
    )
    internal_views: int | None = Field(
        default=None, description="staff or API tokens viewing the link"
    )
    forwards: int | None = Field(
        default=None, description="forwarded readers: other devices on the recipients' links"
    )
    pages: list[PageFigures] = Field(default_factory=list)
    recipients: int | None = None
    grade_a_customers: int | None = None
    grade_a_within_7d: Share = None
    deals_won: int | None = None


class Cycle(Answer):
    median: float | None = None
    mean: float | None = None


class FunnelRow(Answer):
    key: str | None = None
    label: str | None = None
    steps: dict[str, int] = Field(
        default={}, description="customers at sent, opened, read_2min, grade_a, deal, won"
    )
    conversion: dict[str, float | None] = Field(default_factory=dict)
    median_days: dict[str, float | None] = Field(default_factory=dict)
    conversion_cycle_days: Cycle | None = None
    a_grade_close_rate: Share = None
    a_grade_reached: int | None = None
    a_grade_won: int | None = None


class FunnelList(Answer):
    items: list[FunnelRow]
