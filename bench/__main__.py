"""`python -m bench [--only P1,P2] [--runs N] [--duration S] [--quick] [--markdown]`.

Run from the repository root with the project's virtualenv. Figure lines go to stdout (and the
markdown table after them with --markdown); progress, per-run values and the stack's details
go to stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable

from bench import (
    nginx,
    p1_download,
    p1n_nginx,
    p2_ingest,
    p3_render,
    p4_recompute,
    p5_queries,
    p6_slow_clients,
    p7_first_page,
    p8_bulk_send,
    p9_alerts,
    p10_analytics,
    p11_recovery,
    wrk,
)
from bench.report import Figure, markdown_table
from bench.settings import Settings
from bench.stack import Stack, StackError, StackOptions

FIGURES: dict[str, Callable[[Stack, Settings], list[Figure]]] = {
    "P1": p1_download.measure,
    "P1N": p1n_nginx.measure,
    "P2": p2_ingest.measure,
    "P3": p3_render.measure,
    "P4": p4_recompute.measure,
    "P5": p5_queries.measure,
    "P6": p6_slow_clients.measure,
    "P7": p7_first_page.measure,
    "P8": p8_bulk_send.measure,
    "P9": p9_alerts.measure,
    "P10": p10_analytics.measure,
    "P11": p11_recovery.measure,
}
NEEDS_WRK = {"P1", "P1N", "P2", "P6", "P9", "P11"}
NEEDS_NGINX = {"P1N", "P6"}
log = logging.getLogger("bench")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Portal's speed and scale figures, each against a baseline of the same run.",
    )
    parser.add_argument("--only", default="", help="comma-separated figures, e.g. P2,P5")
    parser.add_argument("--runs", type=int, help="runs per figure (median); default 3")
    parser.add_argument("--duration", type=float, help="seconds per wrk run; default 10")
    parser.add_argument("--quick", action="store_true", help="small data, 1 short run: a smoke run")
    parser.add_argument("--markdown", action="store_true", help="also print a markdown table")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections (8)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (2)")
    parser.add_argument("--gthreads", type=int, default=4, help="threads per gunicorn worker (4)")
    parser.add_argument("--rq-workers", type=int, default=1, help="RQ worker processes (1)")
    parser.add_argument(
        "--worker-nice",
        type=int,
        default=19,
        help="nice level of the RQ workers (19: they stand in for worker nodes; 0: share the CPU)",
    )
    parser.add_argument(
        "--alerts-workers",
        type=int,
        default=1,
        help="RQ workers that take only alerts (flask worker --alerts-only), not niced (1)",
    )
    parser.add_argument(
        "--database-url",
        default=StackOptions.database_url,
        help="PostgreSQL database for the run's own schema (default: the local `test` database)",
    )
    parser.add_argument(
        "--redis-url", default=StackOptions.redis_url, help="Redis server; 'none': jobs inline"
    )
    parser.add_argument("--storage", choices=["s3", "local"], default="s3")
    parser.add_argument(
        "--p4-timeout", type=float, help="seconds one recompute may run before it is stopped (300)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the schema, bucket and folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s", stream=sys.stderr
    )
    log.setLevel(logging.INFO)  # the bench's progress; the app's own INFO lines stay quiet
    for noisy in ("weasyprint", "weasyprint.progress", "fontTools"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # P11 kills a Redis of its own, set up before the server starts: only asked for alone.
    default = [key for key in FIGURES if key != "P11"]
    wanted = [key.strip().upper() for key in args.only.split(",") if key.strip()] or default
    unknown = [key for key in wanted if key not in FIGURES]
    if unknown:
        known = ", ".join(FIGURES)
        print(f"unknown figure(s): {', '.join(unknown)}; known: {known}", file=sys.stderr)
        return 2
    if NEEDS_WRK & set(wanted) and not wrk.available():
        print(f"wrk is not installed ({wrk.WRK}): apt-get install wrk", file=sys.stderr)
        return 2
    if NEEDS_NGINX & set(wanted) and not nginx.available():
        print(f"nginx is not installed ({nginx.NGINX}): apt-get install nginx", file=sys.stderr)
        return 2
    settings = Settings.make(quick=args.quick, runs=args.runs, duration=args.duration)
    settings.load.connections = args.connections
    if args.p4_timeout:
        settings.p4_timeout = args.p4_timeout
    settings.load.threads = args.threads
    redis_url = None if args.redis_url.lower() == "none" else args.redis_url
    stack = Stack(
        StackOptions(
            database_url=args.database_url,
            redis_url=redis_url,
            storage=args.storage,
            gunicorn_workers=args.workers,
            gunicorn_threads=args.gthreads,
            rq_workers=args.rq_workers,
            worker_nice=args.worker_nice,
            alerts_workers=args.alerts_workers,
            keep=args.keep,
        )
    )
    figures: list[Figure] = []
    started = time.monotonic()
    try:
        stack.start()
        log.info("stack: %s (schema %s), storage %s", stack.workdir, stack.name, args.storage)
        for key in wanted:
            log.info("%s: starting", key)
            begun = time.monotonic()
            for figure in FIGURES[key](stack, settings):
                figures.append(figure)
                print(figure.line(), flush=True)
            log.info("%s: done in %.0f s", key, time.monotonic() - begun)
    except StackError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except Exception:
        log.exception("bench: a figure failed (the figures above it stand)")
        return 1
    finally:
        stack.stop()
    if args.markdown:
        print()
        print(markdown_table(figures))
    log.info(
        "all done in %.0f s (%d runs, %.0f s per wrk run, wrk -t%d -c%d, gunicorn %d×%d gthread)",
        time.monotonic() - started,
        settings.runs,
        settings.load.duration,
        settings.load.threads,
        settings.load.connections,
        args.workers,
        args.gthreads,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
