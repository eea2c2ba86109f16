"""schemathesis against /openapi.json, in-process: generated requests (valid and invalid) to every
operation, as the admin. No response may be a 5xx, and every response must have a documented
status, content type and body schema.

(schemathesis' pytest fixture loader does not work with pytest 9, so the test walks the
operations itself, one Hypothesis run per operation and generation mode.)"""

from __future__ import annotations

import time

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.api import ADMIN, Api
from tests.support.ledger import create_org, grant, setup_prices

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
HEADERS = {"Authorization": f"Bearer {ADMIN}"}


def test_every_operation_answers_generated_requests_as_documented_and_never_with_a_5xx(database_url, engine):
    setup_prices(engine)
    create_org(engine, "acme")
    grant(engine, "acme", 100, "g")
    api = Api(database_url, engine, api_rate_limit_per_second=1_000_000, api_rate_limit_burst=1_000_000)
    schema = schemathesis.openapi.from_wsgi("/openapi.json", api.app)
    started = time.monotonic()
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 16
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            on_acme = {"org": "acme"} if "{org}" in operation.path else None
            for path_parameters in (on_acme, None) if on_acme else (None,):
                strategy = operation.as_strategy(generation_mode=mode, path_parameters=path_parameters)

                @given(case=strategy)
                @settings(
                    max_examples=15, deadline=None, suppress_health_check=list(HealthCheck), database=None
                )
                def run(case):  # type: ignore[no-untyped-def]
                    case.call_and_validate(headers=HEADERS, checks=CHECKS)

                try:
                    run()
                except Unsatisfiable:
                    # Nothing to make invalid (no parameters, no body): no negative cases.
                    assert mode is GenerationMode.NEGATIVE, operation.label
    assert time.monotonic() - started < 120
