"""Bare routes for the benchmark's baselines (bench/, `python -m bench`).

Registered only when PORTAL_BENCH_ROUTES=1 (config BENCH_ROUTES): never in production. They do
what the real routes do minus Portal's own work, so a figure's ratio shows that work's cost:
/_bench/hello is a hello-world response, /_bench/file/<name> Flask's send_file of a file in the
instance folder (P1 puts the same bytes there that its tracked download serves).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, abort, current_app, send_from_directory

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
