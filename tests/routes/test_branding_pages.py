"""Branding and the rep's card (issue 12, item 5): admins set the company's name, logo and
accent colour at /admin/branding; each member of staff fills in their own contact card at
/me/card; every customer page shows both (tel: and mailto: to tap on a phone); bad input is
refused on its own field, in Chinese and English, and nothing is saved.
"""

from __future__ import annotations

import io
import re
from urllib.parse import urlsplit

import pytest
from PIL import Image

from portal import jobs
from portal.branding import service as branding
from portal.extensions import db
from tests.delivery.helpers import make_delivery

ACCENT = "#0a7d5a"
SHADES = "--primary-dark:#085e44;--primary-light:#339376"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en"}


def png(width: int = 240, height: int = 80, color: str = "#0a7d5a", fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, fmt)
    return out.getvalue()


def _brand_form(**overrides) -> dict:
    return {"company_name": "远景智造科技", "accent_color": ACCENT, **overrides}


def _field_error(html: str, field: str) -> str:
    found = re.search(rf'<div class="field-error" id="{field}-error">(.*?)</div>', html, re.S)
    assert found, f"no error on {field}"
    return re.sub(r"<[^>]+>", " ", found.group(1)).strip()


@pytest.fixture
def branded(as_admin):
    response = as_admin.post(
        "/admin/branding",
        data=_brand_form(logo=(io.BytesIO(png()), "logo.png")),
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return branding.brand()


@pytest.fixture
def carded(world, app):
    """The rep fills in their card on their own settings page."""
    rep_client = app.test_client()
    rep_client.post("/login", data={"email": world.rep.email, "password": "password123"})
    response = rep_client.post(
        "/me/card",
        data={
            "job_title": "大客户经理",
            "phone": "+86 138 0013 8000",
            "wechat_id": "lilei_sales",
            "wechat_qr": (io.BytesIO(png(300, 300, "#000000")), "qr.jpg"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    db.session.expire_all()
    return world


def _pages(app, world) -> dict[str, str]:
    sent = make_delivery(world.rep, world.customer, world.template)
    return {
        "viewer": urlsplit(sent.url).path,
        "portal": urlsplit(sent.portal_url).path,
        "gone": "/d/not-a-token",
        "privacy": "/privacy",
    }


@pytest.mark.parametrize("headers", [ZH, EN], ids=["zh", "en"])
def test_every_customer_page_shows_the_brand(app, branded, carded, headers):
    reader = app.test_client()
    logo_url = f"/brand/{branded.logo_name}.png"
    for name, path in _pages(app, carded).items():
        response = reader.get(path, headers=headers)
        html = response.get_data(as_text=True)
        assert 'class="c-brand"' in html, name
        assert "远景智造科技" in html, name
        assert f'src="{logo_url}"' in html, name
        assert f":root{{--primary:{ACCENT};{SHADES}}}" in html, name
    logo = reader.get(logo_url)
    assert logo.status_code == 200 and logo.mimetype == "image/png"
    with Image.open(io.BytesIO(logo.get_data())) as image:
        assert image.format == "PNG" and image.size == (240, 80)


@pytest.mark.parametrize(
    ("headers", "call", "contact"),
    [(ZH, "拨打 +86 138 0013 8000", "您的联系人"), (EN, "Call +86 138 0013 8000", "Your contact")],
    ids=["zh", "en"],
)
def test_the_rep_card_on_the_viewer_and_the_portal(app, branded, carded, headers, call, contact):
    reader = app.test_client()
    qr_name = re.search(r"brand/(\w+)\.png", carded.rep.wechat_qr_key).group(1)
    for name, path in list(_pages(app, carded).items())[:2]:
        html = reader.get(path, headers=headers).get_data(as_text=True)
        card = re.search(r"<section class=\"c-rep\".*?</section>", html, re.S).group(0)
        assert 'href="tel:+8613800138000"' in card, name
        assert f'href="mailto:{carded.rep.email}"' in card, name
        assert call in card and contact in card, name
        assert "大客户经理 · 远景智造科技" in card, name
        assert "lilei_sales" in card, name
        assert f'src="/brand/{qr_name}.png"' in card, name
    qr = reader.get(f"/brand/{qr_name}.png")
    assert qr.status_code == 200 and qr.mimetype == "image/png"


def test_an_image_that_is_not_the_logo_or_a_qr_is_404(app, branded):
    reader = app.test_client()
    assert reader.get(f"/brand/{'0' * 64}.png").status_code == 404
    assert reader.get("/brand/..%2Fsecret.png").status_code == 404
    old = branded.logo_name
    # A new logo replaces it: the old one is no longer served.
    branding.save_brand(None, "远景智造科技", ACCENT, logo=png(100, 40, "#ff0000"))
    jobs.commit()
    assert reader.get(f"/brand/{old}.png").status_code == 404
    assert reader.get(f"/brand/{branding.brand().logo_name}.png").status_code == 200


@pytest.mark.parametrize(
    ("lang", "colour_error", "logo_error"),
    [
        ("zh_CN", "请输入十六进制颜色", "该文件不是图片"),
        ("en", "Enter a hex colour such as #1a6fd1.", "The file is not an image."),
    ],
)
@pytest.mark.parametrize(
    "colour", ["red", "#12345", "#1234567", "#12345g", "#fff;}body{background:url(x)}"]
)
def test_a_bad_colour_is_refused_on_its_field(as_admin, lang, colour_error, logo_error, colour):
    as_admin.post("/lang", data={"lang": lang, "next": "/"})
    response = as_admin.post("/admin/branding", data=_brand_form(accent_color=colour))
    assert response.status_code == 422
    assert colour_error in _field_error(response.get_data(as_text=True), "accent_color")
    assert branding.brand() == branding.Brand("", "", "")


@pytest.mark.parametrize(
    ("lang", "message"),
    [("zh_CN", "颜色太浅"), ("en", "This colour is too light")],
)
@pytest.mark.parametrize("colour", ["#ffff00", "#FFFFFF", "#a0d8ef"])
def test_a_colour_too_light_for_white_text_is_refused(as_admin, lang, message, colour):
    as_admin.post("/lang", data={"lang": lang, "next": "/"})
    response = as_admin.post("/admin/branding", data=_brand_form(accent_color=colour))
    assert response.status_code == 422
    assert message in _field_error(response.get_data(as_text=True), "accent_color")
    assert branding.brand().accent_color == ""


@pytest.mark.parametrize(
    ("lang", "invalid", "too_large"),
    [
        ("zh_CN", "该文件不是图片", "图片太大"),
        ("en", "The file is not an image.", "The image is too large"),
    ],
)
def test_a_bad_logo_is_refused_on_its_field(as_admin, lang, invalid, too_large):
    as_admin.post("/lang", data={"lang": lang, "next": "/"})
    bad = {
        invalid: [b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"GIF89a" + b"\0" * 64],
        too_large: [b"\x89PNG" + b"\0" * (2 * 1024 * 1024 + 1), png(5000, 4000)],
    }
    gif = io.BytesIO()
    Image.new("RGB", (10, 10)).save(gif, "GIF")
    bad[invalid].append(gif.getvalue())  # a real image, of a kind not taken
    for expected, files in bad.items():
        for data in files:
            response = as_admin.post(
                "/admin/branding",
                data=_brand_form(logo=(io.BytesIO(data), "logo.png")),
                content_type="multipart/form-data",
            )
            assert response.status_code == 422
            assert expected in _field_error(response.get_data(as_text=True), "logo")
            assert branding.brand().logo_key == ""


def test_only_admins_set_the_brand(world, login, client):
    login(world.rep)
    assert client.get("/admin/branding").status_code == 403
    response = client.post("/admin/branding", data=_brand_form())
    assert response.status_code == 403
    assert branding.brand().company_name == ""


@pytest.mark.parametrize(
    ("lang", "message"),
    [("zh_CN", "请输入电话号码"), ("en", "Enter a phone number")],
)
def test_a_bad_phone_is_refused_on_its_field(world, login, client, lang, message):
    login(world.rep)
    client.post("/lang", data={"lang": lang, "next": "/"})
    response = client.post(
        "/me/card", data={"phone": "javascript:alert(1)", "job_title": "经理", "wechat_id": ""}
    )
    assert response.status_code == 422
    assert message in _field_error(response.get_data(as_text=True), "phone")
    db.session.expire_all()
    assert (world.rep.phone, world.rep.job_title) == ("", "")
