"""schemathesis against /api/v1/openapi.json, served by the portal in-process (WSGI), for several roles.

Checks on every answer: no server error, the status is documented for the operation, the body
matches the schema the document gives for it, the content type is the documented one. Valid
(positive) and invalid (negative) requests are both generated. Bounded for `make test`: a fixed
seed (derandomize), few examples per operation, no example database; about a minute in all.
"""
from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                                status_code_conformance)

from tests.test_api import accepted_crossings, app, client, kc, tokens  # noqa: F401
from tests.portal_fixtures import portal_engine, portal_env  # noqa: F401

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance]
# One account per kind of reader and writer: submitter, focal point, the ONM (microdata level),
# an analyst reading published releases only, and one who may read no submission at all.
ROLES = ["mi-paf.submitter", "mi-paf.focal_point", "onm.onm_analyst", "unhcr.analyst", "onm.trainer"]
EXAMPLES = {GenerationMode.POSITIVE: 6, GenerationMode.NEGATIVE: 4}


@pytest.mark.parametrize("user", ROLES)
def test_the_api_keeps_its_contract_under_a_fuzzer(app, tokens, accepted_crossings, user):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {tokens[user]}"}
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode, examples in EXAMPLES.items():
            @settings(max_examples=examples, derandomize=True, database=None, deadline=None,
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def fuzz(case):
                case.call_and_validate(headers=headers, checks=CHECKS)
            try:
                fuzz()
            except Exception as exc:  # noqa: BLE001 - every operation is tried; all failures reported
                failures.append(f"{operation.label} ({mode.value}): {exc}")
    assert not failures, "\n\n".join(failures)
