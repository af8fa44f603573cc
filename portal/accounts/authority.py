"""Who may change the shared settings: one rule the services check themselves.

The admin pages refuse everyone but admins before any service runs, but a service is also called
from the API, the CLI, imports and jobs; so each state-changing service of the admin area checks
its caller here (issue 17: a check that only a form or route made was bypassed through the API).
"""

from __future__ import annotations

from portal.accounts.models import Role, User
from portal.errors import PermissionDenied


def require_admin(by: User | None, action: str) -> None:
    """`by` is the person asking; None is the CLI or the system, where no person asks (whoever
    runs the CLI already holds the server). Anyone else but an admin is refused."""
    if by is not None and by.role != Role.ADMIN:
        raise PermissionDenied(f"only an admin may {action}")
