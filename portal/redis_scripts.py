"""A Lua script's round trip on a Redis connection this thread keeps for itself.

The busiest requests make one Redis round trip each, and it is their durable write: a
customer's download (`doc.downloaded`, portal.tracking.ingest_queue.enqueue_event) and a
batch of reading reports (enqueue). redis-py's client takes a connection from its pool and
gives it back on every command, asking the socket whether anything is left unread and
counting the connection for its observability hooks on the way: measured here, 135 µs of a
thread's CPU per script call against 61 µs for the same EVALSHA on a connection already held,
which was a tenth of a tracked download's cost (docs/performance.md, P1).

So each thread keeps one connection per pool, made with the pool's own settings, and sends
the EVALSHA on it. Everything unusual goes to the client's own call: a server that does not
know the script (the client loads it), or a connection that broke (the client's retries,
which send the command again, as the client's own retries always could: the entries carry
idempotency keys, an event's or each report's, which the applier stores once).
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import hiredis
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


def run(script: Script, keys: Sequence[str], args: Sequence[Any]) -> Any:
    """What `script(keys=keys, args=args)` answers, sent on this thread's own connection to the
    script's client's server. Raises what the client's call raises."""
    pool = script.registered_client.connection_pool
    connection = _connection(pool)
    if connection is None:
        return script(keys=keys, args=args)
    try:
        # hiredis packs the command in C (str, bytes, int and float arguments, as ours are):
        # redis-py's packer encodes each argument in Python first, 4 times as long.
        connection.send_packed_command(
            [hiredis.pack_command(("EVALSHA", script.sha, len(keys), *keys, *args))],
            check_health=False,
        )
        return connection.read_response()
    except NoScriptError:
        # A server restarted or flushed its scripts: the client loads it and runs it.
        return script(keys=keys, args=args)
    except ResponseError:
        raise  # the script's own error, read whole: the connection is still in step
    except (RedisConnectionError, RedisTimeoutError):
        _forget(pool, connection)
        return script(keys=keys, args=args)
    except BaseException:
        # Anything else may have cut the exchange in the middle: never reuse the connection.
        _forget(pool, connection)
        raise


def _connection(pool: ConnectionPool) -> Any:
    """This thread's connection to the pool's server (made on first use), or None for a pool
    whose connections are not plain ones (a cluster's, a sentinel's): the client's call then."""
    if _held.pid != os.getpid():
        # A forked child: the parent's sockets are not ours to talk on (or to close).
        _held.pid = os.getpid()
        _held.connections = weakref.WeakKeyDictionary()
    connection = _held.connections.get(pool)
    if connection is None:
        if type(pool) is not ConnectionPool:
            return None
        connection = pool.connection_class(**pool.connection_kwargs)
        _held.connections[pool] = connection
    return connection


def _forget(pool: ConnectionPool, connection: Any) -> None:
    _held.connections.pop(pool, None)
    connection.disconnect()
