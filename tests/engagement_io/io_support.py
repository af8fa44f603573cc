"""Helpers of the recommendations / inbound events / webhooks tests."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.threaded_servers import serve_in_thread


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 answering the statuses of `plan` in turn (then 200)."""

    plan: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""

    def verify(self, secret: str, item: Received) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), item.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, item.headers.get("X-Portal-Signature", ""))


def start_receiver(plan: list[int] | None = None) -> tuple[Receiver, ThreadingHTTPServer]:
    receiver = Receiver(plan=list(plan or []))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length)
            receiver.received.append(Received(dict(self.headers.items()), body))
            status = receiver.plan.pop(0) if receiver.plan else 200
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    serve_in_thread(server, "webhook-receiver")
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    return receiver, server
