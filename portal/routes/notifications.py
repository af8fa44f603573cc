"""The staff member's notifications: the list, mark all read, and the unread badge."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal import jobs
from portal.library.forms import ActionForm
from portal.notifications import inbox, services

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
