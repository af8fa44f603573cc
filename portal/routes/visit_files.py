"""The per-visit export as a download (the analytics pages and the API answer alike)."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Response

from portal.accounts.models import User
from portal.db_types import utcnow
from portal.read_models import visits


def visits_response(user: User, args: Mapping[str, str], fmt: str) -> Response:
    name = f"visits-{utcnow():%Y%m%d}.{fmt}"
    return Response(
        visits.export(user, args, fmt),
        mimetype=visits.FORMATS[fmt],
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
