"""TRACKING_RATE_LIMIT for read-time reports, counted by the ingest service on both paths.

The route (/t/r) is exempt from Flask-Limiter's decorator machinery: per request it resolves,
filters and evaluates limits in Python, which cost about as much as the rest of a queued report.
Instead the service counts one hit per batch for the caller's key:
- queued (Redis): in the enqueue's own Lua round trip (portal.tracking.ingest_queue);
- direct: here, with the `limits` strategy and storage Flask-Limiter itself uses (memory, or
  Redis when PORTAL_REDIS_URL is set), fixed windows, the same answer: 429, Retry-After and
  X-RateLimit-* headers of the tightest limit.
"""

from __future__ import annotations

import time
from functools import lru_cache

from flask import current_app
from limits import RateLimitItem, parse_many

from portal.errors import PortalError
from portal.extensions import TOO_MANY, limiter

SCOPE = "tracking"


class RateLimited(PortalError):
    """Over TRACKING_RATE_LIMIT: nothing of the batch was looked at further or stored."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, headers: dict[str, str]) -> None:
        super().__init__(message)
        self.headers = headers  # Retry-After and X-RateLimit-*


def message() -> str:
    return TOO_MANY


def enabled() -> bool:
    return bool(current_app.config.get("RATELIMIT_ENABLED", True)) and limiter.enabled


@lru_cache(maxsize=16)
def limits_of(spec: str) -> tuple[RateLimitItem, ...]:
    """The parsed limits of a Flask-Limiter string such as "120/minute;1000/hour"."""
    return tuple(parse_many(spec))


def headers(stats: list[tuple[int, int, int]], now: float) -> dict[str, str]:
    """X-RateLimit-* and Retry-After of the tightest of (remaining, amount, reset in seconds)."""
    if not stats:
        return {}
    remaining, amount, reset_in = min(stats)
    return {
        "X-RateLimit-Limit": str(amount),
        "X-RateLimit-Remaining": str(max(0, remaining)),
        "X-RateLimit-Reset": str(int(now) + reset_in),
        "Retry-After": str(reset_in),
    }


def count(rate_key: str) -> dict[str, str]:
    """Count one batch from rate_key (the direct path): the headers to send, or RateLimited."""
    if not enabled():
        return {}
    strategy = limiter.limiter
    now = time.time()
    stats, refused = [], False
    for item in limits_of(current_app.config["TRACKING_RATE_LIMIT"]):
        if not refused and not strategy.hit(item, SCOPE, rate_key):
            refused = True
        window = strategy.get_window_stats(item, SCOPE, rate_key)
        reset_in = max(1, int(window.reset_time - now + 0.999))
        stats.append((window.remaining, item.amount, reset_in))
    answer = headers(stats, now)
    if refused:
        raise RateLimited(message(), answer)
    return answer
