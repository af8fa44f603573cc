"""Driving the server with wrk (Debian package, /usr/bin/wrk) and reading its report."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

LUA = Path(__file__).resolve().parent / "lua"
WRK = shutil.which("wrk") or "/usr/bin/wrk"

_RPS = re.compile(r"Requests/sec:\s+([\d.]+)")
_TOTAL = re.compile(r"(\d+) requests in ([\d.]+)(\w+)")
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_SOCKET = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_TRANSFER = re.compile(r"Transfer/sec:\s+([\d.]+)(\w+)")
_P99 = re.compile(r"^\s*99%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
_TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
_EXTRA = re.compile(r"^BENCH (\{.*\})$", re.MULTILINE)
_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3}


@dataclass
class Load:
    """How hard to drive: wrk threads, open connections, seconds."""

    threads: int = 2
    connections: int = 8
    duration: float = 10.0


@dataclass
class WrkResult:
    requests: int
    rps: float
    non_2xx: int
    socket_errors: int
    transfer_per_sec: float  # bytes
    extra: dict[str, Any] = field(default_factory=dict)  # what a script's done() printed
    p99_ms: float | None = None  # with latency=True: wrk's 99th percentile
    output: str = ""


class WrkError(RuntimeError):
    pass


def available() -> bool:
    return Path(WRK).exists()


def run(
    url: str,
    load: Load,
    script: str | None = None,
    args: list[str] | None = None,
    latency: bool = False,
) -> WrkResult:
    """One wrk run against url; script is a file name under bench/lua, args go to its init;
    latency: wrk's latency distribution too (p99_ms)."""
    command = [
        WRK,
        f"-t{load.threads}",
        f"-c{load.connections}",
        f"-d{max(1, round(load.duration))}s",
        "--timeout",
        "10s",
    ]
    if latency:
        command.append("--latency")
    if script:
        command += ["-s", str(LUA / script)]
    command.append(url)
    if args:
        command += ["--", *args]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=load.duration + 60, check=False
    )
    output = done.stdout + done.stderr
    rps = _RPS.search(output)
    if done.returncode != 0 or rps is None:
        raise WrkError(f"wrk failed ({' '.join(command)}):\n{output}")
    total = _TOTAL.search(output)
    non_2xx = _NON_2XX.search(output)
    sockets = _SOCKET.search(output)
    transfer = _TRANSFER.search(output)
    extra = _EXTRA.search(output)
    p99 = _P99.search(output)
    return WrkResult(
        requests=int(total.group(1)) if total else 0,
        rps=float(rps.group(1)),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        transfer_per_sec=(
            float(transfer.group(1)) * _UNITS.get(transfer.group(2), 1) if transfer else 0.0
        ),
        extra=json.loads(extra.group(1)) if extra else {},
        output=output,
        p99_ms=float(p99.group(1)) * _TO_MS[p99.group(2)] if p99 else None,
    )
