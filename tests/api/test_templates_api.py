"""The template endpoints of /api/v1, driven as an outside client would."""

from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.library.models import TemplateVersion
from portal.library.storage import get_storage

QUOTE_HTML = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"></head><body>
<h1>报价单</h1><p>尊敬的{{ customer.name }}，您好。</p>
<table><tr><td>MES 平台</td><td>¥280,000</td></tr></table></body></html>"""


def upload(client, headers, html: str = QUOTE_HTML, filename: str = "quote.html", **fields):
    data = {
        "name": "标准报价单",
        "kind": "quote",
        "industry": "制造业",
        "scenario": "报价",
        "product_line": "MES",
        "tags": "报价, MES",
        "changelog": "首版",
        **fields,
    }
    data["file"] = (io.BytesIO(html.encode() if isinstance(html, str) else html), filename)
    return client.post("/api/v1/templates", data=data, headers=headers)


def new_version(client, headers, template_id: int, html: str, changelog: str | None = "v2"):
    data = {"file": (io.BytesIO(html.encode()), "quote.html")}
    if changelog is not None:
        data["changelog"] = changelog
    return client.post(f"/api/v1/templates/{template_id}/versions", data=data, headers=headers)


@pytest.fixture
def marketing(make_user):
    return make_user("marketing")


@pytest.fixture
def mk_headers(marketing, api_headers):
    return api_headers(marketing)


def version_count() -> int:
    return db.session.scalar(select(func.count()).select_from(TemplateVersion))


def test_requests_without_a_valid_token_get_401_json(client):
    for headers in ({}, {"Authorization": "Bearer ptl_nope"}, {"Authorization": "Basic abc"}):
        response = client.get("/api/v1/templates", headers=headers)
        assert response.status_code == 401
        assert response.json["error"]["code"] == "unauthorized"
        assert "token" in response.json["error"]["message"]


def test_marketing_creates_a_template_and_lists_it(client, mk_headers):
    response = upload(client, mk_headers)
    assert response.status_code == 201, response.json
    assert response.json == {"id": response.json["id"], "version": 1}
    items = client.get("/api/v1/templates", headers=mk_headers).json["items"]
    assert [i["name"] for i in items] == ["标准报价单"]
    item = items[0]
    assert item["kind"] == "quote"
    assert item["tags"] == ["报价", "MES"]
    assert item["version_policy"] == "pinned"  # quotes keep the version sent
    assert item["latest_version"] == 1


def test_a_rep_cannot_change_the_library(client, make_user, api_headers):
    rep_headers = api_headers(make_user("rep"))
    response = upload(client, rep_headers)
    assert response.status_code == 403
    assert response.json["error"]["code"] == "forbidden"
    assert version_count() == 0


def test_v2_leaves_v1_retrievable_byte_for_byte(client, mk_headers):
    template_id = upload(client, mk_headers).json["id"]
    v2_html = QUOTE_HTML.replace("280,000", "260,000")
    response = new_version(client, mk_headers, template_id, v2_html, "价格调整")
    assert response.status_code == 201
    assert response.json == {"id": template_id, "version": 2}
    v1 = client.get(f"/api/v1/templates/{template_id}/versions/1/file", headers=mk_headers)
    v2 = client.get(f"/api/v1/templates/{template_id}/versions/2/file", headers=mk_headers)
    assert v1.data == QUOTE_HTML.encode()
    assert v2.data == v2_html.encode()
    detail = client.get(f"/api/v1/templates/{template_id}", headers=mk_headers).json
    assert detail["latest_version"] == 2
    assert [(v["version"], v["changelog"]) for v in detail["versions"]] == [
        (2, "价格调整"),
        (1, "首版"),
    ]
    assert detail["versions"][0]["author"]


@pytest.mark.parametrize("changelog", [None, "", "   "])
def test_a_missing_changelog_is_refused_and_nothing_is_stored(client, mk_headers, changelog):
    template_id = upload(client, mk_headers).json["id"]
    keys_before = get_storage().list()
    response = new_version(client, mk_headers, template_id, QUOTE_HTML + " ", changelog)
    assert response.status_code == 422
    assert response.json["error"]["code"] == "changelog_required"
    assert "changelog" in response.json["error"]["message"]
    assert version_count() == 1
    assert get_storage().list() == keys_before


def test_first_upload_without_changelog_creates_nothing(client, mk_headers):
    response = upload(client, mk_headers, changelog="")
    assert response.status_code == 422
    assert client.get("/api/v1/templates", headers=mk_headers).json["items"] == []
    assert get_storage().list() == []


def test_preview_renders_a_version_with_sample_data(client, mk_headers):
    template_id = upload(client, mk_headers).json["id"]
    new_version(client, mk_headers, template_id, QUOTE_HTML.replace("报价单", "报价单二"))
    response = client.get(
        f"/api/v1/templates/{template_id}/preview.pdf?version=1", headers=mk_headers
    )
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF-")
    assert "v1" in response.headers["Content-Disposition"]
    latest = client.get(f"/api/v1/templates/{template_id}/preview.pdf", headers=mk_headers)
    assert "v2" in latest.headers["Content-Disposition"]


def test_preview_of_a_missing_version_is_404(client, mk_headers):
    template_id = upload(client, mk_headers).json["id"]
    response = client.get(
        f"/api/v1/templates/{template_id}/preview.pdf?version=9", headers=mk_headers
    )
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_a_rep_outside_the_allowed_teams_cannot_list_preview_or_fetch(
    client, mk_headers, make_user, api_headers
):
    template_id = upload(client, mk_headers, allowed_teams="华东").json["id"]
    outsider = api_headers(make_user("rep", team="华南"))
    insider = api_headers(make_user("rep", team="华东"))
    no_team = api_headers(make_user("rep"))
    for headers in (outsider, no_team):
        assert client.get("/api/v1/templates", headers=headers).json["items"] == []
        for path in ("", "/preview.pdf", "/versions/1/file"):
            response = client.get(f"/api/v1/templates/{template_id}{path}", headers=headers)
            assert response.status_code == 404, path
            assert response.json["error"]["code"] == "not_found"
    assert [i["id"] for i in client.get("/api/v1/templates", headers=insider).json["items"]] == [
        template_id
    ]
    assert (
        client.get(f"/api/v1/templates/{template_id}/preview.pdf", headers=insider).status_code
        == 200
    )


def test_role_and_region_rules_scope_the_list(client, mk_headers, make_user, api_headers):
    upload(client, mk_headers, name="Supervisors only", allowed_roles="supervisor")
    upload(client, mk_headers, name="Shanghai only", allowed_regions="上海")
    upload(client, mk_headers, name="Everyone")
    rep_sh = api_headers(make_user("rep", region="上海"))
    sup_bj = api_headers(make_user("supervisor", region="北京"))

    def names(headers):
        return sorted(
            i["name"] for i in client.get("/api/v1/templates", headers=headers).json["items"]
        )

    assert names(rep_sh) == ["Everyone", "Shanghai only"]
    assert names(sup_bj) == ["Everyone", "Supervisors only"]
    assert len(names(mk_headers)) == 3


def test_filters_by_kind_industry_and_text(client, mk_headers):
    upload(client, mk_headers, name="制造业报价")
    upload(client, mk_headers, name="零售案例", kind="case_study", industry="零售")
    upload(client, mk_headers, name="Brochure", kind="brochure", scenario="产品介绍")

    def names(query):
        items = client.get(f"/api/v1/templates?{query}", headers=mk_headers).json["items"]
        return sorted(i["name"] for i in items)

    assert names("kind=case_study") == ["零售案例"]
    assert names("industry=零售") == ["零售案例"]
    assert names("q=brochure") == ["Brochure"]
    assert names("q=产品介绍") == ["Brochure"]
    assert names("kind=quote&industry=制造业") == ["制造业报价"]


def test_unknown_kind_is_a_clear_422(client, mk_headers):
    response = upload(client, mk_headers, kind="poster")
    assert response.status_code == 422
    assert "kind must be one of" in response.json["error"]["message"]


@pytest.mark.parametrize(
    "payload",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.popen('touch /tmp/portal-pwned').read() }}",
        "{% for x in ().__class__.__base__.__subclasses__() %}{{ x }}{% endfor %}",
        "{{ customer.name",
    ],
)
def test_a_sandbox_escaping_template_is_refused_clearly(client, mk_headers, payload):
    response = upload(client, mk_headers, html=f"<html><body>{payload}</body></html>")
    assert response.status_code == 422, response.data
    message = response.json["error"]["message"]
    assert message and "Traceback" not in message
    assert version_count() == 0
    assert get_storage().list() == []


def test_bad_uploads_get_4xx_and_store_nothing(client, mk_headers):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("index.html", "<p>hi</p>")
        archive.writestr("../evil.css", "body{}")
    cases = [
        (b"\x89PNG\r\n\x1a\n" + b"0" * 64, "quote.pdf"),
        (b"PK\x03\x04 this is not a zip", "bundle.zip"),
        (buffer.getvalue(), "bundle.zip"),
        (b"", "empty.html"),
        (b"MZ\x90\x00", "tool.exe"),
    ]
    for data, filename in cases:
        response = upload(client, mk_headers, html=data, filename=filename)
        assert 400 <= response.status_code < 500, filename
        assert response.json["error"]["message"], filename
    assert version_count() == 0
    assert get_storage().list() == []


def test_a_pdf_upload_is_kept_as_is(client, mk_headers):
    import pypdfium2 as pdfium

    document = pdfium.PdfDocument.new()
    document.new_page(595, 842)
    document.new_page(595, 842)
    out = io.BytesIO()
    document.save(out)
    pdf = out.getvalue()
    response = upload(client, mk_headers, html=pdf, filename="profile.pdf", kind="brochure")
    assert response.status_code == 201, response.json
    template_id = response.json["id"]
    detail = client.get(f"/api/v1/templates/{template_id}", headers=mk_headers).json
    assert detail["format"] == "pdf"
    assert detail["versions"][0]["page_count"] == 2
    preview = client.get(f"/api/v1/templates/{template_id}/preview.pdf", headers=mk_headers)
    assert preview.data == pdf


def test_content_tags_are_validated_against_the_pages(client, mk_headers):
    ok = upload(client, mk_headers, content_tags="1:pricing")
    assert ok.status_code == 201
    detail = client.get(f"/api/v1/templates/{ok.json['id']}", headers=mk_headers).json
    assert detail["versions"][0]["content_tags"] == {"1": ["pricing"]}
    bad = upload(client, mk_headers, content_tags="7:pricing")
    assert bad.status_code == 422
    assert "no page 7" in bad.json["error"]["message"]


def test_a_draft_is_hidden_from_reps_until_published(client, mk_headers, make_user, api_headers):
    template_id = upload(client, mk_headers).json["id"]
    response = client.post(
        f"/api/v1/templates/{template_id}/versions",
        data={
            "file": (io.BytesIO(b"<p>draft</p>"), "d.html"),
            "changelog": "draft",
            "publish": "false",
        },
        headers=mk_headers,
    )
    assert response.status_code == 201
    rep = api_headers(make_user("rep"))
    detail = client.get(f"/api/v1/templates/{template_id}", headers=rep).json
    assert detail["latest_version"] == 1
    assert [v["version"] for v in detail["versions"]] == [1]
    assert (
        client.get(
            f"/api/v1/templates/{template_id}/preview.pdf?version=2", headers=rep
        ).status_code
        == 404
    )
    assert (
        client.get(
            f"/api/v1/templates/{template_id}/preview.pdf?version=2", headers=mk_headers
        ).status_code
        == 200
    )


@pytest.fixture
def app_config(app_config):
    return app_config | {"UPLOAD_MAX_BYTES": 64 * 1024}


def test_an_upload_over_the_size_limit_is_413(client, mk_headers):
    big = "<p>" + "报价" * 40_000 + "</p>"
    response = upload(client, mk_headers, html=big)
    assert response.status_code == 413
    assert response.json["error"]["message"]
    assert version_count() == 0


def _versions(client, headers, template_id: int) -> list[tuple[int, dict]]:
    response = client.get(f"/api/v1/templates/{template_id}/versions", headers=headers)
    assert response.status_code == 200, response.json
    return [(v["version"], v["content_tags"]) for v in response.json["items"]]


def test_a_new_version_inherits_the_page_tags_unless_given(client, mk_headers):
    two_pages = QUOTE_HTML.replace("</h1>", "</h1><div style='break-after: page'></div>")
    template_id = upload(client, mk_headers, two_pages, content_tags="2:pricing").json["id"]

    assert new_version(client, mk_headers, template_id, two_pages, "v2").status_code == 201
    given = {"file": (io.BytesIO(two_pages.encode()), "q.html"), "changelog": "v3"}
    given["content_tags"] = "1:case"
    url = f"/api/v1/templates/{template_id}/versions"
    assert client.post(url, data=given, headers=mk_headers).status_code == 201
    cleared = {"file": (io.BytesIO(two_pages.encode()), "q.html"), "changelog": "v4"}
    cleared["content_tags"] = ""
    assert client.post(url, data=cleared, headers=mk_headers).status_code == 201

    assert _versions(client, mk_headers, template_id) == [
        (4, {}),  # empty string: none
        (3, {"1": ["case"]}),  # given: the new ones
        (2, {"2": ["pricing"]}),  # omitted: v1's tags carry over
        (1, {"2": ["pricing"]}),
    ]


def test_a_shorter_new_version_keeps_only_the_inherited_tags_that_still_have_their_page(
    client, mk_headers
):
    two_pages = QUOTE_HTML.replace("</h1>", "</h1><div style='break-after: page'></div>")
    template_id = upload(client, mk_headers, two_pages, content_tags="1:case; 2:pricing").json["id"]

    # one page now: inheriting "2:pricing" must not refuse the upload (it has no page 2)
    assert new_version(client, mk_headers, template_id, QUOTE_HTML, "v2").status_code == 201
    given = {"file": (io.BytesIO(QUOTE_HTML.encode()), "q.html"), "changelog": "v3"}
    given["content_tags"] = "2:pricing"  # typed for this upload: checked strictly
    url = f"/api/v1/templates/{template_id}/versions"
    assert client.post(url, data=given, headers=mk_headers).status_code == 422

    assert _versions(client, mk_headers, template_id) == [
        (2, {"1": ["case"]}),
        (1, {"1": ["case"], "2": ["pricing"]}),
    ]


def test_the_version_list_is_scoped_and_hides_drafts_from_reps(
    client, mk_headers, make_user, api_headers
):
    template_id = upload(client, mk_headers, allowed_teams="华东").json["id"]
    draft = {"file": (io.BytesIO(b"<p>draft</p>"), "d.html"), "changelog": "d", "publish": "0"}
    client.post(f"/api/v1/templates/{template_id}/versions", data=draft, headers=mk_headers)
    assert [n for n, _ in _versions(client, mk_headers, template_id)] == [2, 1]
    inside = api_headers(make_user("rep", team="华东"))
    assert [n for n, _ in _versions(client, inside, template_id)] == [1]
    outside = api_headers(make_user("rep", team="华南"))
    response = client.get(f"/api/v1/templates/{template_id}/versions", headers=outside)
    assert response.status_code == 404
