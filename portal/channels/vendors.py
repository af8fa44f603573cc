"""The three robots' documented webhook formats: where a message goes, its body, its signature,
and how the answer says whether it was accepted.

- WeCom (企业微信) group robot: POST https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY,
  {"msgtype": "markdown", "markdown": {"content": ...}}; accepted: {"errcode": 0}.
- DingTalk (钉钉) custom robot, "加签": POST .../robot/send?access_token=T&timestamp=MS&sign=S,
  S = urlencode(base64(HMAC-SHA256(key=secret, msg=f"{MS}\\n{secret}"))), MS in milliseconds;
  {"msgtype": "markdown", "markdown": {"title", "text"}}; accepted: {"errcode": 0}.
- Feishu (飞书) custom bot: POST https://open.feishu.cn/open-apis/bot/v2/hook/TOKEN, with
  "timestamp" (seconds, a string) and "sign" = base64(HMAC-SHA256(key=f"{ts}\\n{secret}",
  msg=b"")) in the body, "msg_type": "interactive" and a card; accepted: {"code": 0} (older
  answers: {"StatusCode": 0}).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlsplit, urlunsplit

KINDS = ("wecom", "dingtalk", "feishu")

# The documented webhook URL each robot gives, up to its key or token.
URL_PREFIXES = {
    "wecom": ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=",),
    "dingtalk": ("https://oapi.dingtalk.com/robot/send?access_token=",),
    "feishu": (
        "https://open.feishu.cn/open-apis/bot/v2/hook/",
        "https://open.larksuite.com/open-apis/bot/v2/hook/",
    ),
}
BUTTON = "查看客户"


@dataclass
class Message:
    title: str  # one short line, e.g. "孙丽 正在阅读《报价单》"
    text: str  # a line or two of detail (may be empty)
    link: str  # absolute URL of the customer's page


@dataclass
class Outgoing:
    url: str
    body: bytes


@dataclass
class Verdict:
    ok: bool
    code: str = ""  # the vendor's error code ("" when accepted)
    message: str = ""


def dingtalk_sign(timestamp_ms: str, secret: str) -> str:
    digest = hmac.new(
        secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256
    ).digest()
    return quote_plus(base64.b64encode(digest).decode())


def feishu_sign(timestamp_s: str, secret: str) -> str:
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode(), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _json(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def build(kind: str, url: str, secret: str | None, message: Message, now_ms: int) -> Outgoing:
    """The request for one message; now_ms (Unix ms) is the signature's timestamp."""
    if kind == "wecom":
        content = f"**{message.title}**\n"
        if message.text:
            content += f"> {message.text}\n"
        content += f"[{BUTTON}]({message.link})"
        return Outgoing(url, _json({"msgtype": "markdown", "markdown": {"content": content}}))
    if kind == "dingtalk":
        text = f"#### {message.title}\n\n"
        if message.text:
            text += f"{message.text}\n\n"
        text += f"[{BUTTON}]({message.link})"
        body = {"msgtype": "markdown", "markdown": {"title": message.title, "text": text}}
        if secret:
            timestamp = str(now_ms)
            url = f"{url}&timestamp={timestamp}&sign={dingtalk_sign(timestamp, secret)}"
        return Outgoing(url, _json(body))
    if kind == "feishu":
        elements: list[dict[str, Any]] = []
        if message.text:
            elements.append({"tag": "div", "text": {"tag": "lark_md", "content": message.text}})
        elements.append(
            {
                "tag": "action",
                "actions": [
                    {
                        "tag": "button",
                        "text": {"tag": "plain_text", "content": BUTTON},
                        "type": "primary",
                        "url": message.link,
                    }
                ],
            }
        )
        body = {
            "msg_type": "interactive",
            "card": {
                "header": {
                    "title": {"tag": "plain_text", "content": message.title},
                    "template": "blue",
                },
                "elements": elements,
            },
        }
        if secret:
            timestamp = str(now_ms // 1000)
            body = {"timestamp": timestamp, "sign": feishu_sign(timestamp, secret), **body}
        return Outgoing(url, _json(body))
    raise ValueError(f"unknown channel kind {kind}")


def verdict(kind: str, status: int, body: bytes) -> Verdict:
    """Whether the robot accepted the message: HTTP 200 and its error code 0."""
    try:
        answer = json.loads(body.decode("utf-8", "replace") or "null")
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        return Verdict(False, f"http_{status}", body[:200].decode("utf-8", "replace"))
    if kind == "feishu":
        code = answer.get("code", answer.get("StatusCode"))
        text = answer.get("msg", answer.get("StatusMessage", ""))
    else:
        code, text = answer.get("errcode"), answer.get("errmsg", "")
    if status == 200 and code == 0:
        return Verdict(True)
    return Verdict(False, str(code if code is not None else f"http_{status}"), str(text)[:300])


def hint(url: str) -> str:
    """What a page may show of a webhook URL: the host and path, and the token's last 4."""
    parts = urlsplit(url)
    token = parts.query.split("=", 1)[-1] if parts.query else parts.path.rsplit("/", 1)[-1]
    shown = f"…{token[-4:]}" if len(token) > 8 else "…"
    if parts.query:
        return urlunsplit(
            (parts.scheme, parts.netloc, parts.path, f"{parts.query.split('=')[0]}={shown}", "")
        )
    return urlunsplit(
        (parts.scheme, parts.netloc, parts.path.rsplit("/", 1)[0] + "/" + shown, "", "")
    )


def rebase(url: str, base: str) -> str:
    """url with its scheme and host taken from base (tests point robots at a local listener)."""
    parts, to = urlsplit(url), urlsplit(base)
    return urlunsplit((to.scheme, to.netloc, parts.path, parts.query, ""))
