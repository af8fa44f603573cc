"""The team funnel page (supervisors, admins): portal.read_models.funnel, with the customers
behind a number one click away; the per-visit export (.xlsx, .csv) the analytics pages link to,
with their filters (portal.read_models.visits)."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request
from flask_login import current_user

from portal.read_models import funnel
from portal.routes.visit_files import visits_response

bp = Blueprint("analytics", __name__, url_prefix="/analytics")


@bp.before_request
def require_login():
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    return None


@bp.get("/funnel")
def funnel_page():
    group = request.args.get("group") or "month"
    rows = funnel.funnel(current_user, group, request.args)
    key = request.args.get("key")
    chosen = funnel.step_of(rows, key, request.args.get("step"))
    return render_template(
        "analytics/funnel.html",
        rows=rows,
        group=group,
        groups=funnel.GROUPS,
        steps=funnel.STEPS,
        args=request.args,
        chosen=chosen,
        chosen_key=key,
    )


@bp.get("/visits.xlsx")
def visits_xlsx():
    """The per-visit export with the filters of the page it is linked from."""
    return visits_response(current_user, request.args, "xlsx")


@bp.get("/visits.csv")
def visits_csv():
    return visits_response(current_user, request.args, "csv")
