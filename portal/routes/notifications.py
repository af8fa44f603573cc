"""The staff member's notifications: the list, mark all read, the unread badge, and the
preferences page (which alerts come how, quiet hours)."""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from portal import jobs
from portal.channels import services as channel_services
from portal.errors import PortalError, ValidationFailed
from portal.extensions import db
from portal.library.forms import ActionForm
from portal.notifications import inbox, preferences, services

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

LIST_LIMIT = 50
_UNREAD = "portal.unread_notifications"


@bp.before_request
def require_login():
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    return None


def unread_notifications() -> int:
    """The signed-in user's unread count: one COUNT, only when a page asks (the nav badge),
    at most once per request; 0 without a query for visitors."""
    if not (current_user and current_user.is_authenticated):
        return 0
    if _UNREAD not in g:
        g.setdefault(_UNREAD, services.unread_count(current_user))
    return g.get(_UNREAD, 0)


@bp.app_context_processor
def _badge() -> dict[str, Any]:
    return {"unread_notifications": unread_notifications}


@bp.get("/")
def index():
    items = services.recent(current_user, LIST_LIMIT)
    return render_template(
        "notifications/index.html",
        items=[(n, services.describe(n)) for n in items],
        unread=sum(1 for n in items if n.read_at is None),
        form=ActionForm(formdata=None),
    )


@bp.post("/read")
def mark_all_read():
    if not ActionForm().validate():
        abort(400)
    services.mark_all_read(current_user)
    jobs.commit()
    flash(_("All notifications are marked as read."), "success")
    return redirect(url_for(".index"))


@bp.get("/<int:notification_id>")
def open_one(notification_id: int):
    notification = inbox.open_notification(current_user, notification_id)
    target = inbox.safe_target(notification.url)
    jobs.commit()
    return redirect(target or url_for(".index"))


def _preferences_from(form) -> dict[str, Any]:
    """The preferences form's fields as preferences.set_preferences takes them."""
    return {
        "alerts": {
            alert.key: [t for t in alert.transports if form.get(f"{alert.key}:{t}") == "on"]
            for alert in preferences.ALERTS
        },
        "quiet_hours": {
            "enabled": form.get("quiet_enabled") == "on",
            "start": form.get("quiet_start", ""),
            "end": form.get("quiet_end", ""),
        },
    }


@bp.route("/preferences", methods=["GET", "POST"])
def preferences_page():
    error: PortalError | None = None
    if request.method == "POST":
        if not ActionForm().validate():
            abort(400)
        try:
            preferences.set_preferences(current_user, _preferences_from(request.form))
            jobs.commit()
            flash(_("Your notification preferences are saved."), "success")
            return redirect(url_for(".preferences_page"))
        except ValidationFailed as exc:
            db.session.rollback()
            error = exc
    return render_template(
        "notifications/preferences.html",
        prefs=preferences.get_preferences(current_user),
        alerts=preferences.ALERTS,
        channels=channel_services.channels_for(current_user),
        timezone=current_app.config.get("BABEL_DEFAULT_TIMEZONE"),
        error=error,
        form=ActionForm(formdata=None),
    ), (422 if error else 200)
