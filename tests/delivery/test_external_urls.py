"""Links that leave the app are built from PORTAL_BASE_URL, also in jobs and the CLI."""

from __future__ import annotations

import pytest

from portal.tracking import links


@pytest.fixture
def app_config(app_config):
    config = app_config | {"BASE_URL": "https://docs.example.cn/portal/"}
    config.pop("SERVER_NAME")  # like a worker or the CLI in production: no SERVER_NAME
    return config


def test_external_urls_need_no_request_and_keep_the_base_path(app):
    url = links.external_url("customer.viewer", token="abc")
    assert url == "https://docs.example.cn/portal/d/abc"


def test_a_request_host_does_not_leak_into_external_urls(app):
    with app.test_request_context("/", base_url="http://evil.example"):
        assert links.external_url("customer.portal_home", token="t") == (
            "https://docs.example.cn/portal/p/t"
        )
