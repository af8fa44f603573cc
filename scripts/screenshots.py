"""Screenshots of the staff pages, as their users see them, on a phone and a desktop.

    /work/venv/bin/python scripts/screenshots.py [--out /tmp/shots] [--lang zh_CN en]

What it does:
1. makes a throw-away instance folder (SQLite database, local storage, secret key),
   migrates it (`flask db upgrade`) and fills it with `flask demo` when that command exists,
   else with a few users and templates created through the services;
2. starts `flask --app wsgi run` on a free loopback port against that folder;
3. drives headless Chromium (Playwright, /usr/bin/chromium) at 390x844 (phone) and 1366x900
   (desktop), signed in as marketing, and saves full-page PNGs of: login, dashboard, library
   list, template detail, new template form, the form with an error, the 404 page, the
   upload-new-version and edit forms; plus the dashboard and library as a rep sees them.

Files are named <viewport>-<lang>-<page>.png in --out. Nothing outside the temp folder and --out
is touched; the server is stopped at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORTS = {"phone": (390, 844), "desktop": (1366, 900)}
PASSWORD = "demo1234"  # noqa: S105  (the demo password from DESIGN.md)
MARKETING = "marketing@example.com"
REP = "rep@example.com"
DEMO_USERS = ("marketing@demo.portal", "rep@demo.portal")  # `flask demo`, password demo1234

SAMPLE_HTML = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<style>body{{font-family:"Noto Sans CJK SC",sans-serif;margin:40px}}h1{{color:#2456d3}}
.price{{font-size:28px;font-weight:bold}}</style></head><body>
<h1>{title}</h1><p>尊敬的{{{{ customer.name }}}}（{{{{ customer.company }}}}），您好！</p>
<p>{body}</p><h2 id="pricing">价格</h2><p class="price">¥98,000 / 年</p>
<p>您的专属顾问：{{{{ rep.name }}}} · {{{{ rep.email }}}}</p></body></html>"""

TEMPLATES = [
    # name, kind, industry, scenario, product line, description, teams, changelogs
    (
        "智能工厂 MES 产品手册",
        "brochure",
        "制造业",
        "初次拜访",
        "MES",
        "面向离散制造企业的 MES 介绍：排产、质量追溯、设备联网。",
        "",
        ["首个版本", "更新 2025 年价格，新增设备联网章节"],
    ),
    (
        "汽车零部件行业客户案例",
        "case_study",
        "制造业",
        "方案交流",
        "MES",
        "某 Tier 1 供应商上线 MES 后交付准时率提升 18%。",
        "华东",
        ["首个版本"],
    ),
    (
        "标准报价单（年度订阅）",
        "quote",
        "通用",
        "报价",
        "SaaS 订阅",
        "",
        "",
        ["首个版本", "调整折扣说明", "增加付款条款"],
    ),
    (
        "零售数字化解决方案",
        "solution",
        "零售",
        "方案交流",
        "会员营销",
        "全渠道会员、导购助手与营销自动化的一体化方案。",
        "华南",
        ["首个版本"],
    ),
]


# The link of the library card with the highest version number (the richest detail page).
MOST_VERSIONS_JS = """() => {
  let best = null, most = -1;
  for (const card of document.querySelectorAll(".tpl")) {
    const n = parseInt((card.querySelector(".tpl-version") || {}).textContent?.slice(1)) || 0;
    if (n > most) { most = n; best = card.querySelector(".tpl-name a").href; }
  }
  return best;
}"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def flask_cmd(*args: str) -> list[str]:
    return [str(Path(sys.executable).with_name("flask")), "--app", "wsgi", *args]


def seed_with_services(env: dict[str, str]) -> None:
    """Users and templates through the services (when `flask demo` is not there)."""
    code = f"""
from portal import create_app
from portal.extensions import db
from portal.accounts.services import create_user
from portal.library import services

app = create_app()
with app.app_context():
    mk = create_user({MARKETING!r}, name="王芳", role="marketing", password={PASSWORD!r})
    create_user("admin@example.com", name="管理员", role="admin", password={PASSWORD!r})
    create_user("boss@example.com", name="陈主管", role="supervisor", password={PASSWORD!r},
                team="华东", region="上海")
    create_user({REP!r}, name="李雷", role="rep", password={PASSWORD!r},
                supervisor_email="boss@example.com", team="华东", region="上海")
    for name, kind, industry, scenario, line, desc, teams, logs in {TEMPLATES!r}:
        html = {SAMPLE_HTML!r}.format(title=name, body=desc or name)
        fields = services.TemplateFields(
            name=name, kind=kind, industry=industry, scenario=scenario, product_line=line,
            description=desc, tags=["2025"], allowed_teams=services.split_list(teams))
        version = services.create_template(
            mk, fields, filename=name + ".html", data=html.encode(), changelog=logs[0],
            content_tags="1:pricing")
        for n, log in enumerate(logs[1:], start=2):
            services.add_version(version.template, mk, filename=f"v{{n}}.html",
                                 data=(html + f"<!-- v{{n}} -->").encode(), changelog=log)
        if kind == "quote":
            services.add_version(version.template, mk, filename="报价单-草稿.html",
                                 data=(html + "<!-- draft -->").encode(), publish=False,
                                 changelog="草稿：2026 年新价格，待销售总监确认")
    db.session.commit()
"""
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)  # noqa: S603


def _upgrade(env: dict[str, str]) -> None:
    subprocess.run(flask_cmd("db", "upgrade"), cwd=ROOT, env=env, check=True)  # noqa: S603


def prepare(instance: Path) -> tuple[dict[str, str], tuple[str, str]]:
    """A migrated, filled instance; returns the environment and (marketing, rep) e-mails."""
    env = {
        **os.environ,
        "PORTAL_INSTANCE_PATH": str(instance),
        "PORTAL_SECRET_KEY": "screenshots-only",
        "FLASK_DEBUG": "0",
    }
    for name in ("PORTAL_DATABASE_URL", "PORTAL_STORAGE", "PORTAL_STORAGE_PATH"):
        env.pop(name, None)
    _upgrade(env)
    commands = subprocess.run(  # noqa: S603  (our own flask, fixed arguments)
        flask_cmd("--help"), cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout
    if any(line.split()[:1] == ["demo"] for line in commands.splitlines()):
        demo = subprocess.run(flask_cmd("demo"), cwd=ROOT, env=env, check=False)  # noqa: S603
        if demo.returncode == 0:
            return env, DEMO_USERS
        print("`flask demo` failed; seeding through the services instead", file=sys.stderr)
        shutil.rmtree(instance)
        instance.mkdir()
        _upgrade(env)
    seed_with_services(env)
    return env, (MARKETING, REP)


@contextlib.contextmanager
def server(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    log = open(Path(env["PORTAL_INSTANCE_PATH"]) / "server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(  # noqa: S603  (our own flask, fixed arguments)
        flask_cmd("run", "--host", "127.0.0.1", "--port", str(port), "--no-reload"),
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=1) as response:  # noqa: S310
                    if response.read() == b"ok":
                        break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("the server did not start; see server.log in the instance folder")
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        log.close()


def shoot(base: str, out: Path, langs: list[str], users: tuple[str, str]) -> list[Path]:
    from playwright.sync_api import sync_playwright

    saved: list[Path] = []
    with sync_playwright() as pw:
        for lang in langs:
            # --lang: the browser's own words (the file picker's button) in the page's language
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=[*CHROMIUM_ARGS, "--lang=" + ("en-US" if lang == "en" else "zh-CN")],
            )
            for label, (width, height) in VIEWPORTS.items():
                accept = "en-US,en;q=0.9" if lang == "en" else "zh-CN,zh;q=0.9"
                context = browser.new_context(
                    viewport={"width": width, "height": height},
                    device_scale_factor=1,
                    locale="en-US" if lang == "en" else "zh-CN",
                    extra_http_headers={"Accept-Language": accept},
                    is_mobile=label == "phone",
                    has_touch=label == "phone",
                )
                page = context.new_page()

                def snap(page, name: str, label=label, lang=lang) -> None:
                    page.wait_for_load_state("networkidle")
                    path = out / f"{label}-{lang}-{name}.png"
                    page.screenshot(path=str(path), full_page=True)
                    saved.append(path)

                page.goto(f"{base}/login")
                snap(page, "01-login")
                page.fill("#email", users[0])
                page.fill("#password", PASSWORD)
                page.click("button[type=submit].btn-primary")
                page.goto(f"{base}/")
                snap(page, "02-dashboard")
                page.goto(f"{base}/library/")
                snap(page, "03-library")
                detail = page.evaluate(MOST_VERSIONS_JS)
                page.goto(detail)
                page.wait_for_timeout(1500)  # the preview frame renders the PDF
                snap(page, "04-detail")
                page.goto(f"{detail}/versions/new")
                snap(page, "10-new-version")
                page.goto(f"{detail}/edit")
                snap(page, "11-edit")
                page.goto(f"{base}/library/new")
                snap(page, "05-new-template")
                page.fill("#name", "新品发布会邀请函")
                page.fill("#industry", "制造业")
                page.set_input_files(
                    "#file",
                    files=[
                        {
                            "name": "邀请函.html",
                            "mimeType": "text/html",
                            "buffer": "<h1>邀请函</h1>".encode(),
                        }
                    ],
                )
                page.fill("#changelog", "   ")  # passes the browser, not the service
                page.click(".form-actions button[type=submit]")
                snap(page, "06-form-error")
                page.goto(f"{base}/library/999999")
                snap(page, "07-404")
                context.close()

                context = browser.new_context(
                    viewport={"width": width, "height": height},
                    locale="zh-CN",
                    extra_http_headers={"Accept-Language": accept},
                    is_mobile=label == "phone",
                )
                page = context.new_page()
                page.goto(f"{base}/login")
                page.fill("#email", users[1])
                page.fill("#password", PASSWORD)
                page.click("button[type=submit].btn-primary")
                page.wait_for_load_state("networkidle")
                snap(page, "08-rep-dashboard")
                page.goto(f"{base}/library/")
                snap(page, "09-rep-library")
                context.close()
            browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="/tmp/shots", type=Path)  # noqa: S108  (not committed)
    parser.add_argument("--lang", nargs="+", default=["zh_CN", "en"], choices=["zh_CN", "en"])
    parser.add_argument("--keep", action="store_true", help="keep the temp instance folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with scratch_instance("portal-shots-", keep=args.keep) as instance:
        env, users = prepare(instance)
        with server(env) as base:
            for path in shoot(base, args.out, args.lang, users):
                print(path)


@contextlib.contextmanager
def scratch_instance(prefix: str, *, keep: bool) -> Iterator[Path]:
    """A temporary instance folder, removed afterwards unless keep (for a look inside)."""
    instance = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield instance
    finally:
        if keep:
            print(f"instance kept in {instance}")
        else:
            shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    main()
