"""deploy/nginx/portal.conf, checked without starting anything: nginx accepts it (`nginx -t`
on the rendered copy), and its body limit is the app's MAX_CONTENT_LENGTH."""

from __future__ import annotations

import re
import subprocess

from bench import nginx
from tests.support import skip_or_fail


def test_the_body_limit_is_the_apps(app):
    text = nginx.SHIPPED.read_text()
    match = re.search(r"client_max_body_size (\d+)m;", text)
    assert match, "client_max_body_size in MiB"
    assert int(match.group(1)) * 1024 * 1024 == app.config["MAX_CONTENT_LENGTH"]


def test_nginx_accepts_the_shipped_configuration(tmp_path):
    if not nginx.available():
        skip_or_fail(f"nginx is not installed ({nginx.NGINX}): apt-get install nginx")
    proxy = nginx.Nginx(tmp_path, "127.0.0.1:9", tmp_path / "cache", tmp_path / "storage")
    checked = subprocess.run(
        proxy.command("-t"), capture_output=True, text=True, timeout=30, check=False
    )
    assert checked.returncode == 0, checked.stderr
