"""The rep's task inbox (/tasks) and the supervisor's view of the team (/tasks/team)."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal import jobs
from portal.accounts.models import Role
from portal.db_types import utcnow
from portal.library.forms import ActionForm
from portal.tasks import services
from portal.tasks.rules import reason_for, title_for

bp = Blueprint("tasks", __name__, url_prefix="/tasks")


@bp.before_request
def require_login():
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    return None


def _rows(tasks):
    events = services.events_of(tasks)
    return [
        {
            "task": task,
            "title": title_for(task.rule_key),
            "reason": reason_for(task.rule_key, task.reason or {}),
            "events": [events[i] for i in task.event_ids or [] if i in events],
        }
        for task in tasks
    ]


@bp.get("")
def index():
    tab = request.args.get("tab", "open")
    if tab not in services.TABS:
        tab = "open"
    now = utcnow()
    tasks = services.list_tasks(current_user, tab, owner_ids=[current_user.id], now=now)
    return render_template(
        "tasks/index.html",
        tab=tab,
        tabs=services.TABS,
        rows=_rows(tasks),
        counts=services.counts(current_user, now) if current_user.role == Role.REP else None,
        now=now,
        form=ActionForm(formdata=None),
    )


@bp.get("/team")
def team():
    if current_user.role not in (Role.SUPERVISOR, Role.ADMIN):
        abort(404)
    now = utcnow()
    return render_template(
        "tasks/team.html",
        rows=_rows(services.team_tasks(current_user, now)),
        now=now,
    )


@bp.post("/<int:task_id>/done")
def done(task_id: int):
    if not ActionForm().validate():
        abort(400)
    services.complete(current_user, task_id)
    jobs.commit()
    flash(_("Task done."), "success")
    return redirect(url_for(".index", tab=request.args.get("tab", "open")))


@bp.post("/<int:task_id>/snooze")
def snooze(task_id: int):
    if not ActionForm().validate():
        abort(400)
    services.snooze(current_user, task_id)
    jobs.commit()
    flash(_("Task snoozed until tomorrow."), "success")
    return redirect(url_for(".index", tab=request.args.get("tab", "open")))
