"""gunicorn configuration for Portal in production: `gunicorn -c gunicorn.conf.py wsgi:app`.

gthread workers: each worker process runs PORTAL_THREADS threads, so one process holds a few
requests that wait on PostgreSQL, S3 or Redis while the others use the CPU. Size it as
PORTAL_WORKERS = the cores of the machine, PORTAL_THREADS = 4 (docs/deploy.md), and keep the
database pool (PORTAL_DB_POOL_SIZE, default 10) at least as large as PORTAL_THREADS.

Every setting comes from the environment, with defaults for one machine:

    PORTAL_BIND              127.0.0.1:8000 (a load balancer or nginx in front)
    PORTAL_WORKERS           number of CPU cores
    PORTAL_THREADS           4
    PORTAL_TIMEOUT           60 s a request may take before its worker is restarted
    PORTAL_GRACEFUL_TIMEOUT  30 s to finish running requests on SIGTERM / HUP
    PORTAL_KEEPALIVE         5 s
    PORTAL_ACCESS_LOG        "-" (stdout); a file path; "" turns it off
    PORTAL_ERROR_LOG         "-" (stderr) or a file path
    PORTAL_MAX_REQUESTS      0 (off); e.g. 10000 recycles a worker after that many requests
    PORTAL_PRELOAD           0; 1 imports the app once in the master (faster start, less memory)
"""

from __future__ import annotations

import multiprocessing
import os


def _int(name: str, default: int) -> int:
    value = os.environ.get(name, "").strip()
    return int(value) if value else default


bind = os.environ.get("PORTAL_BIND", "127.0.0.1:8000").split(",")
worker_class = "gthread"
workers = _int("PORTAL_WORKERS", multiprocessing.cpu_count())
threads = _int("PORTAL_THREADS", 4)
timeout = _int("PORTAL_TIMEOUT", 60)
graceful_timeout = _int("PORTAL_GRACEFUL_TIMEOUT", 30)
keepalive = _int("PORTAL_KEEPALIVE", 5)
max_requests = _int("PORTAL_MAX_REQUESTS", 0)
max_requests_jitter = max_requests // 10
preload_app = os.environ.get("PORTAL_PRELOAD", "0") == "1"

_access_log = os.environ.get("PORTAL_ACCESS_LOG", "-")
accesslog = _access_log or None
errorlog = os.environ.get("PORTAL_ERROR_LOG", "-")
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms "%(a)s"'
# Behind a load balancer: trust its X-Forwarded-* only from the addresses it uses.
forwarded_allow_ips = os.environ.get("PORTAL_FORWARDED_ALLOW_IPS", "127.0.0.1")
proc_name = "portal"


def post_fork(server, worker) -> None:
    """With preload_app the master built the app, and with it the SQLAlchemy engine: a pooled
    connection must never be shared by two processes. Drop the pool inherited from the master
    (without closing the master's sockets); the worker opens its own connections on first use.
    """
    app = getattr(worker, "app", None)
    wsgi = getattr(app, "callable", None) if app is not None else None
    if wsgi is None or not hasattr(wsgi, "app_context"):
        return  # not preloaded: the app is imported in the worker, after the fork
    from portal.extensions import db

    with wsgi.app_context():
        db.engine.dispose(close=False)
