"""Who reacts to tracked actions, in the order they run: the one list.

portal.tracking.events.record_many stores a batch of events and, in the same transaction, hands
it (RecordedEvents: the row and its first_open) to EVENT_HANDLERS, one after the other in this
order; scoring hands the grade changes a batch causes to GRADE_HANDLERS, in this order, while it
runs. create_app installs both lists on the app (install); importing a handler's module
registers nothing. A new handler is added here, at the place its reason gives, with the reason.

Every handler runs inside the transaction that stored the events: it writes rows and defers
what leaves the database (mail, webhook sends) with portal.jobs.defer, run after the commit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from flask import Flask

from portal.delivery import reactions, reading_alerts
from portal.engagement import scoring
from portal.live import publish as live
from portal.tasks import handlers as task_rules
from portal.tracking import events, rollups
from portal.webhooks import hooks


@dataclass(frozen=True)
class Step:
    run: Callable[[list[Any]], None]
    why: str  # its place in the order
    every_event: bool = False  # also handed events with no customer (a forwarded reader's)


EVENT_HANDLERS: Final = (
    Step(
        reactions.notify_opens,
        "First: the owner hears of what the customer did (a first open, reading again after "
        "days) before anything it leads to (a task, a grade A, a solution pack sent), so "
        "notifications read in the order of cause and effect.",
    ),
    Step(
        reactions.notify_comment,
        "With the first open, for the same reason: the customer's comment is noted before the "
        "follow-up task it opens (which, for that reason, does not notify the owner again).",
    ),
    Step(
        reading_alerts.alert_reading,
        "With the other alerts of what the customer did (read > 2 min, a pricing page), "
        "before the tasks and grades they lead to.",
    ),
    Step(
        live.publish_reading,
        "With the alerts, for the same reason: it only stages one message per reading session "
        "(who reads which page now), published on Redis after the commit, and changes nothing "
        "the others read.",
    ),
    Step(
        scoring.score_new_events,
        "Before the task rules: scoring locks the batch's customers (PostgreSQL, in id order), "
        "so concurrent batches for one customer queue here, before any task row is written; "
        "and the grade changes it finds run GRADE_HANDLERS (grade A's task) first.",
    ),
    Step(
        task_rules.task_rules_on_events,
        "After scoring: the customers' rows are locked by then, so its check for an open task "
        "(open_task) sees what a concurrent batch for the same customer committed; and grade "
        "A's task, opened while scoring, comes before the tasks of the event rules.",
    ),
    Step(
        hooks.webhook_events,
        "Last of the reactions: it only queues payloads (sent after the commit) and changes "
        "nothing the others read. Kept where it always ran, so the queued payloads of one "
        "batch keep their order: what scoring and the task rules queued first, then "
        "delivery.opened and comment.created.",
    ),
    Step(
        rollups.roll_up_events,
        "After the reactions: the reading rollups content analytics reads (per send and page) "
        "are written by no one else and read by no handler, so their place changes nothing the "
        "others see; last, their row locks (opens recounted per send) are held the shortest. "
        "Every event, a forwarded reader's too: their confirmation moves a session off the "
        "recipient's previews.",
        every_event=True,
    ),
)

GRADE_HANDLERS: Final = (
    Step(
        task_rules.grade_a_channel,
        "First: grade A opens the priority task (and its task.created payload) that the "
        "supervisor is told of.",
    ),
    Step(
        hooks.webhook_grades,
        "Last, as for events: it only queues customer.grade_changed payloads.",
    ),
)


def install(app: Flask) -> None:
    """Called once by create_app: this app runs the handlers above, in this order."""
    events.install(
        app,
        (step.run for step in EVENT_HANDLERS),
        every_event=(step.run for step in EVENT_HANDLERS if step.every_event),
    )
    scoring.install_grade_handlers(app, (step.run for step in GRADE_HANDLERS))
