"""Devices as the rep reads them (portal.tracking.devices): WeChat on both phones' systems."""

from __future__ import annotations

import pytest

from portal.tracking.devices import describe, in_wechat

# Real User-Agents of WeChat's in-app browser: iOS (uap-core names it "WeChat Browser") and
# Android (the XWEB engine: uap-core names it "Chrome Mobile WebView").
WECHAT_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 MicroMessenger/8.0.47(0x18002f2c) NetType/WIFI Language/zh_CN"
)
WECHAT_ANDROID = (
    "Mozilla/5.0 (Linux; Android 13; V2229A Build/TP1A.220624.014; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160027 "
    "MMWEBSDK/20231202 MMWEBID/2247 MicroMessenger/8.0.47.2560(0x28002F30) WeChat/arm64 "
    "Weixin NetType/WIFI Language/zh_CN ABI/arm64"
)
CHROME_ANDROID = (
    "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)


@pytest.mark.parametrize("agent", [WECHAT_IOS, WECHAT_ANDROID])
def test_wechat_is_told_on_ios_and_android(agent):
    device = describe(agent)
    assert device.wechat is True
    assert device.kind == "phone"
    assert in_wechat(agent)


def test_a_phone_browser_is_not_wechat():
    device = describe(CHROME_ANDROID)
    assert device.wechat is False and device.kind == "phone" and device.os == "Android"
    assert not in_wechat(CHROME_ANDROID)
