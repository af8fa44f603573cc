"""Issue 6, item 2: the S3 server stops during a send, and nothing is half-made or lost.

The app reaches the shared S3 test server through a TCP gate of this module's own
(tests/faults/tcp_gate.py): at the moment under test the gate refuses connections and resets the
open ones, as a killed S3 server would, and opens again afterwards; the server is untouched.

- Down when the rep sends: the send is refused before anything is written (API: 503 JSON
  `storage_unavailable`; the send form: the message on the form), and the same send goes
  through once storage is back: one delivery, rendered.
- Down between the delivery's commit and the upload of its rendered copy: the delivery exists
  (its link was handed out) and stays pending, not failed; the customer's link answers a
  friendly page, never a 500; once storage is back the customer's next open renders the copy.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from portal.delivery.models import Delivery, RenderStatus
from portal.delivery.viewer import PREPARE_GRACE
from portal.extensions import db
from portal.library.storage import get_storage
from tests.faults.tcp_gate import TcpGate
from tests.s3_support import shared_s3_settings

pytestmark = [pytest.mark.s3, pytest.mark.slow, pytest.mark.xdist_group("s3_outage")]

BROWSER = {"User-Agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36"}


@pytest.fixture(scope="module")
def s3_settings() -> dict[str, str]:
    return shared_s3_settings()


@pytest.fixture
def s3_server(s3_settings: dict[str, str]) -> Iterator[TcpGate]:
    """The S3 server as the app sees it: through a gate the test can shut."""
    address = urlsplit(s3_settings["S3_ENDPOINT_URL"])
    gate = TcpGate(address.hostname, address.port)
    gate.start()
    yield gate
    gate.crash()


@pytest.fixture
def app_config(
    app_config, s3_settings: dict[str, str], s3_server: TcpGate, monkeypatch: pytest.MonkeyPatch
) -> dict:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_settings["AWS_ACCESS_KEY_ID"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_settings["AWS_SECRET_ACCESS_KEY"])
    return {
        **app_config,
        "STORAGE_BACKEND": "s3",
        "S3_BUCKET": f"portal-faults-{secrets.token_hex(4)}",
        "S3_ENDPOINT_URL": s3_server.endpoint,
        "S3_REGION": s3_settings["AWS_DEFAULT_REGION"],
    }


def deliveries() -> list[Delivery]:
    db.session.expire_all()
    return list(db.session.scalars(select(Delivery).order_by(Delivery.id)))


def doc_path(url: str) -> str:
    match = re.search(r"/d/[^/?#]+", url)
    assert match, url
    return match.group(0)


def ingest_token(html: str) -> str:
    match = re.search(r'data-ingest-token="([^"]*)"', html)
    return match.group(1) if match else ""


def test_a_send_while_storage_is_down_is_refused_whole_and_goes_through_once_it_is_back(
    app, client, world, api_headers, login, s3_server
):
    headers = api_headers(world.rep)
    body = {"customer_id": world.customer.id, "template_id": world.template.id}
    s3_server.crash()

    refused = client.post("/api/v1/deliveries", json=body, headers=headers)

    assert refused.status_code == 503, refused.get_data(as_text=True)
    error = refused.get_json()["error"]
    assert error["code"] == "storage_unavailable"
    assert "storage is not answering" in error["message"]
    assert "nothing was sent" in error["message"]
    assert deliveries() == []  # no half-made delivery, no link handed out

    login(world.rep)
    form = client.post(
        f"/customers/{world.customer.id}/send",
        data={"template_id": world.template.id, "allow_download": "y"},
    )
    assert form.status_code == 503
    assert "文档存储没有响应。本次没有发送任何内容" in form.get_data(as_text=True)
    assert deliveries() == []

    s3_server.start()
    sent = client.post("/api/v1/deliveries", json=body, headers=headers)

    assert sent.status_code == 201, sent.get_data(as_text=True)
    [delivery] = deliveries()  # the retried send, once: no duplicate of the refused ones
    assert delivery.id == sent.get_json()["id"]
    assert delivery.render_status == RenderStatus.READY
    opened = client.get(doc_path(sent.get_json()["url"]), headers=BROWSER)
    assert opened.status_code == 200
    assert ingest_token(opened.get_data(as_text=True))  # the document shows


def test_storage_lost_between_the_delivery_and_its_rendered_copy_leaves_it_pending_not_lost(
    app, client, world, api_headers, s3_server
):
    """The delivery row is committed, WeasyPrint has rendered the copy, and S3 dies just as
    the copy is uploaded (killed from botocore's before-call hook of that PutObject)."""
    crashed: list[str] = []

    def crash_on_render_upload(params, **_kwargs):
        if not crashed and str(params.get("Key", "")).startswith("renders/"):
            crashed.append(params["Key"])
            s3_server.crash()

    get_storage()._client.meta.events.register(
        "before-parameter-build.s3.PutObject", crash_on_render_upload
    )
    headers = api_headers(world.rep)
    body = {"customer_id": world.customer.id, "template_id": world.template.id}

    sent = client.post("/api/v1/deliveries", json=body, headers=headers)

    assert crashed, "the render's upload never started"
    assert sent.status_code == 201, sent.get_data(as_text=True)  # its link is already out
    [delivery] = deliveries()
    assert delivery.render_status == RenderStatus.PENDING  # to be tried again, not "failed"
    status = client.get(f"/api/v1/deliveries/{delivery.id}", headers=headers)
    assert status.status_code == 200
    assert status.get_json()["render_status"] == "pending"

    # The customer opens the link while storage is down: a friendly page, not a 500.
    down = client.get(doc_path(sent.get_json()["url"]), headers=BROWSER)
    assert down.status_code == 503
    page = down.get_data(as_text=True)
    assert "请稍后再试" in page or "try again" in page.lower()
    assert "Traceback" not in page

    s3_server.start()
    # The customer comes back later (past the grace a background render is given).
    delivery.created_at -= PREPARE_GRACE + timedelta(seconds=1)
    db.session.commit()
    back = client.get(doc_path(sent.get_json()["url"]), headers=BROWSER)

    assert back.status_code == 200
    assert ingest_token(back.get_data(as_text=True))  # the document shows
    [delivery] = deliveries()  # the same delivery, rendered: nothing re-sent
    assert delivery.render_status == RenderStatus.READY
    assert get_storage().exists(crashed[0])  # the copy the crash interrupted is stored now
