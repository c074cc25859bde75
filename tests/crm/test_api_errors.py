"""Every 4xx answer of the API has the shape {"code", "message", "fields"}."""

from __future__ import annotations

import pytest
from django.test import Client as HttpClient

from crm.models import Client
from tests.crm.api_support import API, KeyClient, assert_error, new_key, session_client, world
from tests.writes import written

__all__ = ["world"]

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(world):
    return KeyClient(new_key(world["brand_a"]))


def test_schema_validation_is_422_naming_each_field(api):
    response = api.post("/clients", {"first_name": "", "email": 5, "tags": ["ok", "x" * 51], "stage": "vip"})
    body = assert_error(response, 422, "invalid")
    assert set(body["fields"]) == {"first_name", "email", "tags.1", "stage"}


def test_missing_required_field_is_named(api):
    body = assert_error(api.post("/clients", {"last_name": "Solo"}), 422, "invalid")
    assert list(body["fields"]) == ["first_name"]


def test_unknown_field_is_rejected_not_ignored(api, world):
    body = assert_error(api.patch(f"/clients/{world['client_a'].code}", {"brand": "beta"}), 422, "invalid")
    assert list(body["fields"]) == ["brand"]


def test_service_validation_is_422_with_the_services_fields(api):
    response = api.post("/clients", {"first_name": "Nia", "phone": "12345", "country": "XX", "email": "nope@"})
    body = assert_error(response, 422, "invalid")
    assert {"phone", "country", "email"} <= set(body["fields"])
    assert not Client.objects.filter(first_name="Nia").exists()


def test_body_that_is_not_an_object_is_422(api):
    body = assert_error(api.post("/clients", ["first_name"]), 422, "invalid")
    assert body["fields"]


@pytest.mark.parametrize("raw", [b"{", b"first_name=Kai", b"\xff\xfe", b'{"first_name": "Kai",}',
                                 b"[" * 100_000 + b"]" * 100_000])
def test_malformed_json_body_is_400(api, raw):
    assert_error(api.post("/clients", raw=raw), 400, "malformed_body")


def test_query_parameter_out_of_range_is_422_naming_it(api):
    body = assert_error(api.get("/clients", {"limit": 0}), 422, "invalid")
    assert list(body["fields"]) == ["limit"]
    body = assert_error(api.get("/clients", {"created_after": "2024-01-01T00:00:00"}), 422, "invalid")
    assert list(body["fields"]) == ["created_after"]  # a time without a zone is ambiguous


def test_bad_cursor_is_400_naming_the_cursor(api):
    body = assert_error(api.get("/clients", {"cursor": "not-a-cursor"}), 400, "invalid_cursor")
    assert list(body["fields"]) == ["cursor"]


def test_unknown_client_and_another_brands_client_give_the_same_404(api, world):
    missing = assert_error(api.get("/clients/8c4f7ef6-0a43-4f5a-9d40-2f7b1d7f6a10"), 404, "not_found")
    foreign = assert_error(api.get(f"/clients/{world['client_b'].code}"), 404, "not_found")
    assert missing == foreign


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v1/clients/not-a-uuid", "/api/v2/clients",
                                  "/api/", "/api/v1/"])
def test_unknown_api_path_is_a_json_404(path):
    assert_error(HttpClient().get(path), 404, "not_found")


def test_unknown_api_path_is_a_json_404_for_unsafe_methods_too(world):
    http = session_client(world["owner"], csrf=True)
    assert_error(http.post("/api/v1/nothing-here", "{}", content_type="application/json"), 404, "not_found")


def test_method_not_allowed_is_405_with_allow_header(api):
    response = api.http.delete(f"{API}/clients", **api.headers)
    assert_error(response, 405, "method_not_allowed")
    assert set(response["Allow"].replace(" ", "").split(",")) == {"GET", "POST"}


def test_action_the_user_may_not_take_on_a_visible_client_is_403(world):
    """An IB manager sees the brand's clients but may not change them."""
    from crm.models import RoleCode
    from tests.crm.api_support import patch_json
    from tests.factories import make_user

    ib_manager = make_user(role_code=RoleCode.IB_MANAGER, brand=world["brand_a"])
    http = session_client(ib_manager)
    path = f"/clients/{world['client_a'].code}"
    assert http.get(f"{API}{path}").status_code == 200
    before = written()
    assert_error(patch_json(http, path, {"last_name": "Changed"}), 403, "forbidden")
    assert Client.objects.get(pk=world["client_a"].pk).last_name == world["client_a"].last_name
    assert written() == before  # no history row, no "client.updated", no audit entry


def test_reopening_a_closed_client_without_reason_is_422_on_reason(api, world):
    code = world["client_a"].code
    assert api.patch(f"/clients/{code}", {"stage": "closed"}).status_code == 200
    body = assert_error(api.patch(f"/clients/{code}", {"stage": "lead"}), 422, "invalid")
    assert list(body["fields"]) == ["reason"]
    response = api.patch(f"/clients/{code}", {"stage": "lead", "reason": "Asked to be called back"})
    assert response.status_code == 200
    assert response.json()["stage"] == "lead"


def test_nul_characters_are_refused_before_reaching_the_database(api):
    body = assert_error(api.post("/clients", {"first_name": "Ka\x00i"}), 422, "invalid")
    assert list(body["fields"]) == ["first_name"]
    assert_error(api.get("/clients", {"q": "a\x00b"}), 422, "invalid")



@pytest.mark.parametrize("moment", ["2025-04-10T13:51:09+21:46", "0001-01-01T00:30:00+01:00"])
def test_times_with_extreme_offsets_are_answered_not_a_server_error(api, moment):
    response = api.get("/events", {"since": moment})
    if response.status_code != 200:
        assert list(assert_error(response, 422, "invalid")["fields"]) == ["since"]


def test_unknown_query_parameter_is_refused_naming_it(api):
    body = assert_error(api.get("/clients", {"stge": "lead"}), 422, "invalid")
    assert list(body["fields"]) == ["stge"]
    assert api.get("/clients", {"stage": "lead"}).status_code == 200
