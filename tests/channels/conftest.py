from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.channels.vendor_listeners import Robot, start, stop

TOKENS = {"wecom": "wecom-key-0123456789", "dingtalk": "ding-token-abcdef", "feishu": "fs-hook-42"}
SECRETS = {"wecom": None, "dingtalk": "SECdingtalk-shared-secret", "feishu": "feishu-secret-xyz"}
URLS = {
    "wecom": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=" + TOKENS["wecom"],
    "dingtalk": "https://oapi.dingtalk.com/robot/send?access_token=" + TOKENS["dingtalk"],
    "feishu": "https://open.feishu.cn/open-apis/bot/v2/hook/" + TOKENS["feishu"],
}


@pytest.fixture
def robots() -> Iterator[dict[str, Robot]]:
    started = {kind: start(Robot(kind, TOKENS[kind], SECRETS[kind])) for kind in TOKENS}
    yield started
    for robot in started.values():
        stop(robot)


@pytest.fixture
def app_config(app_config: dict, robots: dict[str, Robot]) -> dict:
    return {
        **app_config,
        "WEBHOOK_ALLOW_PRIVATE": True,  # the listeners are on loopback
        "CHANNEL_BASE_URLS": {kind: robot.base for kind, robot in robots.items()},
    }
