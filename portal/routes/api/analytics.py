"""Analytics over the API: a template's figures (portal.read_models.analytics), the team
funnel with its headline figures (portal.read_models.funnel) and the per-visit export
(portal.read_models.visits)."""

from __future__ import annotations

from portal.read_models import analytics, funnel
from portal.routes.api.base import api_user, bp
from portal.routes.api.declare import declare, query
from portal.routes.api.schemas import analytics as schemas
from portal.routes.api.schemas.common import Error
from portal.routes.visit_files import visits_response


@bp.get("/templates/<int:template_id>/analytics")
@declare(
    query=schemas.AnalyticsQuery,
    answers={
        200: schemas.TemplateAnalytics,
        403: (Error, "The caller's role has no content analytics"),
    },
)
def template_analytics(template_id: int):
    """How a template (or one version) does: sends, confirmed opens, read time, completion,
    readers and median seconds per page, previews, internal views, recipients who became grade
    A within 7 days and deals won after a send

    Marketing and admins: every send; supervisors: their team's customers; reps: their own
    sends. Previews and internal views are never opens. A bad date or version is 422
    `bad_date` / `bad_version`."""
    # The read model parses the filters (the analytics page shares them).
    filters = analytics.parse_filters(query(schemas.AnalyticsQuery).model_dump(exclude_none=True))
    figures = analytics.analytics_of_template(api_user(), template_id, filters)
    return {"template_id": template_id, "version": filters.version} | figures.as_json()


@bp.get("/analytics/funnel")
@declare(
    query=schemas.FunnelQuery,
    answers={200: schemas.FunnelList, 403: (Error, "Not a supervisor or admin")},
)
def team_funnel():
    """The team funnel (sent → opened → read ≥ 2 min → grade A → deal → won) per rep, team,
    region or month, with conversions and median days between steps, and the headline figures:
    conversion cycle (first send → won, days) and A-grade close rate

    Supervisors (their team) and admins. A bad group or date is 422 `bad_group` / `bad_date`."""
    given = query(schemas.FunnelQuery)
    rows = funnel.funnel(api_user(), given.group or "month", given.model_dump(exclude_none=True))
    return {"items": [row.as_json() for row in rows]}


_VISITS_ANSWERS = {
    200: (None, "The file"),
    403: (Error, "Not a rep, supervisor or admin (`no_visits`)"),
}


@bp.get("/analytics/visits.xlsx")
@declare(query=schemas.VisitsQuery, answers=_VISITS_ANSWERS)
def visits_xlsx():
    """One row per visit (view session) as .xlsx: delivery, customer, account, visitor, device,
    started, seconds, pages, kind

    The sends are filtered as on the analytics pages; reps get their customers, supervisors
    their team's, admins all. Kind: customer open, forwarded reader, or preview/scan (never
    confirmed); staff views are not visits. Text starting with = + - @ gets a leading '."""
    given = query(schemas.VisitsQuery)
    return visits_response(api_user(), given.model_dump(exclude_none=True), "xlsx")


@bp.get("/analytics/visits.csv")
@declare(query=schemas.VisitsQuery, answers=_VISITS_ANSWERS)
def visits_csv():
    """The same rows as visits.xlsx, as CSV (UTF-8 with a BOM, so Excel reads Chinese)"""
    given = query(schemas.VisitsQuery)
    return visits_response(api_user(), given.model_dump(exclude_none=True), "csv")
