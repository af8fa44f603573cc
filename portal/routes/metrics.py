"""GET /metrics: Prometheus text format, for a scraper holding PORTAL_METRICS_TOKEN (bearer);
off (404) when no token is set. Also counts every request by route and status.

The route label is the URL rule (`/t/r`, `/d/<token>`), never the path: a path carries tokens
and ids, and every 404 probe would add a series. Requests no rule matched are `unmatched`.
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client.core import GaugeMetricFamily

from portal import jobs, metrics
from portal.extensions import limiter
from portal.routes import json_errors
from portal.tracking import ingest_path, ingest_queue

bp = Blueprint("metrics", __name__)
json_errors.register(bp)

METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


@bp.get("/metrics")
@limiter.exempt
def scrape():
    metrics.check_scrape(current_app.config.get("METRICS_TOKEN"), request.authorization)
    body = metrics.exposition(SharedState(current_app.config.get("REDIS_URL")))
    return Response(
        body, headers={"Content-Type": metrics.CONTENT_TYPE, "Cache-Control": "no-store"}
    )


class SharedState:
    """Gauges of what every process shares, read from Redis when scraped (see portal.metrics
    for why they are not counted in the processes): the ingest stream, the RQ queue, workers."""

    def __init__(self, redis_url: str | None):
        self.redis_url = redis_url

    def collect(self):
        if not self.redis_url:
            return  # no Redis: no stream, no queue, no workers (jobs run inline)
        up = GaugeMetricFamily("portal_redis_up", "Whether Redis answered this scrape")
        try:
            stream = ingest_queue.stream_state() if ingest_path.queued() else None
            queue = jobs.queue_state()
        except Exception:  # down: say so (alert on it) rather than fail the whole scrape
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        if stream is not None:
            yield _gauge(
                "portal_ingest_stream_length", "Read-report entries not applied yet", stream.length
            )
            yield _gauge(
                "portal_ingest_pending_entries",
                "Entries read by a drain, not acknowledged",
                stream.pending,
            )
            yield _gauge(
                "portal_ingest_oldest_entry_age_seconds",
                "Age of the oldest read-report entry not applied yet (0: none)",
                stream.oldest_age_seconds,
            )
            yield _gauge(
                "portal_ingest_dead_entries", "Entries set aside in the dead stream", stream.dead
            )
        depth = GaugeMetricFamily("portal_jobs", "RQ jobs on the queue, by state", labels=["state"])
        for state in ("queued", "started", "scheduled", "failed"):
            depth.add_metric([state], queue[state])
        yield depth
        yield _gauge("portal_rq_workers", "RQ workers listening to the queue", queue["workers"])


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def init_app(app: Flask) -> None:
    """Count and time every request (first of the before_request hooks, so that a hook that
    answers early, such as a rate limit, is timed too)."""

    def started() -> None:
        g.metrics_started = time.perf_counter()

    app.before_request_funcs.setdefault(None, []).insert(0, started)

    @app.after_request
    def counted(response: Response) -> Response:
        rule = request.url_rule.rule if request.url_rule is not None else "unmatched"
        method = request.method if request.method in METHODS else "other"
        metrics.REQUESTS.labels(rule, method, str(response.status_code)).inc()
        began = g.pop("metrics_started", None)
        if began is not None:
            metrics.LATENCY.labels(rule, method).observe(time.perf_counter() - began)
        return response
