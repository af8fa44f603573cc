"""P6: read-time reports while 200 phones download a 5 MiB PDF each at 64 KB/s.

A phone on a weak network holds its connection for the whole download. With the app sending the
bytes (PORTAL_DOWNLOADS=app, gunicorn alone) every such download holds one of the 2 × 4
gunicorn threads until the last bytes left the socket buffers; with nginx in front
(deploy/nginx/portal.conf, PORTAL_DOWNLOADS=accel) the thread answers at once and nginx holds the
slow connection.

The figure, for each topology: the p99 latency (wrk --latency) of POST /t/r reports (bench/lua/
ingest.lua, the P2 load) while `SLOW_CLIENTS` slow downloads are under way, against the same
p99 without them (same topology, same run). The slow clients are this module's own asyncio
loop on loopback: each asks for a tracked download (a customer's link in turn), checks that the
answer is 200, then reads at most `RATE` bytes per second with a small receive buffer, and
stops when the file is done or the window (the wrk run plus a margin) is over; count and time
are bounded. An error: a slow client that could not connect, got no 200 or was cut off, and
every non-2xx answer or socket error wrk saw.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bench import documents, p1_download, p2_ingest, wrk
from bench.report import Figure, median, spread
from bench.settings import Settings
from bench.stack import Stack

log = logging.getLogger("bench")
SLOW_CLIENTS = 200
RATE = 64 * 1024  # bytes per second each slow client reads
CHUNK = 32 * 1024
RECEIVE_BUFFER = 64 * 1024
STAGGER = 2.0  # seconds over which the slow clients connect
PAGES = 25  # noise PDF pages: about 5 MiB


@dataclass
class SlowLoad:
    started: int = 0
    answered: int = 0  # got a 200 and its headers
    finished: int = 0  # read the whole file
    errors: list[str] = field(default_factory=list)
    bytes_read: int = 0


async def _slow_download(host: str, port: int, path: str, stop_at: float, load: SlowLoad) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    load.started += 1
    writer = None
    try:
        await asyncio.wait_for(loop.sock_connect(sock, (host, port)), 10)
        reader, writer = await asyncio.open_connection(sock=sock, limit=CHUNK * 4)
        writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUser-Agent: {p1_download.BROWSER}\r\n"
            "Connection: close\r\n\r\n".encode()
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), stop_at - time.monotonic())
        status = head.split(b" ", 2)[1]
        if status != b"200":
            load.errors.append(f"status {status.decode()}")
            return
        load.answered += 1
        began = time.monotonic()
        got = 0
        while time.monotonic() < stop_at:
            chunk = await asyncio.wait_for(reader.read(CHUNK), max(0.1, stop_at - time.monotonic()))
            if not chunk:
                load.finished += 1
                return
            got += len(chunk)
            load.bytes_read += len(chunk)
            ahead = got / RATE - (time.monotonic() - began)
            if ahead > 0:
                await asyncio.sleep(ahead)
    except TimeoutError:
        if time.monotonic() < stop_at - 0.5:
            load.errors.append("timeout")
    except (OSError, asyncio.IncompleteReadError, IndexError) as exc:
        load.errors.append(type(exc).__name__)
    finally:
        if writer is not None:
            writer.close()
        else:
            sock.close()


async def _slow_downloads(base: str, paths: list[str], seconds: float, load: SlowLoad) -> None:
    url = urlsplit(base)
    stop_at = time.monotonic() + seconds
    tasks = []
    for n in range(SLOW_CLIENTS):
        path = paths[n % len(paths)]
        tasks.append(
            asyncio.create_task(_slow_download(url.hostname, url.port, path, stop_at, load))
        )
        await asyncio.sleep(STAGGER / SLOW_CLIENTS)
    await asyncio.gather(*tasks)


def _reports(base: str, token_file: str, seconds: float, load: wrk.Load) -> wrk.WrkResult:
    """The P2 report load for `seconds` (every request a report: the phase outlasts the run)."""
    run_load = wrk.Load(load.threads, load.connections, seconds)
    return wrk.run(
        base,
        run_load,
        "ingest.lua",
        [token_file, str(seconds + 60), "p6", str(p2_ingest.PAGES)],
        latency=True,
    )


def _with_slow_downloads(
    base: str, paths: list[str], token_file: str, settings: Settings
) -> tuple[wrk.WrkResult, SlowLoad]:
    load = SlowLoad()
    window = STAGGER + 1 + settings.load.duration + 5
    thread = threading.Thread(
        target=asyncio.run, args=(_slow_downloads(base, paths, window, load),), daemon=True
    )
    thread.start()
    time.sleep(STAGGER + 1)  # the slow downloads under way before the reports start
    result = _reports(base, token_file, settings.load.duration, settings.load)
    thread.join(window + 30)
    return result, load


def _errors(result: wrk.WrkResult) -> int:
    return result.non_2xx + result.socket_errors + int(result.extra.get("failed", 0))


def measure(stack: Stack, settings: Settings) -> list[Figure]:
    tokens = p2_ingest.sessions(stack, settings, tag="p6")
    token_file = stack.workdir / "p6-tokens.txt"
    token_file.write_text("\n".join(tokens) + "\n")
    data = documents.noise_pdf(PAGES, seed=11)
    paths, _data = p1_download.prepare(stack, settings, tag="p6d", data=data)
    topologies = {"nginx": stack.nginx(), "app": stack.server()}
    figures = []
    for name, base in topologies.items():
        log.info("P6 %s: %s", name, p1_download.check(base + paths[0], len(data)))
        _reports(base, str(token_file), settings.warmup, settings.load)  # warm-up
        quiet, busy, errors, notes, starved = [], [], 0, [], []
        for run in range(settings.runs):
            alone = _reports(base, str(token_file), settings.load.duration, settings.load)
            loaded, slow = _with_slow_downloads(base, paths, str(token_file), settings)
            quiet.append(alone.p99_ms or 0.0)
            # No report answered at all in the run: the p99 is at least the run's length.
            unanswered = int(loaded.extra.get("acked", 0)) == 0
            busy.append(settings.load.duration * 1000 if unanswered else loaded.p99_ms or 0.0)
            run_errors = _errors(alone) + _errors(loaded) + len(slow.errors)
            if unanswered:
                starved.append(run + 1)
            errors += run_errors
            notes.append(
                f"{slow.answered}/{slow.started} slow downloads answered, {slow.finished} "
                f"finished, {slow.bytes_read / 2**20:.0f} MiB read"
            )
            log.info(
                "P6 %s run %d: report p99 %.1f ms with slow downloads (%s; %d errors: %s), "
                "%.1f ms without; %.0f vs %.0f reports/s",
                name,
                run + 1,
                busy[-1],
                notes[-1],
                run_errors,
                sorted(set(slow.errors))[:5],
                quiet[-1],
                loaded.extra.get("rate", 0.0),
                alone.extra.get("rate", 0.0),
            )
        where = (
            "through nginx (deploy/nginx/portal.conf, PORTAL_DOWNLOADS=accel)"
            if name == "nginx"
            else "gunicorn alone (PORTAL_DOWNLOADS=app)"
        )
        suffix = "" if name == "nginx" else " (app only)"
        figures.append(
            Figure(
                key="P6",
                name=f"P6 report p99 under {SLOW_CLIENTS} slow downloads ms{suffix}",
                value=median(busy),
                baseline=median(quiet),
                measures=(
                    f"p99 of `POST /t/r` (wrk --latency, P2's load) {where}, while {SLOW_CLIENTS} "
                    f"tracked downloads of a {len(data) / 2**20:.1f} MiB PDF read at "
                    f"{RATE // 1024} KB/s each; ms"
                ),
                baseline_is="the same p99 without the slow downloads, same topology and run",
                goal="ratio ≤ 3, 0 errors" if name == "nginx" else "context: why nginx",
                note=(
                    f"with {spread(busy, 1)}; without {spread(quiet, 1)}; errors: {errors}; "
                    + (
                        f"no report answered during run(s) {starved} (p99 ≥ the run's length); "
                        if starved
                        else ""
                    )
                    + "; ".join(notes)
                ),
            )
        )
    return figures
