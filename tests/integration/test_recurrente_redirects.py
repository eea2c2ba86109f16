"""The Recurrente adapter sends its secret key on every request, so it never follows a redirect:
a 3xx to another host is a provider error, and the other host receives nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from billing_core.errors import PaymentProviderError
from payments.recurrente_provider import RecurrenteProvider
from tests.support.providers import FakeProviders, fake_providers

SECRET = "sk_test_recurrente_secret"


@pytest.fixture
def elsewhere() -> Iterator[FakeProviders]:
    """The host a redirect points to: it records whatever reaches it."""
    with fake_providers() as server:
        yield server


@pytest.fixture
def redirecting(elsewhere: FakeProviders) -> Iterator[str]:
    """A Recurrente that answers every request with a redirect to `elsewhere` (on localhost, another
    host name and port than 127.0.0.1)."""
    target = elsewhere.url.replace("127.0.0.1", "localhost")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.0"

        def _redirect(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            last = self.path.rsplit("/", 1)[-1]
            self.send_response(int(last) if last.isdigit() else 302)  # /subscriptions/<code>
            self.send_header("Location", target + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = do_DELETE = _redirect

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/api"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_provider_error_and_the_other_host_gets_no_request(redirecting, elsewhere, code):
    provider = RecurrenteProvider("pk_test", SECRET, api_base=redirecting, timeout=5)

    with pytest.raises(PaymentProviderError, match=f"redirect \\({code}\\), not followed"):
        provider.cancel_at_period_end(str(code), "key-1")

    assert elsewhere.requests == []


def test_a_checkout_answered_with_a_redirect_sends_the_secret_nowhere_else(redirecting, elsewhere):
    provider = RecurrenteProvider("pk_test", SECRET, api_base=redirecting, timeout=5)

    with pytest.raises(PaymentProviderError, match="not followed"):
        provider._checkout({"items": []}, "key-2")

    assert not any(SECRET in str(r.headers) for r in elsewhere.requests)
    assert elsewhere.requests == []
