"""openapi.json names the server PORTAL_BASE_URL, never the Host header a request brings (a
client that trusts `servers` would otherwise send its token wherever the header pointed)."""

from __future__ import annotations

import pytest


@pytest.fixture
def app_config(app_config):
    return {**app_config, "BASE_URL": "https://portal.example.com/sales"}


@pytest.mark.parametrize("host", ["evil.example", "portal.test", "127.0.0.1:8080"])
def test_the_server_is_the_base_url_whatever_the_host_header(client, host):
    answer = client.get("/api/v1/openapi.json", headers={"Host": host})
    assert answer.status_code == 200
    assert answer.json["servers"] == [{"url": "https://portal.example.com/sales/api/v1"}]
    assert host not in answer.get_data(as_text=True)
