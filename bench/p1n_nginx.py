"""P1n: a tracked download through nginx vs nginx serving the same file as a static location.

The production topology of docs/deploy.md: nginx (deploy/nginx/portal.conf, one worker) in front
of gunicorn with PORTAL_DOWNLOADS=accel. GET /d/<token>/download goes to the app (token, link
checks, doc.downloaded recorded), which answers with X-Accel-Redirect; nginx sends the node
cache's copy. The baseline: GET /_bench/static.pdf, the same bytes from a plain static location
of the same nginx. Same wrk load and script as P1; the median of the runs, interleaved.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from bench import p1_download, wrk
from bench.report import Figure, floor_figure, median, spread
from bench.settings import Settings
from bench.stack import Stack

log = logging.getLogger("bench")
STATIC = "/_bench/static.pdf"
FLOOR = "/_bench/static-ping.pdf"
# The floor's location: one Redis round trip from nginx (a PING, as the gate's one EVALSHA is a
# round trip), then the same static file.
_FLOOR_LOCATION = """
    location = {path} {{
        access_by_lua_block {{
            local r = require("nginx.redis"):new()
            r:set_timeout(1000)
            assert(r:connect("{host}", {port}))
            assert(r:ping())
            r:set_keepalive(60000, 64)
        }}
        alias {file};
        default_type application/pdf;
    }}
"""


def measure(stack: Stack, settings: Settings) -> list[Figure]:
    paths, data = p1_download.prepare(stack, settings, tag="p1n")
    static_file = stack.workdir / "p1n-static.pdf"
    static_file.write_bytes(data)
    redis = urlsplit(stack.env.get("PORTAL_REDIS_URL", "redis://127.0.0.1:6379"))
    floor = _FLOOR_LOCATION.format(
        path=FLOOR, host=redis.hostname, port=redis.port or 6379, file=static_file
    )
    base = stack.nginx(
        f"\n    location = {STATIC} {{\n        alias {static_file};\n"
        "        default_type application/pdf;\n    }\n" + floor
    )
    subject_file = stack.workdir / "p1n-paths.txt"
    subject_file.write_text("\n".join(paths) + "\n")
    baseline_file = stack.workdir / "p1n-baseline.txt"
    baseline_file.write_text(f"{STATIC}\n")
    log.info("P1n: %s", p1_download.check(base + paths[0], len(data)))
    log.info("P1n: baseline %s", p1_download.check(base + STATIC, len(data)))
    warm = wrk.Load(settings.load.threads, settings.load.connections, settings.warmup)
    wrk.run(base, warm, "paths.lua", [str(baseline_file)])
    wrk.run(base, warm, "paths.lua", [str(subject_file)])
    before = p1_download.settled(stack)
    floor_file = stack.workdir / "p1n-floor.txt"
    floor_file.write_text(f"{FLOOR}\n")
    log.info("P1n: floor %s", p1_download.check(base + FLOOR, len(data)))
    subject, baseline, floors, bad, acknowledged = [], [], [], 0, 0
    for run in range(settings.runs):
        with stack.workers_paused():  # the app node alone; the workers catch up after
            plain = wrk.run(base, settings.load, "paths.lua", [str(baseline_file)])
            tracked = wrk.run(base, settings.load, "paths.lua", [str(subject_file)])
            floors.append(wrk.run(base, settings.load, "paths.lua", [str(floor_file)]).rps)
        acknowledged += tracked.requests - tracked.non_2xx
        p1_download.settled(stack, before + acknowledged)
        bad += plain.non_2xx + tracked.non_2xx + plain.socket_errors + tracked.socket_errors
        baseline.append(plain.rps)
        subject.append(tracked.rps)
        log.info(
            "P1n run %d: download through nginx %.0f req/s (%.0f MiB/s), static %.0f req/s, "
            "floor %.0f req/s",
            run + 1,
            tracked.rps,
            tracked.transfer_per_sec / 2**20,
            plain.rps,
            floors[-1],
        )
    recorded = p1_download.settled(stack, before + acknowledged) - before
    return [
        Figure(
            key="P1n",
            name="P1n tracked download through nginx req/s",
            value=median(subject),
            baseline=median(baseline),
            measures=(
                f"`GET /d/<token>/download` through nginx, {len(paths)} customers' links in turn; "
                "the app checks and records, X-Accel-Redirect, nginx sends the file; req/s"
            ),
            baseline_is="nginx serving the same file from a static location, same nginx and load",
            goal="ratio ≥ 0.8",
            note=(
                f"download {spread(subject)}; static {spread(baseline)}; "
                f"{recorded} doc.downloaded events stored for {acknowledged} downloads answered "
                f"200 (RQ workers paused during the runs, caught up after); "
                f"non-2xx/socket errors: {bad}"
            ),
        ),
        floor_figure(
            "P1n",
            "P1n floor: the static file after one Redis round trip from nginx req/s",
            floors,
            baseline,
            f"`{FLOOR}`: nginx's Lua sends one Redis PING, then the same static file (no "
            "token, nothing recorded): the most a download that nginx records durably can reach",
            "nginx serving the same file from a static location, same nginx and load",
        ),
    ]
