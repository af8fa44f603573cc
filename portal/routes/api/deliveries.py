from __future__ import annotations

from portal.delivery import bundles, link_grants, services, visitors
from portal.delivery.serializers import delivery_json
from portal.jobs import commit
from portal.routes.api.base import api_user, bp
from portal.routes.api.declare import body, declare
from portal.routes.api.schemas import deliveries as schemas
from portal.tracking import links


@bp.post("/deliveries")
@declare(json=schemas.DeliveryInput, answers={201: (schemas.DeliveryCreated, "Created")})
def create_delivery():
    """Send a template (template_id), or a bundle of templates (template_ids), to a customer in
    one click"""
    given = body(schemas.DeliveryInput)
    sent = bundles.send_any(
        api_user(),
        services.SendRequest(
            customer_id=given.customer_id,
            template_id=given.template_id,
            template_ids=given.template_ids,
            version_policy=given.version_policy,
            allow_download=given.allow_download,
            expires_in_days=given.expires_in_days,
            message=given.message or "",
            send_email=given.send_email,
            watermark=given.watermark,  # None: on for quotes
            passcode=given.passcode,
            ask_visitor=given.ask_visitor,
        ),
    )
    commit()
    if isinstance(sent, bundles.SentBundle):
        return _bundle_json(sent), 201
    return {
        "id": sent.delivery.id,
        "url": sent.url,
        "portal_url": sent.portal_url,
        "qr_svg_url": sent.qr_svg_url,
    }, 201


def _bundle_json(sent: bundles.SentBundle) -> dict:
    bundle = sent.bundle
    return {
        "bundle_id": bundle.id,
        "url": sent.url,
        "portal_url": sent.portal_url,
        "deliveries": [
            {
                "id": doc.delivery.id,
                "template_id": doc.delivery.template_id,
                "url": doc.url,
                "qr_svg_url": doc.qr_svg_url,
            }
            for doc in sent.documents
        ],
    }


def _bundle_response(bundle) -> dict:
    sent = bundles.sent_bundle(bundle)
    revoked_at = bundles.bundle_link_of(bundle).revoked_at
    answer = _bundle_json(sent)
    return {
        "id": answer.pop("bundle_id"),
        "customer_id": bundle.customer_id,
        "created_at": bundle.created_at.isoformat(),
        "revoked_at": revoked_at.isoformat() if revoked_at else None,
        "url": answer["url"],
        "deliveries": answer["deliveries"],
    }


@bp.get("/bundles/<int:bundle_id>")
@declare(answers={200: schemas.Bundle})
def get_bundle(bundle_id: int):
    """A bundle (资料包): its link and its deliveries (each read on its own at
    /deliveries/<id>)"""
    return _bundle_response(bundles.get_bundle(api_user(), bundle_id))


@bp.post("/bundles/<int:bundle_id>/revoke")
@declare(json=schemas.RevokeInput, optional_body=True, answers={200: schemas.Bundle})
def revoke_bundle(bundle_id: int):
    """Revoke a bundle: its link and each of its deliveries answer 410 from the next request

    With reason `leaked` the customer's portal link is rotated too. The body is optional."""
    reason = link_grants.parse_reason(body(schemas.RevokeInput).reason)
    bundle = bundles.revoke_bundle(api_user(), bundle_id, reason)
    commit()
    return _bundle_response(bundle)


def _delivery_response(delivery):
    from portal.tracking.readtime import delivery_stats

    stats = delivery_stats([delivery.id]).get(delivery.id)
    return delivery_json(
        delivery, services.sent_view(delivery), stats, visitors.visitors_of(delivery)
    )


@bp.post("/deliveries/<int:delivery_id>/revoke")
@declare(json=schemas.RevokeInput, optional_body=True, answers={200: schemas.Delivery})
def revoke_delivery(delivery_id: int):
    """Revoke a delivery: its link, and every link its pages gave out, answer 410 from the next
    request

    With reason `leaked` (the link was forwarded or leaked) the customer's portal link is
    rotated too. The body is optional."""
    reason = link_grants.parse_reason(body(schemas.RevokeInput).reason)
    delivery = services.revoke(api_user(), delivery_id, reason)
    commit()
    return _delivery_response(delivery)


@bp.get("/deliveries/<int:delivery_id>")
@declare(answers={200: schemas.Delivery})
def get_delivery(delivery_id: int):
    """A delivery with opens, previews, internal views, read time and seconds per page"""
    return _delivery_response(services.get_delivery(api_user(), delivery_id))


@bp.post("/customers/<int:customer_id>/portal-link/rotate")
@declare(answers={200: schemas.PortalLink})
def rotate_portal_link(customer_id: int):
    """Revoke the customer's portal link and issue a new one: the old link and the document
    links opened from it answer 410"""
    link = link_grants.rotate_portal_link(api_user(), customer_id)
    commit()
    return {
        "portal_url": links.external_url("customer.portal_home", token=links.token_for(link)),
        "expires_at": link.expires_at.isoformat() if link.expires_at else None,
    }
