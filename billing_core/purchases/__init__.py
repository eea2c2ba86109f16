"""Buying credits: credit packs, one-off purchases through a provider's checkout, their refunds, and
auto-recharge (docs/purchases.md)."""
