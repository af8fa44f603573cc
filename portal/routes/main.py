"""The staff dashboard and the health check."""

from __future__ import annotations

from flask import Blueprint, Response, render_template
from flask_login import current_user, login_required

from portal.extensions import limiter
from portal.library import services

bp = Blueprint("main", __name__)

RECENT_TEMPLATES = 5


@bp.get("/")
@login_required
def index():
    templates = services.list_templates(current_user)
    return render_template(
        "main/dashboard.html",
        recent=templates[:RECENT_TEMPLATES],
        template_count=len(templates),
    )


@bp.get("/healthz")
@limiter.exempt
def healthz():
    return Response("ok", mimetype="text/plain")
