"""The redirect allow-list applied to a request's URLs, and the console's own return URLs, built
from PUBLIC_URL rather than from the request's Host header (which the client chooses)."""

from __future__ import annotations

from typing import Any

from flask import url_for

from api.runtime import runtime
from billing_core.redirects import RedirectPolicy


def policy() -> RedirectPolicy:
    settings = runtime().settings
    return RedirectPolicy.of(settings.public_url, settings.allowed_redirect_hosts)


def check_redirects(**urls: str | None) -> None:
    """400 naming the first field whose URL the allow-list refuses."""
    allowed = policy()
    for field, url in urls.items():
        allowed.check(field, url)


def public_url_for(endpoint: str, **values: Any) -> str:
    """An absolute URL of one of our pages: on PUBLIC_URL; without it (development only), on the
    request's own host."""
    base = runtime().settings.public_url
    if base:
        return base.rstrip("/") + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)
