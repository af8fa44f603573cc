"""Local HTTP listeners standing in for the three robot webhooks, each checking what the vendor
checks and answering as the vendor answers (documented error codes and JSON shapes):

- WeCom: the key in ?key=, {"msgtype": "markdown", "markdown": {"content": str}};
  errors {"errcode": 93000, "errmsg": "invalid webhook url"} / 40008 (invalid message type).
- DingTalk: ?access_token=&timestamp=<ms>&sign=<url-encoded base64 HMAC-SHA256(secret,
  "ts\\nsecret")>, recomputed here from the shared secret; a mismatch or a timestamp more than
  an hour away is {"errcode": 310000, "errmsg": "sign not match"}; markdown with title and text.
- Feishu: the token in the path; body "timestamp" (seconds) and "sign" = base64(HMAC-SHA256(
  key="ts\\nsecret", msg=b"")), recomputed here; a mismatch is {"code": 19021, "msg": "sign
  match fail or timestamp is not within one hour from current time"}; msg_type interactive.

`fail_next` holds answers to give before checking (e.g. a vendor's rate-limit error), to test
retries. Every request is kept in `received` with its verdict.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.threaded_servers import serve_in_thread, stop_serving

HOUR_MS = 3600 * 1000


@dataclass
class Received:
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None
    raw: bytes
    accepted: bool


@dataclass
class Robot:
    kind: str
    token: str
    secret: str | None
    fail_next: list[dict[str, Any]] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def accepted(self) -> list[Received]:
        return [r for r in self.received if r.accepted]

    def answer(self, path: str, query: dict[str, str], raw: bytes) -> dict[str, Any]:
        try:
            body = json.loads(raw.decode("utf-8"))
        except ValueError:
            body = None
        verdict = self.fail_next.pop(0) if self.fail_next else self.check(path, query, body)
        ok = verdict.get("errcode", verdict.get("code")) == 0
        self.received.append(Received(path, query, body, raw, ok))
        return verdict

    def check(self, path: str, query: dict[str, str], body: Any) -> dict[str, Any]:
        return getattr(self, f"_check_{self.kind}")(path, query, body)

    def _check_wecom(self, path, query, body) -> dict[str, Any]:
        if path != "/cgi-bin/webhook/send" or query.get("key") != self.token:
            return {"errcode": 93000, "errmsg": "invalid webhook url"}
        markdown = body.get("markdown") if isinstance(body, dict) else None
        if (
            body.get("msgtype") != "markdown"
            or set(body) != {"msgtype", "markdown"}
            or not isinstance(markdown, dict)
            or not isinstance(markdown.get("content"), str)
            or not markdown["content"]
        ):
            return {"errcode": 40008, "errmsg": "invalid message type"}
        return {"errcode": 0, "errmsg": "ok"}

    def _check_dingtalk(self, path, query, body) -> dict[str, Any]:
        if path != "/robot/send" or query.get("access_token") != self.token:
            return {"errcode": 300001, "errmsg": "token is not exist"}
        if self.secret is not None:
            timestamp, sign = query.get("timestamp", ""), query.get("sign", "")
            expected = base64.b64encode(
                hmac.new(
                    self.secret.encode(), f"{timestamp}\n{self.secret}".encode(), hashlib.sha256
                ).digest()
            ).decode()
            fresh = timestamp.isdigit() and abs(int(timestamp) - time.time() * 1000) < HOUR_MS
            if not fresh or not hmac.compare_digest(sign, expected):
                return {"errcode": 310000, "errmsg": "sign not match"}
        markdown = body.get("markdown") if isinstance(body, dict) else None
        if (
            body.get("msgtype") != "markdown"
            or not isinstance(markdown, dict)
            or not isinstance(markdown.get("title"), str)
            or not isinstance(markdown.get("text"), str)
        ):
            return {"errcode": 40035, "errmsg": "缺少参数 json"}
        return {"errcode": 0, "errmsg": "ok"}

    def _check_feishu(self, path, query, body) -> dict[str, Any]:
        if path != f"/open-apis/bot/v2/hook/{self.token}":
            return {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}
        if not isinstance(body, dict):
            return {"code": 9499, "msg": "Bad Request"}
        if self.secret is not None:
            timestamp = body.get("timestamp", "")
            expected = base64.b64encode(
                hmac.new(f"{timestamp}\n{self.secret}".encode(), b"", hashlib.sha256).digest()
            ).decode()
            fresh = (
                isinstance(timestamp, str)
                and timestamp.isdigit()
                and abs(int(timestamp) - time.time()) < 3600
            )
            if not fresh or not hmac.compare_digest(str(body.get("sign", "")), expected):
                return {
                    "code": 19021,
                    "msg": "sign match fail or timestamp is not within one hour from current time",
                }
        card = body.get("card")
        if body.get("msg_type") != "interactive" or not isinstance(card, dict):
            return {"code": 19002, "msg": "params error, msg_type need"}
        return {
            "StatusCode": 0,
            "StatusMessage": "success",
            "code": 0,
            "data": {},
            "msg": "success",
        }


def _handler(robot: Robot):
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            answer = json.dumps(robot.answer(parts.path, query, raw)).encode()
            self.send_response(200)  # the robots answer errors with 200 and an error code
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args):
            pass

    return Handler


def start(robot: Robot) -> Robot:
    robot.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(robot))
    serve_in_thread(robot.server, f"robot-{robot.kind}")
    return robot


def stop(robot: Robot) -> None:
    if robot.server is not None:
        stop_serving(robot.server)
