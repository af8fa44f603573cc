from __future__ import annotations

from portal.customers.services import get_customer
from portal.recommendations.service import recommend
from portal.routes.api.base import api_user, bp
from portal.routes.api.declare import body, declare
from portal.routes.api.schemas.activity import RecommendationInput, Recommendations


@bp.post("/recommendations")
@declare(json=RecommendationInput, answers={200: Recommendations})
def recommendations():
    """Templates to send for a customer's chat message, with reasons"""
    given = body(RecommendationInput)
    user = api_user()
    customer = get_customer(user, given.customer_id)
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
            for r in recommend(user, customer, given.text)
        ]
    }
