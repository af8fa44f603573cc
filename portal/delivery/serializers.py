"""Deliveries as JSON-ready dicts (the API's shape)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from portal.delivery import bulk
from portal.delivery.models import BulkSend, Delivery
from portal.delivery.services import Sent, current_version
from portal.error_catalogue import sentence

if TYPE_CHECKING:
    from portal.tracking.readtime import DeliveryStats


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def delivery_json(
    delivery: Delivery,
    sent: Sent,
    stats: DeliveryStats | None,
    visitors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "customer_id": delivery.customer_id,
        "template_id": delivery.template_id,
        "template_name": delivery.template.name,
        "version_sent": delivery.version.number,
        "current_version": current_version(delivery).number,
        "version_policy": delivery.policy,
        "sender_email": delivery.sender.email,
        "message": delivery.message,
        "allow_download": delivery.allow_download,
        "watermark": delivery.watermark,
        "passcode_protected": delivery.passcode_hash is not None,
        "created_at": delivery.created_at.isoformat(),
        "expires_at": _iso(delivery.expires_at),
        "revoked_at": _iso(delivery.revoked_at),
        "render_status": delivery.render_status,
        "email_status": delivery.email_status,
        "email_sent_at": _iso(delivery.email_sent_at),
        "url": sent.url,
        "portal_url": sent.portal_url,
        "qr_svg_url": sent.qr_svg_url,
        "opens": stats.opens if stats else 0,
        "previews": stats.previews if stats else 0,
        "internal_views": stats.internal_views if stats else 0,
        "read_seconds": stats.read_seconds if stats else 0,
        "pages": {str(k): v for k, v in (stats.pages if stats else {}).items()},
        "first_opened_at": _iso(stats.first_opened_at if stats else None),
        "last_seen_at": _iso(stats.last_seen_at if stats else None),
        "ask_visitor": delivery.ask_visitor,
        # each device that opened it (portal.delivery.visitors.visitors_of)
        "visitors": visitors or [],
    }


def bulk_json(batch: BulkSend) -> dict[str, Any]:
    """A bulk send with its progress and each customer's delivery (the API's shape)."""
    counts = bulk.progress(batch)
    rows = bulk.items(batch)
    deliveries = bulk.deliveries_of(rows)
    listed = []
    for item in rows:
        delivery = deliveries.get(item.delivery_id) if item.delivery_id else None
        listed.append(
            {
                "customer_id": item.customer_id,
                "delivery_id": item.delivery_id,
                "status": item.status,
                "error": {
                    "code": item.error_code,
                    "message": sentence(item.error_code, bulk.error_params(item))
                    or item.error_code,
                }
                if item.error_code
                else None,
                "render_status": delivery.render_status if delivery else None,
                "email_status": delivery.email_status if delivery else None,
            }
        )
    return {
        "id": batch.id,
        "template_id": batch.template_id,
        "sender_email": batch.sender.email,
        "created_at": batch.created_at.isoformat(),
        "total": counts.total,
        "done": counts.done,
        "failed": counts.failed,
        "queued": counts.total - counts.done - counts.failed,
        "deliveries": listed,
    }
