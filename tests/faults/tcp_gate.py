"""A TCP gate in front of a server: the app talks to the gate's port, and the test can make
the server behind it vanish and come back.

`crash()` does to the app what SIGKILL of the server does: the listening port refuses new
connections and every open connection is reset (RST, not a polite close). `start()` listens on
the same port again. The server behind the gate (the shared S3 test server) is never touched,
so the other tests using it are not disturbed, and an outage costs no restart: the earlier
private Swift instance took ~13 s to start and ~10 s for each stop and restart.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading

from tests.multinode.cluster import free_port


class TcpGate:
    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answers(self) -> bool:
        return self._listener is not None

    def start(self) -> None:
        """Listen (again); a no-op while listening."""
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", self.port))
            listener.listen(64)
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def crash(self) -> None:
        """Refuse new connections and reset the open ones, as a killed server's host does."""
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._open = self._open, set()
        if listener is not None:
            listener.close()
        for sock in sockets:
            _reset(sock)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by crash()
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                if self._listener is not listener:  # crashed meanwhile
                    _reset(client)
                    _reset(upstream)
                    continue
                self._open.update((client, upstream))
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            _reset(sink)  # the other side went away (or crash() reset both): pass it on


def _reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the peer gets a RST, as from a host whose process was killed."""
    with contextlib.suppress(OSError):  # already closed
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()
