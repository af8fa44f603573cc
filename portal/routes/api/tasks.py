"""GET /api/v1/tasks: the caller's tasks (a supervisor: their team's)."""

from __future__ import annotations

from flask import request

from portal.db_types import utcnow
from portal.routes.api.base import api_user, bp
from portal.tasks import services


@bp.get("/tasks")
def list_tasks():
    status = request.args.get("status", "open")
    now = utcnow()
    tasks = services.list_tasks(api_user(), status, now=now)  # 422 on an unknown status
    return {"items": [services.task_json(task, now) for task in tasks]}
