"""`GET /live`: Server-Sent Events of who is reading, for one member of staff.

A stream holds one gunicorn thread while it is open (gthread runs a response to its end), so it
is bounded twice (docs/deploy.md, "Live reading"):

- in time: it closes after LIFETIME seconds with `retry:` set, and the browser's EventSource
  reconnects (a fresh snapshot from the database, then the messages again);
- in number: at most MAX_STREAMS open per process (PORTAL_LIVE_STREAMS, default 2 of the 4
  threads); one more is answered 503 with Retry-After, and the page polls `GET /live/now`
  instead until then.

The stream starts with the snapshot (portal.live.readers) as one `snapshot` event, which the page
takes as the whole truth: a reader not in it is no longer shown. A `stopped` published while the
page was between two streams (the ~2 s of a reconnect) is never delivered, and without that the
badge stayed up until the page's own 30 s rule. Then the stream forwards the pub/sub messages
(portal.live.publish) about customers the user may see, and sends `stopped` itself for a reader
with no message for STOPPED_AFTER (a tab closed without its final beacon). A comment line every
HEARTBEAT seconds finds a closed connection (the write fails, the stream ends) and keeps proxies
from timing it out.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator

from portal.live.readers import STOPPED_AFTER, Reader

log = logging.getLogger(__name__)

LIFETIME = 25.0  # s: under common proxy idle timeouts (30-60 s), over a few reports
HEARTBEAT = 10.0
RECONNECT_MS = 2000  # the `retry:` the browser waits before reconnecting
POLL_SECONDS = 5  # the polling fallback's period (and a refused stream's Retry-After)


def frame(event: str, data: dict) -> str:
    """One SSE event: `event:` and one `data:` line of compact JSON, then a blank line."""
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"


class Slots:
    """A per-process count of open streams, never above its limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.open >= self.limit:
                return False
            self.open += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self.open -= 1


class Stream:
    """The response body: an iterable whose close() (called by the server when the response
    ends, or the client went away) unsubscribes and gives the slot back, even if it never
    started."""

    def __init__(
        self,
        *,
        visible: frozenset[int],
        snapshot: Iterable[Reader],
        pubsub,
        slots: Slots,
        lifetime: float = LIFETIME,
        stopped_after: float = STOPPED_AFTER.total_seconds(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.visible = visible
        self.snapshot = list(snapshot)
        self.pubsub = pubsub
        self.slots = slots
        self.lifetime = lifetime
        self.stopped_after = stopped_after
        self.clock = clock
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return (chunk.encode() for chunk in self._events())

    def _events(self) -> Iterator[str]:
        start = self.clock()
        yield f"retry: {RECONNECT_MS}\n\n"
        seen: dict[tuple[int, int], float] = {}
        for reader in self.snapshot:
            # counted from when the reader was last heard from, not from this stream's start
            seen[(reader.customer_id, reader.delivery_id)] = start - reader.age_ms / 1000
        # always sent, empty too: an empty snapshot is what ends the badges of every reader who
        # stopped while the page was reconnecting
        yield frame("snapshot", {"readers": [reader.payload() for reader in self.snapshot]})
        beat = start
        while (now := self.clock()) - start < self.lifetime:
            message = self.pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            now = self.clock()
            if message and message.get("type") == "message":
                out = self._forward(message["data"], seen, now)
                if out:
                    yield out
                    beat = now
            for key, at in list(seen.items()):
                if now - at >= self.stopped_after:
                    del seen[key]
                    yield frame("stopped", {"customer_id": key[0], "delivery_id": key[1]})
            if now - beat >= HEARTBEAT:
                beat = now
                yield ": ping\n\n"

    def _forward(self, raw, seen: dict, now: float) -> str | None:
        try:
            data = json.loads(raw)
            kind = data.pop("event")
            key = (int(data["customer_id"]), int(data["delivery_id"]))
        except (ValueError, KeyError, TypeError):
            log.warning("live: a message that is not ours: %r", raw[:200])
            return None
        if key[0] not in self.visible or kind not in ("reading", "stopped"):
            return None
        if kind == "stopped":
            seen.pop(key, None)
            return frame("stopped", {"customer_id": key[0], "delivery_id": key[1]})
        seen[key] = now
        return frame("reading", data)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self.pubsub.close()
        except Exception:  # the connection may be gone already
            log.debug("live: closing a subscription failed", exc_info=True)
        self.slots.give_back()
