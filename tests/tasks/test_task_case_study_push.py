"""case_study_push: the industry's solution pack lands in the portal, the supervisor hears."""

from __future__ import annotations

from sqlalchemy import select

from portal.delivery.models import Delivery
from portal.extensions import db
from portal.notifications.models import Notification
from portal.tasks.models import SolutionPack, Task
from tests.delivery.helpers import make_customer, make_delivery
from tests.engagement.scoring_support import BROWSER, path_of
from tests.viewer_support import open_in_viewer


def pack_deliveries(customer, template) -> list[Delivery]:
    return list(
        db.session.scalars(
            select(Delivery).where(
                Delivery.customer_id == customer.id, Delivery.template_id == template.id
            )
        )
    )


def pack_notes(user) -> list[Notification]:
    return list(
        db.session.scalars(
            select(Notification).where(
                Notification.user_id == user.id, Notification.kind == "solution_pack.sent"
            )
        )
    )


def push_tasks(customer) -> list[Task]:
    return list(
        db.session.scalars(
            select(Task).where(Task.customer_id == customer.id, Task.rule_key == "case_study_push")
        )
    )


def test_case_study_opened_delivers_the_industry_pack_once(app, client, runner, team):
    result = runner.invoke(args=["tasks", "set-pack", "制造业", str(team.pack.id)])
    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(SolutionPack.template_id)) == team.pack.id

    case = make_delivery(team.rep, team.buyer, team.case_study)
    portal = client.get(path_of(case.portal_url), headers=BROWSER)
    assert team.pack.name not in portal.get_data(as_text=True)

    open_in_viewer(client, path_of(case.url), headers=BROWSER)  # fetched and confirmed
    [sent] = pack_deliveries(team.buyer, team.pack)
    assert sent.sender_id == team.rep.id and sent.policy == "latest"
    assert team.pack.name in client.get(path_of(case.portal_url), headers=BROWSER).get_data(
        as_text=True
    )
    [note] = pack_notes(team.supervisor)
    assert note.customer_id == team.buyer.id
    [task] = push_tasks(team.buyer)
    assert task.owner_id == team.rep.id and task.reason["sent_delivery_id"] == sent.id

    # Opening it again (or clicking a `case` link): no second task, no second pack.
    open_in_viewer(client, path_of(case.url), headers=BROWSER)  # fetched and confirmed
    assert len(pack_deliveries(team.buyer, team.pack)) == 1
    assert len(push_tasks(team.buyer)) == 1
    assert len(pack_notes(team.supervisor)) == 1


def test_case_link_clicked_without_a_pack_opens_a_task_only(app, team):
    from portal import jobs
    from portal.tracking.events import NewEvent, record_many

    customer = make_customer(team.rep, name="郑一", industry="教育")
    quote = make_delivery(team.rep, customer, team.quote)
    record_many(
        [
            NewEvent(
                customer_id=customer.id,
                type="link.clicked",
                delivery_id=quote.delivery.id,
                properties={"content_tag": "case", "href": "https://example.com/case"},
            )
        ]
    )
    jobs.commit()
    [task] = push_tasks(customer)
    assert task.reason["industry"] == "教育" and "pack" not in task.reason
    assert pack_notes(team.supervisor) == []


def test_set_pack_rejects_an_unknown_template(app, runner, team):
    result = runner.invoke(args=["tasks", "set-pack", "制造业", "9999"])
    assert result.exit_code != 0
    assert "no template" in result.output
