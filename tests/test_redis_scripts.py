"""portal.redis_scripts: a script's round trip on the thread's own connection, and every way
back to the client's own call (an unknown script, a broken connection, a fork)."""

from __future__ import annotations

import threading
import uuid

import pytest
from redis import BlockingConnectionPool, Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from portal import redis_scripts

# Appends ARGV[1] to the list KEYS[1]; the list's length (a second copy would show).
APPEND = "return redis.call('RPUSH', KEYS[1], ARGV[1])"


@pytest.fixture(name="client")
def client_fixture(shared_redis_url):
    client = Redis.from_url(shared_redis_url)
    yield client
    client.connection_pool.disconnect()


@pytest.fixture(name="key")
def key_fixture(client):
    key = f"portal-test-scripts-{uuid.uuid4().hex[:12]}"
    yield key
    client.delete(key)


def fresh_script(client: Redis, body: str = APPEND):
    """A script the server has never seen (its own text), so the first EVALSHA is NOSCRIPT."""
    return client.register_script(f"-- {uuid.uuid4().hex}\n{body}")


def held(client: Redis):
    return redis_scripts._held.connections.get(client.connection_pool)


def test_the_answer_is_the_client_s_and_the_thread_keeps_one_connection(client, key):
    script = fresh_script(client)
    assert redis_scripts.run(script, [key], ["a"]) == 1
    first = held(client)
    assert first is not None
    assert redis_scripts.run(script, [key], ["b"]) == 2
    assert held(client) is first
    assert client.lrange(key, 0, -1) == [b"a", b"b"]
    # not taken from the pool: the client's own commands are not held up by it
    assert first not in client.connection_pool._in_use_connections


def test_another_thread_has_a_connection_of_its_own(client, key):
    script = fresh_script(client)
    redis_scripts.run(script, [key], ["main"])
    theirs = []

    def other() -> None:
        redis_scripts.run(script, [key], ["other"])
        theirs.append(held(client))

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert theirs and theirs[0] is not None and theirs[0] is not held(client)
    assert client.llen(key) == 2


def test_a_script_the_server_does_not_know_is_loaded_once_and_run_once(client, key):
    script = fresh_script(client)
    assert client.script_exists(script.sha) == [False]
    assert redis_scripts.run(script, [key], ["x"]) == 1
    assert client.script_exists(script.sha) == [True]
    assert client.lrange(key, 0, -1) == [b"x"]


def test_a_connection_the_server_closed_is_made_again_and_the_command_runs_once(client, key):
    script = fresh_script(client)
    redis_scripts.run(script, [key], ["before"])
    killed = _client_id(held(client))
    client.client_kill_filter(_id=killed)  # as an idle timeout or a restart would
    assert redis_scripts.run(script, [key], ["after"]) == 2
    assert client.lrange(key, 0, -1) == [b"before", b"after"]
    assert _client_id(held(client)) != killed  # a new connection to the server


def test_a_send_that_fails_goes_through_the_client_once(client, key, monkeypatch):
    script = fresh_script(client)
    redis_scripts.run(script, [key], ["before"])
    broken = held(client)

    def refused(*_args, **_kwargs):
        raise RedisConnectionError("the connection dropped while sending")

    monkeypatch.setattr(broken, "send_packed_command", refused)
    assert redis_scripts.run(script, [key], ["after"]) == 2
    assert client.lrange(key, 0, -1) == [b"before", b"after"]
    assert held(client) is not broken


def test_a_reply_lost_after_the_send_is_raised_never_sent_again(client, key, monkeypatch):
    script = fresh_script(client)
    redis_scripts.run(script, [key], ["before"])
    cut = held(client)
    read = cut.read_response

    def lost(*args, **kwargs):
        read(*args, **kwargs)  # the server ran it and answered; the answer is lost on the way
        raise RedisConnectionError("the connection dropped while reading")

    monkeypatch.setattr(cut, "read_response", lost)
    with pytest.raises(RedisConnectionError):
        redis_scripts.run(script, [key], ["once"])
    assert client.lrange(key, 0, -1) == [b"before", b"once"]  # not a second time
    assert held(client) is not cut
    assert redis_scripts.run(script, [key], ["next"]) == 3


def test_the_script_s_own_error_is_raised_and_the_connection_stays_in_step(client, key):
    failing = fresh_script(client, "return redis.error_reply('refused here')")
    script = fresh_script(client)
    redis_scripts.run(script, [key], ["one"])
    connection = held(client)
    with pytest.raises(ResponseError, match="refused here"):
        redis_scripts.run(failing, [key], [])
    assert held(client) is connection
    assert redis_scripts.run(script, [key], ["two"]) == 2


def test_a_forked_child_never_talks_on_its_parent_s_connection(client, key, monkeypatch):
    script = fresh_script(client)
    redis_scripts.run(script, [key], ["parent"])
    parent = held(client)
    monkeypatch.setattr(redis_scripts._held, "pid", -1)  # as if this process were a fork
    assert redis_scripts.run(script, [key], ["child"]) == 2
    assert held(client) is not None and held(client) is not parent
    assert parent._sock is not None  # left open: it is the parent's to use and to close


def test_a_pool_of_another_kind_goes_through_the_client(shared_redis_url, key):
    client = Redis(connection_pool=BlockingConnectionPool.from_url(shared_redis_url))
    try:
        script = fresh_script(client)
        assert redis_scripts.run(script, [key], ["x"]) == 1
        assert held(client) is None
        assert client.lrange(key, 0, -1) == [b"x"]
    finally:
        client.delete(key)
        client.connection_pool.disconnect()


def _client_id(connection) -> int:
    """The server's id of this connection (CLIENT ID, asked on it)."""
    connection.send_command("CLIENT", "ID")
    return int(connection.read_response())
