"""Passing many rows in one bound parameter: a JSON document the server unpacks with
`jsonb_to_recordset` / `jsonb_array_elements_text`. Encoding JSON is far cheaper on the client than
psycopg's escaping of text arrays, and it keeps every statement a single round trip."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def _default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def json_rows(rows: Sequence[Mapping[str, Any]]) -> str:
    """Rows for `jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(col type, ...)`."""
    return json.dumps(rows, default=_default, separators=(",", ":"))


def json_values(values: Iterable[Any]) -> str:
    """A list for `= ANY(ARRAY(SELECT jsonb_array_elements_text(CAST(:values AS jsonb))))`."""
    return json.dumps(list(values), default=_default, separators=(",", ":"))
