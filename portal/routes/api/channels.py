"""/api/v1/channels (chat robots: WeCom, DingTalk, Feishu) and
/api/v1/me/notification-preferences."""

from __future__ import annotations

from portal import jobs
from portal.channels import services
from portal.channels.test_message import send_test
from portal.notifications import preferences
from portal.routes.api.base import api_user, bp, json_body


def _text(body: dict, name: str) -> str | None:
    value = body.get(name)
    return value if isinstance(value, str) else None


@bp.get("/channels")
def list_channels():
    return {"items": [services.channel_json(c) for c in services.visible_channels(api_user())]}


@bp.post("/channels")
def create_channel():
    body = json_body()
    channel = services.create_channel(
        api_user(),
        kind=_text(body, "kind") or "",
        url=_text(body, "url") or "",
        secret=_text(body, "secret"),
        team=_text(body, "team"),
        user_email=_text(body, "user"),
        name=_text(body, "name") or "",
    )
    jobs.commit()
    return services.channel_json(channel), 201


@bp.delete("/channels/<int:channel_id>")
def delete_channel(channel_id: int):
    services.delete_channel(api_user(), channel_id)
    jobs.commit()
    return "", 204


@bp.post("/channels/<int:channel_id>/test")
def test_channel(channel_id: int):
    message = send_test(api_user(), channel_id)
    jobs.commit()
    return {"id": message.id, "status": message.status}, 202


@bp.get("/me/notification-preferences")
def get_preferences():
    return preferences.get_preferences(api_user())


@bp.put("/me/notification-preferences")
def put_preferences():
    result = preferences.set_preferences(api_user(), json_body())
    jobs.commit()
    return result
