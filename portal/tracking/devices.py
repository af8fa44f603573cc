"""What device a visit came from (phone, tablet or desktop; OS; browser; inside WeChat or not),
parsed by ua-parser (the uap-core rules, maintained upstream), never by a home-made regex.

WeChat's in-app browser sends "MicroMessenger" in its User-Agent (the token WeChat documents for
telling its browser apart, and what the viewer's "open in your browser to download" hint checks).
uap-core names the browser family "WeChat…" on iOS only: on Android, WeChat's XWEB engine parses
as "Chrome Mobile WebView". So `wechat` is the token's presence, whatever uap-core names the
browser; `in_wechat` is the one test for it."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

from ua_parser import parse

_MOBILE_OS = ("iOS", "Android", "HarmonyOS", "Windows Phone", "BlackBerry OS", "KaiOS")
_TABLETS = ("iPad", "Tablet", "Kindle", "Nexus 7", "Nexus 9", "Nexus 10")


@dataclass(frozen=True)
class Device:
    kind: str  # phone | tablet | desktop
    os: str  # "iOS", "Android", "Windows", "Mac OS X" … ("" when unknown)
    browser: str  # "Chrome", "Safari", "WeChat Browser" … ("" when unknown)
    wechat: bool

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


WECHAT_MARKER = "MicroMessenger"


def in_wechat(user_agent: str | None) -> bool:
    """Whether a User-Agent is WeChat's in-app browser (iOS and Android alike)."""
    return WECHAT_MARKER in (user_agent or "")


@lru_cache(maxsize=1024)
def describe(user_agent: str | None) -> Device:
    """The device of a User-Agent string (cached: one browser sends the same string)."""
    result = parse(user_agent or "")
    browser = result.user_agent.family if result.user_agent else ""
    os_name = result.os.family if result.os else ""
    model = result.device.family if result.device else ""
    if any(word in model for word in _TABLETS):
        kind = "tablet"
    elif os_name in _MOBILE_OS:
        kind = "phone"
    else:
        kind = "desktop"
    if os_name == "Other":
        os_name = ""
    if browser == "Other":
        browser = ""
    wechat = browser.startswith("WeChat") or in_wechat(user_agent)
    return Device(kind=kind, os=os_name, browser=browser, wechat=wechat)
