from __future__ import annotations

from portal.customers import services
from portal.customers.serializers import customer_json, timeline_json
from portal.jobs import commit
from portal.privacy import erasure, export
from portal.read_models import timeline
from portal.routes.api.base import api_user, bp
from portal.routes.api.declare import body, declare, query
from portal.routes.api.schemas import customers as schemas
from portal.routes.api.schemas.common import Error, IdOnly


@bp.post("/customers")
@declare(
    json=schemas.CustomerInput,
    answers={
        201: (IdOnly, "Created"),
        403: (Error, "The caller keeps no customers (marketing, finance, legal)"),
    },
)
def create_customer():
    """Create a customer (owned by the caller, or by owner_email)"""
    given = body(schemas.CustomerInput)
    fields = services.CustomerFields(
        name=given.name,
        company=given.company or "",
        title=given.title or "",
        email=given.email or None,
        phone=given.phone or None,
        industry=given.industry or None,
        region=given.region or None,
    )
    customer = services.create_customer(api_user(), fields, owner_email=given.owner_email or None)
    commit()
    return {"id": customer.id}, 201


@bp.get("/customers/<int:customer_id>")
@declare(answers={200: schemas.Customer})
def get_customer(customer_id: int):
    """A customer with score, grade and the score breakdown"""
    customer = services.get_customer(api_user(), customer_id)
    return customer_json(customer, services.score_breakdown(customer))


@bp.get("/customers/<int:customer_id>/timeline")
@declare(query=schemas.TimelineQuery, answers={200: schemas.Timeline})
def customer_timeline(customer_id: int):
    """Sends, events and comments, newest first"""
    customer = services.get_customer(api_user(), customer_id)
    limit = query(schemas.TimelineQuery).limit or timeline.DEFAULT_LIMIT
    return {"items": timeline_json(timeline.timeline(customer, limit))}


@bp.post("/customers/<int:customer_id>/erase")
@declare(answers={200: schemas.Erased, 403: (Error, "Only admins erase")})
def erase_customer(customer_id: int):
    """Erase one customer and everything that names them (admins only; cannot be undone).

    Afterwards the customer is 404 and their links answer 410."""
    erasure.erase(api_user(), customer_id)
    commit()
    return {"erased": True}


@bp.get("/customers/<int:customer_id>/export")
@declare(answers={200: schemas.PersonalDataExport, 403: (Error, "Not the owner or an admin")})
def export_customer(customer_id: int):
    """Everything Portal holds about one customer (an admin, or the owning rep)

    Fields, sends, events, view sessions, comments, score entries with their reasons, tasks."""
    data = export.export(api_user(), customer_id)
    commit()
    return data
