from __future__ import annotations

from flask import request

from portal.customers import services
from portal.customers.serializers import customer_json, timeline_json
from portal.errors import ValidationFailed
from portal.jobs import commit
from portal.privacy import erasure, export
from portal.read_models import timeline
from portal.routes.api.base import api_user, bp, json_body


@bp.post("/customers")
def create_customer():
    body = json_body()
    fields = services.CustomerFields(
        name=_text(body, "name"),
        company=_text(body, "company"),
        title=_text(body, "title"),
        email=_text(body, "email") or None,
        phone=_text(body, "phone") or None,
        industry=_text(body, "industry") or None,
        region=_text(body, "region") or None,
    )
    customer = services.create_customer(
        api_user(), fields, owner_email=_text(body, "owner_email") or None
    )
    commit()
    return {"id": customer.id}, 201


def _text(body: dict, key: str) -> str:
    value = body.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationFailed(f"{key} must be a string", code="not_a_string", field=key)
    return value


@bp.get("/customers/<int:customer_id>")
def get_customer(customer_id: int):
    customer = services.get_customer(api_user(), customer_id)
    return customer_json(customer, services.score_breakdown(customer))


@bp.get("/customers/<int:customer_id>/timeline")
def customer_timeline(customer_id: int):
    customer = services.get_customer(api_user(), customer_id)
    limit = request.args.get("limit", default=timeline.DEFAULT_LIMIT, type=int)
    return {"items": timeline_json(timeline.timeline(customer, max(1, min(limit, 1000))))}


@bp.post("/customers/<int:customer_id>/erase")
def erase_customer(customer_id: int):
    erasure.erase(api_user(), customer_id)
    commit()
    return {"erased": True}


@bp.get("/customers/<int:customer_id>/export")
def export_customer(customer_id: int):
    data = export.export(api_user(), customer_id)
    commit()
    return data
