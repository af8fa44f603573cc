"""Servers the tests run in a thread of their own (vendor robots, webhook receivers, the app
behind a real socket), started and stopped one way.

socketserver's serve_forever looks at its shutdown flag once per poll interval, 0.5 s by
default, so every stop waited up to half a second: with three robots per channels test that was
about a second a test, 88 s of teardown in one SQLite pass. At 0.02 s an idle server still costs
nothing measurable, and a stop returns at once.
"""

from __future__ import annotations

import threading
from socketserver import BaseServer

POLL_SECONDS = 0.02


def serve_in_thread(server: BaseServer, name: str = "test-server") -> threading.Thread:
    """Serve `server` from a daemon thread until stop_serving."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, name=name, daemon=True
    )
    thread.start()
    return thread


def stop_serving(server: BaseServer, thread: threading.Thread | None = None) -> None:
    """Stop serving, close the listening socket, and wait for the thread if given."""
    server.shutdown()
    server.server_close()
    if thread is not None:
        thread.join(timeout=10)
