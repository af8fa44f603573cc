"""GET /api/v1/audit: the audit log of staff actions (admins only), newest first."""

from __future__ import annotations

from flask import request

from portal.audit import service as audit
from portal.routes.api.base import api_user, bp


@bp.get("/audit")
def list_audit():
    found = audit.search(api_user(), audit.AuditQuery.parse(request.args))
    return {
        "items": [audit.as_json(entry) for entry in found.items],
        "page": found.page,
        "per_page": found.per_page,
        "total": found.total,
    }
