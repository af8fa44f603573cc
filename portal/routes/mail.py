"""The e-mail open pixel."""

from __future__ import annotations

import base64

from flask import Blueprint, Response

from portal.delivery.email import delivery_for_pixel
from portal.delivery.opens import record_email_open
from portal.jobs import commit
from portal.routes import rate_limits

bp = Blueprint("mail", __name__)

# 1x1 transparent GIF
_PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


@bp.get("/e/<token>.gif")
@rate_limits.limit("PIXEL_RATE_LIMIT", rate_limits.path_token_and_address)
def open_pixel(token: str) -> Response:
    delivery_id = delivery_for_pixel(token)
    if delivery_id is not None and record_email_open(delivery_id):
        commit()
    # Always the same answer: a pixel reveals nothing about the token.
    return Response(
        _PIXEL,
        mimetype="image/gif",
        headers={"Cache-Control": "no-store, max-age=0", "Pragma": "no-cache"},
    )
