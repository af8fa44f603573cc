from __future__ import annotations

from portal.customers.services import get_customer
from portal.db_types import is_row_id
from portal.errors import ValidationFailed
from portal.recommendations.service import MAX_TEXT, recommend
from portal.routes.api.base import api_user, bp, json_body


@bp.post("/recommendations")
def recommendations():
    body = json_body()
    customer_id = body.get("customer_id")
    if not is_row_id(customer_id):
        raise ValidationFailed(
            "customer_id is required (an integer id)", code="required", field="customer_id"
        )
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ValidationFailed(
            "text is required (the customer's message)", code="required", field="text"
        )
    if len(text) > MAX_TEXT:
        raise ValidationFailed(
            f"text is longer than {MAX_TEXT} characters",
            code="text_too_long",
            field="text",
            limit=MAX_TEXT,
        )
    user = api_user()
    customer = get_customer(user, customer_id)
    return {
        "items": [
            {
                "template_id": r.template.id,
                "name": r.template.name,
                "reason": r.reason,
                "matched": r.words,
                "kind": r.template.kind,
                "industry": r.template.industry,
                "other_industry": r.other_industry,
            }
            for r in recommend(user, customer, text)
        ]
    }
