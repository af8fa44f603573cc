"""The shared S3 test server (../shared/s3/start-s3.sh): start it, read its settings."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support import skip_or_fail

START_S3 = Path(__file__).resolve().parents[1].parent / "shared" / "s3" / "start-s3.sh"
S3_NAMES = ("S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")


def run_start_s3(*args: str) -> str:
    """`bash start-s3.sh ARGS`: its output; skips (fails under CI) when it cannot run."""
    if not START_S3.is_file():
        skip_or_fail(f"S3 server script not found: {START_S3}")
    try:
        proc = subprocess.run(
            ["bash", str(START_S3), *args],
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        skip_or_fail(f"S3 server: `bash {START_S3} {' '.join(args)}` did not finish in 600 s")
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()[-2000:]
        skip_or_fail(f"S3 server: `bash {START_S3} {' '.join(args)}` failed: {output}")
    return proc.stdout


def shared_s3_settings() -> dict[str, str]:
    """Start the shared S3 server if needed; its endpoint and credentials (`start-s3.sh env`)."""
    run_start_s3()
    found: dict[str, str] = {}
    for line in run_start_s3("env").splitlines():
        name, sep, value = line.removeprefix("export ").partition("=")
        if sep and name in S3_NAMES:
            found[name] = value.strip().strip("'\"")
    missing = [name for name in S3_NAMES if name not in found]
    if missing:
        skip_or_fail(f"S3 server: `start-s3.sh env` printed no {', '.join(missing)}")
    return found
