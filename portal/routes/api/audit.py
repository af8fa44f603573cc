"""GET /api/v1/audit: the audit log of staff actions (admins only), newest first."""

from __future__ import annotations

from portal.audit import service as audit
from portal.routes.api.base import api_user, bp
from portal.routes.api.declare import declare, query
from portal.routes.api.schemas.activity import AuditPage, AuditQuery
from portal.routes.api.schemas.common import Error


@bp.get("/audit")
@declare(query=AuditQuery, answers={200: AuditPage, 403: (Error, "The caller is not an admin")})
def list_audit():
    """The audit log of staff actions, newest first (admins only)"""
    given = query(AuditQuery).model_dump(exclude_none=True)
    # The log's own parser reads the dates (the admin page shares it).
    found = audit.search(api_user(), audit.AuditQuery.parse({k: str(v) for k, v in given.items()}))
    return {
        "items": [audit.as_json(entry) for entry in found.items],
        "page": found.page,
        "per_page": found.per_page,
        "total": found.total,
    }
