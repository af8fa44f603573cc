"""Issue 5, item 4: two app nodes and two RQ workers give exactly what one node and one worker
give.

Each run gets its own PostgreSQL schema (migrated by `flask db upgrade`), its own bucket on the
shared S3 server (PORTAL_STORAGE=s3) and its own Redis database, and every process its own
instance folder, so anything the nodes share has to go through PostgreSQL, S3 or Redis. The
same script then drives a run: templates, customers and sends over the API, opens of /d/ and /p/,
read reports to /t/r, a customer comment, a staff reply, tasks done and snoozed in the inbox,
and an inbound reply; request after request alternates between the nodes (a customer's page
fetched on one node, the form posted to the other; staff signed in on one node, working on the
other). When every queue has drained, the results are read back: scores, grades, ledger rows,
tasks, notifications, read seconds per delivery and event counts. The two-node run must equal
the one-node run.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from portal import jobs
from tests.multinode.cluster import (
    Browser,
    drop_bucket,
    flask_cli,
    s3_storage_env,
    stop_all,
    wait_until,
)
from tests.multinode.deployment import (
    MARKETING,
    PASSWORD,
    REP,
    Deployment,
    deployment,
    require_postgres,
)
from tests.s3_support import shared_s3_settings

pytestmark = [pytest.mark.postgres, pytest.mark.s3]

require_postgres()


def two_pages(title: str, second: str) -> bytes:
    return (
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'>"
        "<style>body{font-family:'Noto Sans CJK SC',sans-serif}</style></head><body>"
        f"<section style='break-after: page'><h1>{title}</h1>"
        "<p>尊敬的{{ customer.name }}，您好！</p></section>"
        f"<section><h2>{second}</h2><p>标准版 ¥98,000 / 年</p></section></body></html>"
    ).encode()


TEMPLATES = {  # name: (kind, industry, second page)
    "智能工厂报价单": ("quote", "制造业", "价格"),
    "智能工厂产品手册": ("brochure", "", "产品"),
    "零售客户案例": ("case_study", "零售", "案例"),
    "零售解决方案包": ("solution", "零售", "方案"),
}
CUSTOMERS = {  # name: (title, industry, e-mail)
    "张伟": ("采购总监", "制造业", "zhang.wei@example.com"),
    "李娜": ("工程师", "零售", "li.na@example.com"),
    "王强": ("总经理", "制造业", "wang.qiang@example.com"),
    "赵敏": ("", "零售", "zhao.min@example.com"),
}
SENDS = [  # (customer, template)
    ("张伟", "智能工厂报价单"),
    ("张伟", "智能工厂产品手册"),
    ("李娜", "智能工厂报价单"),
    ("李娜", "零售客户案例"),
    ("王强", "智能工厂报价单"),
    ("赵敏", "智能工厂产品手册"),
]
# The read reports of each viewer session, in ms per page, and the seconds they add up to.
READS = {
    ("张伟", "智能工厂报价单", 1): [(1, 60_000), (2, 70_000)],  # 130 s: long read, callback
    ("张伟", "智能工厂报价单", 2): [(2, 20_000)],
    ("李娜", "智能工厂报价单", 1): [(1, 30_000)],
    ("李娜", "零售客户案例", 1): [(1, 25_000), (2, 15_000)],
}


Run = Deployment  # one deployment under test: its processes, database and nodes


@pytest.fixture(scope="module")
def s3() -> dict[str, str]:
    return shared_s3_settings()


@pytest.fixture
def deploy(tmp_path: Path, s3: dict[str, str]) -> Iterator:
    """deploy(name, nodes=2, workers=2) -> a Run on fresh PostgreSQL, S3 and Redis; torn down
    (processes stopped by pid, schema dropped, bucket deleted, Redis database flushed) after."""
    with ExitStack() as stack:

        def make(name: str, nodes: int, workers: int) -> Run:
            bucket = f"portal-mn-{name}-{secrets.token_hex(4)}"
            stack.callback(drop_bucket, s3, bucket)  # after the deployment's own teardown
            run = stack.enter_context(
                deployment(tmp_path / name, name, storage=s3_storage_env(s3, bucket))
            )
            for n in range(workers):
                run.add_worker(f"{name}-worker-{n}")
            for n in range(nodes):
                run.add_node(f"{name}-node-{n}")
            return run

        yield make


# -- the script -----------------------------------------------------------------------------------


def path_of(url: str) -> str:
    match = re.search(r"/[dp]/[^/?#]+", url)
    assert match, url
    return match.group(0)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', html
    )
    assert match, html[:2000]
    return match.group(1)


def settled(run: Run) -> bool:
    """Nothing queued or running on RQ (the alerts queue and the default one)."""
    from redis import Redis
    from rq import Queue

    connection = Redis.from_url(run.redis_url)
    queues = [Queue(name, connection=connection) for name in jobs.queue_names()]
    return all(queue.count == 0 and queue.started_job_registry.count == 0 for queue in queues)


def wait_rendered(run: Run) -> None:
    def ready() -> bool:
        states = [r.render_status for r in run.sql("SELECT render_status FROM deliveries")]
        assert "failed" not in states, states
        return bool(states) and all(s == "ready" for s in states)

    wait_until(ready, 180, f"{run.name}: every delivery rendered by the workers")


def drive(run: Run) -> dict[str, Any]:
    """The script; returns the ids it needs to read the results back."""
    templates = {}
    for name, (kind, industry, second) in TEMPLATES.items():
        made = run.api(
            MARKETING,
            "POST",
            "/api/v1/templates",
            fields={
                "file": ("doc.html", two_pages(name, second), "text/html"),
                "name": name,
                "kind": kind,
                "industry": industry,
                "changelog": "v1",
            },
        )
        templates[name] = made["id"]
    flask_cli(run.env, "tasks", "set-pack", "零售", str(templates["零售解决方案包"]))
    customers = {}
    for name, (title, industry, email) in CUSTOMERS.items():
        made = run.api(
            REP,
            "POST",
            "/api/v1/customers",
            json={"name": name, "company": f"{name}公司", "title": title, "industry": industry,
                  "email": email},
        )  # fmt: skip
        customers[name] = made["id"]
    deliveries: dict[tuple[str, str], dict[str, Any]] = {}
    for customer, template in SENDS:
        deliveries[customer, template] = run.api(
            REP,
            "POST",
            "/api/v1/deliveries",
            json={"customer_id": customers[customer], "template_id": templates[template]},
        )
    wait_rendered(run)

    # The customers open their documents: each viewer session's ingest token.
    reader = Browser()
    sessions: dict[tuple[str, str, int], str] = {}
    for customer, template, n in READS:
        page = reader.get(run.node() + path_of(deliveries[customer, template]["url"]))
        assert page.status == 200, page.data[:500]
        html = page.data.decode()
        match = re.search(r'data-ingest-token="([^"]+)"', html)
        assert match, html[:2000]
        sessions[customer, template, n] = match.group(1)
        confirm_open(reader, run.node(), match.group(1))  # the viewer saw a page: the open
    page = reader.get(run.node() + path_of(deliveries["王强", "智能工厂报价单"]["url"]))
    assert page.status == 200
    match = re.search(r'data-ingest-token="([^"]+)"', page.data.decode())
    assert match
    wang_session = match.group(1)
    confirm_open(reader, run.node(), wang_session)
    for customer in ("张伟", "赵敏"):
        home = reader.get(
            run.node() + path_of(deliveries[customer, "智能工厂产品手册"]["portal_url"])
        )
        assert home.status == 200

    # The read time a batch may credit is bounded by the wall clock since the session began:
    # start the sessions an hour earlier, so that what is credited is what is claimed.
    with run.engine.begin() as conn:
        conn.execute(
            sa.text(
                "UPDATE view_sessions SET started_at = started_at - interval '1 hour', "
                "last_seen_at = last_seen_at - interval '1 hour'"
            )
        )
    credited: Counter[tuple[str, str]] = Counter()
    for key, reports in READS.items():
        batch = {
            "s": sessions[key],
            "reports": [
                {"k": f"{key[0]}-{key[2]}-{i}".encode().hex()[:60], "type": "page.viewed",
                 "page": page_no, "ms": ms}
                for i, (page_no, ms) in enumerate(reports)
            ],
        }  # fmt: skip
        for _ in range(2):  # sent twice, to both nodes: stored once
            answer = reader.post(run.node() + "/t/r", body=json.dumps(batch))
            assert answer.status in (200, 202), answer.data
        # All sessions of one delivery share one read clock (parallel tabs do not add up): once
        # this batch is stored, move the clocks back, as if the next session came an hour later.
        credited[key[:2]] += sum(ms for _page, ms in reports) // 1000
        wait_read_seconds(run, deliveries[key[:2]]["id"], credited[key[:2]])
        with run.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "UPDATE deliveries SET read_clock_at = read_clock_at - interval '1 hour' "
                    "WHERE read_clock_at IS NOT NULL"
                )
            )

    # Read reports may be stored by a background job: wait for them, so that what follows
    # (the comment, the download) comes after them in every run, as it does for the customer.
    wait_reads(run, deliveries)

    # The brochure downloaded from the portal, without opening it in the viewer.
    download = reader.get(
        run.node() + path_of(deliveries["张伟", "智能工厂产品手册"]["url"]) + "/download"
    )
    if download.status in (302, 303, 307):  # handed over to storage (a presigned S3 URL)
        download = Browser().get(download.headers["Location"])
    assert download.status == 200 and download.data[:4] == b"%PDF", download.status

    # A comment: the customer's page (and its CSRF token) from one node, the form to the other.
    customer = Browser()
    portal = path_of(deliveries["李娜", "智能工厂报价单"]["portal_url"])
    home = customer.get(run.node() + portal)
    assert home.status == 200
    posted = customer.post(
        run.node() + portal + "/comments",
        fields={
            "csrf_token": csrf_of(home.data.decode()),
            "delivery_id": str(deliveries["李娜", "智能工厂报价单"]["id"]),
            "text": "请问可以再便宜一点吗？",
        },
        encode_multipart=False,
    )
    assert posted.status == 302, posted.data[:1000]

    # An inbound reply, posted twice (to both nodes) with the same idempotency key.
    for _ in range(2):
        run.api(
            REP,
            "POST",
            "/api/v1/events",
            json={"customer_email": CUSTOMERS["王强"][2], "type": "reply.received",
                  "occurred_at": "2026-01-05T02:00:00+00:00", "idempotency_key": "wx-1",
                  "properties": {"channel": "wechat_work"}},
        )  # fmt: skip

    # Staff sign in on one node and work on the other.
    staff = Browser()
    login_page = staff.get(run.node() + "/login")
    signed_in = staff.post(
        run.node() + "/login",
        fields={
            "email": REP,
            "password": PASSWORD,
            "csrf_token": csrf_of(login_page.data.decode()),
        },
        encode_multipart=False,
    )
    assert signed_in.status == 302, signed_in.data[:1000]

    def open_task(rule: str, customer_name: str) -> int:
        def find() -> int | None:
            items = run.api(REP, "GET", "/api/v1/tasks?status=open")["items"]
            return next(
                (
                    t["id"]
                    for t in items
                    if t["rule"] == rule and t["customer_id"] == customers[customer_name]
                ),
                None,
            )

        return wait_until(find, 60, f"{run.name}: the {rule} task of {customer_name}")

    followup = open_task("comment_followup", "李娜")
    callback = open_task("callback_24h", "张伟")
    inbox = staff.get(run.node() + "/tasks")
    assert inbox.status == 200, inbox.status  # signed in on the other node
    token = csrf_of(inbox.data.decode())
    done = staff.post(
        run.node() + f"/tasks/{followup}/done", fields={"csrf_token": token}, encode_multipart=False
    )
    assert done.status == 302, done.data[:500]
    snoozed = staff.post(
        run.node() + f"/tasks/{callback}/snooze",
        fields={"csrf_token": token},
        encode_multipart=False,
    )
    assert snoozed.status == 302, snoozed.data[:500]
    delivery_id = deliveries["李娜", "智能工厂报价单"]["id"]
    reply = staff.post(
        run.node() + f"/customers/{customers['李娜']}/deliveries/{delivery_id}/reply",
        fields={"csrf_token": token, f"reply-{delivery_id}-text": "可以，我们电话沟通。"},
        encode_multipart=False,
    )
    assert reply.status == 302, reply.data[:1000]

    # A revocation made on one node holds on the other from the next request on: the viewer
    # and the read endpoint both answer 410, and the report is not stored.
    revoked = deliveries["王强", "智能工厂报价单"]
    run.api(REP, "POST", f"/api/v1/deliveries/{revoked['id']}/revoke")
    gone = reader.get(run.node() + path_of(revoked["url"]))
    assert gone.status == 410, gone.status
    late = {"s": wang_session, "reports": [{"k": "late", "type": "page.viewed", "page": 1,
                                            "ms": 5_000}]}  # fmt: skip
    refused = reader.post(run.node() + "/t/r", body=json.dumps(late))
    assert refused.status == 410, (refused.status, refused.data)
    return {"customers": customers, "deliveries": deliveries}


def confirm_open(reader, node: str, token: str) -> None:
    """What the viewer script sends once a page is visible (a GET alone is only a preview)."""
    answer = reader.post(node + "/t/o", body=json.dumps({"s": token}))
    assert answer.status == 200, (answer.status, answer.data)


def expected_read_seconds() -> dict[tuple[str, str], int]:
    totals: Counter[tuple[str, str]] = Counter()
    for (customer, template, _n), reports in READS.items():
        totals[customer, template] += sum(ms for _page, ms in reports) // 1000
    return dict(totals)


def results(run: Run, ids: dict[str, Any]) -> dict[str, Any]:
    """Everything the script caused, keyed by names (not ids: they may be handed out in
    another order when two workers race)."""
    customer_names = {cid: name for name, cid in ids["customers"].items()}
    labels = {d["id"]: f"{c}/{t}" for (c, t), d in ids["deliveries"].items()}
    events = {
        r.id: (r.type, r.delivery_id) for r in run.sql("SELECT id, type, delivery_id FROM events")
    }
    users = {r.id: r.email for r in run.sql("SELECT id, email FROM users")}
    deliveries = {
        r.id: f"{customer_names[r.customer_id]}/{r.name}"
        for r in run.sql(
            "SELECT d.id, d.customer_id, t.name FROM deliveries d JOIN templates t "
            "ON t.id = d.template_id"
        )
    }
    stats = {}
    for delivery_id, label in sorted(labels.items()):
        body = run.api(REP, "GET", f"/api/v1/deliveries/{delivery_id}")
        stats[label] = (body["opens"], body["read_seconds"], body["pages"])
    return {
        "scores": {
            r.name: (r.score, r.grade) for r in run.sql("SELECT name, score, grade FROM customers")
        },
        "ledger": sorted(
            (
                customer_names[r.customer_id],
                r.rule_key,
                r.rule_version,
                r.points,
                re.sub(r"\d+", "#", r.scope),
                events[r.event_id][0] if r.event_id else None,
                deliveries.get(events[r.event_id][1]) if r.event_id else None,
            )
            for r in run.sql(
                "SELECT customer_id, rule_key, rule_version, points, scope, event_id "
                "FROM score_entries"
            )
        ),
        "tasks": sorted(
            (
                customer_names[r.customer_id],
                r.rule_key,
                users[r.owner_id],
                r.status,
                r.priority,
                r.escalated_at is not None,
                sorted(events[e][0] for e in json.loads(r.event_ids or "[]")),
            )
            for r in run.sql(
                "SELECT customer_id, rule_key, owner_id, status, priority, escalated_at, "
                "event_ids::text AS event_ids FROM tasks"
            )
        ),
        "notifications": sorted(
            Counter(
                (users[r.user_id], r.kind)
                for r in run.sql("SELECT user_id, kind FROM notifications")
            ).items()
        ),
        "events": sorted(
            Counter(
                (customer_names[r.customer_id], r.type, deliveries.get(r.delivery_id) or "")
                for r in run.sql("SELECT customer_id, type, delivery_id FROM events")
            ).items()
        ),
        "read_ms": sorted(
            (deliveries[r.delivery_id], r.type, r.total)
            for r in run.sql(
                "SELECT delivery_id, type, sum(duration_ms) AS total FROM events "
                "WHERE duration_ms IS NOT NULL GROUP BY delivery_id, type"
            )
        ),
        "deliveries": sorted(deliveries.values()),
        "revoked": sorted(
            deliveries[r.id]
            for r in run.sql("SELECT id FROM deliveries WHERE revoked_at IS NOT NULL")
        ),
        "comments": sorted(
            (deliveries[r.delivery_id], r.author_type, r.text)
            for r in run.sql("SELECT delivery_id, author_type, text FROM comments")
        ),
        "stats": stats,
    }


def wait_read_seconds(run: Run, delivery_id: int, seconds: int) -> None:
    def stored() -> bool:
        return run.api(REP, "GET", f"/api/v1/deliveries/{delivery_id}")["read_seconds"] == seconds

    wait_until(stored, 90, f"{run.name}: delivery {delivery_id} credited {seconds} s")


def wait_reads(run: Run, deliveries: dict[tuple[str, str], dict[str, Any]]) -> None:
    def visible() -> bool:
        for (customer, template), seconds in expected_read_seconds().items():
            delivery = deliveries[customer, template]["id"]
            if run.api(REP, "GET", f"/api/v1/deliveries/{delivery}")["read_seconds"] != seconds:
                return False
        return True

    wait_until(visible, 90, f"{run.name}: the read reports stored")


def run_script(run: Run) -> dict[str, Any]:
    try:
        return _run_script(run)
    except AssertionError as exc:  # say what the processes said
        logs = "\n".join(f"--- {p.name}\n{p.log()[-4000:]}" for p in run.procs)
        raise AssertionError(f"{exc}\n{logs}") from exc


def _run_script(run: Run) -> dict[str, Any]:
    ids = drive(run)
    wait_rendered(run)  # the solution pack case_study_push sent
    # Drained: nothing queued, and the results unchanged over two looks a second apart.
    previous: dict[str, Any] = {}

    def stable() -> bool:
        nonlocal previous
        if not settled(run):
            return False
        current = results(run, ids)
        same = current == previous
        previous = current
        if not same:
            time.sleep(1)
        return same

    wait_until(stable, 90, f"{run.name}: the queues drained", every=0.5)
    for proc in run.procs:
        assert proc.alive(), f"{proc.name} died:\n{proc.log()[-3000:]}"
    return previous


@pytest.mark.long(seconds=58)
def test_two_nodes_and_two_workers_give_what_one_gives(deploy):
    one = deploy("single", nodes=1, workers=1)
    single = run_script(one)
    stop_all(one.procs)  # its results are read: free the machine for the next run
    many = run_script(deploy("many", nodes=2, workers=2))

    # The script did what it says (so that "equal" is not "equally empty") ...
    assert single["scores"]["张伟"][1] == "A"
    assert any(t[:2] == ("张伟", "callback_24h") and t[3] == "snoozed" for t in single["tasks"])
    assert any(t[:2] == ("李娜", "comment_followup") and t[3] == "done" for t in single["tasks"])
    assert "李娜/零售解决方案包" in single["deliveries"]  # case_study_push ran
    assert len(single["comments"]) == 2
    assert single["revoked"] == ["王强/智能工厂报价单"]
    assert {k: v[1] for k, v in single["stats"].items() if v[1]} == {
        f"{c}/{t}": s for (c, t), s in expected_read_seconds().items()
    }
    # ... and two nodes with two workers did exactly the same.
    for part in single:
        assert many[part] == single[part], part
