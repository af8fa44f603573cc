"""`python -m bench.live_streams [CAP …]`: do 100 open `GET /live` streams starve other
requests on the default gunicorn configuration (gunicorn.conf.py: gthread, 2 workers x 4
threads)?

One stack (PostgreSQL, Redis, as `python -m bench`), a rep signed in. For each server setting
(the default cap of PORTAL_LIVE_STREAMS=2 per process, and no cap: 1000), it measures `GET
/live/now` (signed in: the session, a database query, JSON; the polling fallback itself) one
request after another, first alone, then
while 100 clients hold `GET /live` open; and how many of the 100 were streamed (200) or refused
(503, Retry-After: the page polls `GET /live/now` instead). Figures go to stdout; the choice they
support is in docs/deploy.md ("Live reading").
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from urllib.parse import urlsplit

from bench import seed
from bench.stack import ROOT, Stack, StackOptions, free_port

log = logging.getLogger("bench")
STREAMS = 100
SAMPLES = 60
SAMPLES_UNCAPPED = 10  # each may wait for a stream to end: up to LIFETIME (25 s)
REQUEST_TIMEOUT = 30.0
AGENT = "portal-bench-live/1"  # the session is bound to address and agent (strong protection)


def _sign_in(stack: Stack, email: str) -> str:
    """A session cookie of `email`, signed in through the form of the in-process app (the same
    secret key as the server, so the server takes it)."""
    client = stack.app().test_client()
    answer = client.post(
        "/login",
        data={"email": email, "password": seed.PASSWORD},
        headers={"User-Agent": AGENT},
        environ_base={"REMOTE_ADDR": "127.0.0.1"},
    )
    assert answer.status_code == 302, answer.status_code
    cookie = client.get_cookie("session")
    assert cookie is not None, "no session cookie"
    return f"session={cookie.value}"


def _latencies(base: str, cookie: str, count: int) -> tuple[list[float], int]:
    """`GET /live/now` count times in turn: the milliseconds of those answered, and the failures."""
    times, failed = [], 0
    for _ in range(count):
        start = time.monotonic()
        try:
            request = urllib.request.Request(
                f"{base}/live/now", headers={"Cookie": cookie, "User-Agent": AGENT}
            )
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as answer:
                answer.read()
                assert answer.url.endswith("/live/now"), f"redirected to {answer.url}"
            times.append((time.monotonic() - start) * 1000)
        except OSError:
            failed += 1
    return times, failed


def _open_streams(base: str, cookie: str, count: int) -> tuple[list[socket.socket], dict]:
    """count raw connections asking for /live; their sockets (kept open) and status counts."""
    host, port = urlsplit(base).hostname, urlsplit(base).port
    statuses: dict[str, int] = {}
    sockets: list[socket.socket] = []
    lock = threading.Lock()

    def one() -> None:
        sock = socket.create_connection((host, port), timeout=REQUEST_TIMEOUT)
        sock.sendall(
            f"GET /live HTTP/1.1\r\nHost: {host}:{port}\r\nCookie: {cookie}\r\n"
            f"User-Agent: {AGENT}\r\n"
            "Accept: text/event-stream\r\n\r\n".encode()
        )
        try:
            status = sock.recv(64).split(b" ")[1].decode()
        except (OSError, IndexError):
            status = "none in 30 s"
        with lock:
            statuses[status] = statuses.get(status, 0) + 1
            sockets.append(sock)

    threads = [threading.Thread(target=one, daemon=True) for _ in range(count)]
    for thread in threads:
        thread.start()
    return sockets, {"threads": threads, "statuses": statuses}


def _summary(times: list[float], failed: int) -> str:
    if not times:
        return f"none answered ({failed} failed)"
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * len(ordered)) - 1)]
    return (
        f"p50 {statistics.median(ordered):.0f} ms, p95 {p95:.0f} ms, max {ordered[-1]:.0f} ms"
        + (f", {failed} failed" if failed else "")
    )


def _server(stack: Stack, streams: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        **stack.env,
        "PORTAL_BIND": f"127.0.0.1:{port}",
        "PORTAL_LIVE_STREAMS": str(streams),
        "PORTAL_ACCESS_LOG": "",
    }
    log_file = (stack.workdir / f"live-{streams}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"],
        cwd=ROOT,
        env=env,
        stdout=log_file,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=2).read()
            return proc, base
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("gunicorn did not start")


def main(argv: list[str] | None = None) -> int:
    """Arguments: the PORTAL_LIVE_STREAMS values to measure (default: 2 1000)."""
    caps = [int(a) for a in (sys.argv[1:] if argv is None else argv)] or [2, 1000]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # tear the stack down on a kill
    stack = Stack(StackOptions(storage="local", gunicorn_workers=2, gunicorn_threads=4))
    try:
        stack.start()
        with stack.app().app_context():
            staff = seed.staff("live")
            email = staff.rep.email
        for cap in caps:
            proc, base = _server(stack, cap)
            try:
                cookie = _sign_in(stack, email)
                alone = _latencies(base, cookie, SAMPLES)
                sockets, opened = _open_streams(base, cookie, STREAMS)
                time.sleep(2)  # the streams are being answered
                busy = _latencies(base, cookie, SAMPLES if cap < STREAMS else SAMPLES_UNCAPPED)
                for thread in opened["threads"]:
                    thread.join(REQUEST_TIMEOUT)
                for sock in sockets:
                    sock.close()
                print(
                    f"PORTAL_LIVE_STREAMS={cap}: {STREAMS} x GET /live -> "
                    f"{dict(sorted(opened['statuses'].items()))}; GET /live/now alone: "
                    f"{_summary(*alone)}; with the streams open: {_summary(*busy)}",
                    flush=True,
                )
            finally:
                proc.terminate()
                try:
                    proc.wait(40)  # running streams end within their 25 s
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(10)
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
