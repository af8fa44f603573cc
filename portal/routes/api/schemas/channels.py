"""Chat channels (group robots) and the caller's notification preferences."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from portal.channels.vendors import KINDS
from portal.notifications.preferences import ALERTS, TRANSPORTS
from portal.routes.api.schemas.common import Answer, Body, Flag, Text, Time

Kind = Literal[tuple(KINDS)]  # type: ignore[valid-type]  (the vendors' table decides)


class ChannelInput(Body):
    kind: Kind
    url: Text = Field(
        description="The robot's webhook URL as the vendor gives it "
        "(https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…, "
        "https://oapi.dingtalk.com/robot/send?access_token=…, "
        "https://open.feishu.cn/open-apis/bot/v2/hook/…)"
    )
    secret: Text | None = Field(
        default=None,
        description="The signing secret (DingTalk 加签, Feishu 签名校验); stored encrypted, "
        "never shown again",
    )
    team: Text | None = Field(default=None, description="A team name (team channel)")
    user: Text | None = Field(default=None, description="A staff e-mail (personal channel)")
    name: Text | None = None


class Channel(Answer):
    id: int
    kind: Kind
    name: str | None = None
    url: str = Field(description="masked: the token's last 4 characters")
    has_secret: bool
    team: str | None = None
    user: str | None = None
    active: bool
    created_at: Time = None


class ChannelList(Answer):
    items: list[Channel]


class QueuedMessage(Answer):
    id: int
    status: str


class QuietHours(Body):
    """E-mail and chat alerts are held until `end` (PORTAL_TIMEZONE)."""

    enabled: Flag | None = None
    start: Text | None = Field(default=None, description="HH:MM")
    end: Text | None = Field(default=None, description="HH:MM")


class NotificationPreferences(Body):
    alerts: dict[str, list[Text]] | None = Field(
        default=None,
        description="alert -> how it reaches the caller: "
        + "; ".join(
            f"{alert.key}: {', '.join(alert.transports)}"
            for alert in ALERTS
            if alert.transports != TRANSPORTS
        )
        + f"; every other alert: {', '.join(TRANSPORTS)}",
    )
    quiet_hours: QuietHours | None = None
