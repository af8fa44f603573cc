"""Signing in tells an attacker nothing by its timing, and one attacker's wrong guesses do not
lock the account's owner out.

Timing is proved by counting the work, not by measuring it: every failing path checks exactly one
password hash, as a wrong password on a real account does (the hash is the slow part).
"""

from __future__ import annotations

import pytest

from portal import jobs
from portal.accounts import services
from portal.accounts.services import change_user


@pytest.fixture
def hash_checks(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = services.check_password_hash

    def counting(pwhash: str, password: str) -> bool:
        calls.append(password)
        return real(pwhash, password)

    monkeypatch.setattr(services, "check_password_hash", counting)
    return calls


def _sign_in(client, email: str, password: str, ip: str = "192.0.2.10"):
    return client.post(
        "/login", data={"email": email, "password": password}, environ_base={"REMOTE_ADDR": ip}
    )


def test_every_failing_sign_in_does_the_same_password_hash_work(client, make_user, hash_checks):
    active = make_user("rep")
    inactive = make_user("rep")
    change_user(inactive, by=None, active=False)
    jobs.commit()

    cases = {
        "wrong password": (active.email, "not-the-password"),
        "unknown account": ("nobody@example.com", "password123"),
        "deactivated, right password": (inactive.email, "password123"),
        "deactivated, wrong password": (inactive.email, "not-the-password"),
    }
    work = {}
    for label, (email, password) in cases.items():
        before = len(hash_checks)
        assert _sign_in(client, email, password).status_code == 401, label
        work[label] = len(hash_checks) - before
    assert work == dict.fromkeys(cases, 1)

    before = len(hash_checks)
    assert _sign_in(client, active.email, "password123").status_code == 302
    assert len(hash_checks) - before == 1  # and the same as signing in


@pytest.fixture
def app_config(app_config):
    """Rate limits on, at their production defaults (portal.config)."""
    return {**app_config, "RATELIMIT_ENABLED": True}


def test_an_attackers_wrong_guesses_do_not_lock_the_owner_out(client, make_user):
    owner = make_user("rep")
    attacker = "203.0.113.66"
    guesses = [_sign_in(client, owner.email, f"guess-{n}", attacker) for n in range(10)]
    assert [g.status_code for g in guesses] == [401] * 10
    # The attacker is slowed: even the right password now waits, from that address.
    assert _sign_in(client, owner.email, "password123", attacker).status_code == 429
    # The owner, from their own address, signs in.
    assert _sign_in(client, owner.email, "password123", "198.51.100.23").status_code == 302


def test_guessing_one_account_from_one_address_is_slowed_even_spread_over_time(
    client, make_user, app
):
    """The per (account, address) limit holds even when the per-address limit is generous."""
    app.config["LOGIN_RATE_LIMIT"] = "1000/minute"
    owner = make_user("rep")
    statuses = [_sign_in(client, owner.email, f"guess-{n}", "203.0.113.67") for n in range(11)]
    assert [s.status_code for s in statuses] == [401] * 10 + [429]  # 10/hour by default
