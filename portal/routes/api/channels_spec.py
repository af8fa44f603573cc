"""The channel and notification-preference routes' part of the OpenAPI document."""

from __future__ import annotations

from typing import Any

from portal.channels.vendors import KINDS
from portal.db_types import MAX_ID
from portal.notifications.preferences import ALERTS
from portal.routes.api.spec_parts import STR as _STR
from portal.routes.api.spec_parts import error as _error
from portal.routes.api.spec_parts import json_answer as _json
from portal.routes.api.spec_parts import json_body as _body
from portal.routes.api.spec_parts import ref as _ref

_ERRORS = {
    "400": _error("Malformed request: a body that is not a JSON object"),
    "401": _error("No or bad API token"),
    "404": _error("Not found, or outside the caller's scope"),
}
_CHANNEL_ID = {
    "name": "channel_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}
_SCOPE = (
    "Admins manage every channel; a supervisor their team's channel and their own and their "
    "reps' personal ones; anyone else their own personal channel."
)

PATHS: dict[str, Any] = {
    "/channels": {
        "get": {
            "summary": "The chat channels (group robots) the caller may manage",
            "description": _SCOPE + " The URL is shown masked and the secret never.",
            "responses": {"200": _json("ChannelList"), **_ERRORS},
        },
        "post": {
            "summary": "Add a WeCom, DingTalk or Feishu group robot for a team or one person",
            "description": _SCOPE,
            "requestBody": _body("ChannelInput"),
            "responses": {
                "201": _json("Channel", "Created"),
                **_ERRORS,
                "403": _error("The caller may not add a channel for that team or person"),
                "422": _error(
                    "bad_kind, bad_channel_url (not the vendor's robot URL), owner_required "
                    "(give team or user), an unknown user"
                ),
            },
        },
    },
    "/channels/{channel_id}": {
        "delete": {
            "summary": "Remove a channel",
            "parameters": [_CHANNEL_ID],
            "responses": {"204": {"description": "Removed"}, **_ERRORS},
        }
    },
    "/channels/{channel_id}/test": {
        "post": {
            "summary": "Send a test message to the channel (queued; see its record)",
            "parameters": [_CHANNEL_ID],
            "responses": {"202": _json("QueuedMessage", "Queued"), **_ERRORS},
        }
    },
    "/me/notification-preferences": {
        "get": {
            "summary": "The caller's alert preferences and quiet hours",
            "responses": {"200": _json("NotificationPreferences"), **_ERRORS},
        },
        "put": {
            "summary": "Change the caller's alert preferences and quiet hours (parts given)",
            "requestBody": _body("NotificationPreferences"),
            "responses": {
                "200": _json("NotificationPreferences"),
                **_ERRORS,
                "422": _error("bad_alert, an unknown transport, bad_time (HH:MM)"),
            },
        },
    },
}

SCHEMAS: dict[str, Any] = {
    "ChannelInput": {
        "type": "object",
        "required": ["kind", "url"],
        "properties": {
            "kind": {"type": "string", "enum": list(KINDS)},
            "url": {
                "type": "string",
                "description": "The robot's webhook URL as the vendor gives it "
                "(https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…, "
                "https://oapi.dingtalk.com/robot/send?access_token=…, "
                "https://open.feishu.cn/open-apis/bot/v2/hook/…)",
            },
            "secret": {
                "type": "string",
                "description": "The signing secret (DingTalk 加签, Feishu 签名校验); stored "
                "encrypted, never shown again",
            },
            "team": {"type": "string", "description": "A team name (team channel)"},
            "user": {"type": "string", "description": "A staff e-mail (personal channel)"},
            "name": _STR,
        },
    },
    "Channel": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string", "enum": list(KINDS)},
            "name": _STR,
            "url": {"type": "string", "description": "masked: the token's last 4 characters"},
            "has_secret": {"type": "boolean"},
            "team": {"type": ["string", "null"]},
            "user": {"type": ["string", "null"]},
            "active": {"type": "boolean"},
            "created_at": {"type": "string", "format": "date-time"},
        },
    },
    "ChannelList": {
        "type": "object",
        "properties": {"items": {"type": "array", "items": _ref("Channel")}},
    },
    "QueuedMessage": {
        "type": "object",
        "properties": {"id": {"type": "integer"}, "status": _STR},
    },
    "NotificationPreferences": {
        "type": "object",
        "properties": {
            "alerts": {
                "type": "object",
                "description": "alert -> how it reaches the caller",
                "properties": {
                    alert.key: {
                        "type": "array",
                        "items": {"type": "string", "enum": list(alert.transports)},
                    }
                    for alert in ALERTS
                },
            },
            "quiet_hours": {
                "type": "object",
                "description": "E-mail and chat alerts are held until `end` (PORTAL_TIMEZONE)",
                "properties": {
                    "enabled": {"type": "boolean"},
                    "start": {"type": "string", "pattern": "^([01]\\d|2[0-3]):[0-5]\\d$"},
                    "end": {"type": "string", "pattern": "^([01]\\d|2[0-3]):[0-5]\\d$"},
                },
            },
        },
    },
}
