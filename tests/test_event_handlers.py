"""The handlers of tracked actions are declared in one place, portal/event_handlers.py, in the
order they run (issue 15, item 4): the app runs exactly that list, in that order; every handler
under portal/ is in it exactly once, with the reason for its place; importing a module
registers nothing."""

from __future__ import annotations

import ast
from pathlib import Path

from portal import event_handlers
from portal.engagement import scoring
from portal.tracking import events
from portal.tracking.events import NewEvent
from tests.delivery.helpers import make_customer

PORTAL = Path(__file__).resolve().parents[1] / "portal"
REGISTRY = PORTAL / "event_handlers.py"
# What a handler takes: a batch of stored events, or the grade changes a batch caused.
HANDLER_ARGUMENTS = {"list[RecordedEvent]": "events", "list[GradeChange]": "grades"}


def _name(function) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def _declared(steps) -> list[str]:
    return [_name(step.run) for step in steps]


def _handlers_in_source() -> dict[str, set[str]]:
    """Every public function under portal/ whose one argument is a handler's, by kind."""
    found: dict[str, set[str]] = {kind: set() for kind in HANDLER_ARGUMENTS.values()}
    for path in PORTAL.rglob("*.py"):
        parts = path.relative_to(PORTAL.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("_"):
                continue
            arguments = node.args.args
            if len(arguments) != 1 or arguments[0].annotation is None:
                continue
            kind = HANDLER_ARGUMENTS.get(ast.unparse(arguments[0].annotation))
            if kind is not None:
                found[kind].add(f"{module}.{node.name}")
    return found


def test_the_app_runs_the_declared_handlers_in_the_declared_order(app):
    assert events.installed() == tuple(step.run for step in event_handlers.EVENT_HANDLERS)
    assert scoring.grade_handlers() == tuple(step.run for step in event_handlers.GRADE_HANDLERS)
    # The order, as declared (a change here is a decision: give it its reason in the registry).
    assert _declared(event_handlers.EVENT_HANDLERS) == [
        "portal.delivery.reactions.notify_opens",
        "portal.delivery.reactions.notify_comment",
        "portal.delivery.reading_alerts.alert_reading",
        "portal.live.publish.publish_reading",
        "portal.engagement.scoring.score_new_events",
        "portal.tasks.handlers.task_rules_on_events",
        "portal.webhooks.hooks.webhook_events",
        "portal.tracking.rollups.roll_up_events",
    ]
    assert _declared(event_handlers.GRADE_HANDLERS) == [
        "portal.tasks.handlers.grade_a_channel",
        "portal.webhooks.hooks.webhook_grades",
    ]


def test_record_many_runs_the_installed_handlers_in_their_order(app, make_user, monkeypatch):
    calls: list[tuple[str, list[int]]] = []
    first = lambda recorded: calls.append(("first", [r.event.id for r in recorded]))  # noqa: E731
    second = lambda recorded: calls.append(("second", [r.event.id for r in recorded]))  # noqa: E731
    monkeypatch.setitem(app.extensions, events.EXTENSION, (first, second))
    customer = make_customer(make_user("rep"))

    stored = events.record_many(
        [NewEvent(customer_id=customer.id, type="external.form") for _ in range(2)]
    )

    ids = [e.id for e in stored]
    assert calls == [("first", ids), ("second", ids)]


def test_an_event_with_no_customer_reaches_only_the_every_event_handlers(app, monkeypatch):
    calls: list[tuple[str, list[int | None]]] = []
    some = lambda recorded: calls.append(("some", [r.event.customer_id for r in recorded]))  # noqa: E731
    every = lambda recorded: calls.append(("every", [r.event.customer_id for r in recorded]))  # noqa: E731
    monkeypatch.setitem(app.extensions, events.EXTENSION, (some, every))
    monkeypatch.setitem(app.extensions, events.EVERY_EVENT, frozenset({every}))

    events.record_many([NewEvent(customer_id=None, type="page.viewed")])

    assert calls == [("every", [None])]


def test_every_handler_is_declared_exactly_once_with_its_reason():
    in_source = _handlers_in_source()
    for kind, steps in (
        ("events", event_handlers.EVENT_HANDLERS),
        ("grades", event_handlers.GRADE_HANDLERS),
    ):
        declared = _declared(steps)
        assert len(declared) == len(set(declared)), f"a {kind} handler is declared twice"
        assert set(declared) == in_source[kind], f"{kind} handlers written but not declared"
        assert all(len(step.why) > 40 for step in steps), "every place in the order has a reason"
    modules = {name.rpartition(".")[0] for names in in_source.values() for name in names}
    assert modules == {
        "portal.delivery.reactions",
        "portal.delivery.reading_alerts",
        "portal.engagement.scoring",
        "portal.live.publish",
        "portal.tasks.handlers",
        "portal.tracking.rollups",
        "portal.webhooks.hooks",
    }
    # Only the reading rollups see a forwarded reader's events (no customer): nothing reacts
    # to them, but they change what the recipient's send counts.
    assert [_name(s.run) for s in event_handlers.EVENT_HANDLERS if s.every_event] == [
        "portal.tracking.rollups.roll_up_events"
    ]


def test_no_module_registers_a_handler_when_imported():
    """Only the registry installs handlers, and only create_app calls it (no decorator, no
    module-level call adds a handler as a side effect of an import)."""
    installers = {"install", "install_grade_handlers", "on_events", "on_grade_change"}
    callers: dict[str, set[str]] = {}
    for path in PORTAL.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef):
                assert (
                    not {
                        ast.unparse(d).split("(")[0].rpartition(".")[2] for d in node.decorator_list
                    }
                    & installers
                ), f"{path}: {node.name} registers itself"
            if isinstance(node, ast.Call):
                called = ast.unparse(node.func)
                if called in {
                    "events.install",
                    "scoring.install_grade_handlers",
                    "event_handlers.install",
                }:
                    callers.setdefault(called, set()).add(path.relative_to(PORTAL).as_posix())
    assert callers == {
        "events.install": {"event_handlers.py"},
        "scoring.install_grade_handlers": {"event_handlers.py"},
        "event_handlers.install": {"__init__.py"},
    }
