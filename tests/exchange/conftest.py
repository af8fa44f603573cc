from __future__ import annotations

import pytest


@pytest.fixture
def in_request(app):
    """Services that speak to a person (gettext) run inside a request, as in the app."""
    with app.test_request_context("/"):
        yield
