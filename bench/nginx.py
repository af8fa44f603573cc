"""nginx in front of gunicorn, as deploy/nginx/portal.conf ships it, run unprivileged.

`Nginx(workdir, upstream, roots)` renders the shipped server block with this run's upstream
address, listening port and the folders of the internal locations, inside a main configuration
of its own (pid file, logs and temporary folders in workdir; not a daemon), starts
/usr/sbin/nginx as a subprocess and stops it by its pid. The bench's P1n and P6 and the tests
(tests/deploy/test_nginx.py, tests/faults/test_kill_during_downloads.py) run it this way.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "deploy" / "nginx" / "portal.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
# What the shipped file names, and what a run puts in its place.
_UPSTREAM = "server 127.0.0.1:8000;"
_LISTEN = "listen 80;"
_CACHE = "/srv/portal/instance/render-cache/"
_STORAGE = "/srv/portal/instance/storage/"
_GATE_APP = 'set $portal_gate_app "127.0.0.1:8000";'
_GATE_SECRET = "replace-with-PORTAL_DOWNLOAD_GATE_SECRET"  # noqa: S105 (the placeholder)
_LUA_PATH = "/etc/nginx/portal/?.lua;"
# What Debian's libnginx-mod-http-lua enables in /etc/nginx/modules-enabled; a main
# configuration of our own loads it itself.
MODULES = ("ndk_http_module.so", "ngx_http_lua_module.so")
MODULES_DIR = Path("/usr/lib/nginx/modules")

MAIN = """
{modules}
{user}daemon off;
worker_processes {workers};
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    # upstream: "-" for a request nginx answered without the app (a download gate replay)
    log_format portal '$remote_addr "$request" $status $body_bytes_sent upstream=$upstream_addr';
    access_log {access_log};
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/portal.conf;
}}
"""


class NginxError(RuntimeError):
    pass


def available() -> bool:
    return Path(NGINX).exists()


def _user() -> str:
    """Started as root, nginx's workers would drop to `nobody`, who cannot read the run's
    private folders: they stay this user (a `user` line only means something to root)."""
    if os.geteuid() != 0:
        return ""
    return f"user {pwd.getpwuid(os.geteuid()).pw_name};\n"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def render(
    upstream: str,
    port: int,
    cache: Path,
    storage: Path | None,
    extra: str = "",
    gate_secret: str = "",
) -> str:
    """The shipped server block with this run's addresses and folders, the download gate's
    secret (none: a random one the app does not know, so the gate is idle) and the shipped
    portal_gate.lua; `extra`: more locations (the bench's static baseline), put before the last
    closing brace."""
    text = SHIPPED.read_text()
    replacements = {
        _UPSTREAM: f"server {upstream};",
        _GATE_APP: f'set $portal_gate_app "{upstream}";',
        _LISTEN: f"listen 127.0.0.1:{port};",
        _CACHE: f"{cache}/",
        _STORAGE: f"{storage or cache}/",
        _GATE_SECRET: gate_secret or f"idle-{secrets.token_hex(16)}",
        _LUA_PATH: f"{SHIPPED.parent}/?.lua;",
    }
    for old, new in replacements.items():
        if old not in text:
            raise NginxError(f"{SHIPPED} no longer says {old!r}: update bench/nginx.py")
        text = text.replace(old, new)
    head, brace, tail = text.rpartition("}")
    return f"{head}{extra}\n{brace}{tail}"


class Nginx:
    def __init__(
        self,
        workdir: Path,
        upstream: str,
        cache: Path,
        storage: Path | None = None,
        *,
        extra: str = "",
        workers: int = 1,
        access_log: bool = True,
        gate_secret: str = "",
    ) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        (self.dir / "portal.conf").write_text(
            render(upstream, self.port, cache, storage, extra, gate_secret)
        )
        log = f"{self.dir}/access.log portal" if access_log else "off"
        modules = "\n".join(f"load_module {MODULES_DIR / name};" for name in MODULES)
        (self.dir / "nginx.conf").write_text(
            MAIN.format(
                dir=self.dir, workers=workers, access_log=log, user=_user(), modules=modules
            )
        )
        self._process: subprocess.Popen | None = None

    def command(self, *args: str) -> list[str]:
        return [NGINX, "-e", str(self.dir / "error.log"), "-p", str(self.dir), "-c",
                str(self.dir / "nginx.conf"), *args]  # fmt: skip

    def start(self, timeout: float = 15) -> str:
        checked = subprocess.run(
            self.command("-t"), capture_output=True, text=True, timeout=30, check=False
        )
        if checked.returncode != 0:
            raise NginxError(f"nginx -t refused the configuration:\n{checked.stderr}")
        self._process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise NginxError(f"nginx exited:\n{self.error_log()}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/_accel/", timeout=2):
                    pass
            except urllib.error.HTTPError:
                return self.base_url  # it answers (404: the internal location)
            except OSError:
                time.sleep(0.1)
        raise NginxError(f"nginx did not answer on {self.base_url} in {timeout:.0f} s")

    def access_log(self) -> str:
        path = self.dir / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def error_log(self) -> str:
        path = self.dir / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(signal.SIGQUIT)  # graceful: the master ends its workers
        try:
            self._process.wait(15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(10)
