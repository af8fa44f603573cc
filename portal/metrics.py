"""What Portal counts for Prometheus (GET /metrics, portal.routes.metrics): the counters and
histograms of things that happen in a process (a request, a drain, a render, a failed webhook).

Several processes count: the gunicorn workers (requests) and the RQ workers (drains, renders,
webhooks, chat messages). A scrape reaches one gunicorn worker, so the counts of every process
must be added up. prometheus_client's multiprocess mode does exactly that when
PROMETHEUS_MULTIPROC_DIR is set (docs/deploy.md): each process writes its counts to files there
(memory-mapped, no locking between processes) and the scrape sums them, after folding the files
of processes that ended (compact()). Only counters and histograms live here: they add up across
processes and outlive a process that ends.
What the processes share (the ingest stream, the RQ queues, the workers) is read from Redis at
scrape time instead (portal.routes.metrics): a gauge kept per process would be one stale copy
per worker, and one that died would leave its last value behind.
"""

from __future__ import annotations

import fcntl
import glob
import hmac
import os
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector

from portal.errors import PortalError

# Seconds: the viewer's reports take milliseconds, a page a few hundred, an export seconds.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
RENDER_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80)

REQUESTS = Counter(
    "portal_http_requests",
    "HTTP requests answered, by route (the URL rule, never the path) and status",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "portal_http_request_duration_seconds",
    "Time to answer a request, by route (the URL rule)",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
)
REFUSED = Counter(
    "portal_outage_refusals",
    "Requests answered 503 because a service Portal depends on was down",
    ["service"],
)
DRAINS = Counter(
    "portal_ingest_drains",
    "Runs of the read-report drain job, by outcome (done, failed)",
    ["outcome"],
)
DRAINED = Counter(
    "portal_ingest_drained_entries",
    "Read-report stream entries applied to the database by drains",
)
RENDERS = Histogram(
    "portal_render_duration_seconds",
    "Time to render a template version to PDF (cache misses only)",
    buckets=RENDER_BUCKETS,
)
RENDER_FAILURES = Counter(
    "portal_render_failures",
    "Template renders that failed",
)
WEBHOOK_FAILURES = Counter(
    "portal_webhook_failures",
    "Webhook delivery attempts that failed, by outcome (retry: tried again; failed: given up)",
    ["outcome"],
)
CHANNEL_FAILURES = Counter(
    "portal_channel_failures",
    "Alert messages (chat, e-mail) whose attempt failed, by transport and outcome",
    ["transport", "outcome"],
)


CONTENT_TYPE = CONTENT_TYPE_LATEST


class MetricsOff(PortalError):
    """No PORTAL_METRICS_TOKEN: the endpoint does not exist."""

    status = 404
    code = "not_found"


class ScrapeUnauthorized(PortalError):
    status = 401
    code = "unauthorized"


def check_scrape(token: str | None, authorization) -> None:
    """Only a scraper presenting the token (Authorization: Bearer) reads the metrics: they tell
    an outsider how busy Portal is and which routes exist. Without a token set, none does."""
    if not token:
        raise MetricsOff("not found")
    given = (
        authorization.token
        if authorization is not None and authorization.type == "bearer"
        else None
    )
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        raise ScrapeUnauthorized("a bearer token is required (PORTAL_METRICS_TOKEN)")


def multiprocess_dir() -> str | None:
    """PROMETHEUS_MULTIPROC_DIR, read by prometheus_client when this module is imported."""
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def exposition(*collectors) -> bytes:
    """Every metric in the Prometheus text format: the counts of all processes (multiprocess
    mode) or of this one, plus collectors computed now (scrape-time gauges)."""
    registry = CollectorRegistry()
    for collector in collectors:
        registry.register(collector)
    folder = multiprocess_dir()
    if not folder:
        registry.register(_Everything())
        return generate_latest(registry)
    MultiProcessCollector(registry, path=folder)
    with _locked(folder):  # no scrape sees the folder half-compacted
        compact(folder)
        return generate_latest(registry)


# The files a process leaves in PROMETHEUS_MULTIPROC_DIR: one per kind of metric and process.
_KINDS = ("counter", "histogram")
_LOCK_FILE = ".compaction.lock"


@contextmanager
def _locked(folder: str) -> Iterator[None]:
    with open(os.path.join(folder, _LOCK_FILE), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def compact(folder: str) -> int:
    """Fold the files of processes that ended into one archive file per kind; how many.

    RQ runs every job in a process of its own (a fork), so each drain, render and webhook
    leaves its files behind, and a scrape reads every file: thousands a day would make it slow.
    Counters and histograms are sums (a histogram stores each bucket's own count), so a dead
    process's values add into the archive exactly as the scrape would have added them. The
    files are first renamed out of the scrape's sight, so a crash half-way loses those counts
    (Prometheus sees a counter reset) rather than counting them twice. Call with the lock held.
    """
    folded = 0
    for kind in _KINDS:
        dead = [path for path in glob.glob(os.path.join(folder, f"{kind}_*.db")) if _ended(path)]
        if not dead:
            continue
        archive = os.path.join(folder, f"{kind}_archive.db")
        totals: dict[str, float] = {}
        sources = [archive] if os.path.exists(archive) else []
        moved = []
        for path in dead:
            os.replace(path, f"{path}.folding")
            moved.append(f"{path}.folding")
        for path in sources + moved:
            for key, value, _timestamp, _pos in MmapedDict.read_all_values_from_file(path):
                totals[key] = totals.get(key, 0.0) + value
        spare = f"{archive}.new"
        if os.path.exists(spare):  # left by a crash: start it afresh
            os.unlink(spare)
        written = MmapedDict(spare)
        try:
            for key, value in totals.items():
                written.write_value(key, value, 0.0)
        finally:
            written.close()
        os.replace(spare, archive)
        for path in moved:
            os.unlink(path)
        folded += len(dead)
    return folded


def _ended(path: str) -> bool:
    """Whether the process that wrote `path` (counter_<pid>.db) has ended (on this host: the
    folder is one host's)."""
    pid = os.path.basename(path).rsplit(".", 1)[0].split("_", 1)[1]
    if not pid.isdigit():
        return False  # the archive
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


class _Everything:
    """The process's default registry (its counters, histograms, process and platform
    metrics), added to a registry of its own so that the scrape-time collectors are never
    registered globally (the app factory runs more than once per process in tests)."""

    def collect(self):
        return REGISTRY.collect()
