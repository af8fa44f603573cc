"""/api/v1/channels (chat robots: WeCom, DingTalk, Feishu) and
/api/v1/me/notification-preferences."""

from __future__ import annotations

from portal import jobs
from portal.channels import services
from portal.channels.test_message import send_test
from portal.notifications import preferences
from portal.routes.api.base import api_user, bp
from portal.routes.api.declare import body, declare
from portal.routes.api.schemas import channels as schemas
from portal.routes.api.schemas.common import Error


@bp.get("/channels")
@declare(answers={200: schemas.ChannelList})
def list_channels():
    """The chat channels (group robots) the caller may manage

    Admins manage every channel; a supervisor their team's channel and their own and their
    reps' personal ones; anyone else their own personal channel. The URL is shown masked and
    the secret never."""
    return {"items": [services.channel_json(c) for c in services.visible_channels(api_user())]}


@bp.post("/channels")
@declare(
    json=schemas.ChannelInput,
    answers={
        201: (schemas.Channel, "Created"),
        403: (Error, "The caller may not add a channel for that team or person"),
    },
)
def create_channel():
    """Add a WeCom, DingTalk or Feishu group robot for a team or one person

    Admins manage every channel; a supervisor their team's channel and their own and their
    reps' personal ones; anyone else their own personal channel. Refused with 422
    bad_channel_url (not the vendor's robot URL), owner_required (give team or user), or an
    unknown user."""
    given = body(schemas.ChannelInput)
    channel = services.create_channel(
        api_user(),
        kind=given.kind,
        url=given.url,
        secret=given.secret,
        team=given.team,
        user_email=given.user,
        name=given.name or "",
    )
    jobs.commit()
    return services.channel_json(channel), 201


@bp.delete("/channels/<int:channel_id>")
@declare(answers={204: (None, "Removed")})
def delete_channel(channel_id: int):
    """Remove a channel"""
    services.delete_channel(api_user(), channel_id)
    jobs.commit()
    return "", 204


@bp.post("/channels/<int:channel_id>/test")
@declare(answers={202: (schemas.QueuedMessage, "Queued")})
def test_channel(channel_id: int):
    """Send a test message to the channel (queued; see its record)"""
    message = send_test(api_user(), channel_id)
    jobs.commit()
    return {"id": message.id, "status": message.status}, 202


@bp.get("/me/notification-preferences")
@declare(answers={200: schemas.NotificationPreferences})
def get_preferences():
    """The caller's alert preferences and quiet hours"""
    return preferences.get_preferences(api_user())


@bp.put("/me/notification-preferences")
@declare(json=schemas.NotificationPreferences, answers={200: schemas.NotificationPreferences})
def put_preferences():
    """Change the caller's alert preferences and quiet hours (the parts given)

    Refused with 422 bad_alert, an unknown transport, or bad_time (HH:MM)."""
    # The service checks the alert names, transports and times (its rules, its codes).
    given = body(schemas.NotificationPreferences).model_dump(exclude_unset=True)
    result = preferences.set_preferences(api_user(), given)
    jobs.commit()
    return result
