"""P1: a tracked document download vs `send_file` of the same bytes from a bare route.

The figure: GET /d/<token>/download (signature check, link and delivery checks, the
doc.downloaded event and what reacts to it, the file from storage) rotating over one
delivery per customer, against GET /_bench/file/<name> (Flask's send_file of the same PDF from
the instance folder), both under gunicorn with the same wrk load and script. Requests per
second; the median of the runs, baseline and figure interleaved.
"""

from __future__ import annotations

import logging
import urllib.request
from pathlib import Path

from sqlalchemy import func, select

from bench import documents, seed, wrk
from bench.report import Figure, floor_figure, median, spread
from bench.settings import Settings
from bench.stack import Stack
from bench.stored import wait_stored

log = logging.getLogger("bench")
FILE_NAME = "bench-p1.pdf"
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.40"


def prepare(
    stack: Stack, settings: Settings, tag: str = "p1", data: bytes | None = None
) -> tuple[list[str], bytes]:
    """A brochure sent to settings.p1_customers customers (staff and customers named by tag);
    the download paths, and the PDF's bytes (also at FILE_NAME in the instance folder)."""
    data = data if data is not None else documents.noise_pdf()
    app = stack.app()
    with app.app_context():
        staff = seed.staff(tag)
        brochure = seed.template(
            staff.marketing, name="产品手册", kind="brochure", filename="brochure.pdf", data=data
        )
        people = seed.customers(staff.rep, settings.p1_customers, tag)
        paths = [
            seed.send_to(staff.rep, customer.id, brochure.id) + "/download" for customer in people
        ]
    if tag == "p1":
        Path(stack.env["PORTAL_INSTANCE_PATH"], FILE_NAME).write_bytes(data)
    return paths, data


def check(url: str, size: int) -> str:
    """What one request answers (status, type, length): a download must really be the file."""
    request = urllib.request.Request(url, headers={"User-Agent": BROWSER})
    with urllib.request.urlopen(request, timeout=30) as answer:
        body = answer.read()
        kind = answer.headers.get("Content-Type", "")
        if answer.status != 200 or len(body) != size:
            raise RuntimeError(f"{url}: {answer.status} {kind}, {len(body)} bytes, not {size}")
        return f"{answer.status} {kind} {len(body)} B"


def downloads(stack: Stack) -> int:
    from portal.extensions import db
    from portal.tracking.models import Event, EventType

    with stack.app().app_context():
        count = db.session.scalar(
            select(func.count(Event.id)).where(Event.type == EventType.DOC_DOWNLOADED.value)
        )
        db.session.remove()
        return count or 0


def settled(stack: Stack, expected: int = 0, timeout: float = 180.0) -> int:
    """The doc.downloaded events stored once the workers have caught up: at least `expected`
    and unchanged for a second (or the timeout)."""
    return wait_stored(lambda: downloads(stack), expected, timeout)[0]


def measure(stack: Stack, settings: Settings) -> list[Figure]:
    paths, data = prepare(stack, settings)
    base = stack.server()
    subject_file = stack.workdir / "p1-paths.txt"
    subject_file.write_text("\n".join(paths) + "\n")
    baseline_file = stack.workdir / "p1-baseline.txt"
    baseline_file.write_text(f"/_bench/file/{FILE_NAME}\n")
    log.info("P1: %s", check(base + paths[0], len(data)))
    log.info("P1: baseline %s", check(f"{base}/_bench/file/{FILE_NAME}", len(data)))
    warm = wrk.Load(settings.load.threads, settings.load.connections, settings.warmup)
    wrk.run(base, warm, "paths.lua", [str(baseline_file)])
    wrk.run(base, warm, "paths.lua", [str(subject_file)])
    before = settled(stack)
    floor_file = stack.workdir / "p1-floor.txt"
    floor_file.write_text(f"/_bench/file-ping/{FILE_NAME}\n")
    with_redis = bool(stack.env.get("PORTAL_REDIS_URL"))
    subject, baseline, floors, bad, acknowledged = [], [], [], 0, 0
    for run in range(settings.runs):
        with stack.workers_paused():  # the app node alone; the workers catch up after
            plain = wrk.run(base, settings.load, "paths.lua", [str(baseline_file)])
            tracked = wrk.run(base, settings.load, "paths.lua", [str(subject_file)])
            if with_redis:  # the floor: one Redis round trip, then the same send_file
                floors.append(wrk.run(base, settings.load, "paths.lua", [str(floor_file)]).rps)
        acknowledged += tracked.requests - tracked.non_2xx
        settled(stack, before + acknowledged)
        bad += plain.non_2xx + tracked.non_2xx + plain.socket_errors + tracked.socket_errors
        baseline.append(plain.rps)
        subject.append(tracked.rps)
        log.info(
            "P1 run %d: download %.0f req/s (%.0f MiB/s), send_file %.0f req/s (%.0f MiB/s)%s",
            run + 1,
            tracked.rps,
            tracked.transfer_per_sec / 2**20,
            plain.rps,
            plain.transfer_per_sec / 2**20,
            f", floor {floors[-1]:.0f} req/s" if floors else "",
        )
    recorded = settled(stack, before + acknowledged) - before
    size_mib = len(data) / 2**20
    figures = [
        Figure(
            key="P1",
            name=f"P1 tracked download of a {size_mib:.1f} MiB PDF req/s",
            value=median(subject),
            baseline=median(baseline),
            measures=(
                f"`GET /d/<token>/download`, {len(paths)} customers' links in turn "
                "(token, link checks, doc.downloaded recorded, PDF from storage), req/s"
            ),
            baseline_is="send_file of the same bytes from `/_bench/file`, same app and load",
            goal="ratio ≥ 0.85",
            note=(
                f"download {spread(subject)}; send_file {spread(baseline)}; "
                f"{recorded} doc.downloaded events stored for {acknowledged} downloads answered "
                f"200 (RQ workers paused during the runs, caught up after); "
                f"non-2xx/socket errors: {bad}"
            ),
        )
    ]
    if floors:
        figures.append(
            floor_figure(
                "P1",
                "P1 floor: send_file after one Redis round trip req/s",
                floors,
                baseline,
                "`/_bench/file-ping`: one Redis round trip of the app's own kind (a script that "
                "does nothing, on the thread's connection), then the same send_file (no token, "
                "no checks, nothing recorded): the most a download that asks shared state "
                "anything can reach",
                "send_file of the same bytes from `/_bench/file`, same app and load",
            )
        )
    return figures
