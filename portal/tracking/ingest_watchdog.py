"""Every RQ worker watches the ingest stream, so that no acknowledged report waits for traffic.

A drain job is queued by the request that sets the drain flag. If that drain dies (its worker
killed) and readers then stop reporting, nothing would queue the next one: the entries would sit
in the stream until RQ's maintenance found the abandoned job (minutes), or a new report came.
So each worker checks the stream every WATCH_SECONDS (one XLEN): entries there and no drain flag
→ it sets the flag (SET NX, so one worker of many wins) and queues a drain, which takes back what
a dead drain had read (at once when it was this worker's, else after ingest_queue.CLAIM_IDLE_MS)
and applies the rest. A running drain keeps the flag set, so a healthy queue sees no extra jobs.
It is also the drain's retry (after a database outage, a dead worker): RQ's retries and
scheduler are not needed for it. While Redis is away it logs once, and once when it is back.
At its start and after an outage it frees a drain flag held under this worker's own consumer
name (ingest_queue.release_own_flag): a drain of its own that died would hold it FLAG_TTL_MS.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask

from portal.tracking import ingest_queue

log = logging.getLogger(__name__)
WATCH_SECONDS = 1.0


class DrainWatchdog:
    """The thread a worker runs beside RQ (it touches Redis only)."""

    def __init__(self, app: Flask, every: float = WATCH_SECONDS):
        self.app = app
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="portal-ingest", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        failing = False
        release = True  # at the start: a flag of this worker's name is its dead predecessor's
        while not self._stop.is_set():
            try:
                with self.app.app_context():
                    if release and ingest_queue.release_own_flag():
                        log.info("the drain flag of a drain of this worker that died was freed")
                    release = False
                    if ingest_queue.queue_drain_if_waiting():
                        log.debug("ingest entries were waiting: drain queued")
                if failing:
                    log.warning("the ingest stream can be checked again")
                failing = False
            except Exception as exc:  # Redis away for a moment: look again next time
                release = True  # a drain of this worker met the outage too: it failed
                if not failing:
                    log.warning("could not check the ingest stream (%s); retrying every %.0f s",
                                exc, self.every)  # fmt: skip
                failing = True
            self._stop.wait(self.every)
