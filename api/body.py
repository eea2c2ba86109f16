"""JSON bodies: an empty body reads as `{}`, so that a body whose fields are all optional may be
left out (APIFlask's pydantic adapter would refuse it as invalid JSON).

Importing this module registers the adapter with APIFlask; the views import it before they
declare their inputs, since APIFlask builds the adapters when the decorators run."""

from __future__ import annotations

from typing import Any

from apiflask.schema_adapters import registry
from apiflask.schema_adapters.pydantic import PydanticAdapter
from flask import Request
from pydantic import ValidationError

from api.errors import api_error


class LenientBodyAdapter(PydanticAdapter):
    def validate_input(self, request: Request, location: str, **kwargs: Any) -> Any:
        if location != "json" or request.get_data(cache=True):
            return super().validate_input(request, location, **kwargs)
        try:
            return self.model_class.model_validate({})
        except ValidationError as error:
            first = error.errors()[0]
            field = ".".join(str(part) for part in first["loc"]) or "body"
            raise api_error(
                400, "validation_error", f"{field}: {first['msg']} (in json)", field=field
            ) from None


registry.register("pydantic", LenientBodyAdapter)
