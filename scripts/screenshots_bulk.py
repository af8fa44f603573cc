"""Screenshots of bulk sends: customers chosen on the list, the send form, the progress page.

    /work/venv/bin/python scripts/screenshots_bulk.py [--out /tmp/shots-bulk] [--lang zh_CN en]

A throw-away instance filled with `flask demo` (scripts/screenshots.py); one of the demo rep's
customers loses their e-mail address, so that a send by e-mail fails for them (the progress
page then shows a failure with its reason and the retry button). Headless Chromium at 390x844
and 1366x900, signed in as the demo rep: the customer list with three customers ticked, the
bulk-send form, and the progress page after the send (jobs run inline: it is finished).
Files are named <viewport>-<lang>-<page>.png in --out.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import screenshots as base  # the sibling script: instance, server, browser args

REP = "rep@demo.portal"
SEED = """
import sys
from sqlalchemy import select
from portal import create_app, jobs
from portal.accounts.services import get_user_by_email
from portal.customers.models import Customer
from portal.extensions import db

app = create_app()
with app.app_context():
    rep = get_user_by_email("rep@demo.portal")
    customers = db.session.scalars(
        select(Customer).where(Customer.owner_id == rep.id).order_by(Customer.id)
    ).all()
    customers[1].email = None
    jobs.commit()
    with open(sys.argv[1], "w", encoding="utf-8") as listed:  # an uploaded list: its header row
        listed.write("序号,邮箱\\n")
        listed.writelines(f"{n},{c.email}\\n" for n, c in enumerate(customers[2:], 1))
"""


def shoot(url: str, out: Path, langs: list[str], listed: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    saved: list[Path] = []
    with sync_playwright() as pw:
        for lang in langs:
            browser = pw.chromium.launch(
                executable_path=base.CHROMIUM,
                args=[*base.CHROMIUM_ARGS, "--lang=" + ("en-US" if lang == "en" else "zh-CN")],
            )
            for label, (width, height) in base.VIEWPORTS.items():
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
                page.goto(f"{url}/login")
                page.fill("#email", REP)
                page.fill("#password", base.PASSWORD)
                page.click("button[type=submit].btn-primary")
                page.wait_for_load_state("networkidle")

                def snap(name: str, page=page, label=label, lang=lang) -> None:
                    page.wait_for_load_state("networkidle")
                    path = out / f"{label}-{lang}-{name}.png"
                    page.screenshot(path=str(path), full_page=True)
                    saved.append(path)

                page.goto(f"{url}/customers/")
                boxes = page.locator(".bulk-check input")
                for n in range(min(3, boxes.count())):
                    boxes.nth(n).check()
                snap("bulk-list")
                page.click(".bulk-picker button[type=submit]")
                page.wait_for_load_state("networkidle")
                page.select_option("#template_id", index=1)
                page.check("#send_email")
                snap("bulk-form")
                page.click(".form-actions .btn-primary")
                page.wait_for_selector("[data-bulk-progress]")
                page.wait_for_function(
                    "document.querySelector('[data-part=done]').style.width !== ''"
                )
                snap("bulk-progress")
                page.goto(f"{url}/customers/bulk/new")  # an uploaded list, confirmed first
                page.select_option("#template_id", index=1)
                page.set_input_files("#file", str(listed))
                page.click(".form-actions .btn-primary")
                page.wait_for_selector("[data-matched]")
                snap("bulk-confirm")
                context.close()
            browser.close()
    return saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="/tmp/shots-bulk", type=Path)  # noqa: S108
    parser.add_argument("--lang", nargs="+", default=["zh_CN", "en"], choices=["zh_CN", "en"])
    parser.add_argument("--keep", action="store_true", help="keep the temp instance folder")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with base.scratch_instance("portal-shots-bulk-", keep=args.keep) as instance:
        env, users = base.prepare(instance)
        if users != base.DEMO_USERS:
            raise SystemExit("the bulk screenshots need `flask demo`'s rep")
        listed = Path(instance) / "list.csv"
        subprocess.run(  # noqa: S603
            [sys.executable, "-c", SEED, str(listed)], cwd=base.ROOT, env=env, check=True
        )
        with base.server(env) as url:
            for path in shoot(url, args.out, args.lang, listed):
                print(path)


if __name__ == "__main__":
    main()
