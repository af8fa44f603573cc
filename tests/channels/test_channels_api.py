"""/api/v1/channels: who may add, see and remove which channel; secrets never shown back;
only the vendor's robot URLs; the test message; OpenAPI."""

from __future__ import annotations

import pytest

from tests.channels.conftest import SECRETS, URLS


@pytest.fixture
def people(make_user):
    admin = make_user("admin", email="admin@example.com")
    lead = make_user("supervisor", email="lead@example.com", team="华东")
    rep = make_user("rep", email="rep@example.com", team="华东", supervisor="lead@example.com")
    other_lead = make_user("supervisor", email="north@example.com", team="华北")
    other_rep = make_user(
        "rep", email="north-rep@example.com", team="华北", supervisor="north@example.com"
    )
    return admin, lead, rep, other_lead, other_rep


def _add(client, headers, **body):
    return client.post("/api/v1/channels", json=body, headers=headers)


def test_a_supervisor_adds_their_teams_channel_and_sees_it_masked(
    people, client, api_headers, robots
):
    _admin, lead, _rep, _other_lead, _other_rep = people
    headers = api_headers(lead)
    answer = _add(
        client,
        headers,
        kind="dingtalk",
        url=URLS["dingtalk"],
        secret=SECRETS["dingtalk"],
        team="华东",
    )
    assert answer.status_code == 201, answer.json
    listed = client.get("/api/v1/channels", headers=headers)
    [item] = listed.json["items"]
    assert item["kind"] == "dingtalk" and item["team"] == "华东" and item["has_secret"] is True
    text = listed.get_data(as_text=True)
    assert SECRETS["dingtalk"] not in text and robots["dingtalk"].token not in text
    assert "secret" not in item


@pytest.mark.parametrize(
    ("who", "body", "status"),
    [
        ("rep", {"team": "华东"}, 403),  # a rep has no team channel
        ("rep", {"user": "lead@example.com"}, 403),  # nor another person's
        ("lead", {"team": "华北"}, 403),  # another team
        ("lead", {"user": "north-rep@example.com"}, 403),  # another team's rep
        ("lead", {}, 422),  # neither team nor user
        ("lead", {"team": "华东", "user": "rep@example.com"}, 422),  # both
    ],
)
def test_out_of_scope_or_ownerless_channels_are_refused(
    people, client, api_headers, who, body, status
):
    _admin, lead, rep, _ol, _or = people
    caller = {"rep": rep, "lead": lead}[who]
    answer = _add(client, api_headers(caller), kind="wecom", url=URLS["wecom"], **body)
    assert answer.status_code == status, answer.json


def test_a_rep_adds_a_personal_channel(people, client, api_headers):
    _admin, _lead, rep, _ol, _or = people
    answer = _add(client, api_headers(rep), kind="feishu", url=URLS["feishu"], user=rep.email)
    assert answer.status_code == 201 and answer.json["user"] == rep.email


@pytest.mark.parametrize(
    ("kind", "url"),
    [
        ("wecom", "https://evil.example.com/cgi-bin/webhook/send?key=abc"),
        ("wecom", "http://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc"),  # not https
        ("dingtalk", URLS["wecom"]),  # another vendor's URL
        ("feishu", "https://open.feishu.cn/open-apis/bot/v2/hook/"),  # no token
        ("slack", URLS["wecom"]),
    ],
)
def test_only_the_vendors_robot_urls_are_accepted(people, client, api_headers, kind, url):
    admin = people[0]
    answer = _add(client, api_headers(admin), kind=kind, url=url, team="华东")
    assert answer.status_code == 422
    assert answer.json["error"]["code"] in ("bad_channel_url", "bad_kind")


def test_channels_outside_the_callers_scope_are_not_found(people, client, api_headers):
    admin, lead, _rep, other_lead, _or = people
    created = _add(client, api_headers(admin), kind="wecom", url=URLS["wecom"], team="华东")
    channel_id = created.json["id"]
    outsider = api_headers(other_lead)
    assert client.get("/api/v1/channels", headers=outsider).json["items"] == []
    assert client.delete(f"/api/v1/channels/{channel_id}", headers=outsider).status_code == 404
    assert client.post(f"/api/v1/channels/{channel_id}/test", headers=outsider).status_code == 404
    assert (
        client.delete(f"/api/v1/channels/{channel_id}", headers=api_headers(lead)).status_code
        == 204
    )
    assert client.get("/api/v1/channels", headers=api_headers(admin)).json["items"] == []


def test_the_test_message_reaches_the_robot(people, client, api_headers, robots):
    admin = people[0]
    headers = api_headers(admin)
    created = _add(
        client, headers, kind="feishu", url=URLS["feishu"], secret=SECRETS["feishu"], team="华东"
    )
    answer = client.post(f"/api/v1/channels/{created.json['id']}/test", headers=headers)
    assert answer.status_code == 202
    [got] = robots["feishu"].accepted
    assert got.body["card"]["header"]["title"]["content"] == "Portal 测试消息"


def test_openapi_declares_the_channel_routes(client):
    spec = client.get("/api/v1/openapi.json").json
    assert set(spec["paths"]["/channels"]) == {"get", "post"}
    assert "delete" in spec["paths"]["/channels/{channel_id}"]
    assert "post" in spec["paths"]["/channels/{channel_id}/test"]
    assert set(spec["paths"]["/me/notification-preferences"]) == {"get", "put"}
    assert spec["components"]["schemas"]["ChannelInput"]["properties"]["kind"]["enum"] == [
        "wecom",
        "dingtalk",
        "feishu",
    ]


def test_bad_preferences_are_refused(people, client, api_headers):
    rep = people[2]
    headers = api_headers(rep)
    for body, code in [
        ({"alerts": {"nope": ["app"]}}, "bad_alert"),
        ({"alerts": {"comment": ["sms"]}}, "bad_transport"),
        ({"quiet_hours": {"start": "25:00"}}, "bad_time"),
        ({"quiet_hours": {"start": "08:00", "end": "08:00"}}, "bad_time"),
    ]:
        answer = client.put("/api/v1/me/notification-preferences", json=body, headers=headers)
        assert answer.status_code == 422 and answer.json["error"]["code"] == code, body
    prefs = client.get("/api/v1/me/notification-preferences", headers=headers).json
    assert prefs["quiet_hours"] == {"enabled": True, "start": "22:00", "end": "08:00"}
