"""Whether a service in an outage answers again (portal.outage_log): a cheap question to each,
asked after a request of this process at most every OUTAGE_PROBE_SECONDS while its outage is
open, so that the outage's end is logged once, with its duration, even when no request of
the kind that was refused comes back."""

from __future__ import annotations

from flask import Flask, Response, current_app
from sqlalchemy import text

from portal import outage_log, outages
from portal.extensions import db
from portal.library.storage import get_storage

PROBE_TIMEOUT_SECONDS = 1  # a hung service must not hold the request's thread longer


def _redis() -> None:
    from redis import Redis

    client = Redis.from_url(
        current_app.config["REDIS_URL"],
        socket_connect_timeout=PROBE_TIMEOUT_SECONDS,
        socket_timeout=PROBE_TIMEOUT_SECONDS,
    )
    try:
        client.ping()
    finally:
        client.close()


def _database() -> None:
    with db.engine.connect() as connection:
        connection.execute(text("SELECT 1"))


def _storage() -> None:
    get_storage().exists("outage-probe")  # absent or not, the answer means storage is up


PROBES = {outages.REDIS: _redis, outages.DATABASE: _database, outages.STORAGE: _storage}


def answers(service: str) -> bool:
    try:
        PROBES[service]()
    except Exception:  # still down (or configured away): the outage stays open
        return False
    return True


def init_app(app: Flask) -> None:
    @app.after_request
    def probe_open_outages(response: Response) -> Response:
        outages_seen = outage_log.of(app)
        every = float(app.config.get("OUTAGE_PROBE_SECONDS", outage_log.PROBE_SECONDS))
        for service in outages_seen.due(every):
            if answers(service):
                outages_seen.answered(service)
        return response
