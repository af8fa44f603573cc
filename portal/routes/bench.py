"""Bare routes for the benchmark's baselines (bench/, `python -m bench`).

Registered only when PORTAL_BENCH_ROUTES=1 (config BENCH_ROUTES): never in production. They do
what the real routes do minus Portal's own work, so a figure's ratio shows that work's cost:
/_bench/hello is a hello-world response, /_bench/file/<name> Flask's send_file of a file in the
instance folder (P1 puts the same bytes there that its tracked download serves).

Two more show what one round trip to Redis costs by itself, the least a request that checks
shared state or queues durably must pay: POST /_bench/ping reads the body and makes one round
trip (P2's floor), /_bench/file-ping/<name> makes one, then sends the file (P1's floor). The
round trip is the app's own kind (portal.redis_scripts: a script on the thread's connection,
as a download's and a report batch's write), running a script that does nothing.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, current_app, request, send_from_directory

from portal import redis_scripts
from portal.extensions import csrf, limiter

bp = Blueprint("bench", __name__, url_prefix="/_bench")
csrf.exempt(bp)
limiter.exempt(bp)


@bp.get("/hello")
def hello() -> Response:
    return Response("ok", mimetype="text/plain")


@bp.get("/file/<name>")
def file(name: str) -> Response:
    folder = Path(current_app.instance_path)
    if not (folder / name).is_file():
        abort(404)
    return send_from_directory(folder, name, mimetype="application/pdf", max_age=0)


@bp.post("/ping")
def ping() -> Response:
    request.get_data()
    _round_trip()
    return Response('{"queued":1}', status=202, mimetype="application/json")


_NOTHING = "portal.bench.nothing_script"


def _round_trip() -> None:
    redis_scripts.run(redis_scripts.app_script(_NOTHING, "return 1"), [], [])


@bp.get("/file-ping/<name>")
def file_ping(name: str) -> Response:
    _round_trip()
    return file(name)
