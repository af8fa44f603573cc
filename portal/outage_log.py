"""One log line when a service's outage starts and one when it ends, per process.

While Redis (or the database, or storage) is down, every request that needs it is refused with
503 (portal.routes.errors): expected, and the same each time. A line (and a traceback) per
refusal floods the log (1,705 refusals made 7 MB in a fault run) and hides what matters: when
the outage began, why, how long it lasted and how much was refused. So this process logs the
first refusal of an outage, with the reason, counts the others, and logs the end, with the
duration and the count, once the service answers again (portal.routes.errors probes it after a
request, at most every PROBE_SECONDS while an outage is open).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

from flask import Flask

log = logging.getLogger(__name__)

PROBE_SECONDS = 1.0


@dataclass
class _Outage:
    started: float
    refused: int
    probed: float


class OutageLog:
    """The open outages of this process, by service (portal.outages.DATABASE, …)."""

    def __init__(self) -> None:
        self._open: dict[str, _Outage] = {}
        self._lock = threading.Lock()  # gunicorn's threads refuse requests at the same time

    def refused(self, service: str, reason: BaseException | str) -> None:
        """A request was refused because `service` is down: log it if an outage starts."""
        now = time.monotonic()
        with self._lock:
            outage = self._open.get(service)
            if outage is not None:
                outage.refused += 1
                return
            self._open[service] = _Outage(started=now, refused=1, probed=now)
        log.warning(
            "%s unavailable: %s; refusing what needs it with 503 until it answers again",
            service,
            reason,
        )

    def due(self, every: float = PROBE_SECONDS) -> list[str]:
        """The services in an outage not probed for `every` seconds (marked probed now)."""
        now = time.monotonic()
        with self._lock:
            found = [s for s, o in self._open.items() if now - o.probed >= every]
            for service in found:
                self._open[service].probed = now
        return found

    def answered(self, service: str) -> None:
        """`service` answered again: its outage (if one is open) ends, logged with its toll."""
        with self._lock:
            outage = self._open.pop(service, None)
        if outage is None:
            return
        log.warning(
            "%s available again after %.1f s; %d requests were refused meanwhile",
            service,
            time.monotonic() - outage.started,
            outage.refused,
        )

    def is_open(self, service: str) -> bool:
        with self._lock:
            return service in self._open


def of(app: Flask) -> OutageLog:
    """The outages this app has seen: one app per process in production, so per process."""
    return app.extensions.setdefault("portal.outages", OutageLog())
