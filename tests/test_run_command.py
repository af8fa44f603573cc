"""The README's run command (`scripts/run`) serves the site with demo data on a fresh instance."""

from __future__ import annotations

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_until_up(url: str, process: subprocess.Popen, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"scripts/run exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} did not answer within {timeout} s")


@pytest.fixture
def served(tmp_path: Path):
    port = _free_port()
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("PORTAL_", "FLASK_"))
    } | {"PORT": str(port), "PORTAL_INSTANCE_PATH": str(tmp_path / "instance")}
    log = (tmp_path / "run.log").open("w")
    process = subprocess.Popen(
        [str(ROOT / "scripts" / "run")],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_until_up(f"http://127.0.0.1:{port}/healthz", process)
        yield f"http://127.0.0.1:{port}"
    except AssertionError:
        log.flush()
        print((tmp_path / "run.log").read_text()[-4000:])
        raise
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
        log.close()


@pytest.mark.long(seconds=15)
def test_scripts_run_serves_the_demo_on_a_fresh_instance(served: str):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    login_page = opener.open(f"{served}/login").read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', login_page).group(1)
    form = urllib.parse.urlencode(
        {"csrf_token": token, "email": "marketing@demo.portal", "password": "demo1234"}
    ).encode()
    opener.open(f"{served}/login", data=form)
    library = opener.open(f"{served}/library/").read().decode()
    assert "MES 标准报价单" in library  # the demo's Chinese quote
    assert "汽车零部件客户案例" in library
