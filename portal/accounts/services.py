"""Creating users, checking passwords, issuing and resolving API tokens."""

from __future__ import annotations

import functools
import hashlib
import secrets

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from portal.accounts import passwords
from portal.accounts.authority import require_admin
from portal.accounts.models import ApiToken, Role, User
from portal.audit import service as audit
from portal.db_types import utcnow
from portal.errors import ValidationFailed
from portal.extensions import db

TOKEN_PREFIX = "ptl_"  # noqa: S105  (a public prefix, not a secret)


def normalize_email(email: str) -> str:
    try:
        return validate_email(email.strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise ValidationFailed(
            f"invalid e-mail address {email!r}: {exc}", code="invalid_email", field="email"
        ) from None


def get_user_by_email(email: str) -> User | None:
    return db.session.scalar(select(User).where(User.email == email.strip().lower()))


def create_user(
    email: str,
    *,
    name: str,
    role: str,
    password: str,
    supervisor_email: str | None = None,
    team: str | None = None,
    region: str | None = None,
    by: User | None = None,
) -> User:
    require_admin(by, "create accounts")
    email = normalize_email(email)
    if role not in {r.value for r in Role}:
        raise ValidationFailed(
            f"role must be one of {', '.join(r.value for r in Role)}", code="bad_role", field="role"
        )
    if not name.strip():
        raise ValidationFailed("name is required", code="name_required", field="name")
    passwords.check(password, email=email, name=name)
    if get_user_by_email(email):
        raise ValidationFailed(
            f"a user with e-mail {email} already exists", code="email_taken", field="email"
        )
    supervisor = None
    if supervisor_email:
        supervisor = get_user_by_email(supervisor_email)
        if supervisor is None:
            raise ValidationFailed(
                f"no user with e-mail {supervisor_email}",
                code="unknown_supervisor",
                field="supervisor_email",
            )
        if supervisor.role not in (Role.SUPERVISOR, Role.ADMIN):
            raise ValidationFailed(
                f"{supervisor_email} is not a supervisor",
                code="not_a_supervisor",
                field="supervisor_email",
            )
    user = User(
        email=email,
        name=name.strip(),
        role=role,
        password_hash=generate_password_hash(password),
        supervisor=supervisor,
        team=team or None,
        region=region or None,
    )
    db.session.add(user)
    db.session.flush()
    audit.record(
        "user.created",
        user,
        by=by,
        summary=user.email,
        details={"role": user.role, "team": user.team, "region": user.region},
    )
    return user


def change_user(
    user: User,
    *,
    by: User | None,
    role: str | None = None,
    team: str | None = None,
    region: str | None = None,
    active: bool | None = None,
) -> dict[str, list]:
    """Change what is given (None: keep; "" clears team or region); {field: [old, new]}.
    `by` None: the CLI."""
    require_admin(by, "change accounts")
    if (
        by is not None
        and by.id == user.id
        and by.role == Role.ADMIN
        and ((role is not None and role != Role.ADMIN) or active is False)
    ):
        raise ValidationFailed(
            "you cannot take away your own admin access: ask another admin",
            code="own_admin_access",
            field="role",
        )
    if role is not None and role not in {r.value for r in Role}:
        raise ValidationFailed(
            f"role must be one of {', '.join(r.value for r in Role)}", code="bad_role", field="role"
        )
    wanted = {"role": role, "team": team, "region": region, "active": active}
    changes: dict[str, list] = {}
    for name, value in wanted.items():
        if value is None:
            continue
        value = (value.strip() or None) if isinstance(value, str) else value
        if getattr(user, name) != value:
            changes[name] = [getattr(user, name), value]
            setattr(user, name, value)
    if changes:
        db.session.flush()
        audit.record("user.changed", user, by=by, summary=user.email, details=changes)
    return changes


def authenticate(email: str, password: str) -> User | None:
    """The account, when the password is right and it may sign in.

    Every path does the same work, one password hash check, so the answer's timing does not tell
    an unknown or deactivated account from a wrong password (tests/security/test_sign_in.py).
    """
    user = get_user_by_email(email)
    matches = check_password_hash(user.password_hash if user else _dummy_hash(), password)
    if user is None or not user.active or not matches:
        return None
    return user


@functools.cache
def _dummy_hash() -> str:
    """What an unknown account's password is checked against: a hash made the way real ones
    are. Made on first use, not at import: a hash costs 60–180 ms of CPU, and every process
    that imports the app (each gunicorn and RQ worker, each `flask` command) paid it."""
    return generate_password_hash("not-a-real-password")


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_api_token(user: User, name: str = "", by: User | None = None) -> str:
    """Create a token for user and return it; only its hash is kept (and never audited).

    `by` None: the CLI; a person makes a token for themself, an admin for anyone."""
    if by is not None and by.id != user.id:
        require_admin(by, "make API tokens for someone else")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user=user, token_hash=_hash_token(token), prefix=token[:10], name=name)
    db.session.add(row)
    db.session.flush()
    audit.record(
        "api_token.created",
        row,
        by=by,
        summary=f"{user.email}: {name}",
        details={"for": user.email},
    )
    return token


def user_for_token(token: str) -> User | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = db.session.scalar(select(ApiToken).where(ApiToken.token_hash == _hash_token(token)))
    if row is None or row.revoked_at is not None or not row.user.active:
        return None
    row.last_used_at = utcnow()
    return row.user
