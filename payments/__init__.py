"""Payment-provider adapters (Stripe, Recurrente) for the port in billing_core.subscriptions.payment_port.

`build_providers(settings)` gives the configured ones by name; a provider whose keys are not set
is left out, so that no call is ever made with an empty key.
"""

from __future__ import annotations

from pydantic import SecretStr

from billing_core.settings import Settings
from billing_core.subscriptions.payment_port import PaymentProvider
from payments.recurrente_provider import RecurrenteProvider
from payments.stripe_provider import StripeProvider


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def build_providers(settings: Settings) -> dict[str, PaymentProvider]:
    providers: dict[str, PaymentProvider] = {}
    stripe_key = _secret(settings.stripe_api_key)
    if stripe_key:
        providers["stripe"] = StripeProvider(stripe_key, api_base=settings.stripe_api_base)
    public, secret = _secret(settings.recurrente_public_key), _secret(settings.recurrente_secret_key)
    if public and secret:
        providers["recurrente"] = RecurrenteProvider(public, secret, api_base=settings.recurrente_api_base)
    return providers
