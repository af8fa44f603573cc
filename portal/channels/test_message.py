"""A channel's test message: proves the URL, the signature and the network path work."""

from __future__ import annotations

from flask import current_app

from portal.accounts.models import User
from portal.channels import outbox, services
from portal.channels.models import OutboxMessage


def send_test(by: User, channel_id: int) -> OutboxMessage:
    """Queue a test message to a channel `by` may manage (sent after the commit, never held)."""
    channel = services.get_channel(by, channel_id)
    return outbox.queue(
        user_id=by.id,
        transport="chat",
        channel=channel,
        title="Portal 测试消息",
        text=f"{by.name} 添加的提醒渠道已连通。",
        link=current_app.config["BASE_URL"].rstrip("/") + "/notifications/preferences",
    )
