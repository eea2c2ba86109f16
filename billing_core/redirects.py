"""Where a payment provider may send the payer back to (success_url, cancel_url, return_url):
https URLs on the configured public host (PUBLIC_URL) or on ALLOWED_REDIRECT_HOSTS; anything else
would make the API an open redirect. Plain http is accepted only for localhost in development
(PUBLIC_URL unset, or itself on localhost)."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass

from billing_core.errors import InvalidInput

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _host(url: str) -> str | None:
    try:
        host = urllib.parse.urlsplit(url).hostname
    except ValueError:
        return None
    return host.rstrip(".").lower() if host else None


@dataclass(frozen=True)
class RedirectPolicy:
    public_host: str | None  # PUBLIC_URL's host; None in development
    hosts: frozenset[str]  # ALLOWED_REDIRECT_HOSTS
    development: bool

    @classmethod
    def of(cls, public_url: str | None, allowed_hosts: str) -> RedirectPolicy:
        public_host = _host(public_url) if public_url else None
        hosts = frozenset(h.strip().rstrip(".").lower() for h in allowed_hosts.split(",") if h.strip())
        return cls(public_host, hosts, public_host is None or public_host in LOCAL_HOSTS)

    def allows(self, url: str) -> bool:
        if "\\" in url or any(c.isspace() or ord(c) < 32 for c in url):
            return False  # browsers read a backslash as a slash: the host would not be the one parsed here
        try:
            parts = urllib.parse.urlsplit(url)
        except ValueError:  # e.g. an unclosed IPv6 bracket
            return False
        host = _host(url)
        if host is None or "@" in parts.netloc:
            return False
        allowed = self.hosts | ({self.public_host} if self.public_host else set())
        local = self.development and host in LOCAL_HOSTS
        if parts.scheme == "https":
            return host in allowed or local
        return parts.scheme == "http" and local

    def check(self, field: str, url: str | None) -> None:
        """InvalidInput naming the field for a URL the policy refuses (None: nothing to check)."""
        if url is not None and not self.allows(url):
            raise InvalidInput(
                field, "must be an https URL on this deployment's public host or ALLOWED_REDIRECT_HOSTS"
            )
