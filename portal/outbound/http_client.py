"""The one HTTP client for requests to URLs that someone configured (webhooks, chat channels).

Every such request goes through request() (tests/security/test_outbound.py fails when another
module under portal/ imports an HTTP client). It:

- allows http:// and https:// only;
- resolves the host once and checks every address it resolves to (portal.outbound.addresses:
  no loopback, private, link-local, metadata or IPv4-embedding IPv6 address, unless
  PORTAL_WEBHOOK_ALLOW_PRIVATE=1);
- connects to exactly the addresses it checked, in the resolver's order: there is no second DNS
  lookup for a rebinding name to answer differently. The Host header is the URL's host, and
  https verifies the certificate against that name (SNI too);
- follows no redirect: a 3xx answer raises RedirectRefused, with the status and the Location,
  so a receiver cannot bounce the request to an inside address (or anywhere else);
- reads at most MAX_BODY bytes of the answer.

Built on the standard library's http.client, whose connect() is the only part replaced.
"""

from __future__ import annotations

import http.client
import socket
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from portal.errors import PortalError
from portal.outbound import addresses

MAX_BODY = 64 * 1024
DEFAULT_TIMEOUT = 5.0

# (family, sockaddr) of one checked address, as getaddrinfo gives it
Address = tuple[int, tuple]


class OutboundError(PortalError):
    """A request that did not get an answer Portal accepts (the reason is in message)."""

    status = 502
    code = "outbound_failed"

    def __init__(self, message: str, *, code: str | None = None, status_code: int | None = None):
        super().__init__(message, code=code)
        self.status_code = status_code  # the receiver's HTTP status, when it answered


class RedirectRefused(OutboundError):
    code = "redirect_refused"


@dataclass
class Response:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def resolve(host: str, port: int, *, allow_private: bool) -> list[Address]:
    """Every address of host, each checked (one lookup; an IP literal is not looked up)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise OutboundError(f"cannot resolve {host}: {exc}", code="unresolvable_host") from None
    found: list[Address] = []
    for family, _type, _proto, _name, sockaddr in infos:
        if not allow_private and not addresses.is_public(str(sockaddr[0])):
            raise addresses.refusal(host, str(sockaddr[0]))
        if (family, sockaddr) not in found:
            found.append((family, sockaddr))
    if not found:
        raise OutboundError(f"{host} has no address", code="unresolvable_host")
    return found


def _connect(checked: list[Address], timeout: float) -> socket.socket:
    """A TCP connection to the first of the checked addresses that answers."""
    last: OSError | None = None
    for family, sockaddr in checked:
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    assert last is not None
    raise last


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """http.client, with the host name kept for the Host header and the socket opened to the
    checked addresses instead of a fresh lookup of that name."""

    def __init__(self, host: str, port: int, checked: list[Address], timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._checked = checked

    def connect(self) -> None:
        self.sock = _connect(self._checked, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(
        self, host: str, port: int, checked: list[Address], timeout: float, tls: ssl.SSLContext
    ):
        super().__init__(host, port, timeout=timeout, context=tls)
        self._checked = checked
        self._tls = tls

    def connect(self) -> None:
        sock = _connect(self._checked, self.timeout)
        try:
            # SNI and certificate verification against the URL's host name, not the address
            self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)
        except BaseException:
            sock.close()
            raise


def request(
    method: str,
    url: str,
    *,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    allow_private: bool | None = None,
    tls: ssl.SSLContext | None = None,
) -> Response:
    """Send one request to url and return the answer (any status but 3xx).

    allow_private None: the PORTAL_WEBHOOK_ALLOW_PRIVATE setting. Raises PrivateAddress (an
    address is not public), RedirectRefused (a 3xx answer) or OutboundError / OSError (no
    answer: unresolvable name, refused connection, timeout, TLS failure).
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OutboundError(
            "only http:// and https:// URLs with a host are allowed", code="bad_url"
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise OutboundError(f"the port of {url} is not valid", code="bad_url") from None
    host = parts.hostname
    if allow_private is None:
        allow_private = addresses.private_allowed()
    checked = resolve(host, port, allow_private=allow_private)
    if parts.scheme == "https":
        connection: http.client.HTTPConnection = _PinnedHTTPSConnection(
            host, port, checked, timeout, tls or ssl.create_default_context()
        )
    else:
        connection = _PinnedHTTPConnection(host, port, checked, timeout)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request(method, target, body=body, headers=headers or {})
        answer = connection.getresponse()
        content = answer.read(MAX_BODY)
        response = Response(answer.status, dict(answer.getheaders()), content)
    finally:
        connection.close()
    if 300 <= response.status < 400:
        location = response.headers.get("Location") or response.headers.get("location") or "?"
        raise RedirectRefused(
            f"the receiver answered HTTP {response.status} (redirect to {location[:200]}): "
            "outbound requests follow no redirects; register the final URL",
            status_code=response.status,
        )
    return response


def post(url: str, body: bytes, headers: dict[str, str], **options) -> Response:
    return request("POST", url, body=body, headers=headers, **options)
