"""Where a notification may be sent: https only, never to an address a user should not reach
(private, loopback, link-local, multicast, reserved), checked when the endpoint is saved and again
at every delivery against the addresses the name resolves to then (DNS can change in between)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from billing_core.errors import InvalidInput


def parse_endpoint_url(url: str, *, allow_private: bool) -> tuple[str, str, int]:
    """(scheme, host, port) of an acceptable URL; InvalidInput naming what is wrong. With
    `allow_private` (development and tests only) plain http and private addresses are allowed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise InvalidInput("url", "not a URL") from None
    if parts.scheme not in (("https", "http") if allow_private else ("https",)):
        raise InvalidInput("url", "must be an https:// URL")
    if not parts.hostname or parts.username or parts.password:
        raise InvalidInput("url", "must name a host, without credentials")
    if parts.fragment:
        raise InvalidInput("url", "must not have a #fragment")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def forbidden_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return bool(
        ip.is_private
        or ip.is_loopback
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
    )


def resolve_allowed(host: str, port: int, *, allow_private: bool) -> str:
    """The first address of `host` if every address it resolves to may be reached, else
    InvalidInput (one private address among public ones is refused: rebinding tricks)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise InvalidInput("url", f"cannot resolve {host!r}: {error.strerror}") from None
    addresses = [str(info[4][0]) for info in infos]
    if not allow_private and any(forbidden_address(a) for a in addresses):
        raise InvalidInput("url", f"{host!r} resolves to a private, loopback or reserved address")
    return addresses[0]


def check_endpoint_url(url: str, *, allow_private: bool) -> str:
    """The URL, checked as above (including what it resolves to now)."""
    _scheme, host, port = parse_endpoint_url(url, allow_private=allow_private)
    resolve_allowed(host, port, allow_private=allow_private)
    return url
