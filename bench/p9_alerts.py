"""P9: alert latency, from a confirmed first open's acknowledgement to the rep's chat robot
receiving the message, under the P2 load; the baseline is the same figure for the in-app
notification row.

The chat robot is a local HTTP listener standing in for a WeCom group robot (as
tests/channels/vendor_listeners.py does): it answers `{"errcode": 0}` and notes when each
message arrived. The rep's channel is made through the service (the vendor's own address), then
pointed at the listener in the database (PORTAL_WEBHOOK_ALLOW_PRIVATE, set by the stack, lets the
outbox post to loopback). The rep's first-open alert goes in-app and by chat, quiet hours off.

While wrk posts read-time reports (P2's bench/lua/ingest.lua) for the whole phase, customers
open their documents one after another: a view session is started in this process, the viewer's
confirmation (`POST /t/o`) is sent to the server, and its 200 is the acknowledgement (t0). The
in-app row is committed with the open (notify writes it in the same transaction), so its
latency is what a page sees at once; the chat message leaves after the commit through the job
queue (RQ, behind the queued ingest batches) and the outbox.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import select

from bench import documents, p2_ingest, seed, wrk
from bench.report import Figure, median
from bench.settings import Settings
from bench.stack import Stack

log = logging.getLogger("bench")
ROBOT_KEY = "bench-wecom-key"
OPEN_EVERY = 0.5  # seconds between two customers' first opens
DEADLINE = 180.0  # seconds after the last open a message may take before it counts as lost


class _Robot:
    """A WeCom robot stand-in: when each message (by customer name) arrived."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.monotonic()
                try:
                    content = json.loads(raw)["markdown"]["content"]
                except (ValueError, KeyError, TypeError):
                    content = ""
                with robot.lock:
                    for name in robot.expected:
                        if name in content:
                            robot.arrived.setdefault(name, now)
                answer = b'{"errcode":0,"errmsg":"ok"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.expected: list[str] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/cgi-bin/webhook/send?key={ROBOT_KEY}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _prepare(stack: Stack, robot: _Robot, count: int) -> list[tuple[str, int, str]]:
    """The rep, their chat channel (pointed at the robot) and preferences; `count` customers
    with a delivery each and a view session not yet confirmed: (name, customer id, token)."""
    from portal import jobs
    from portal.channels import secrets
    from portal.channels.services import create_channel
    from portal.delivery.models import Delivery
    from portal.extensions import db
    from portal.notifications.preferences import set_preferences
    from portal.tracking import sessions

    with stack.app().app_context():
        staff = seed.staff("p9")
        channel = create_channel(
            staff.supervisor,
            kind="wecom",
            url=f"https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key={ROBOT_KEY}",
            user_email=staff.rep.email,
        )
        channel.url_encrypted = secrets.seal(robot.url)  # the listener stands in for WeCom
        set_preferences(
            staff.rep,
            {"alerts": {"first_open": ["app", "chat"]}, "quiet_hours": {"enabled": False}},
        )
        jobs.commit()
        doc = seed.template(
            staff.marketing,
            name="报价单",
            kind="quote",
            filename="quote.pdf",
            data=documents.noise_pdf(2, seed=9),
        )
        people = seed.customers(staff.rep, count, "p9")
        opens = []
        for customer in people:
            seed.send_to(staff.rep, customer.id, doc.id)
            delivery = db.session.scalar(
                select(Delivery).where(
                    Delivery.customer_id == customer.id, Delivery.template_id == doc.id
                )
            )
            session = sessions.start_session(  # fetched, as the viewer's GET leaves it
                delivery, 1, "Mozilla/5.0 bench", "127.0.0.1", confirmed=False
            )
            opens.append((customer.name, customer.id, sessions.ingest_token(session)))
        jobs.commit()
        db.session.remove()
    return opens


def _rows_seen(stack: Stack, customer_ids: list[int]) -> set[int]:
    from portal.extensions import db
    from portal.notifications.models import Notification

    with stack.app().app_context():
        found = set(
            db.session.scalars(
                select(Notification.customer_id).where(
                    Notification.customer_id.in_(customer_ids),
                    Notification.kind == "delivery.opened",
                )
            )
        )
        db.session.remove()
        return found


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]


def measure(stack: Stack, settings: Settings) -> list[Figure]:
    count = 10 if settings.quick else 40
    robot = _Robot()
    try:
        opens = _prepare(stack, robot, count)
        robot.expected = [name for name, _, _ in opens]
        tokens = p2_ingest.sessions(stack, settings, tag="p9load")
        base = stack.server()
        token_file: Path = stack.workdir / "p9-tokens.txt"
        token_file.write_text("\n".join(tokens) + "\n")
        phase = count * OPEN_EVERY + 5
        load = wrk.Load(settings.load.threads, settings.load.connections, phase + 2)
        background = threading.Thread(
            target=wrk.run,
            args=(base, load, "ingest.lua", [str(token_file), str(phase), "p9", "5", "/t/r"]),
            daemon=True,
        )
        background.start()
        time.sleep(2)  # the load is on
        acked: dict[str, float] = {}
        rows: dict[str, float] = {}
        ids = {cid: name for name, cid, _ in opens}
        stop = threading.Event()

        def watch_rows() -> None:
            try:
                _watch()
            except Exception:
                log.exception("P9: the in-app row watcher failed")

        def _watch() -> None:
            while not stop.is_set():
                waiting = [cid for cid, name in ids.items() if name in acked and name not in rows]
                if waiting:
                    seen = _rows_seen(stack, waiting)
                    now = time.monotonic()
                    for cid in seen:
                        rows.setdefault(ids[cid], now)
                time.sleep(0.01)

        watcher = threading.Thread(target=watch_rows, daemon=True)
        watcher.start()
        for name, _, token in opens:
            request = urllib.request.Request(
                f"{base}/t/o",
                data=json.dumps({"s": token}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=30) as answer:
                body = json.loads(answer.read())
                if answer.status == 200 and body.get("opened"):
                    acked[name] = time.monotonic()
            time.sleep(OPEN_EVERY)
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline and (
            len(robot.arrived) < len(acked) or len(rows) < len(acked)
        ):
            time.sleep(0.1)
        stop.set()
        watcher.join(5)
        background.join(phase + 30)
    finally:
        robot.stop()
    chat_ms = [(robot.arrived[n] - t) * 1000 for n, t in acked.items() if n in robot.arrived]
    row_ms = [(rows[n] - t) * 1000 for n, t in acked.items() if n in rows]
    lost = len(acked) - len(chat_ms)
    log.info("P9: %d opens acknowledged, %d chat messages, %d in-app rows", len(acked),
             len(chat_ms), len(row_ms))  # fmt: skip
    if not chat_ms or not row_ms:
        raise RuntimeError(f"P9: no chat message ({len(chat_ms)}) or no row ({len(row_ms)})")
    return [
        Figure(
            key="P9",
            name="P9 alert latency p95 ms",
            value=_p95(chat_ms),
            baseline=max(_p95(row_ms), 1.0),
            measures=(
                f"a confirmed first open's 200 (`POST /t/o`) to the WeCom robot stand-in "
                f"receiving the chat message, {len(acked)} opens {OPEN_EVERY} s apart, under "
                "P2's ingest load"
            ),
            baseline_is="the same open's in-app notification row seen in the database (≥ 1 ms)",
            goal="p95 ≤ 2,000 ms",
            note=(
                f"chat p50 {median(chat_ms):.0f}, max {max(chat_ms):.0f} ms; in-app p50 "
                f"{median(row_ms):.0f}, max {max(row_ms):.0f} ms; lost {lost}"
            ),
            digits=0,
        )
    ]
