"""Signed tokens: only the exact, live token of the right purpose is ever accepted.

Every purpose (salt) in the app is found in the source (LinkPurpose and every `*_SALT = "..."`),
so a new kind of token fails `test_every_purpose_has_an_acceptor_here` until it is attacked here
too. For each purpose the acceptor is the service function the routes call:

- tampered (one character changed anywhere), truncated, extended, re-cased tokens: refused;
- a token of one purpose offered for another: refused;
- expired and revoked links: refused (410), on the next request;
- 10,000 random tokens (random text, and well-formed payload.timestamp.signature ones): refused
  by every acceptor, and a sample of them through HTTP too;
- unknown and expired tokens take the same time to answer (ratio of medians, same run).
"""

from __future__ import annotations

import base64
import random
import re
import statistics
import string
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal import jobs
from portal.db_types import utcnow
from portal.delivery import bundles, link_grants, passcodes, portal_visits, share_cards, viewer
from portal.delivery import services as delivery_services
from portal.delivery.document_links import REDIRECT_SALT, sign_target, unsign_target
from portal.delivery.email import delivery_for_pixel
from portal.delivery.models import Delivery
from portal.errors import PortalError
from portal.extensions import db
from portal.tracking import ingest, links
from portal.tracking.models import Event, Link, LinkPurpose
from tests.security.attack_support import (
    Arena,
    arena_fixture,  # noqa: F401  (the `arena` fixture)
)

PORTAL_SOURCE = Path(__file__).resolve().parents[2] / "portal"
RANDOM_TOKENS = 10_000
HTTP_SAMPLE = 100
TOKEN_ALPHABET = string.ascii_letters + string.digits + "-_."


def _accepted(call: Callable[[], object]) -> bool:
    """True when the acceptor accepts: returns something, raises no PortalError."""
    try:
        result = call()
    except PortalError:
        db.session.rollback()
        return False
    return result is not None


def _ingest(token: str) -> object:
    report = {"k": f"k-{random.getrandbits(64):x}", "type": "page.viewed", "page": 1, "ms": 1}
    body = {"s": token, "reports": [report]}
    return ingest.ingest_batch(token, body)


def _redirect(token: str) -> object:
    """A /go target as the route checks it, for the delivery it says it was signed for (the
    binding itself: tests/security/test_link_grants.py)."""
    value = links.unsign(token, REDIRECT_SALT)
    if not isinstance(value, list) or not value or not isinstance(value[0], int):
        return None
    return unsign_target(token, value[0])


# purpose (salt) -> the function every request with such a token goes through
ACCEPTORS: dict[str, Callable[[str], object]] = {
    LinkPurpose.PORTAL.value: viewer.resolve_portal,
    LinkPurpose.DOC.value: viewer.resolve_doc,
    "pixel": delivery_for_pixel,
    "ingest": _ingest,
    "redirect": _redirect,
    portal_visits.VISIT_SALT: portal_visits.confirm_visit,
    # a browser's passcode grants (its cookie): accepted when it names any grant
    passcodes.SALT: lambda cookie: passcodes.grants_of(cookie) or None,
    share_cards.THUMB_SALT: share_cards.resolve_thumbnail,
    LinkPurpose.BUNDLE.value: lambda token: bundles.bundle_page(token, grants=[]),
}


def accepts(purpose: str, token: str) -> bool:
    return _accepted(lambda: ACCEPTORS[purpose](token))


def valid_tokens(arena: Arena) -> dict[str, str]:
    b = arena.b
    return {
        "portal": b.portal_token,
        "doc": b.doc_token,
        "pixel": b.pixel_token,
        "ingest": b.ingest_token,
        "redirect": sign_target("https://example.com/pricing", b.sent.delivery.id),
        portal_visits.VISIT_SALT: _visit_token(b.portal_token),
        passcodes.SALT: _passcode_grants(b),
        share_cards.THUMB_SALT: share_cards.thumbnail_token(
            db.session.get(Link, links.unsign(b.doc_token, "doc"))
        ),
        LinkPurpose.BUNDLE.value: b.bundle_token,
    }


def _passcode_grants(camp) -> str:
    """The cookie a browser gets for entering a delivery's passcode (POST /d/<token>/passcode),
    for a send of its own: a passcode on the camp's delivery would hide it from the acceptors
    of other purposes (its thumbnail is refused while it is locked)."""
    sent = delivery_services.send(
        camp.rep,
        delivery_services.SendRequest(
            customer_id=camp.customer.id, template_id=camp.template.id, passcode="2468"
        ),
    )
    jobs.commit()
    return passcodes.unlock(db.session.get(Delivery, sent.delivery.id), "2468", [])


def _visit_token(portal_token: str) -> str:
    """The token a portal page hands its script to confirm the visit (POST /t/p)."""
    via, customer = link_grants.resolve_portal_link(portal_token)
    token = portal_visits.record_fetch(customer, via, 1, None)
    jobs.commit()
    assert token
    return token


def test_every_purpose_has_an_acceptor_here():
    salts = {p.value for p in LinkPurpose}
    for path in PORTAL_SOURCE.rglob("*.py"):
        salts |= set(re.findall(r'^\w*SALT\s*=\s*"([^"]+)"', path.read_text(), re.M))
    assert salts == set(ACCEPTORS), "a new token purpose: add its acceptor to ACCEPTORS"


def test_each_token_opens_its_own_purpose_and_no_other(arena):
    tokens = valid_tokens(arena)
    for purpose, token in tokens.items():
        assert accepts(purpose, token), f"the good {purpose} token is refused"
        for other in ACCEPTORS:
            if other != purpose:
                assert not accepts(other, token), f"a {purpose} token opened {other}"


def mutations(token: str) -> list[str]:
    """One character changed at every position, cut at every length, extended, re-cased."""
    out = set()
    for i, char in enumerate(token):
        for replacement in {"A" if char != "A" else "B", "-" if char != "-" else "_"}:
            out.add(token[:i] + replacement + token[i + 1 :])
    out.update(token[:n] for n in range(len(token)))
    out.update(
        [
            token + "A",
            token + ".",
            "." + token,
            token.swapcase(),
            token.upper(),
            token.replace(".", ""),
            token[::-1],
            token + token,
        ]
    )
    if "." in token:
        _payload, _, rest = token.partition(".")
        out.add(base64.urlsafe_b64encode(b"2").decode().rstrip("=") + "." + rest)
    out.discard(token)
    return sorted(out)


@pytest.mark.parametrize("purpose", sorted(ACCEPTORS))
def test_tampered_truncated_and_extended_tokens_are_refused(arena, purpose):
    token = valid_tokens(arena)[purpose]
    variants = mutations(token)
    assert len(variants) > len(token) * 2
    accepted = []
    for variant in variants:
        if not accepts(purpose, variant):
            continue
        # Only the last character's unused low bits may change and still decode to the same
        # bytes (base64 padding bits); that is the same token, not a forgery.
        if variant[:-1] == token[:-1] and len(variant) == len(token):
            continue
        accepted.append(variant)
    assert accepted == []


def _expire(link: Link) -> None:
    link.expires_at = utcnow() - timedelta(seconds=1)
    jobs.commit()


@pytest.mark.parametrize("purpose", ["portal", "doc", "bundle"])
@pytest.mark.parametrize("how", ["expired", "revoked"])
def test_expired_and_revoked_links_are_refused_as_gone(arena, client, purpose, how):
    token = valid_tokens(arena)[purpose]
    link = db.session.get(Link, links.unsign(token, purpose))
    if how == "expired":
        _expire(link)
    else:
        link.revoked_at = utcnow()
        jobs.commit()
    with pytest.raises(links.LinkGone):
        ACCEPTORS[purpose](token)
    db.session.rollback()
    prefix = {"portal": "p", "doc": "d", "bundle": "b"}[purpose]
    assert client.get(f"/{prefix}/{token}").status_code == 410


def test_a_revoked_delivery_refuses_its_doc_ingest_and_pixel_tokens(arena, client):
    tokens = valid_tokens(arena)
    delivery_services.revoke(arena.b.rep, arena.b.sent.delivery.id)
    jobs.commit()
    events = db.session.scalar(select(func.count()).select_from(Event))
    assert not accepts("doc", tokens["doc"])
    assert not accepts("ingest", tokens["ingest"])
    assert client.get(f"/d/{tokens['doc']}").status_code == 410
    assert client.post("/t/r", json={"s": tokens["ingest"], "reports": []}).status_code == 410
    assert client.get(f"/e/{tokens['pixel']}.gif").status_code == 200  # the same pixel...
    assert db.session.scalar(select(func.count()).select_from(Event)) == events  # ...no event


def test_an_expired_delivery_refuses_its_doc_and_ingest_tokens(arena):
    tokens = valid_tokens(arena)
    delivery = db.session.get(Delivery, arena.b.sent.delivery.id)
    delivery.expires_at = utcnow() - timedelta(seconds=1)
    jobs.commit()
    assert not accepts("doc", tokens["doc"])
    assert not accepts("ingest", tokens["ingest"])


def random_tokens(count: int, seed: int = 20261128) -> list[str]:
    """Half random text, half shaped like a real token (payload.timestamp.signature)."""
    rng = random.Random(seed)  # noqa: S311  (reproducible guesses, not secrets)

    def b64(n: int) -> str:
        return base64.urlsafe_b64encode(rng.randbytes(n)).decode().rstrip("=")

    tokens = []
    for i in range(count):
        if i % 2:
            tokens.append("".join(rng.choices(TOKEN_ALPHABET, k=rng.randint(1, 80))))
        else:
            payload = base64.urlsafe_b64encode(str(rng.randint(1, 10)).encode()).decode()
            tokens.append(f"{payload.rstrip('=')}.{b64(4)}.{b64(20)}")
    return tokens


# One pass (tests/conftest.py, only_in_pass): the signature check it is about runs before the
# database, and the query a failed token still sends (for link -1) is the same on both.
@pytest.mark.long(seconds=11)
@pytest.mark.only_in_pass("postgresql")
def test_ten_thousand_random_tokens_open_nothing(arena):
    tokens = random_tokens(RANDOM_TOKENS)
    assert len(set(tokens)) > RANDOM_TOKENS * 0.99
    for purpose in ACCEPTORS:  # the signature check every acceptor starts with
        assert [t for t in tokens if links.unsign(t, purpose) is not None] == [], purpose
    # And the whole acceptor, database included, for 500 of them: a token whose signature
    # fails asks the database for link -1 (the same query, so that it answers in the same time
    # as a real one), whatever the token; 10,000 of them cost ~60 s and reach nothing more, and
    # a fifth of them still cost ~35 s of the CI's CPU for the same query each time.
    sample = tokens[: RANDOM_TOKENS // 20]
    for purpose in ("doc", "portal", "ingest"):
        assert [t for t in sample if accepts(purpose, t)] == [], purpose
    assert [t for t in tokens if delivery_for_pixel(t) is not None] == []
    assert [t for t in tokens if _redirect(t) is not None] == []


def test_random_tokens_through_http_are_404_and_record_nothing(arena, client):
    events = db.session.scalar(select(func.count()).select_from(Event))
    sample = [t for t in random_tokens(HTTP_SAMPLE * 3, seed=7) if "." not in t[:1]]
    statuses: dict[str, set[int]] = {k: set() for k in ("d", "p", "b", "t", "e", "j")}
    for token in sample[:HTTP_SAMPLE]:
        statuses["d"].add(client.get(f"/d/{token}").status_code)
        statuses["p"].add(client.get(f"/p/{token}").status_code)
        statuses["b"].add(client.get(f"/b/{token}").status_code)
        statuses["t"].add(client.post("/t/r", json={"s": token, "reports": []}).status_code)
        statuses["e"].add(client.get(f"/e/{token}.gif").status_code)
        statuses["j"].add(client.get(f"/thumb/{token}.jpg").status_code)
    assert statuses == {"d": {404}, "p": {404}, "b": {404}, "t": {404}, "e": {200}, "j": {404}}
    assert db.session.scalar(select(func.count()).select_from(Event)) == events


def _median_seconds(client, url: str, expected: int, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - start)
        assert response.status_code == expected
    return times


def test_unknown_and_expired_tokens_answer_in_the_same_time(arena, client):
    """Ratio of the medians of interleaved rounds (shuffled order), measured in this run: no
    absolute time. The bound is generous (the machine is shared); a real difference (a query
    or a render more for one of them) is several times larger than the noise."""
    token = valid_tokens(arena)["doc"]
    _expire(db.session.get(Link, links.unsign(token, "doc")))
    unknown = links.sign(MISSING := 987_654, "doc")
    assert db.session.get(Link, MISSING) is None
    tampered = token[:-3] + ("AAA" if token[-3:] != "AAA" else "BBB")
    urls = {
        "unknown": (f"/d/{unknown}", 404),
        "tampered": (f"/d/{tampered}", 404),
        "expired": (f"/d/{token}", 410),
    }
    for url, status in urls.values():
        _median_seconds(client, url, status, 10)  # warm up
    samples: dict[str, list[float]] = {name: [] for name in urls}
    rng = random.Random(5)  # noqa: S311  (an order, not a secret)
    for _ in range(60):
        order = list(urls)
        rng.shuffle(order)
        for name in order:
            samples[name] += _median_seconds(client, *urls[name], 2)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    for name in ("unknown", "tampered"):
        ratio = medians[name] / medians["expired"]
        assert 0.5 < ratio < 2.0, (name, medians)


# --- API tokens (stored as hashes; Bearer) --------------------------------------------------


def test_api_tokens_tampered_truncated_random_or_revoked_open_nothing(arena, client, api_headers):
    from portal.accounts.models import ApiToken
    from portal.accounts.services import TOKEN_PREFIX, user_for_token

    good = api_headers(arena.b.rep)["Authorization"].split(" ", 1)[1]
    assert user_for_token(good) is not None  # control
    db.session.rollback()
    guesses = [t for t in mutations(good) if t != good]
    guesses += [TOKEN_PREFIX + t for t in random_tokens(RANDOM_TOKENS, seed=11)]
    assert [t for t in guesses if user_for_token(t) is not None] == []
    db.session.rollback()
    for token in guesses[:HTTP_SAMPLE]:
        response = client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401
    row = db.session.scalar(select(ApiToken).where(ApiToken.user_id == arena.b.rep.id))
    row.revoked_at = utcnow()
    jobs.commit()
    response = client.get("/api/v1/tasks", headers={"Authorization": f"Bearer {good}"})
    assert response.status_code == 401
    # a user switched off loses the API at once, with a live token
    fresh = api_headers(arena.b.supervisor)
    arena.b.supervisor.active = False
    jobs.commit()
    assert client.get("/api/v1/tasks", headers=fresh).status_code == 401
