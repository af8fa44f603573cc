"""GET /api/v1/tasks: the caller's tasks (a supervisor: their team's)."""

from __future__ import annotations

from portal.db_types import utcnow
from portal.routes.api.base import api_user, bp
from portal.routes.api.declare import declare, query
from portal.routes.api.schemas.activity import TaskList, TaskQuery
from portal.tasks import services


@bp.get("/tasks")
@declare(query=TaskQuery, answers={200: TaskList})
def list_tasks():
    """The caller's tasks (a supervisor: their team's and their own)"""
    now = utcnow()
    # An unknown status is the service's 422.
    tasks = services.list_tasks(api_user(), query(TaskQuery).status, now=now)
    return {"items": [services.task_json(task, now) for task in tasks]}
