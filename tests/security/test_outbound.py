"""Outbound requests (webhooks, later the chat channels) cannot be steered inside: no redirect is
followed, the client connects to the address it checked (no second DNS lookup a rebinding name
could answer differently), IPv6 forms that carry an inside IPv4 address are refused, and no
module but portal.outbound.http_client speaks HTTP.
"""

from __future__ import annotations

import ast
import shutil
import socket
import ssl
import subprocess
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlalchemy import select

from portal import jobs
from portal.extensions import db
from portal.outbound import http_client
from portal.outbound.addresses import PrivateAddress, is_public
from portal.webhooks import service
from portal.webhooks.models import WebhookDelivery
from tests.delivery.helpers import make_customer
from tests.threaded_servers import serve_in_thread, stop_serving

PUBLIC = "93.184.216.34"  # a public address: the test never lets a connection reach it
REBINDING = "rebind.test"


class Hits:
    """Requests a local server received, of any method (a followed 302 turns POST into GET)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, str]] = []  # (method, path, Host header)


def _serve(answer: Callable[[BaseHTTPRequestHandler], None]) -> tuple[Hits, ThreadingHTTPServer]:
    hits = Hits()

    class Handler(BaseHTTPRequestHandler):
        def _any(self):
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            hits.requests.append((self.command, self.path, self.headers.get("Host", "")))
            answer(self)

        do_GET = do_POST = do_PUT = _any

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    serve_in_thread(server)
    return hits, server


def _ok(handler: BaseHTTPRequestHandler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", "2")
    handler.end_headers()
    handler.wfile.write(b"ok")


@pytest.fixture
def servers() -> Iterator[Callable]:
    started: list[ThreadingHTTPServer] = []

    def start(answer=_ok) -> tuple[Hits, int]:
        hits, server = _serve(answer)
        started.append(server)
        return hits, server.server_address[1]

    yield start
    for server in started:
        stop_serving(server)


def _send_webhook(url: str, make_user) -> WebhookDelivery:
    service.create_webhook(url, ["customer.grade_changed"])
    jobs.commit()
    customer = make_customer(make_user("rep"))
    service.emit("customer.grade_changed", {"customer_id": customer.id})
    jobs.commit()
    db.session.expire_all()
    return db.session.scalars(select(WebhookDelivery)).one()


# --- redirects ------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_never_followed_even_where_the_first_hop_is_allowed(
    app, monkeypatch, servers, make_user, status
):
    """With PORTAL_WEBHOOK_ALLOW_PRIVATE=1 the first (loopback) hop is allowed; the redirect to
    another inside address is still not followed: the target counts 0 requests."""
    monkeypatch.setitem(app.config, "WEBHOOK_ALLOW_PRIVATE", True)
    target, target_port = servers()

    def bounce(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(status)
        handler.send_header("Location", f"http://127.0.0.1:{target_port}/internal")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    first, first_port = servers(bounce)
    row = _send_webhook(f"http://127.0.0.1:{first_port}/hook", make_user)

    assert len(first.requests) == 1  # the allowed hop was asked
    assert target.requests == []  # and nothing followed it
    assert row.status == "pending" and row.last_status_code == status
    assert row.last_error.startswith("redirect_refused:")
    assert f"127.0.0.1:{target_port}/internal" in row.last_error


# --- the address checked is the address connected to ---------------------------------------------


@pytest.fixture
def rebinding_dns(monkeypatch) -> list[str]:
    """REBINDING answers PUBLIC to the first lookup and 127.0.0.1 to every later one (a DNS
    rebinding attack with a zero TTL). Other names resolve as usual. Returns the lookups."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
        if host != REBINDING:
            return real(host, port, family, type, proto, flags)
        answer = PUBLIC if not lookups else "127.0.0.1"
        lookups.append(answer)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (answer, port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


@pytest.fixture
def public_receiver(monkeypatch) -> Callable[[int], list]:
    """Stands in for a receiver at PUBLIC: a connection to PUBLIC is recorded and led to the
    local server on the given port; every other connection goes where it was meant to."""
    connected: list[str] = []
    local_port: list[int] = []

    class Socket(socket.socket):
        def connect(self, address):
            if address[0] == PUBLIC:
                connected.append(address[0])
                address = ("127.0.0.1", local_port[0])
            return super().connect(address)

    monkeypatch.setattr(socket, "socket", Socket)

    def lead_to(port: int) -> list[str]:
        local_port.append(port)
        return connected

    return lead_to


def test_the_client_connects_to_the_address_it_checked(
    app, make_user, servers, rebinding_dns, public_receiver
):
    hits, port = servers()
    connected = public_receiver(port)

    row = _send_webhook(f"http://{REBINDING}:{port}/hook", make_user)

    assert rebinding_dns == [PUBLIC]  # one lookup: the one that was checked
    assert connected == [PUBLIC]  # and the connection went to that address
    assert row.status == "delivered", row.last_error
    assert [(m, p) for m, p, _ in hits.requests] == [("POST", "/hook")]
    assert hits.requests[0][2] == f"{REBINDING}:{port}"  # the Host header names the host


def test_a_name_resolving_to_an_inside_address_is_refused_before_connecting(
    app, make_user, servers, monkeypatch, public_receiver
):
    hits, port = servers()
    connected = public_receiver(port)  # (without the check, this is where it would go)
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        if host == REBINDING:  # a public answer and an inside one: one bad address is enough
            return [
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", (PUBLIC, port)),
                (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("64:ff9b::7f00:1", port, 0, 0)),
            ]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    row = _send_webhook(f"http://{REBINDING}:{port}/hook", make_user)
    assert row.last_error.startswith("private_address:") and "64:ff9b::7f00:1" in row.last_error
    assert hits.requests == [] and connected == []


# --- https: the name is kept for SNI and the certificate check ------------------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[Hits, int, Path, list]]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", f"/CN={REBINDING}", "-addext", f"subjectAltName=DNS:{REBINDING}"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    hits, server = _serve(_ok)
    names: list = []
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    context.sni_callback = lambda _sock, name, _ctx: names.append(name)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    yield hits, server.server_address[1], cert, names
    stop_serving(server)


def test_https_keeps_the_name_for_sni_and_the_certificate(app, tls_server, monkeypatch):
    hits, port, cert, names = tls_server
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        return real("127.0.0.1" if host == REBINDING else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    trusting = ssl.create_default_context(cafile=str(cert))
    url = f"https://{REBINDING}:{port}/hook"

    answer = http_client.post(url, b"{}", {}, allow_private=True, tls=trusting)
    assert answer.status == 200
    assert names == [REBINDING]  # SNI names the host, not the address connected to
    assert hits.requests[0][2] == f"{REBINDING}:{port}"

    # The certificate is still verified: untrusted by default, and not valid for another name.
    with pytest.raises(ssl.SSLCertVerificationError):
        http_client.post(url, b"{}", {}, allow_private=True)
    with pytest.raises(ssl.SSLCertVerificationError):
        http_client.post(
            f"https://127.0.0.1:{port}/hook", b"{}", {}, allow_private=True, tls=trusting
        )


# --- IPv6 forms that carry an IPv4 address --------------------------------------------------------

EMBEDDED_INSIDE = [
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a00:5",  # NAT64 of 10.0.0.5
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254 (metadata)
    "64:ff9b:1::808:808",  # local-use NAT64 (RFC 8215): a private network's own
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:c0a8:101::",  # 6to4 of 192.168.1.1
    "::127.0.0.1",  # IPv4-compatible
    "::10.1.2.3",
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:169.254.169.254",
]


@pytest.mark.parametrize("address", EMBEDDED_INSIDE)
def test_ipv6_forms_embedding_an_inside_ipv4_address_are_refused(app, address):
    assert not is_public(address)
    with pytest.raises(PrivateAddress):
        service.create_webhook(f"http://[{address}]/hook", ["customer.grade_changed"])
    with pytest.raises(PrivateAddress):
        http_client.post(f"http://[{address}]:9/hook", b"{}", {}, allow_private=False)


def test_ipv6_forms_embedding_a_public_ipv4_address_stay_allowed(app):
    """The rule is about what the address leads to, not its shape."""
    for address in ("64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "2606:4700::1111"):
        assert is_public(address), address


# --- one client ---------------------------------------------------------------------------------

HTTP_MODULES = {"urllib.request", "http.client", "requests", "httpx", "urllib3", "aiohttp"}
THE_CLIENT = Path("portal/outbound/http_client.py")
# Imports urllib.request for an OpenerDirector with no handlers and the data: URL decoder: it
# never reaches the network (tests/library/test_render_security.py proves no URL is fetched).
NO_NETWORK = {Path("portal/library/rendering/fetcher.py"): ["urllib.request"]}


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return names


def test_no_module_but_the_outbound_client_speaks_http():
    root = Path(__file__).resolve().parents[2]
    offenders = {}
    for path in sorted((root / "portal").rglob("*.py")):
        relative = path.relative_to(root)
        if relative == THE_CLIENT:
            continue
        found = {
            name
            for name in _imports(ast.parse(path.read_text(encoding="utf-8")))
            if name in HTTP_MODULES or name.split(".")[0] in {"requests", "httpx", "urllib3"}
        }
        if found:
            offenders[str(relative)] = sorted(found)
    assert offenders == {str(p): names for p, names in NO_NETWORK.items()}, (
        "outbound HTTP goes through portal.outbound.http_client"
    )
    assert HTTP_MODULES & _imports(ast.parse((root / THE_CLIENT).read_text())) == {"http.client"}
