"""Adding, listing and removing chat channels, and who may.

An admin manages every channel. A supervisor manages their team's channel (their own team, or
a team of one of their reps) and the personal channels of their reps and their own. Anyone else
manages only their own personal channel. A channel outside that scope is "not found".
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from portal.accounts.models import User
from portal.audit import service as audit
from portal.channels import secrets, vendors
from portal.channels.models import ChatChannel
from portal.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db

MAX_URL = 500
MAX_SECRET = 200
MAX_NAME = 80


def _supervised(user: User) -> list[User]:
    return list(db.session.scalars(select(User).where(User.supervisor_id == user.id)))


def _teams_of(user: User) -> set[str]:
    teams = {user.team} if user.team else set()
    if user.role == "supervisor":
        teams |= {u.team for u in _supervised(user) if u.team}
    return teams


def _users_of(user: User) -> set[int]:
    ids = {user.id}
    if user.role == "supervisor":
        ids |= {u.id for u in _supervised(user)}
    return ids


def may_manage(user: User, channel: ChatChannel) -> bool:
    if user.role == "admin":
        return True
    if channel.user_id is not None:
        return channel.user_id in _users_of(user)
    return user.role == "supervisor" and channel.team in _teams_of(user)


def _validate_url(kind: str, url: str) -> str:
    url = (url or "").strip()
    if kind not in vendors.KINDS:
        raise ValidationFailed(
            f"kind must be one of {', '.join(vendors.KINDS)}", code="bad_kind", field="kind"
        )
    if not url or len(url) > MAX_URL:
        raise ValidationFailed(
            f"the URL must be 1 to {MAX_URL} characters",
            field="url",
            code="bad_url_length",
            limit=MAX_URL,
        )
    prefixes = vendors.URL_PREFIXES[kind]
    if not any(url.startswith(p) and len(url) > len(p) for p in prefixes):
        raise ValidationFailed(
            f"a {kind} robot's URL starts with {prefixes[0]}", code="bad_channel_url", field="url"
        )
    if any(c in url for c in " \r\n\t#"):
        raise ValidationFailed(
            "the URL has characters a robot URL never has", field="url", code="bad_channel_url"
        )
    return url


def create_channel(
    by: User,
    *,
    kind: str,
    url: str,
    secret: str | None = None,
    team: str | None = None,
    user_email: str | None = None,
    name: str = "",
) -> ChatChannel:
    """A new channel for a team or for one staff member, within `by`'s scope."""
    url = _validate_url(kind, url)
    secret = (secret or "").strip() or None
    if secret is not None and len(secret) > MAX_SECRET:
        raise ValidationFailed(
            f"the secret is at most {MAX_SECRET} characters",
            field="secret",
            code="secret_too_long",
            limit=MAX_SECRET,
        )
    name = (name or "").strip()[:MAX_NAME]
    team = (team or "").strip() or None
    user_email = (user_email or "").strip().lower() or None
    if (team is None) == (user_email is None):
        raise ValidationFailed(
            "give either team (a team name) or user (a staff e-mail)", code="owner_required"
        )
    owner: User | None = None
    if user_email is not None:
        owner = db.session.scalar(
            select(User).where(User.email == user_email, User.active.is_(True))
        )
        if owner is None:
            raise ValidationFailed(
                "no active staff member has that e-mail", field="user", code="unknown_staff_email"
            )
    channel = ChatChannel(
        kind=kind,
        name=name,
        url_encrypted=secrets.seal(url),
        url_hint=vendors.hint(url),
        secret_encrypted=secrets.seal(secret) if secret else None,
        team=team,
        user_id=owner.id if owner else None,
        active=True,
        created_by_id=by.id,
    )
    if not may_manage(by, channel):
        raise PermissionDenied("you may not add a channel for that team or person")
    db.session.add(channel)
    db.session.flush()
    audit.record(
        "channel.created",
        channel,
        by=by,
        summary=f"{kind} {channel.url_hint}",
        details={"team": team, "user": user_email},
    )
    return channel


def visible_channels(user: User) -> list[ChatChannel]:
    query = select(ChatChannel).order_by(ChatChannel.id)
    if user.role != "admin":
        query = query.where(
            or_(
                ChatChannel.user_id.in_(_users_of(user)),
                ChatChannel.team.in_(_teams_of(user)) if user.role == "supervisor" else False,
            )
        )
    return list(db.session.scalars(query))


def get_channel(user: User, channel_id: int) -> ChatChannel:
    channel = db.session.get(ChatChannel, channel_id)
    if channel is None or not may_manage(user, channel):
        raise NotFound("channel not found")
    return channel


def delete_channel(user: User, channel_id: int) -> None:
    channel = get_channel(user, channel_id)
    audit.record("channel.removed", channel, by=user, summary=f"{channel.kind} {channel.url_hint}")
    db.session.delete(channel)
    db.session.flush()


def channels_for(user: User) -> list[ChatChannel]:
    """Where a person's chat alerts go: their own channels, else their team's."""
    own = list(
        db.session.scalars(
            select(ChatChannel).where(ChatChannel.user_id == user.id, ChatChannel.active.is_(True))
        )
    )
    if own or not user.team:
        return own
    return list(
        db.session.scalars(
            select(ChatChannel).where(ChatChannel.team == user.team, ChatChannel.active.is_(True))
        )
    )


def channel_json(channel: ChatChannel) -> dict[str, Any]:
    """A channel as the API shows it: the URL masked, the secret never."""
    return {
        "id": channel.id,
        "kind": channel.kind,
        "name": channel.name,
        "url": channel.url_hint,
        "has_secret": channel.secret_encrypted is not None,
        "team": channel.team,
        "user": channel.user.email if channel.user else None,
        "active": channel.active,
        "created_at": channel.created_at.isoformat(),
    }
