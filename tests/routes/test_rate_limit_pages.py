"""Guessing passwords is slowed down, with a friendly page (rate limiting on, as in production)."""

from __future__ import annotations

import pytest


@pytest.fixture
def app_config(app_config):
    return {**app_config, "RATELIMIT_ENABLED": True}


def test_too_many_sign_in_attempts_get_a_friendly_429(client, make_user, text_of):
    rep = make_user("rep")
    statuses = [
        client.post("/login", data={"email": rep.email, "password": f"wrong-{n}"}).status_code
        for n in range(10)
    ]
    assert statuses == [401] * 10
    response = client.post("/login", data={"email": rep.email, "password": "password123"})
    assert response.status_code == 429
    assert "尝试次数过多" in text_of(response)
    assert client.get("/login").status_code == 200  # reading the page is not limited
