"""API authentication: API keys (bearer or X-API-Key), their brand and scopes, staff sessions."""

from __future__ import annotations

import re

import pytest
from django.test import Client as HttpClient

from crm.models import AuditLog, Event, RoleCode
from integrations.services import apikey_revoke
from tests.crm.api_support import API, KeyClient, assert_error, new_key, post_json, session_client, world
from tests.factories import make_user
from tests.writes import written

__all__ = ["world"]

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("header", ["bearer", "x-api-key"])
def test_key_is_accepted_in_either_header(world, header):
    api = KeyClient(new_key(world["brand_a"]), header=header)
    response = api.get("/clients")
    assert response.status_code == 200
    assert [c["code"] for c in response.json()["items"]] == [str(world["client_a"].code)]


def test_request_without_credentials_is_401_in_the_error_shape(world):
    response = HttpClient().get(f"{API}/clients")
    assert_error(response, 401, "unauthenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("raw", ["crm_nope_nope", "crm_AAAAAAAA_" + "x" * 43, "", "Basic dXNlcjpwYXNz"])
def test_unknown_or_malformed_key_is_401(world, raw):
    response = HttpClient().get(f"{API}/clients", HTTP_X_API_KEY=raw)
    body = assert_error(response, 401)
    assert body["code"] in {"invalid_api_key", "unauthenticated"}


def test_revoked_key_is_401(world):
    raw = new_key(world["brand_a"])
    api = KeyClient(raw)
    assert api.get("/clients").status_code == 200
    from crm.models import ApiKey

    key = ApiKey.objects.get(prefix=raw.split("_")[1])
    apikey_revoke(actor=key.created_by, key=key)
    assert_error(api.get("/clients"), 401, "invalid_api_key")


def test_key_of_an_inactive_brand_is_401(world):
    raw = new_key(world["brand_a"])
    world["brand_a"].is_active = False
    world["brand_a"].save(update_fields=["is_active"])
    assert_error(KeyClient(raw).get("/clients"), 401, "invalid_api_key")


def test_a_vendors_burst_looks_its_key_up_once_and_a_change_anywhere_applies_at_once(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.models import ApiKey

    raw = new_key(world["brand_a"])
    api = KeyClient(raw)
    assert api.get("/clients").status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert api.get("/clients").status_code == 200
    assert not [q for q in queries.captured_queries if 'FROM "crm_apikey"' in q["sql"]]
    # Revoked outside the service (the Django admin, a shell): refused on the very next request.
    key = ApiKey.objects.get(prefix=raw.split("_")[1])
    key.revoked_at = key.created_at
    key.save(update_fields=["revoked_at"])
    assert_error(api.get("/clients"), 401, "invalid_api_key")


def test_bad_key_is_refused_even_alongside_a_valid_session(world):
    http = session_client(world["owner"])
    response = http.get(f"{API}/clients", HTTP_X_API_KEY="crm_nope")
    assert_error(response, 401, "invalid_api_key")


@pytest.mark.parametrize(("method", "path", "scope"), [
    ("get", "/clients", "clients:read"),
    ("get", "/clients/{client}", "clients:read"),
    ("post", "/clients", "clients:write"),
    ("patch", "/clients/{client}", "clients:write"),
    ("get", "/clients/{client}/notes", "notes:read"),
    ("post", "/clients/{client}/notes", "notes:write"),
    ("get", "/tasks", "tasks:read"),
    ("post", "/tasks", "tasks:write"),
    ("get", "/events", "events:read"),
])
def test_key_without_the_operations_scope_gets_403_in_the_error_shape(world, method, path, scope):
    from crm.registry import API_SCOPES

    others = [s for s in API_SCOPES.keys() if s != scope]
    api = KeyClient(new_key(world["brand_a"], scopes=others))
    path = path.format(client=world["client_a"].code)
    response = api.get(path) if method == "get" else getattr(api, method)(path, {"first_name": "X", "body": "x",
                                                                             "title": "x"})
    body = assert_error(response, 403, "missing_scope")
    assert scope in body["message"]


def test_scope_is_checked_before_the_object_is_looked_up(world):
    """A key without the scope cannot learn whether another brand's client exists."""
    api = KeyClient(new_key(world["brand_a"], scopes=["events:read"]))
    assert_error(api.get(f"/clients/{world['client_b'].code}"), 403, "missing_scope")


def test_session_user_reads_without_a_key(world):
    http = session_client(world["owner"])
    response = http.get(f"{API}/clients")
    assert response.status_code == 200
    assert [c["code"] for c in response.json()["items"]] == [str(world["client_a"].code)]


def test_session_write_without_csrf_token_is_403_and_with_it_succeeds(world):
    http = session_client(world["owner"], csrf=True)
    path = f"/clients/{world['client_a'].code}/notes"
    before = written()
    assert_error(post_json(http, path, {"body": "Called, no answer."}), 403, "csrf_failed")
    assert written() == before  # no note, no event, no audit entry

    # The docs page hands the logged-in user a CSRF token for "Try it out".
    docs = http.get(f"{API}/docs").content.decode()
    token = re.search(r'data-csrf-token="([^"]*)"', docs).group(1)
    assert token
    response = post_json(http, path, {"body": "Called, no answer."}, HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 201, response.content
    assert world["client_a"].notes.get().body == "Called, no answer."


def test_session_of_a_privileged_user_without_second_factor_is_401(world):
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=world["brand_a"])
    assert officer.requires_2fa
    http = session_client(officer)
    body = assert_error(http.get(f"{API}/clients"), 401)
    assert body["code"] in {"two_factor_required", "unauthenticated"}


def test_session_of_a_privileged_user_with_second_factor_reads(world, login_verified):
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=world["brand_a"])
    http = session_client(officer, login_verified)
    response = http.get(f"{API}/clients")
    assert response.status_code == 200
    assert [c["code"] for c in response.json()["items"]] == [str(world["client_a"].code)]


def test_key_writes_are_audited_as_the_key_and_events_have_no_user(world):
    raw = new_key(world["brand_a"])
    prefix = raw.split("_")[1]
    response = KeyClient(raw).post("/clients", {"first_name": "Kai", "email": "kai@example.com"})
    assert response.status_code == 201, response.content
    code = response.json()["code"]
    row = AuditLog.objects.get(action="client.create", object_id=code)
    assert row.actor_id is None
    assert row.actor_label == f"apikey:{prefix}"
    assert row.source == "api"
    event = Event.objects.get(name="client.created", client__code=code)
    assert event.actor_id is None
    assert event.request_id == row.request_id != ""


def test_session_writes_are_audited_as_the_user(world):
    http = session_client(world["owner"])
    response = post_json(http, f"/clients/{world['client_a'].code}/notes", {"body": "Prefers mornings."})
    assert response.status_code == 201
    row = AuditLog.objects.get(action="note.add", object_id=response.json()["code"])
    assert row.actor_id == world["owner"].pk
    assert row.source == "api"


def test_too_many_requests_is_429_with_retry_after(world, settings):
    settings.CRM_API_RATE_LIMIT = "3/m"
    api = KeyClient(new_key(world["brand_a"]))
    for _ in range(3):
        assert api.get("/clients").status_code == 200
    response = api.get("/clients")
    assert_error(response, 429, "throttled")
    assert 1 <= int(response["Retry-After"]) <= 60
    # Another key has its own budget.
    assert KeyClient(new_key(world["brand_a"])).get("/clients").status_code == 200
