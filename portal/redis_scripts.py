"""A Lua script's round trip on a Redis connection this thread keeps for itself.

The busiest requests make one Redis round trip each, and it is their durable write: a
customer's download (`doc.downloaded`, portal.tracking.ingest_queue.enqueue_event) and a
batch of reading reports (enqueue). redis-py's client takes a connection from its pool and
gives it back on every command, asking the socket whether anything is left unread and
counting the connection for its observability hooks on the way: measured here, 135 µs of a
thread's CPU per script call against 61 µs for the same EVALSHA on a connection already held,
which was a tenth of a tracked download's cost (docs/performance.md, P1).

So each thread keeps one connection per pool, made with the pool's own settings, and sends
the EVALSHA on it. Like the pool, it first looks whether the server has closed the connection
(an idle timeout, a restart) and connects afresh if so. Anything else unusual goes to the
client's own call, but only where the command cannot have run: a server that answers that it
does not know the script (the client loads it), or a connection that failed before the command
was sent whole (a server never runs half a command). Once sent, a failure is raised, as the
client raises it (the app's client makes no retries): sending again might run it twice.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import hiredis
from flask import current_app
from redis.commands.core import Script
from redis.connection import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


class _Held(threading.local):
    """This thread's connections, one per pool (weakly: a pool dropped with its app, as in
    the tests, takes its connection with it), for the process that made them."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.connections: weakref.WeakKeyDictionary[ConnectionPool, Any] = (
            weakref.WeakKeyDictionary()
        )


_held = _Held()


def app_script(name: str, body: str) -> Script:
    """The app's Redis client's Script for `body`, kept in app.extensions under `name` (its sha
    computed once per client, not per call)."""
    from portal import jobs

    redis = jobs.redis_connection()
    cached = current_app.extensions.get(name)
    if cached is None or cached[0] is not redis:
        cached = (redis, redis.register_script(body))
        current_app.extensions[name] = cached
    return cached[1]


def run(script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """What `script(keys=keys, args=args)` answers, sent on this thread's own connection to the
    script's client's server. Raises what the client's call raises."""
    pool = script.registered_client.connection_pool
    connection = _connection(pool)
    if connection is None:
        return script(keys=keys, args=args)
    try:
        if _stale(connection):  # closed by the server, or out of step: start afresh
            connection.disconnect()
        # hiredis packs the command in C (str, bytes, int and float arguments, as ours are):
        # redis-py's packer encodes each argument in Python first, 4 times as long.
        connection.send_packed_command(
            [hiredis.pack_command(("EVALSHA", script.sha, len(keys), *keys, *args))]
        )
    except (RedisConnectionError, RedisTimeoutError):
        _forget(pool, connection)
        return script(keys=keys, args=args)  # not run: the client connects and sends it
    except BaseException:
        _forget(pool, connection)
        raise
    try:
        return connection.read_response()
    except NoScriptError:
        # A server restarted or flushed its scripts: the client loads it and runs it.
        return script(keys=keys, args=args)
    except ResponseError:
        raise  # the script's own error, read whole: the connection is still in step
    except BaseException:
        # The exchange was cut in the middle: never reuse the connection, never send again.
        _forget(pool, connection)
        raise


def _stale(connection: Any) -> bool:
    """Whether the server closed the connection (its end of file is there to read) or left
    something unread: never send on it then."""
    try:
        return bool(connection.can_read())
    except (RedisConnectionError, RedisTimeoutError):
        return True


def _connection(pool: ConnectionPool) -> Any:
    """This thread's connection to the pool's server (made on first use), or None for a pool
    whose connections are not plain ones (a cluster's, a sentinel's): the client's call then."""
    if _held.pid != os.getpid():
        # A forked child: the parent's sockets are not ours to talk on (or to close).
        _held.pid = os.getpid()
        _held.connections = weakref.WeakKeyDictionary()
    connection = _held.connections.get(pool)
    if connection is None:
        if type(pool) is not ConnectionPool or str(pool.connection_kwargs.get("protocol")) == "3":
            # RESP3's connections refer back to their pool (its maintenance notifications),
            # which would keep the weak key alive forever: the app speaks RESP2.
            return None
        connection = pool.connection_class(**pool.connection_kwargs)
        _held.connections[pool] = connection
    return connection


def _forget(pool: ConnectionPool, connection: Any) -> None:
    _held.connections.pop(pool, None)
    connection.disconnect()
