"""Office files and images become template versions like a PDF (issue 12, item 1).

Every file is made here (python-pptx, python-docx, Pillow, msoffcrypto-tool, a hand-built ODT);
nothing is a checked-in fixture. LibreOffice runs take seconds each, so the Chinese .pptx and
.docx are converted once per module and shared by the checks of their text and fonts.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from portal import jobs
from portal.extensions import db
from portal.library.conversion.office import convert_to_pdf, soffice_path
from portal.library.models import Template, TemplateVersion
from tests.multinode.cluster import private_redis
from tests.support import skip_or_fail

pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    # one worker converts the module's documents once (converted, scope="module")
    pytest.mark.xdist_group("office_uploads"),
]

PPTX_TEXT = "智能工厂解决方案"
DOCX_TEXT = "采购合同条款说明"


@pytest.fixture(scope="module", autouse=True)
def _needs_libreoffice():
    if soffice_path() is None or shutil.which("pdftotext") is None:
        skip_or_fail("LibreOffice (soffice) or poppler-utils is not installed")


# --- files made in the test ----------------------------------------------------------------------


def chinese_pptx() -> bytes:
    """Two slides whose Chinese text asks for 微软雅黑 (as PowerPoint on a Chinese PC writes)."""
    from pptx import Presentation
    from pptx.oxml.ns import qn

    deck = Presentation()
    for title in (PPTX_TEXT, "第二页：报价"):
        slide = deck.slides.add_slide(deck.slide_layouts[5])
        slide.shapes.title.text = title
        for run in slide.shapes.title.text_frame.paragraphs[0].runs:
            run.font.name = "微软雅黑"
            rpr = run._r.get_or_add_rPr()
            rpr.append(rpr.makeelement(qn("a:ea"), {"typeface": "微软雅黑"}))
    out = io.BytesIO()
    deck.save(out)
    return out.getvalue()


def chinese_docx() -> bytes:
    """A Word document in 宋体, the default body font of Chinese Word."""
    from docx import Document
    from docx.oxml.ns import qn

    document = Document()
    run = document.add_paragraph().add_run(DOCX_TEXT)
    run.font.name = "SimSun"
    run._element.rPr.rFonts.set(qn("w:eastAsia"), "宋体")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def encrypted_docx() -> bytes:
    """The Chinese .docx saved with a password (Office's own encryption, MS-OFFCRYPTO)."""
    from msoffcrypto.format.ooxml import OOXMLFile

    out = io.BytesIO()
    OOXMLFile(io.BytesIO(chinese_docx())).encrypt("secret123", out)
    return out.getvalue()


def macro_odt(marker: Path) -> bytes:
    """An ODT whose Basic macro, bound to the document's open event, would write `marker`."""
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"'
        ' xmlns:script="urn:oasis:names:tc:opendocument:xmlns:script:1.0"'
        ' xmlns:xlink="http://www.w3.org/1999/xlink" office:version="1.3">'
        "<office:scripts><office:event-listeners>"
        '<script:event-listener script:language="ooo:script" script:event-name="dom:load"'
        ' xlink:type="simple" xlink:href="vnd.sun.star.script:Standard.Module1.Main'
        '?language=Basic&amp;location=document"/>'
        "</office:event-listeners></office:scripts>"
        "<office:body><office:text><text:p>宏测试文档</text:p></office:text></office:body>"
        "</office:document-content>"
    )
    module = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<script:module xmlns:script="http://openoffice.org/2000/script" script:name="Module1"'
        ' script:language="StarBasic">Sub Main\n'
        f'  Open "{marker}" For Output As #1\n  Print #1, "macro ran"\n  Close #1\n'
        "End Sub\n</script:module>"
    )
    library = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<library:library xmlns:library="http://openoffice.org/2000/library"'
        ' library:name="Standard" library:readonly="false" library:passwordprotected="false">'
        '<library:element library:name="Module1"/></library:library>'
    )
    libraries = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<library:libraries xmlns:library="http://openoffice.org/2000/library"'
        ' xmlns:xlink="http://www.w3.org/1999/xlink">'
        '<library:library library:name="Standard" library:link="false"/></library:libraries>'
    )
    entries = ["content.xml", "Basic/script-lc.xml", "Basic/Standard/script-lb.xml"]
    entries.append("Basic/Standard/Module1.xml")
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"'
        ' manifest:version="1.3"><manifest:file-entry manifest:full-path="/"'
        ' manifest:media-type="application/vnd.oasis.opendocument.text"/>'
        + "".join(
            f'<manifest:file-entry manifest:full-path="{name}" manifest:media-type="text/xml"/>'
            for name in entries
        )
        + "</manifest:manifest>"
    )
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            zipfile.ZipInfo("mimetype"),
            "application/vnd.oasis.opendocument.text",
            zipfile.ZIP_STORED,
        )
        for name, text in zip(entries, (content, libraries, library, module), strict=True):
            archive.writestr(name, text)
        archive.writestr("META-INF/manifest.xml", manifest)
    return out.getvalue()


def png_image() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGBA", (1200, 800), (30, 90, 200, 255)).save(out, "PNG")
    return out.getvalue()


def pdf_text(pdf: bytes) -> str:
    return subprocess.run(
        ["pdftotext", "-enc", "UTF-8", "-", "-"], input=pdf, capture_output=True, check=True
    ).stdout.decode()


def pdf_fonts(pdf: bytes, tmp: Path) -> list[str]:
    path = tmp / "fonts.pdf"
    path.write_bytes(pdf)
    lines = subprocess.run(
        ["pdffonts", str(path)], capture_output=True, check=True, text=True
    ).stdout.splitlines()[2:]
    return [line.split()[0].partition("+")[2] or line.split()[0] for line in lines if line]


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict[str, bytes]:
    """The Chinese .pptx and .docx as the converter makes them, once for the module."""
    return {
        "pptx": convert_to_pdf(chinese_pptx(), ".pptx", timeout=120),
        "docx": convert_to_pdf(chinese_docx(), ".docx", timeout=120),
    }


# --- the API -------------------------------------------------------------------------------------


@pytest.fixture
def marketing(make_user):
    return make_user("marketing")


@pytest.fixture
def mk_headers(marketing, api_headers):
    return api_headers(marketing)


def post_template(client, headers, data: bytes, filename: str, **fields):
    form = {"name": "智能工厂方案", "kind": "solution", "changelog": "首版", **fields}
    form["file"] = (io.BytesIO(data), filename)
    return client.post("/api/v1/templates", data=form, headers=headers)


def versions_of(client, headers, template_id: int) -> list[dict]:
    response = client.get(f"/api/v1/templates/{template_id}/versions", headers=headers)
    assert response.status_code == 200, response.json
    return response.json["items"]


def stored(app) -> list[Path]:
    root = Path(app.config["STORAGE_LOCAL_PATH"])
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def version_rows() -> int:
    return db.session.scalar(select(func.count()).select_from(TemplateVersion))


# --- conversion output: text and fonts -----------------------------------------------------------


def test_chinese_pptx_and_docx_convert_to_extractable_text_in_noto_cjk(converted, tmp_path):
    pptx_text = pdf_text(converted["pptx"])
    assert PPTX_TEXT in pptx_text
    assert "第二页：报价" in pptx_text
    assert DOCX_TEXT in pdf_text(converted["docx"])

    pptx_fonts = pdf_fonts(converted["pptx"], tmp_path)
    docx_fonts = pdf_fonts(converted["docx"], tmp_path)
    assert pptx_fonts, "the PDF embeds no font"
    assert all(name.startswith("NotoSansCJK") for name in pptx_fonts), pptx_fonts
    # 宋体 is a serif face: the substitution file maps it to Noto Serif CJK (fontconfig's own
    # answer, without it, is a sans face)
    assert docx_fonts
    assert all(name.startswith("NotoSerifCJK") for name in docx_fonts), docx_fonts


# --- uploads through the API ---------------------------------------------------------------------


def test_a_pptx_upload_becomes_a_ready_pdf_version_inline(
    client, mk_headers, app, login, marketing
):
    response = post_template(
        client, mk_headers, chinese_pptx(), "方案.pptx", content_tags="2:pricing"
    )
    assert response.status_code == 201, response.json
    template_id = response.json["id"]

    [version] = versions_of(client, mk_headers, template_id)
    assert version["status"] == "ready"
    assert version["error"] is None
    assert version["source_type"] == "pdf"
    assert version["page_count"] == 2
    assert version["content_tags"] == {"2": ["pricing"]}
    assert version["published"] is True
    assert version["filename"] == "方案.pptx"

    detail = client.get(f"/api/v1/templates/{template_id}", headers=mk_headers).json
    assert detail["format"] == "pdf"
    assert detail["latest_version"] == 1
    preview = client.get(f"/api/v1/templates/{template_id}/preview.pdf", headers=mk_headers)
    assert preview.status_code == 200
    assert PPTX_TEXT in pdf_text(preview.data)
    # only the PDF is kept; the library's download names it .pdf
    assert [p.suffix for p in stored(app)] == [".pdf"]
    login(marketing)
    download = client.get(f"/library/{template_id}/versions/1/file")
    assert download.data.startswith(b"%PDF-")
    assert "filename*=UTF-8''%E6%96%B9%E6%A1%88.pdf" in download.headers["Content-Disposition"]


def test_an_image_upload_is_placed_on_a_pdf_page(client, mk_headers):
    response = post_template(client, mk_headers, png_image(), "产品图.png")
    assert response.status_code == 201, response.json
    [version] = versions_of(client, mk_headers, response.json["id"])
    assert (version["status"], version["source_type"], version["page_count"]) == ("ready", "pdf", 1)
    file = client.get(
        f"/api/v1/templates/{response.json['id']}/versions/1/file", headers=mk_headers
    )
    assert file.data.startswith(b"%PDF-")


def test_corrupt_and_password_protected_files_are_refused_with_a_message(client, mk_headers, app):
    damaged = chinese_pptx()[: len(chinese_pptx()) // 2]
    response = post_template(client, mk_headers, damaged, "坏文件.pptx")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "corrupt_office"
    assert "坏文件.pptx" in response.json["error"]["message"]

    response = post_template(client, mk_headers, encrypted_docx(), "加密合同.docx")
    assert response.status_code == 400
    assert response.json["error"]["code"] == "encrypted_office"
    assert "password" in response.json["error"]["message"]

    assert db.session.scalar(select(func.count()).select_from(Template)) == 0
    assert stored(app) == []


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if text.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_a_conversion_past_its_time_limit_is_killed_and_refused(client, mk_headers, app, tmp_path):
    work = tmp_path / "convert-runs"
    work.mkdir()
    app.config["OFFICE_CONVERSION_TIMEOUT"] = 0.5  # LibreOffice does not even start in that
    app.config["CONVERSION_WORK_DIR"] = str(work)

    response = post_template(client, mk_headers, chinese_docx(), "合同.docx")

    assert response.status_code == 400
    assert response.json["error"]["code"] == "conversion_timeout"
    assert "0.5 s" in response.json["error"]["message"]
    assert version_rows() == 0
    assert stored(app) == []
    assert list(work.iterdir()) == []  # the run's private folder (profile, input) is gone
    deadline = time.monotonic() + 10
    while _processes_mentioning(str(work)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _processes_mentioning(str(work)) == []  # the whole process group was killed


def test_every_conversion_profile_turns_macros_off(monkeypatch):
    """The run's private profile is what keeps macros off on a LibreOffice that has a macro
    engine (the nogui packages installed here have none, so the test below cannot see one
    run): every run's profile carries the shipped settings, and they say never run a macro."""
    from urllib.parse import unquote, urlsplit

    from defusedxml import ElementTree

    from portal.library.conversion import office

    seen: list[bytes] = []

    class Captured(Exception):
        pass

    real_popen = office.subprocess.Popen

    def popen(command, **kwargs):
        profiles = [a for a in command if str(a).startswith("-env:UserInstallation=")]
        if not profiles:  # e.g. the probe for a network namespace
            return real_popen(command, **kwargs)
        profile = profiles[0]
        path = Path(unquote(urlsplit(profile.split("=", 1)[1]).path))
        seen.append((path / "user" / "registrymodifications.xcu").read_bytes())
        raise Captured

    monkeypatch.setattr(office.subprocess, "Popen", popen)
    with pytest.raises(Captured):
        office.convert_to_pdf(b"x", ".odt", timeout=5)
    [registry] = seen
    ns = "{http://openoffice.org/2001/registry}"
    scripting = {
        prop.get(f"{ns}name"): prop.findtext("value")
        for item in ElementTree.fromstring(registry)
        if item.get(f"{ns}path") == "/org.openoffice.Office.Common/Security/Scripting"
        for prop in item
    }
    assert scripting["DisableMacrosExecution"] == "true"
    assert scripting["MacroSecurityLevel"] == "3"  # very high: no macro runs, signed or not


def test_a_documents_macro_never_runs(tmp_path):
    """End to end: an auto-run macro would write a marker. With the nogui packages it cannot
    fail (no macro engine is installed); on a LibreOffice with one, it is the proof. The
    profile test above is what fails here if the settings go."""
    marker = tmp_path / "macro-ran.txt"
    pdf = convert_to_pdf(macro_odt(marker), ".odt", timeout=120)
    assert "宏测试文档" in pdf_text(pdf)
    assert not marker.exists()
    assert not list(tmp_path.glob("**/macro-ran*"))


# --- on RQ: 202, converting, then ready or failed ---------------------------------------------


@pytest.fixture
def on_redis(app):
    with private_redis() as url:
        app.config["REDIS_URL"] = url
        jobs.use_app_for_jobs(app)
        try:
            yield url
        finally:
            jobs.use_app_for_jobs(None)
            app.config["REDIS_URL"] = None


def run_queued(redis_url: str) -> None:
    from redis import Redis

    from portal.job_workers import SimpleWorker

    SimpleWorker([jobs.QUEUE_NAME], connection=Redis.from_url(redis_url)).work(burst=True)


def test_on_rq_an_upload_answers_202_converting_then_becomes_ready(
    client, mk_headers, app, on_redis
):
    response = post_template(client, mk_headers, chinese_docx(), "合同.docx")
    assert response.status_code == 202, response.json
    template_id = response.json["id"]
    [version] = versions_of(client, mk_headers, template_id)
    assert (version["status"], version["published"]) == ("converting", False)
    preview = client.get(f"/api/v1/templates/{template_id}/preview.pdf", headers=mk_headers)
    assert preview.status_code == 404  # nothing published yet: nobody can send it

    run_queued(on_redis)
    db.session.expire_all()
    [version] = versions_of(client, mk_headers, template_id)
    assert (version["status"], version["published"], version["page_count"]) == ("ready", True, 1)

    # a second version whose conversion passes its time limit fails, and says why
    app.config["OFFICE_CONVERSION_TIMEOUT"] = 0.5
    second = client.post(
        f"/api/v1/templates/{template_id}/versions",
        data={"file": (io.BytesIO(chinese_pptx()), "方案.pptx"), "changelog": "v2"},
        headers=mk_headers,
    )
    assert second.status_code == 202, second.json
    assert versions_of(client, mk_headers, template_id)[0]["status"] == "converting"
    run_queued(on_redis)
    db.session.expire_all()

    failed, ready = versions_of(client, mk_headers, template_id)
    assert (ready["version"], ready["status"], ready["published"]) == (1, "ready", True)
    assert ready["page_count"] == 1
    assert failed["version"] == 2
    assert failed["status"] == "failed"
    assert failed["published"] is False
    assert failed["error"]["code"] == "conversion_timeout"
    assert "耗时过长" in failed["error"]["message"]  # the default language, zh
    preview = client.get(f"/api/v1/templates/{template_id}/preview.pdf", headers=mk_headers)
    assert preview.status_code == 200
    assert DOCX_TEXT in pdf_text(preview.data)
    # the uploads were replaced by the one PDF; the failed one left nothing behind
    assert [p.suffix for p in stored(app)] == [".pdf"]


def test_the_library_page_shows_converting_and_failed_versions(
    client, login, make_user, app, on_redis
):
    login(make_user("marketing"))
    form = {"name": "方案", "kind": "solution", "changelog": "首版", "content_tags": ""}
    form["file"] = (io.BytesIO(chinese_pptx()), "方案.pptx")
    app.config["OFFICE_CONVERSION_TIMEOUT"] = 0.5
    response = client.post("/library/new", data=form, follow_redirects=True)
    assert response.status_code == 200
    assert "正在转换为 PDF" in response.get_data(as_text=True)

    run_queued(on_redis)
    template_id = db.session.scalar(select(Template.id))
    page = client.get(f"/library/{template_id}").get_data(as_text=True)
    assert "转换失败" in page
    assert "文件转换耗时过长" in page
    client.post("/lang", data={"lang": "en", "next": "/"})
    english = client.get(f"/library/{template_id}").get_data(as_text=True)
    assert "Conversion failed" in english
    assert "took too long" in english
