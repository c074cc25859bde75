"""Property-based tests of the whole API against its own OpenAPI schema (schemathesis).

For every operation, schemathesis generates valid and invalid requests from the schema and sends
them to the Django WSGI app with a real API key. Each answer must be no 5xx, have a status code
the schema documents, and a body that matches the documented schema: the error shape for every
4xx. Path codes are swapped for real ones half the time, so that operations on existing clients
and tasks are exercised too, not only their 404s.
"""

from __future__ import annotations

import re

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig

from crm.models import RoleCode
from crm.services import task_create
from crm.wsgi import application
from tests.crm.api_support import API, new_key
from tests.factories import make_brand, make_client, make_desk, make_user

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

CONFIG = SchemathesisConfig.from_dict({
    # Authentication is the fixed API key below, not generated (generated credentials would be
    # overridden by it, and a "negative" header that never reaches the server looks accepted).
    "generation": {"max-examples": 25, "with-security-parameters": False},
    "phases": {"stateful": {"enabled": False}},
    "checks": {
        # Schema-valid input the services refuse (a phone that is no number, a country that does
        # not exist) is answered 422 by design, so "valid data is accepted" does not hold here.
        "positive_data_acceptance": {"enabled": False},
        # These re-send requests to follow resources across operations (stateful tests' job).
        "use_after_free": {"enabled": False},
        "ensure_resource_availability": {"enabled": False},
        "object_level_authorization": {"enabled": False},
    },
})

schema = schemathesis.openapi.from_wsgi(f"{API}/openapi.json", application, config=CONFIG)


@pytest.fixture
def wsgi_in_test_transaction(db):
    """Keep the test's database connection open across requests: Django closes "old" connections
    when a request finishes, which would end the test transaction (its test client does the same)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def scene(wsgi_in_test_transaction):
    brand = make_brand(code="alpha", name="Alpha Markets")
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=brand))
    client = make_client(actor=agent, first_name="Amira", phone="+442071838750", email="amira@example.com")
    task = task_create(actor=agent, title="Call back", assignee=agent, client=client)
    return {"key": new_key(brand), "client": str(client.code), "task": str(task.code)}


def test_every_core_operation_is_in_the_schema():
    paths = {(method.upper(), path) for path, item in schema.raw_schema["paths"].items() for method in item}
    assert paths >= {
        ("GET", f"{API}/clients"), ("POST", f"{API}/clients"),
        ("GET", f"{API}/clients/{{code}}"), ("PATCH", f"{API}/clients/{{code}}"),
        ("GET", f"{API}/clients/{{code}}/notes"), ("POST", f"{API}/clients/{{code}}/notes"),
        ("GET", f"{API}/tasks"), ("POST", f"{API}/tasks"),
        ("GET", f"{API}/tasks/{{code}}"), ("PATCH", f"{API}/tasks/{{code}}"),
        ("GET", f"{API}/events"),
    }


def test_every_operation_documents_the_error_shape_for_its_4xx():
    error_ref = "#/components/schemas/Error"
    for item in schema.raw_schema["paths"].values():
        for operation in item.values():
            for status in ("400", "401", "403", "404", "422", "429"):
                response = operation["responses"][status]
                assert response["content"]["application/json"]["schema"]["$ref"] == error_ref
    assert schema.raw_schema["components"]["schemas"]["Error"]["required"] == ["code", "message", "fields"]


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, scene):
    code = case.path_parameters.get("code") if case.path_parameters else None
    # Only a well-formed generated code is swapped: a malformed one is a negative case to keep.
    if isinstance(code, str) and _UUID_RE.match(code) and code[:1] in "01234567":
        case.path_parameters["code"] = scene["task"] if "/tasks/" in case.path else scene["client"]
    case.call_and_validate(headers={"Authorization": f"Bearer {scene['key']}"})
