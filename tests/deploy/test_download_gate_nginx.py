"""Issue 16, P1n: nginx's download gate (deploy/nginx/portal_gate.lua) in the production topology.

nginx with its Lua module in front of gunicorn (PORTAL_DOWNLOADS=accel), Redis and an RQ worker
of the test's own. A download the app has just answered is replayed by nginx: the same bytes and
headers, recorded the app's way (stored once per request: acknowledged = stored), without the
app seeing the request. A revoke stops replays at once; staff (an Authorization header) and any
request the gate cannot record the app's way (the script gone from Redis) go to the app.
"""

from __future__ import annotations

import os
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import ExitStack

import pytest
from redis import Redis

from bench.documents import noise_pdf
from portal.delivery.visitors import DEVICE_COOKIE
from tests.deploy.portal_nginx import REP, Deployment, deployment
from tests.multinode.cluster import Browser, private_redis, start_worker
from tests.support import wait_until

PG_URL = os.environ.get("PORTAL_TEST_DATABASE_URL", "")
if not PG_URL.startswith("postgresql"):
    pytest.skip(
        "gunicorn and an RQ worker need a server database: this runs in the PostgreSQL pass",
        allow_module_level=True,
    )

pytestmark = [
    pytest.mark.slow,
    pytest.mark.postgres,
    pytest.mark.long(seconds=15),
    pytest.mark.xdist_group("nginx_gate"),  # one deployment for the module (gated)
]

PDF = noise_pdf(pages=1)
BROWSER = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) MicroMessenger/8.0.40"
# The app's headers a replay must repeat (portal_gate.lua's HEADERS, as nginx sends them).
SAME = (
    "Content-Type",
    "Content-Disposition",
    "Cache-Control",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "X-Robots-Tag",
)


class Gated:
    def __init__(self, run: Deployment, redis_url: str) -> None:
        self.run = run
        self.redis = Redis.from_url(redis_url)

    def get(self, path: str, **headers: str):
        # a browser of its own each time: no cookie carried over (the gate keys on them)
        return Browser(BROWSER).request("GET", self.run.base + path, headers=headers)

    def went_to_the_app(self, path: str, requests: int) -> int:
        """How many of the `requests` client requests for path so far nginx passed to the app
        (its access log, once it holds all of them: nginx writes a line after the answer)."""
        pattern = rf'"GET {re.escape(path)} HTTP/1\.1" \d+ \d+ upstream=(\S+)'

        def lines() -> list[str]:
            return re.findall(pattern, self.run.proxy.access_log())

        wait_until(lambda: len(lines()) >= requests, 30, "nginx to log the requests")
        return sum(1 for upstream in lines() if upstream != "-")

    def stored(self, delivery: int) -> int:
        return self.run.downloads(delivery)


@pytest.fixture(scope="module")
def gated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gated]:
    tmp_path = tmp_path_factory.mktemp("gate")
    with ExitStack() as stack:
        redis_url = stack.enter_context(private_redis())
        run = stack.enter_context(
            deployment(
                tmp_path,
                PDF,
                redis_url=redis_url,
                gate_secret=secrets.token_urlsafe(24),
                PORTAL_DOWNLOADS="accel",
            )
        )
        worker = start_worker("rq", run.env, tmp_path, "--no-tick")
        stack.callback(worker.stop)
        yield Gated(run, redis_url)


def downloads_in_a_row(gated: Gated, path: str, count: int, **headers: str) -> list:
    answers = [gated.get(path, **headers) for _ in range(count)]
    for answer in answers:
        assert answer.status == 200 and answer.data == PDF, (answer.status, len(answer.data))
    return answers


def test_nginx_replays_a_download_and_records_it_as_the_app_does(gated):
    delivery, path = gated.run.send("王芳")
    answers = downloads_in_a_row(gated, path, 30)
    # The app answered the first and then those that came after a decision expired; nginx the
    # rest (30 downloads take well under a second unless the machine is very busy).
    assert gated.went_to_the_app(path, 30) < 30, gated.run.proxy.error_log()[-2000:]
    for answer in answers[1:]:
        assert {h: answer.headers.get(h) for h in SAME} == {
            h: answers[0].headers.get(h) for h in SAME
        }
    assert "attachment" in answers[0].headers["Content-Disposition"]
    assert "X-Portal-Gate-Decision" not in answers[0].headers
    # Acknowledged = stored: every answered download, once.
    wait_until(lambda: gated.stored(delivery) >= 30, 60, "the downloads to be stored")
    assert gated.stored(delivery) == 30
    errors = [line for line in gated.run.proxy.error_log().splitlines() if "[error]" in line]
    assert not errors, errors[:5]


def test_a_revoke_stops_the_replays_at_once(gated):
    delivery, path = gated.run.send("赵敏")
    downloads_in_a_row(gated, path, 3)
    gated.run.api(REP, "POST", f"/api/v1/deliveries/{delivery}/revoke")
    assert gated.get(path).status == 410  # the tombstone, written as the revoke committed


def test_staff_downloads_always_go_to_the_app(gated):
    delivery, path = gated.run.send("钱进")
    bearer = {"Authorization": f"Bearer {gated.run.tokens[REP]}"}
    downloads_in_a_row(gated, path, 5, **bearer)
    assert gated.went_to_the_app(path, 5) == 5
    downloads_in_a_row(gated, path, 1)  # the customer's: recorded
    wait_until(lambda: gated.stored(delivery) >= 1, 60, "the customer's download to be stored")
    assert gated.stored(delivery) == 1


def test_without_its_script_in_redis_the_gate_lets_the_app_answer(gated):
    delivery, path = gated.run.send("孙丽")
    downloads_in_a_row(gated, path, 2)
    waited = gated.went_to_the_app(path, 2)
    gated.redis.script_flush()  # as a Redis restart without persistence would
    downloads_in_a_row(gated, path, 1)
    # the replay failed; that very request went to the app, which answered and recorded it
    assert gated.went_to_the_app(path, 3) == waited + 1
    wait_until(lambda: gated.stored(delivery) >= 3, 60, "the downloads to be stored")
    assert gated.stored(delivery) == 3


def test_steady_downloads_of_a_link_seldom_wait_for_the_app(gated):
    """A decision outlives the second: the app's processes keep confirming the generation it
    was read under (their listener threads read the change counter ahead of need), so the
    replays go on; the app answers the first download and, at most, a few more."""
    delivery, path = gated.run.send("周杰")
    asked = 0
    deadline = time.monotonic() + 3.5  # past three seconds of confirmations
    while time.monotonic() < deadline:
        downloads_in_a_row(gated, path, 1)
        asked += 1
    waited = gated.went_to_the_app(path, asked)
    assert 1 <= waited < asked // 2, (waited, asked, gated.run.proxy.access_log()[-3000:])
    wait_until(lambda: gated.stored(delivery) >= asked, 60, "the downloads to be stored")
    assert gated.stored(delivery) == asked


def test_a_device_s_one_second_decisions_are_renewed_in_the_background(gated):
    """With the device cookie a decision lives a second; nginx renews it near its end from a
    timer (X-Portal-Gate-Refresh: the app decides, records nothing), so the phone's steady
    downloads are still replayed, each stored once."""
    delivery, path = gated.run.send("冯丽")
    device = {"Cookie": f"{DEVICE_COOKIE}={'d' * 22}"}
    asked = 0
    deadline = time.monotonic() + 3.5  # past three decisions' lives
    while time.monotonic() < deadline:
        downloads_in_a_row(gated, path, 1, **device)
        asked += 1
    waited = gated.went_to_the_app(path, asked)
    assert 1 <= waited < asked // 2, (waited, asked)

    def renewals() -> int:  # requests gunicorn got for path that no client sent through nginx
        return len(re.findall(rf'"GET {re.escape(path)} HTTP', gated.run.node.log())) - waited

    wait_until(lambda: renewals() >= 1, 30, "nginx to renew a decision")
    wait_until(lambda: gated.stored(delivery) >= asked, 60, "the downloads to be stored")
    assert gated.stored(delivery) == asked  # renewals record nothing


def test_a_change_to_the_copy_stops_its_replays(gated):
    """Not a revoke (no tombstone): downloads turned off for the delivery. The change moves the
    counter; the old decision's generation is not confirmed again, so nginx soon lets the app
    answer, which refuses (403)."""
    import sqlalchemy as sa

    delivery, path = gated.run.send("郑爽")
    downloads_in_a_row(gated, path, 3)
    # What the app's own transaction does (no API changes it after the send): the change, and
    # the counter's bump as its last statement (portal.delivery.link_cache).
    with gated.run.engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE deliveries SET allow_download = false WHERE id = :d"), {"d": delivery}
        )
        conn.execute(sa.text("UPDATE copy_generation SET value = value + 1 WHERE id = 1"))
    wait_until(lambda: gated.get(path).status == 403, 30, "the replays to stop")


def test_a_client_cannot_ask_for_a_download_that_is_not_recorded(gated):
    delivery, path = gated.run.send("吴凡")
    downloads_in_a_row(gated, path, 2, **{"X-Portal-Gate-Refresh": "1", "X-Portal-Gate": "x"})
    wait_until(lambda: gated.stored(delivery) >= 2, 60, "the downloads to be stored")
    assert gated.stored(delivery) == 2
