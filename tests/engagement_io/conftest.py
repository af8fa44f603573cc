"""Fixtures of the recommendations, inbound events and webhooks tests."""

from __future__ import annotations

import pytest

from portal import jobs
from portal.recommendations import keywords
from tests.engagement_io.io_support import start_receiver
from tests.threaded_servers import stop_serving


@pytest.fixture
def default_keywords(app):
    """The keywords migration 0005 seeds (the test fixtures empty every table first)."""
    keywords.install_defaults()
    jobs.commit()


@pytest.fixture
def app_config(app_config: dict) -> dict:
    """The webhook receivers of these tests listen on loopback, a private address."""
    return {**app_config, "WEBHOOK_ALLOW_PRIVATE": True}


@pytest.fixture
def receiver_factory():
    servers = []

    def start(plan: list[int] | None = None):
        receiver, server = start_receiver(plan)
        servers.append(server)
        return receiver

    yield start
    for server in servers:
        stop_serving(server)
