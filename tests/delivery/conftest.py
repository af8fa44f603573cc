from __future__ import annotations

import pytest

from tests.delivery.helpers import World, make_customer, make_template


@pytest.fixture
def world(make_user) -> World:
    supervisor = make_user("supervisor", email="boss@example.com")
    rep = make_user("rep", email="rep@example.com", supervisor="boss@example.com")
    marketing = make_user("marketing")
    return World(
        marketing=marketing,
        rep=rep,
        supervisor=supervisor,
        customer=make_customer(rep),
        template=make_template(marketing),
    )
