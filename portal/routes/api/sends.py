from __future__ import annotations

from portal.delivery import bulk
from portal.delivery.serializers import bulk_json
from portal.jobs import commit
from portal.routes.api.base import api_user, bp
from portal.routes.api.declare import body, declare
from portal.routes.api.schemas import sends as schemas


@bp.post("/sends")
@declare(json=schemas.SendsInput, answers={202: (schemas.BulkSend, "Accepted")})
def create_bulk_send():
    """Send one template to many customers: each gets their own copy and link

    The customers are `customer_ids` and every customer of `account_ids` the caller may see,
    duplicates counted once, at most 1,000 (`bulk_too_large`). A customer the caller may not
    see refuses the whole batch (`bulk_customers_not_visible`, nothing is created). Each
    customer's send, render and e-mail run as a job; follow them with GET /sends/{id}."""
    given = body(schemas.SendsInput)
    batch = bulk.create(
        api_user(),
        given.template_id,
        bulk.BulkOptions(
            version_policy=given.version_policy,
            allow_download=given.allow_download,
            expires_in_days=given.expires_in_days,
            message=given.message or "",
            send_email=given.send_email,
            watermark=given.watermark,
            ask_visitor=given.ask_visitor,
        ),
        customer_ids=given.customer_ids,
        account_ids=given.account_ids,
    )
    batch_id = batch.id
    commit()
    return bulk_json(bulk.get(api_user(), batch_id)), 202


@bp.get("/sends/<int:batch_id>")
@declare(answers={200: schemas.BulkSend})
def get_bulk_send(batch_id: int):
    """A bulk send's progress: total, done, failed, and each customer's delivery

    Only its sender, the sender's supervisor and admins see it."""
    return bulk_json(bulk.get(api_user(), batch_id))


@bp.post("/sends/<int:batch_id>/retry")
@declare(answers={202: (schemas.BulkSend, "Accepted")})
def retry_bulk_send(batch_id: int):
    """Send the batch's failed customers again, and those whose job was lost

    Only the failed items, and items still queued or sending ten minutes after their last
    change (their job was lost); each is queued once however many retries arrive at once.
    A failed item's `error` is its code and the catalogue's sentence for it."""
    bulk.retry_failed(api_user(), batch_id)
    commit()
    return bulk_json(bulk.get(api_user(), batch_id)), 202
