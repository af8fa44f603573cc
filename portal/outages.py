"""Outages: a service Portal depends on (database, object storage, Redis) is not answering.

An outage is not the request's fault and says nothing about the data: nothing was written, or
what was committed stays committed. Requests answer 503 with a clear message (see
portal.routes.errors), background jobs leave their work to be tried again, and a service that
checks a dependency up front raises Unavailable before it writes anything.
"""

from __future__ import annotations

import sqlite3

from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, OperationalError

from portal.errors import PortalError

# The exception types an outage can surface as (each still checked by which()).
EXCEPTIONS: tuple[type[BaseException], ...] = (
    DBAPIError,
    BotoConnectionError,
    HTTPClientError,
    ClientError,
    RedisConnectionError,
    RedisTimeoutError,
)

DATABASE = "database"
STORAGE = "storage"
REDIS = "redis"

# SQLSTATE classes of a server that is down or refusing work: connection exception,
# insufficient resources (too many connections), operator intervention (shutdown, terminated).
_DOWN_SQLSTATE = {"08", "53", "57"}


class Unavailable(PortalError):
    """A dependency is down: nothing was done, try again later."""

    status = 503
    code = "service_unavailable"


class StorageUnavailable(Unavailable):
    code = "storage_unavailable"


def which(exc: BaseException) -> str | None:
    """The service exc says is down (DATABASE, STORAGE or REDIS), or None for any other error."""
    if isinstance(exc, DBAPIError):
        return DATABASE if _database_down(exc) else None
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return STORAGE  # refused, reset, timed out (after botocore's own retries)
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return STORAGE if status >= 500 else None
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return REDIS
    return None


def is_outage(exc: BaseException) -> bool:
    return which(exc) is not None


def _database_down(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:  # SQLAlchemy saw a disconnect (and dropped the pool)
        return True
    if not isinstance(exc, OperationalError):
        return False
    orig = exc.orig
    if isinstance(orig, sqlite3.OperationalError):
        return "locked" in str(orig)  # another writer holds the file; "no such table" is a bug
    state = getattr(orig, "sqlstate", None)
    return state is None or state[:2] in _DOWN_SQLSTATE
