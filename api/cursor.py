"""Opaque pagination cursors: `next_cursor` is url-safe base64 of "t1:<id>", the id of the row the
next page starts before (a transaction, or an audit event)."""

from __future__ import annotations

import base64
import binascii

from billing_core.errors import InvalidInput

_VERSION = "t1:"


def encode_cursor(transaction_id: int) -> str:
    return base64.urlsafe_b64encode(f"{_VERSION}{transaction_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """The row id in a cursor this API issued; InvalidInput("cursor") for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidInput("cursor", "not a cursor returned by this API") from None
    digits = raw.removeprefix(_VERSION)
    if not raw.startswith(_VERSION) or not digits.isdigit() or not 0 < len(digits) <= 19:
        raise InvalidInput("cursor", "not a cursor returned by this API")
    value = int(digits)
    if not 0 < value < 2**63:
        raise InvalidInput("cursor", "not a cursor returned by this API")
    return value
