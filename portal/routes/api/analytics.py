"""Analytics over the API: a template's figures (portal.read_models.analytics), the team
funnel with its headline figures (portal.read_models.funnel) and the per-visit export
(portal.read_models.visits)."""

from __future__ import annotations

from flask import request

from portal.read_models import analytics, funnel
from portal.routes.api.base import api_user, bp
from portal.routes.visit_files import visits_response


@bp.get("/templates/<int:template_id>/analytics")
def template_analytics(template_id: int):
    filters = analytics.parse_filters(request.args)
    figures = analytics.analytics_of_template(api_user(), template_id, filters)
    return {"template_id": template_id, "version": filters.version} | figures.as_json()


@bp.get("/analytics/funnel")
def team_funnel():
    rows = funnel.funnel(api_user(), request.args.get("group") or "month", request.args)
    return {"items": [row.as_json() for row in rows]}


@bp.get("/analytics/visits.xlsx")
def visits_xlsx():
    return visits_response(api_user(), request.args, "xlsx")


@bp.get("/analytics/visits.csv")
def visits_csv():
    return visits_response(api_user(), request.args, "csv")
