"""P2: read-time report ingest (POST /t/r) vs a hello-world route of the same app.

Reports go to a few thousand view sessions (started by the tracking service, one delivery per
customer) in turn, each with a key of its own, one report per batch, as the viewer sends them.
The rate is acknowledged (202) reports per second (bench/lua/ingest.lua); the baseline is GET
/_bench/hello under the same load. After each run the harness waits for the queue to drain
(RQ queue and started jobs empty, the event count steady) and counts the page.viewed events
stored: they must equal the acknowledged reports.
"""

from __future__ import annotations

import logging

from sqlalchemy import func, select

from bench import documents, seed, wrk
from bench.report import Figure, floor_figure, median, spread
from bench.settings import Settings
from bench.stack import Stack
from bench.stored import wait_stored

log = logging.getLogger("bench")
PAGES = 5  # the noise PDF's pages: reports name pages 1..5


def sessions(stack: Stack, settings: Settings, tag: str = "p2") -> list[str]:
    """Deliveries to p2_customers customers and p2_sessions open view sessions: their tokens
    (`tag` keeps the staff and customers of another figure's load, P9's, apart)."""
    from portal import jobs
    from portal.delivery.models import Delivery
    from portal.extensions import db
    from portal.tracking import sessions

    app = stack.app()
    with app.app_context():
        staff = seed.staff(tag)
        doc = seed.template(
            staff.marketing,
            name="方案手册",
            kind="solution",
            filename="solution.pdf",
            data=documents.noise_pdf(PAGES, seed=7),
            content_tags="3:pricing",
        )
        people = seed.customers(staff.rep, settings.p2_customers, tag)
        for customer in people:
            seed.send_to(staff.rep, customer.id, doc.id)
        deliveries = db.session.scalars(
            select(Delivery).where(Delivery.template_id == doc.id).order_by(Delivery.id)
        ).all()
        tokens = []
        for n in range(settings.p2_sessions):
            delivery = deliveries[n % len(deliveries)]
            session = sessions.start_session(delivery, 1, "Mozilla/5.0 bench", "127.0.0.1")
            tokens.append(sessions.ingest_token(session))
            if n % 500 == 499:
                jobs.commit()
        jobs.commit()
        db.session.remove()
    return tokens


def _stored(stack: Stack) -> int:
    from portal.extensions import db
    from portal.tracking.models import Event, EventType

    with stack.app().app_context():
        count = db.session.scalar(
            select(func.count(Event.id)).where(Event.type == EventType.PAGE_VIEWED.value)
        )
        db.session.remove()
        return count or 0


def _queue_busy(stack: Stack) -> bool:
    """Whether RQ still has portal jobs waiting or running (False without Redis)."""
    redis_url = stack.env.get("PORTAL_REDIS_URL")
    if not redis_url:
        return False
    from redis import Redis
    from rq import Queue
    from rq.registry import StartedJobRegistry

    from portal.jobs import QUEUE_NAME

    connection = Redis.from_url(redis_url)
    try:
        queue = Queue(QUEUE_NAME, connection=connection)
        return queue.count > 0 or StartedJobRegistry(queue=queue).count > 0
    finally:
        connection.close()


def _drain(stack: Stack, expected: int, timeout: float) -> tuple[int, float]:
    """Wait until the stored count reaches `expected` and holds, or stops moving with the queue
    empty, or the timeout passes; (count, seconds waited)."""
    return wait_stored(
        lambda: _stored(stack),
        expected,
        timeout,
        busy=lambda: _queue_busy(stack),
        give_up_after=10.0,
    )


def measure(stack: Stack, settings: Settings) -> list[Figure]:
    tokens = sessions(stack, settings)
    base = stack.server()
    token_file = stack.workdir / "p2-tokens.txt"
    token_file.write_text("\n".join(tokens) + "\n")
    load = settings.load

    def ingest(tag: str, phase: float, path: str = "/t/r") -> wrk.WrkResult:
        # wrk runs 2 s past the reporting phase: the reports in flight are all answered.
        run_load = wrk.Load(load.threads, load.connections, phase + 2)
        return wrk.run(
            base, run_load, "ingest.lua", [str(token_file), str(phase), tag, str(PAGES), path]
        )

    with_redis = bool(stack.env.get("PORTAL_REDIS_URL"))
    floors: list[float] = []

    hello_warm = wrk.Load(load.threads, load.connections, settings.warmup)
    wrk.run(f"{base}/_bench/hello", hello_warm)
    stored_before = _stored(stack)
    warm = ingest("w", settings.warmup)
    stored_warm, _ = _drain(stack, stored_before + warm.extra.get("acked", 0), 60)

    rates, hellos, acked_total, stored_total, failed_total, drains = [], [], 0, 0, 0, []
    statuses: list[dict] = []
    for run in range(settings.runs):
        hello = wrk.run(f"{base}/_bench/hello", load)
        hellos.append(hello.rps)
        before = _stored(stack)
        result = ingest(f"r{run}", load.duration)
        acked = int(result.extra.get("acked", 0))
        failed = int(result.extra.get("failed", 0))
        stored_after, waited = _drain(stack, before + acked, settings.p2_drain_timeout)
        stored = stored_after - before
        rates.append(float(result.extra.get("rate", 0.0)))
        acked_total += acked
        stored_total += stored
        failed_total += failed
        drains.append(waited)
        statuses += [s for s in result.extra.get("statuses", []) if s]
        if with_redis:  # the floor: the same bodies, read, one Redis round trip, 202
            floor = ingest(f"f{run}", load.duration, "/_bench/ping")
            floors.append(float(floor.extra.get("rate", 0.0)))
        log.info(
            "P2 run %d: ingest %.0f acked/s (%d acked, %d refused, %d stored, drained in %.1f s)"
            ", hello %.0f req/s%s",
            run + 1,
            rates[-1],
            acked,
            failed,
            stored,
            waited,
            hello.rps,
            f", floor {floors[-1]:.0f} req/s" if floors else "",
        )
    refused = f"; refused (non-202): {failed_total} {statuses}" if failed_total else ""
    figures = [
        Figure(
            key="P2",
            name="P2 read-time report ingest req/s",
            value=median(rates),
            baseline=median(hellos),
            measures=(
                f"`POST /t/r`, one report per batch, {len(tokens)} view sessions in turn; "
                "acknowledged (202) reports/s"
            ),
            baseline_is="`GET /_bench/hello` (hello-world route), same app and load",
            goal="ratio ≥ 0.5",
            note=f"ingest {spread(rates)}; hello {spread(hellos)}{refused}",
        ),
        Figure(
            key="P2",
            name="P2 stored events vs acknowledged reports",
            value=stored_total,
            baseline=acked_total,
            measures="page.viewed events stored, all runs, after the queue drained",
            baseline_is="2xx (202) responses wrk received",
            goal="equal (ratio 1.00)",
            note=(
                "drained in " + ", ".join(f"{s:.1f}" for s in drains) + " s after each run; "
                f"warm-up: {warm.extra.get('acked', 0)} acked, {stored_warm - stored_before} stored"
            ),
            digits=0,
        ),
    ]
    if floors:
        figures.append(
            floor_figure(
                "P2",
                "P2 floor: POST and one Redis round trip req/s",
                floors,
                hellos,
                "`POST /_bench/ping`: the same bodies as the ingest, read, one Redis round trip "
                "of the app's own kind (a script that does nothing), 202 (no checks, no queue): "
                "the most an ingest that answers after a Redis write can reach",
                "`GET /_bench/hello`, same app and load",
            )
        )
    return figures
