"""P8: a bulk send of 200 personalised documents on 2 RQ workers, from the send until the last
customer's copy is rendered, vs 200 × one render divided by the worker count.

The value: `portal.delivery.bulk.create` for 200 customers and its commit (the jobs queued on
RQ), then the wall time until every item is done or failed (the progress the page polls, read
from the database every 0.1 s). Each item's job is what a worker does per customer: the send
(`delivery.services.send`), that customer's copy prepared (`prepare_copy`: the PDF, and page 1
as a PNG and two WebPs), the item's status.

The baseline, measured in the same run in this process: one customer's copy rendered as a job
renders it (`prepare_copy` on a cache miss: the PDF, and page 1 as the PNG and the two WebP
widths a phone's first open asks for; median of 5 after one untimed), times 200, divided by the
2 workers. `--runs` runs (default 3), each a baseline then a bulk send to 200 customers of its
own; the figure is the median of the sends and of the baselines (a busy host's speed drifts
from one run to the next, so each send has its baseline beside it). The ratio is what the
queue costs besides rendering: the sends, the job hand-over, a work-horse forked per job.
Until 2026-12-06 the baseline was the PDF and the PNG only, while the jobs also drew the two
WebPs (issue 7's first page), so the ratio counted them as queue cost; that older baseline is
still measured and given in the note.

The workers are P8's own (`flask --app wsgi worker --no-fork`, as docs/deploy.md recommends for
render workers; not niced, like this process), on a Redis database of their own, so the stack's
workers of P1/P2 take none of its jobs. A second line sends to 200 other customers on workers
that fork a work-horse per job (RQ's default), for context: each horse starts from the worker's
state and throws away what its renders warmed (fonts, compiled templates, encoders), which cost
about 0.1 s a copy (2026-12-06: 1.46 forking, 1.14 not, same baseline).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

from bench import seed
from bench.report import Figure, median, spread
from bench.settings import Settings
from bench.stack import ROOT, Stack, StackError

log = logging.getLogger("bench")
CUSTOMERS = 200
WORKERS = 2
BASELINE_RENDERS = 5
# One page, the customer's name, company and title in it: a personalised brochure.
BROCHURE = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><style>
body { font-family: "Noto Sans CJK SC", sans-serif; } h1 { color: #2456d3; }
</style></head><body>
<h1>{{ customer.company }} 智能产线升级方案</h1>
<p>尊敬的{{ customer.name }}（{{ customer.title }}），您好！</p>
<p>本方案根据贵公司的产线现状编写：设备联网、质量追溯与能耗管理三部分，预计投资回收期 14 个月。</p>
<ul><li>设备联网：48 台设备，两周上线</li><li>质量追溯：批次级追溯，报表自动生成</li>
<li>能耗管理：按产线计量，月度对比</li></ul>
</body></html>"""


def _start_workers(stack: Stack, redis_url: str, *args: str) -> list[subprocess.Popen]:
    env = {**os.environ, **stack.env, "PORTAL_REDIS_URL": redis_url, "PORTAL_TICK_INTERVAL": "0"}
    workers = []
    for number in range(WORKERS):
        tag = "-fork" if "--no-fork" not in args else ""
        logfile = (stack.workdir / f"p8-worker{tag}-{number}.log").open("wb")
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--no-tick", *args],
                cwd=ROOT,
                env=env,
                stdout=logfile,
                stderr=subprocess.STDOUT,
            )
        )
    return workers


def _wait_listening(redis_url: str, workers: list[subprocess.Popen], timeout: float = 120) -> None:
    from redis import Redis
    from rq import Worker

    connection = Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(w.poll() is not None for w in workers):
            raise StackError("a P8 worker exited: see p8-worker-*.log (run with --keep)")
        pids = {w.pid for w in Worker.all(connection)}
        if all(w.pid in pids for w in workers):
            return
        time.sleep(0.2)
    raise StackError(f"the P8 workers did not listen within {timeout:.0f} s")


def _stop(workers: list[subprocess.Popen]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.terminate()
    for worker in workers:
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)


def _one_copy(version, customer, rep) -> float:
    """One customer's copy as a job prepares it (delivery.services.prepare_delivery)."""
    from portal.library.rendering import customer_variables, prepare_copy

    variables = customer_variables(customer, rep)
    start = time.perf_counter()
    prepare_copy(version, variables)
    return time.perf_counter() - start


def _copies(app, version_id: int, rep_id: int, customer_ids: list[int]) -> list[float]:
    """One copy per customer, timed as _one_copy; the first untimed (in a new run, the first
    render warms the process's caches again)."""
    from portal.accounts.models import User
    from portal.customers.models import Customer
    from portal.extensions import db
    from portal.library.models import TemplateVersion

    with app.app_context():
        version = db.session.get(TemplateVersion, version_id)
        rep = db.session.get(User, rep_id)
        times = [_one_copy(version, db.session.get(Customer, i), rep) for i in customer_ids]
        db.session.remove()
    return times[1:]


def _pdf_and_png(version, customer, rep) -> float:
    """The older baseline: the PDF and the page-1 PNG only."""
    from portal.library.rendering import (
        customer_variables,
        render_version_page_png,
        render_version_pdf,
    )

    variables = customer_variables(customer, rep)
    start = time.perf_counter()
    render_version_pdf(version, variables)
    render_version_page_png(version, variables, 1)
    return time.perf_counter() - start


def measure(stack: Stack, settings: Settings) -> list[Figure]:
    from portal.extensions import db

    if not stack.env.get("PORTAL_REDIS_URL"):
        raise StackError("P8 needs Redis (its sends are queued on RQ): drop --redis-url none")
    count = 10 if settings.quick else CUSTOMERS
    runs = 1 if settings.quick else settings.runs
    app = stack.app()
    with app.app_context():
        staff = seed.staff("p8")
        brochure = seed.template(
            staff.marketing,
            name="智能产线升级方案",
            kind="brochure",
            filename="brochure.html",
            data=BROCHURE.encode(),
        )
        version = brochure.latest_version
        older = [  # the first loads WeasyPrint and the fonts: untimed
            _pdf_and_png(version, person, staff.rep)
            for person in seed.customers(staff.rep, BASELINE_RENDERS + 1, "p8-older")
        ][1:]
        # Customers of their own for every copy: each render is a cache miss.
        copy_ids = [
            [c.id for c in seed.customers(staff.rep, BASELINE_RENDERS + 1, f"p8-copy-{n}")]
            for n in range(runs)
        ]
        send_ids = [
            [c.id for c in seed.customers(staff.rep, count, f"p8-{n}")] for n in range(runs)
        ]
        forked_ids = [c.id for c in seed.customers(staff.rep, count, "p8-fork")]
        rep_id, template_id, version_id = staff.rep.id, brochure.id, version.id
        db.session.remove()
    # Each run: its own baseline (a busy host's speed drifts between runs), then the bulk send
    # on the workers docs/deploy.md recommends for renders (--no-fork); the figure is the
    # median of each. Then, once, RQ's default workers (a work-horse forked per job), context.
    copies: list[float] = []
    baselines: list[float] = []
    sends: list[float] = []
    queued = 0.0
    for n in range(runs):
        run_copies = _copies(app, version_id, rep_id, copy_ids[n])
        copies += run_copies
        baselines.append(count * median(run_copies) / WORKERS)
        elapsed, queued = _bulk_send(stack, rep_id, template_id, send_ids[n], "--no-fork")
        sends.append(elapsed)
        log.info("P8 run %d: %d sends in %.1f s, baseline %.1f s (copies %s)",
                 n + 1, count, elapsed, baselines[-1], spread(run_copies, 3))  # fmt: skip
    forked, _queued = _bulk_send(stack, rep_id, template_id, forked_ids)
    elapsed, baseline = median(sends), median(baselines)
    older_baseline = count * median(older) / WORKERS
    log.info("P8 PDF + PNG only (the older baseline): %s", spread(older, 3))
    log.info(
        "P8: %d sends in %.1f s (median of %d), %.1f s on forking workers; baseline %.1f s",
        count,
        elapsed,
        runs,
        forked,
        baseline,
    )
    run_notes = "; ".join(
        f"{s:.1f} s against {b:.1f} ({s / b:.2f})" for s, b in zip(sends, baselines, strict=True)
    )
    return [
        Figure(
            key="P8",
            name=f"P8 bulk send of {count} personalised documents s",
            value=elapsed,
            baseline=baseline,
            measures=(
                f"a bulk send to {count} customers on {WORKERS} RQ workers, from the send until "
                "every customer's copy (PDF + page 1 as PNG and WebPs) is rendered, seconds"
            ),
            baseline_is=(
                f"{count} × one copy (PDF + page 1 as PNG and WebPs, in process) / {WORKERS} "
                "workers"
            ),
            goal="ratio ≤ 1.3",
            note=(
                f"`flask worker --no-fork` (docs/deploy.md); median of {runs} runs: {run_notes}; "
                f"one copy {spread(copies, 3)}; the {count} jobs queued in {queued:.2f} s; "
                f"against the older baseline (PDF + PNG only, {spread(older, 3)}): ratio "
                f"{elapsed / older_baseline:.2f}"
            ),
            digits=1,
        ),
        Figure(
            key="P8",
            name=f"P8 bulk send of {count} personalised documents s (forking workers)",
            value=forked,
            baseline=baseline,
            measures=(
                f"the same on {WORKERS} workers that fork a work-horse per job (RQ's default, "
                "`flask worker` without --no-fork): context, the goal is the line above's"
            ),
            baseline_is="the same baseline",
            note="each job's horse starts from the worker's state and loses what its job warmed",
            digits=1,
        ),
    ]


def _bulk_send(
    stack: Stack, rep_id: int, template_id: int, ids: list[int], *worker_args: str
) -> tuple[float, float]:
    """One bulk send to `ids` on P8's own workers: (seconds until every item finished, seconds
    the send took to queue its jobs)."""
    from portal import create_app, jobs
    from portal.delivery import bulk
    from portal.extensions import db

    redis_url = stack.extra_redis()
    queued_app = create_app(
        {"REDIS_URL": redis_url, "JOBS_INLINE": False, "RATELIMIT_ENABLED": False}
    )
    workers = _start_workers(stack, redis_url, *worker_args)
    try:
        _wait_listening(redis_url, workers)
        with queued_app.app_context():
            from portal.accounts.models import User

            rep = db.session.get(User, rep_id)
            start = time.perf_counter()
            batch = bulk.create(rep, template_id, bulk.BulkOptions(), customer_ids=ids)
            batch_id = batch.id
            jobs.commit()
            queued = time.perf_counter() - start
            while True:
                batch = bulk.get(rep, batch_id)
                progress = bulk.progress(batch)
                db.session.commit()  # a new snapshot on the next read
                if progress.finished:
                    break
                if any(w.poll() is not None for w in workers):
                    raise StackError("a P8 worker exited mid-run: see p8-worker-*.log (--keep)")
                time.sleep(0.1)
            elapsed = time.perf_counter() - start
            db.session.remove()
            db.engine.dispose()
    finally:
        _stop(workers)
    if progress.failed:
        raise StackError(f"P8: {progress.failed} of {len(ids)} sends failed (p8-worker-*.log)")
    return elapsed, queued
