"""The library pages, used as marketing and as reps would use them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.library.models import Template, TemplateVersion

V2_HTML = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"></head><body>
<h1>智能工厂产品手册（第二版）</h1><p>新增客户案例与 2025 年价格。</p></body></html>"""


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def stored_files(app_config) -> list[Path]:
    root = Path(app_config["STORAGE_LOCAL_PATH"])
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def listed(client, template_id: int, query: str = "") -> bool:
    """Whether the library list links to the template."""
    page = client.get(f"/library/{query}")
    assert page.status_code == 200
    return f'href="/library/{template_id}"' in page.get_data(as_text=True)


def create(client, template_form, **fields) -> int:
    """Create a template through the form; returns its id."""
    response = client.post("/library/new", data=template_form(**fields))
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.headers["Location"].rstrip("/").rsplit("/", 1)[-1])


def test_marketing_creates_a_template_and_uploads_v2(
    as_marketing, template_form, html_upload, text_of
):
    client = as_marketing
    original = template_form()["file"][0].getvalue()
    template_id = create(client, template_form)

    page = client.get(f"/library/{template_id}")
    assert page.status_code == 200
    text = text_of(page)
    assert "智能工厂产品手册" in text
    assert "首个版本" in text  # the changelog is the update log
    assert "制造业" in text

    response = client.post(
        f"/library/{template_id}/versions/new",
        data={
            "file": html_upload(V2_HTML, "手册-v2.html"),
            "changelog": "增加客户案例，更新价格",
            "publish": "y",
        },
    )
    assert response.status_code == 302
    text = text_of(client.get(f"/library/{template_id}"))
    assert "增加客户案例，更新价格" in text and "首个版本" in text
    assert text.index("v2") < text.index("v1")  # newest first
    assert "最新" in text

    v1 = client.get(f"/library/{template_id}/versions/1/file")
    assert v1.status_code == 200
    assert v1.data == original  # byte for byte, after v2
    assert "attachment" in v1.headers["Content-Disposition"]
    assert v1.headers["X-Content-Type-Options"] == "nosniff"
    v2 = client.get(f"/library/{template_id}/versions/2/file")
    assert v2.data == V2_HTML.encode()


def test_missing_changelog_shows_the_message_and_stores_nothing(
    as_marketing, template_form, text_of, app_config
):
    response = as_marketing.post("/library/new", data=template_form(changelog="  "))
    assert 400 <= response.status_code < 500
    text = text_of(response)
    assert "请填写更新日志" in text
    assert 'value="智能工厂产品手册"' in response.get_data(as_text=True)  # nothing typed is lost
    assert "面向制造业客户的 MES 介绍" in text
    assert count(Template) == 0
    assert count(TemplateVersion) == 0
    assert stored_files(app_config) == []


def test_missing_file_and_name_are_shown_on_the_form(as_marketing, template_form, text_of):
    response = as_marketing.post("/library/new", data=template_form(name="", file=None))
    assert response.status_code == 422
    text = text_of(response)
    assert "请选择要上传的文件" in text
    assert "请填写模板名称" in text
    assert count(Template) == 0


def test_a_rejected_upload_is_explained_on_the_form(
    as_marketing, template_form, html_upload, text_of, app_config
):
    response = as_marketing.post(
        "/library/new", data=template_form(file=html_upload("<p>x</p>", "手册.exe"))
    )
    assert response.status_code == 415
    assert "不支持此文件类型" in text_of(response)
    assert count(Template) == 0
    assert stored_files(app_config) == []


def test_a_new_version_without_changelog_is_refused(
    as_marketing, template_form, html_upload, text_of
):
    template_id = create(as_marketing, template_form)
    response = as_marketing.post(
        f"/library/{template_id}/versions/new",
        data={"file": html_upload(V2_HTML), "changelog": "", "publish": "y"},
    )
    assert response.status_code == 422
    assert "请填写更新日志" in text_of(response)
    assert count(TemplateVersion) == 1


def test_team_scoping(client, make_user, login, marketing, template_form, text_of):
    login(marketing)
    template_id = create(client, template_form, allowed_teams="华东")
    client.post("/logout")

    outsider = make_user("rep", team="华南")
    login(outsider)
    assert not listed(client, template_id)
    assert "智能工厂产品手册" not in text_of(client.get("/library/"))
    assert client.get(f"/library/{template_id}").status_code == 404
    assert client.get(f"/library/{template_id}/preview.pdf").status_code == 404
    assert client.get(f"/library/{template_id}/versions/1/file").status_code == 404
    missing = client.get("/library/999999")
    assert missing.status_code == 404
    assert text_of(missing) == text_of(client.get(f"/library/{template_id}"))
    client.post("/logout")

    insider = make_user("rep", team="华东")
    login(insider)
    assert listed(client, template_id)
    page = client.get(f"/library/{template_id}")
    assert page.status_code == 200
    assert "华东" in text_of(page)  # who may send
    preview = client.get(f"/library/{template_id}/preview.pdf")
    assert preview.status_code == 200
    assert preview.mimetype == "application/pdf"
    assert preview.data.startswith(b"%PDF-")


def test_reps_cannot_change_the_library(client, make_user, login, marketing, template_form):
    login(marketing)
    template_id = create(client, template_form)
    client.post("/logout")
    login(make_user("rep"))

    page = client.get(f"/library/{template_id}").get_data(as_text=True)
    assert f"/library/{template_id}/versions/new" not in page
    assert f"/library/{template_id}/edit" not in page
    assert "/library/new" not in page
    for path in ("/library/new", f"/library/{template_id}/edit"):
        assert client.get(path).status_code == 403
    assert client.post("/library/new", data=template_form()).status_code == 403
    assert client.post(f"/library/{template_id}/archive").status_code == 403
    assert client.post(f"/library/{template_id}/versions/1/tags").status_code == 403
    assert count(Template) == 1


def test_marketing_sees_the_preview_as_pdf(as_marketing, template_form):
    template_id = create(as_marketing, template_form)
    page = as_marketing.get(f"/library/{template_id}").get_data(as_text=True)
    assert f"/library/{template_id}/preview.pdf?version=1" in page  # the inline frame
    response = as_marketing.get(f"/library/{template_id}/preview.pdf?version=1")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("inline")


def test_drafts_are_for_marketing_until_published(
    client, make_user, login, marketing, template_form, html_upload, text_of
):
    login(marketing)
    template_id = create(client, template_form)
    client.post(
        f"/library/{template_id}/versions/new",
        data={"file": html_upload(V2_HTML), "changelog": "草稿：新价格"},
    )  # no "publish": a draft
    text = text_of(client.get(f"/library/{template_id}"))
    assert "草稿：新价格" in text and "发布" in text
    client.post("/logout")

    rep = make_user("rep")
    login(rep)
    assert "草稿：新价格" not in text_of(client.get(f"/library/{template_id}"))
    assert client.get(f"/library/{template_id}/versions/2/file").status_code == 404
    assert client.get(f"/library/{template_id}/preview.pdf?version=2").status_code == 404
    client.post("/logout")

    login(marketing)
    response = client.post(f"/library/{template_id}/versions/2/publish")
    assert response.status_code == 302
    client.post("/logout")
    login(rep)
    assert "草稿：新价格" in text_of(client.get(f"/library/{template_id}"))


def test_a_draft_can_be_deleted_but_a_published_version_cannot(
    as_marketing, template_form, html_upload, text_of
):
    template_id = create(as_marketing, template_form)
    as_marketing.post(
        f"/library/{template_id}/versions/new",
        data={"file": html_upload(V2_HTML), "changelog": "试一下"},
    )
    assert count(TemplateVersion) == 2
    assert as_marketing.post(f"/library/{template_id}/versions/2/delete").status_code == 302
    assert count(TemplateVersion) == 1
    response = as_marketing.post(f"/library/{template_id}/versions/1/delete")
    assert response.status_code == 422
    assert "已发布的版本不能修改或删除" in text_of(response)
    assert count(TemplateVersion) == 1


def test_content_tags_are_edited_per_version(as_marketing, template_form, text_of):
    template_id = create(as_marketing, template_form)
    response = as_marketing.post(
        f"/library/{template_id}/versions/1/tags", data={"v1-content_tags": "1:pricing"}
    )
    assert response.status_code == 302
    assert db.session.scalar(select(TemplateVersion.content_tags)) == {"1": ["pricing"]}
    assert "价格" in text_of(as_marketing.get(f"/library/{template_id}"))

    response = as_marketing.post(
        f"/library/{template_id}/versions/1/tags", data={"v1-content_tags": "pricing"}
    )
    assert response.status_code == 422
    assert "内容标签" in text_of(response)
    assert 'value="pricing"' in response.get_data(as_text=True)  # what was typed stays
    assert db.session.scalar(select(TemplateVersion.content_tags)) == {"1": ["pricing"]}


def test_the_new_version_form_starts_with_the_previous_tags(
    as_marketing, template_form, html_upload
):
    template_id = create(as_marketing, template_form, content_tags="1:pricing")
    form = as_marketing.get(f"/library/{template_id}/versions/new").get_data(as_text=True)
    assert re.search(r'name="content_tags"[^>]*value="1:pricing"', form)

    # sent back as prefilled: v2 keeps the tag; emptied: v3 has none
    for changelog, tags in (("v2", "1:pricing"), ("v3", "")):
        response = as_marketing.post(
            f"/library/{template_id}/versions/new",
            data={
                "file": html_upload(V2_HTML, "v.html"),
                "changelog": changelog,
                "content_tags": tags,
                "publish": "y",
            },
        )
        assert response.status_code == 302
    rows = db.session.execute(
        select(TemplateVersion.number, TemplateVersion.content_tags).order_by(
            TemplateVersion.number
        )
    )
    assert [tuple(r) for r in rows] == [(1, {"1": ["pricing"]}), (2, {"1": ["pricing"]}), (3, {})]


def test_edit_metadata_and_who_may_send(
    client, make_user, login, marketing, template_form, text_of
):
    login(marketing)
    template_id = create(client, template_form, allowed_teams="华东")
    page = client.get(f"/library/{template_id}/edit")
    assert page.status_code == 200
    assert 'value="华东"' in page.get_data(as_text=True)
    response = client.post(
        f"/library/{template_id}/edit",
        data={"name": "智能工厂产品手册 2025", "kind": "brochure", "allowed_teams": "华东, 华南"},
    )
    assert response.status_code == 302
    client.post("/logout")

    login(make_user("rep", team="华南"))
    assert listed(client, template_id)
    assert "智能工厂产品手册 2025" in text_of(client.get("/library/"))


def test_edit_with_an_empty_name_keeps_what_was_typed(as_marketing, template_form, text_of):
    template_id = create(as_marketing, template_form)
    response = as_marketing.post(
        f"/library/{template_id}/edit",
        data={"name": "", "kind": "brochure", "scenario": "复购", "allowed_teams": "华北"},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'value="复购"' in html and 'value="华北"' in html
    assert db.session.get(Template, template_id).scenario == "初次拜访"


def test_archive_hides_a_template_from_reps(
    client, make_user, login, marketing, template_form, text_of
):
    login(marketing)
    template_id = create(client, template_form)
    assert client.post(f"/library/{template_id}/archive").status_code == 302
    assert not listed(client, template_id)
    assert listed(client, template_id, "?archived=y")
    client.post("/logout")

    rep = make_user("rep")
    login(rep)
    assert client.get(f"/library/{template_id}").status_code == 404
    client.post("/logout")

    login(marketing)
    assert client.post(f"/library/{template_id}/unarchive").status_code == 302
    client.post("/logout")
    login(rep)
    assert client.get(f"/library/{template_id}").status_code == 200


def test_list_filters(as_marketing, template_form, text_of):
    create(as_marketing, template_form)
    create(as_marketing, template_form, name="金融行业客户案例", kind="case_study", industry="金融")
    everything = text_of(as_marketing.get("/library/"))
    assert "智能工厂产品手册" in everything and "金融行业客户案例" in everything

    by_kind = text_of(as_marketing.get("/library/?kind=case_study"))
    assert "金融行业客户案例" in by_kind and "智能工厂产品手册" not in by_kind
    by_industry = text_of(as_marketing.get("/library/?industry=制造业"))
    assert "智能工厂产品手册" in by_industry and "金融行业客户案例" not in by_industry
    by_search = text_of(as_marketing.get("/library/?q=案例"))
    assert "金融行业客户案例" in by_search and "智能工厂产品手册" not in by_search
    nothing = as_marketing.get("/library/?q=不存在的东西")
    assert nothing.status_code == 200
    assert "没有符合条件的模板" in text_of(nothing)


def test_oversize_upload_gets_the_friendly_413_page(app, as_marketing, template_form, text_of):
    app.config["MAX_CONTENT_LENGTH"] = 2048
    big = template_form(description="很长" * 2000)
    response = as_marketing.post("/library/new", data=big)
    assert response.status_code == 413
    assert response.mimetype == "text/html"
    assert "文件太大" in text_of(response)
    assert count(Template) == 0


def test_max_content_length_follows_the_upload_limit(app):
    assert app.config["MAX_CONTENT_LENGTH"] == app.config["UPLOAD_MAX_BYTES"] + 1024 * 1024


@pytest.mark.parametrize("lang, word", [("zh_CN", "模板库"), ("en", "Library")])
def test_library_page_in_both_languages(as_marketing, lang, word, text_of):
    as_marketing.post("/lang", data={"lang": lang, "next": "/library/"})
    assert word in text_of(as_marketing.get("/library/"))


def test_a_job_deferred_by_a_library_action_runs_after_its_commit(
    as_marketing, template_form, monkeypatch
):
    """The library's form actions commit with jobs.commit(): a job a service defers in them
    runs (a bare session commit left it behind)."""
    from portal import jobs
    from portal.library import services

    template_id = create(as_marketing, template_form)
    ran = []
    archive = services.set_archived

    def archive_and_defer(template, user, archived):
        jobs.defer(ran.append, template.id)
        return archive(template, user, archived)

    monkeypatch.setattr(services, "set_archived", archive_and_defer)
    assert as_marketing.post(f"/library/{template_id}/archive").status_code == 302
    assert ran == [template_id]
