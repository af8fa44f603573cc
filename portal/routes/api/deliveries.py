from __future__ import annotations

from flask import request

from portal.db_types import MAX_ID, is_row_id
from portal.delivery import link_grants, services, visitors
from portal.delivery.serializers import delivery_json
from portal.errors import ValidationFailed
from portal.jobs import commit
from portal.routes.api.base import api_user, bp, json_body
from portal.tracking import links


def _int(body: dict, key: str, *, required: bool = False) -> int | None:
    value = body.get(key)
    if value is None:
        if required:
            raise ValidationFailed(f"{key} is required", code="required", field=key)
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationFailed(f"{key} must be an integer", code="not_an_integer", field=key)
    if required and not is_row_id(value):
        raise ValidationFailed(f"{key} must be an id from 1 to {MAX_ID}", code="bad_id", field=key)
    return value


def _bool(body: dict, key: str, default: bool) -> bool:
    value = body.get(key, default)
    if not isinstance(value, bool):
        raise ValidationFailed(f"{key} must be true or false", code="not_a_boolean", field=key)
    return value


def _optional_bool(body: dict, key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise ValidationFailed(f"{key} must be true or false", code="not_a_boolean", field=key)
    return value


def _str(body: dict, key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise ValidationFailed(f"{key} must be a string", field=key, code="not_a_string")
    return value


@bp.post("/deliveries")
def create_delivery():
    body = json_body()
    message = _str(body, "message") or ""
    sent = services.send(
        api_user(),
        services.SendRequest(
            customer_id=_int(body, "customer_id", required=True),
            template_id=_int(body, "template_id", required=True),
            version_policy=_str(body, "version_policy"),
            allow_download=_bool(body, "allow_download", True),
            expires_in_days=_int(body, "expires_in_days"),
            message=message,
            send_email=_bool(body, "send_email", False),
            watermark=_optional_bool(body, "watermark"),  # absent: on for quotes
            ask_visitor=_str(body, "ask_visitor"),
            passcode=_str(body, "passcode"),
        ),
    )
    commit()
    return {
        "id": sent.delivery.id,
        "url": sent.url,
        "portal_url": sent.portal_url,
        "qr_svg_url": sent.qr_svg_url,
    }, 201


def _delivery_response(delivery):
    from portal.tracking.readtime import delivery_stats

    stats = delivery_stats([delivery.id]).get(delivery.id)
    return delivery_json(
        delivery, services.sent_view(delivery), stats, visitors.visitors_of(delivery)
    )


@bp.post("/deliveries/<int:delivery_id>/revoke")
def revoke_delivery(delivery_id: int):
    # The body is optional: {"reason": "leaked"} revokes for cause (the portal link rotates).
    body = json_body() if request.content_length else {}
    reason = link_grants.parse_reason(body.get("reason"))
    delivery = services.revoke(api_user(), delivery_id, reason)
    commit()
    return _delivery_response(delivery)


@bp.get("/deliveries/<int:delivery_id>")
def get_delivery(delivery_id: int):
    return _delivery_response(services.get_delivery(api_user(), delivery_id))


@bp.post("/customers/<int:customer_id>/portal-link/rotate")
def rotate_portal_link(customer_id: int):
    link = link_grants.rotate_portal_link(api_user(), customer_id)
    commit()
    return {
        "portal_url": links.external_url("customer.portal_home", token=links.token_for(link)),
        "expires_at": link.expires_at.isoformat() if link.expires_at else None,
    }
