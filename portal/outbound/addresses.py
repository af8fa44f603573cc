"""Where outbound requests may go: public addresses only, unless configured otherwise.

An admin registers webhook URLs (and, later, chat channel URLs), and Portal sends to them from
inside the network it runs in. Without a check, a URL such as http://169.254.169.254/ (cloud
metadata) or http://127.0.0.1:6379/ would make Portal a proxy into that network. So an address is
refused when it is loopback, private, link-local, multicast, reserved, shared (100.64/10) or
unspecified, and so is an IPv6 address that carries such an IPv4 address inside it: IPv4-mapped
(::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::/96, and the local-use
64:ff9b:1::/48 always) and 6to4 (2002::/16), since a gateway turns them back into that IPv4
address.

The check runs when a URL is saved (IP literals; names are not resolved then) and in
portal.outbound.http_client before each request, on every address the name resolves to; the
client then connects to the address it checked (no second lookup, so DNS rebinding between the
check and the connection does not work).

PORTAL_WEBHOOK_ALLOW_PRIVATE=1 (config WEBHOOK_ALLOW_PRIVATE) lifts it for every outbound request,
for receivers on the same private network (and for tests with a receiver on loopback).
"""

from __future__ import annotations

import ipaddress

from flask import current_app

from portal.errors import ValidationFailed

NAT64 = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: a private network's own
SIX_TO_FOUR = ipaddress.ip_network("2002::/16")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated (RFC 4291), ::a.b.c.d


class PrivateAddress(ValidationFailed):
    code = "private_address"
    field = "url"  # the address refused is the one a URL names


def private_allowed() -> bool:
    return bool(current_app.config.get("WEBHOOK_ALLOW_PRIVATE"))


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, compatible, NAT64, 6to4), if any."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in NAT64 or ip in IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(address: str) -> bool:
    """Whether an outbound request may go to this IP address (a literal, no name)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in NAT64_LOCAL:
            return False
        inner = embedded_ipv4(ip)
        if inner is not None:
            # :: and ::1 fall in the IPv4-compatible range too; they are not public either way.
            return ip not in (ipaddress.IPv6Address("::"), ipaddress.IPv6Address("::1")) and (
                _public(inner)
            )
        return ip.is_global and not ip.is_multicast
    return _public(ip)


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not ip.is_multicast and not ip.is_reserved


def refusal(host: str, address: str | None = None) -> PrivateAddress:
    if address is None or address == host:
        return PrivateAddress(
            f"outbound requests may not go to {host}: not a public address "
            "(set PORTAL_WEBHOOK_ALLOW_PRIVATE=1 for receivers on a private network)"
        )
    return PrivateAddress(
        f"outbound requests may not go to {host}: it resolves to {address}, not a public "
        "address (set PORTAL_WEBHOOK_ALLOW_PRIVATE=1 for receivers on a private network)"
    )


def check_literal(host: str) -> None:
    """Refuse a host written as a non-public IP address (names pass: checked when resolved)."""
    if private_allowed():
        return
    try:
        public = is_public(host.strip("[]"))
    except ValueError:
        return  # a name
    if not public:
        raise refusal(host)
