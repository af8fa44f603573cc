"""The staff pages and the API of the Excel bridge."""

from __future__ import annotations

import io
import re

import pytest
from sqlalchemy import func, select

from portal.customers.models import Customer
from portal.extensions import db
from tests.exchange.sheets import CUSTOMER_HEADER, csv_bytes, sheets_of, xlsx
from tests.s3_support import s3_app_config


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(Customer))


def _sheet(owner: str) -> bytes:
    return xlsx(
        [
            CUSTOMER_HEADER,
            [
                "王伟",
                "华东机械",
                "采购总监",
                "wang@huadong.cn",
                "13800138000",
                "制造业",
                "上海",
                owner,
            ],
            ["坏行", "某公司", "", "bad@", "", "", "", owner],
        ]
    )


def test_upload_preview_confirm_in_the_staff_pages(client, login, world):
    login(world.rep)
    assert client.get("/exchange/import").status_code == 200
    before = _count()
    page = client.post(
        "/exchange/import",
        data={"kind": "customers", "file": (io.BytesIO(_sheet(world.rep.email)), "客户.xlsx")},
        content_type="multipart/form-data",
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert "王伟 · 华东机械" in html  # the good row, planned as new
    assert "bad@" in html and "邮箱" in html  # the bad row's column and value are shown
    assert _count() == before  # the preview saved nothing
    key = re.search(r'name="key"[^>]*value="([^"]+)"', html).group(1)

    done = client.post("/exchange/import/confirm", data={"key": key})
    assert done.status_code == 200
    assert _count() == before + 1
    again = client.post("/exchange/import/confirm", data={"key": key})  # applied: gone
    assert again.status_code == 404
    assert _count() == before + 1


def test_another_users_upload_key_is_not_found(client, login, world, make_user):
    login(world.rep)
    page = client.post(
        "/exchange/import",
        data={"kind": "customers", "file": (io.BytesIO(_sheet(world.rep.email)), "a.xlsx")},
        content_type="multipart/form-data",
    )
    key = re.search(r'name="key"[^>]*value="([^"]+)"', page.get_data(as_text=True)).group(1)
    client.post("/logout")
    other = make_user("rep")
    login(other)
    assert client.post("/exchange/import/confirm", data={"key": key}).status_code == 404
    assert db.session.scalar(select(Customer).where(Customer.email == "wang@huadong.cn")) is None


def test_api_dry_run_then_apply(client, world, api_headers):
    headers = api_headers(world.rep)
    data = csv_bytes(
        [CUSTOMER_HEADER, ["王伟", "华东机械", "", "wang@huadong.cn", "", "", "", world.rep.email]],
        "gb18030",
    )

    def post(dry_run: str):
        return client.post(
            "/api/v1/imports",
            data={"kind": "customers", "dry_run": dry_run, "file": (io.BytesIO(data), "c.csv")},
            headers=headers,
            content_type="multipart/form-data",
        )

    preview = post("true")
    assert preview.status_code == 200
    assert preview.json["summary"]["create"] == 1 and preview.json["dry_run"] is True
    assert _count() == 1  # the world's customer only
    applied = post("false")
    assert applied.json["summary"]["create"] == 1 and applied.json["dry_run"] is False
    assert post("false").json["summary"] == {
        "rows": 1,
        "create": 0,
        "update": 0,
        "unchanged": 1,
        "error": 0,
    }
    assert _count() == 2


def test_api_refuses_what_is_not_a_spreadsheet(client, world, api_headers):
    headers = api_headers(world.rep)
    for body, status in (
        (b"%PDF-1.7 hello", 415),
        (b"\x89PNG\r\n\x1a\n....", 415),
        (b"", 400),
    ):
        response = client.post(
            "/api/v1/imports",
            data={"kind": "customers", "file": (io.BytesIO(body), "x.xlsx")},
            headers=headers,
            content_type="multipart/form-data",
        )
        assert response.status_code == status, (body, response.json)
        assert response.json["error"]["message"]
    missing = client.post("/api/v1/imports", data={"kind": "x"}, headers=headers)
    assert missing.status_code == 422


def test_export_download_holds_a_sheet_each(client, login, world):
    login(world.rep)
    response = client.get("/exchange/export.xlsx")
    assert response.status_code == 200
    assert response.mimetype.endswith("spreadsheetml.sheet")
    sheets = sheets_of(response.data)
    assert list(sheets) == ["客户", "商机", "任务", "互动"]
    assert sheets["客户"][1][0] == world.customer.name
    assert client.get("/exchange/export").status_code == 200


def test_marketing_has_no_exchange_pages(client, login, world):
    login(world.marketing)
    assert client.get("/exchange/import").status_code == 403
    assert client.get("/exchange/export.xlsx").status_code == 403


def test_a_staged_upload_expires_and_belongs_to_its_user(app, world, make_user):
    from portal.errors import NotFound
    from portal.exchange import staging

    with app.test_request_context("/"):
        key = staging.stage(world.rep, "customers", b"data", now=1_000_000_000)
        assert staging.load(world.rep, key, now=1_000_000_100).data == b"data"
        with pytest.raises(NotFound):
            staging.load(make_user("rep"), key, now=1_000_000_100)
        with pytest.raises(NotFound):
            staging.load(world.rep, key, now=1_000_000_000 + staging.STAGE_SECONDS + 1)
        with pytest.raises(NotFound):  # expired: deleted on that look-up
            staging.load(world.rep, key, now=1_000_000_100)
        with pytest.raises(NotFound):
            staging.load(world.rep, "imports/1/../../secret")


@pytest.mark.s3
class TestOnS3:
    """The upload waits in S3 between preview and confirm: any app node can apply it."""

    @pytest.fixture
    def app_config(self, app_config, s3_env):
        with s3_app_config(app_config, s3_env) as config:
            yield config

    def test_preview_then_confirm(self, client, login, world):
        test_upload_preview_confirm_in_the_staff_pages(client, login, world)
