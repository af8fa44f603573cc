"""The staff dashboard and the health check."""

from __future__ import annotations

from flask import Blueprint, Response, render_template
from flask_login import current_user, login_required

from portal.accounts.models import Role
from portal.db_types import utcnow
from portal.extensions import limiter
from portal.library import services
from portal.notifications import services as notifications
from portal.read_models import funnel, overview

bp = Blueprint("main", __name__)

RECENT_TEMPLATES = 5
RECENT_CUSTOMERS = 5
RECENT_NOTIFICATIONS = 5


@bp.get("/")
@login_required
def index():
    templates = services.list_templates(current_user)
    sales = current_user.role in (Role.REP, Role.SUPERVISOR)
    notes = notifications.recent(current_user, RECENT_NOTIFICATIONS) if sales else []
    return render_template(
        "main/dashboard.html",
        recent=templates[:RECENT_TEMPLATES],
        template_count=len(templates),
        sales=sales,
        customers=overview.list_customers(current_user, limit=RECENT_CUSTOMERS) if sales else [],
        customer_count=overview.count_customers(current_user) if sales else 0,
        notes=[(n, notifications.describe(n)) for n in notes],
        headline=funnel.headline(current_user, utcnow())
        if funnel.may_see_funnel(current_user)
        else None,
    )


@bp.get("/healthz")
@limiter.exempt
def healthz():
    return Response("ok", mimetype="text/plain")
