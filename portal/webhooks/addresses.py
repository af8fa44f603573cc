"""Where webhooks may be sent: public addresses only, unless configured otherwise.

An admin registers webhook URLs, and Portal POSTs to them from inside the network it runs in.
Without a check, a URL such as http://169.254.169.254/ (cloud metadata) or http://127.0.0.1:6379/
would make Portal a proxy into that network. So a URL is refused when its host is, or resolves
to, a loopback, private, link-local, multicast, reserved or unspecified address. The check runs
when the webhook is saved (IP literals; names are not resolved then) and again before each POST
(the name resolved then: a name that later points inside is caught at send time).

PORTAL_WEBHOOK_ALLOW_PRIVATE=1 lifts it, for receivers on the same private network (and for
tests with a receiver on loopback). A name that resolves differently between the check and the
connection (DNS rebinding) is not covered: docs/security.md says so.
"""

from __future__ import annotations

import ipaddress
import socket

from flask import current_app

from portal.errors import ValidationFailed


class PrivateAddress(ValidationFailed):
    code = "private_address"


def _allowed() -> bool:
    return bool(current_app.config.get("WEBHOOK_ALLOW_PRIVATE"))


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_literal(host: str) -> None:
    """Refuse a host written as a non-public IP address (names pass: resolved at send time)."""
    if _allowed():
        return
    try:
        public = is_public(host.strip("[]"))
    except ValueError:
        return  # a name
    if not public:
        raise PrivateAddress(
            f"webhooks may not be sent to {host}: not a public address "
            "(set PORTAL_WEBHOOK_ALLOW_PRIVATE=1 for receivers on a private network)"
        )


def check_resolved(host: str, port: int) -> None:
    """Refuse a host any of whose addresses is not public (at send time)."""
    if _allowed():
        return
    check_literal(host)
    infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    for info in infos:
        address = str(info[4][0])
        if not is_public(address):
            raise PrivateAddress(f"webhooks may not be sent to {host}: it resolves to {address}")
