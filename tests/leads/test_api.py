"""POST /api/v1/leads: API keys with the leads:write scope, one lead or batches, errors field by field."""

from __future__ import annotations

import pytest

from crm.lib.fieldcrypt import keyed_hash
from crm.models import Client, RoleCode
from leads.models import LeadTouch
from tests.crm.api_support import API, KeyClient, assert_error, new_key, post_json, session_client
from tests.factories import make_brand, make_user
from tests.leads.conftest import lead_data
from tests.writes import written

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(world):
    return KeyClient(new_key(world.brand, scopes=["leads:write"], name="Vendor X"))


def test_one_lead_is_created_routed_and_attributed_to_the_key(world, api):
    response = api.post("/leads", lead_data(1, utm_source="google"))
    assert response.status_code == 201, response.content
    body = response.json()
    client = Client.objects.get(code=body["client"])
    assert body["status"] == "created" and body["owner"] == str(client.owner.code) and body["queued"] is False
    touch = LeadTouch.objects.get(code=body["touch"])
    assert touch.channel == "api" and touch.source == "Vendor X" and touch.api_key.name == "Vendor X"
    assert touch.ip is not None


def test_the_same_lead_again_is_a_duplicate_answered_200(world, api):
    first = api.post("/leads", lead_data(2)).json()
    response = api.post("/leads", lead_data(2, email="AMIRA.2@EXAMPLE.COM"))
    assert response.status_code == 200
    assert response.json()["status"] == "duplicate" and response.json()["client"] == first["client"]


def test_a_bad_single_lead_is_422_naming_each_field(world, api):
    body = assert_error(api.post("/leads", lead_data(3, email="nope", phone="123", first_name="")), 422, "invalid")
    assert set(body["fields"]) == {"email", "phone", "first_name"}
    assert not Client.objects.exists()


def test_a_mixed_batch_writes_the_good_rows_and_reports_the_bad_ones(world, api):
    items = [lead_data(10), {"first_name": "X", "last_name": "Y", "email": "x@example.com", "phone": "+1",
                             "country": "US"},
             lead_data(11), "not an object", lead_data(10, utm_source="again"), lead_data(12, country="ZZ")]
    response = api.post("/leads", {"leads": items})
    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["status"] for r in body["results"]] == ["created", "invalid", "created", "invalid", "duplicate", "invalid"]
    assert [r["index"] for r in body["results"]] == list(range(6))
    assert body["results"][1]["errors"] == {"phone": ["Enter a valid phone number."]} and body["results"][1]["client"] is None
    assert "__all__" in body["results"][3]["errors"]
    assert set(body["results"][5]["errors"]) == {"country"}  # the phone has its country code
    assert body["results"][4]["client"] == body["results"][0]["client"]
    assert (body["created"], body["duplicates"], body["invalid"]) == (2, 1, 3)
    assert Client.objects.count() == 2


def test_what_postgresql_cannot_store_is_named_not_a_server_error(world, api):
    """PostgreSQL cannot store NUL in text or JSON, nor NaN in JSON: a lead carrying one in a field
    is refused by field (its batch neighbours are written), never a 500; an unknown field carrying
    one is kept without it."""
    body = assert_error(api.post("/leads", lead_data(5, first_name="Ami\u0000ra")), 422, "invalid")
    assert set(body["fields"]) == {"first_name"} and "character" in body["fields"]["first_name"][0]
    response = api.post("/leads", {"leads": [lead_data(6, last_name="Had\u0000dad"), lead_data(7, note="a\u0000b"),
                                             lead_data(8, deposit_intent=float("nan")), lead_data(9, rank=float("inf"))]})
    assert response.status_code == 200, response.content
    results = response.json()["results"]
    assert [r["status"] for r in results] == ["invalid", "created", "invalid", "created"]
    assert set(results[0]["errors"]) == {"last_name"} and set(results[2]["errors"]) == {"deposit_intent"}
    assert LeadTouch.objects.get(client__code=results[1]["client"]).payload["note"] == "ab"
    assert LeadTouch.objects.get(client__code=results[3]["client"]).payload["rank"] == "inf"


def test_the_lead_as_received_is_kept_whole_and_encrypted_at_rest(world, api):
    """The vendor's raw lead (kept for disputes) carries the person's contact details: the staff read
    it back whole, and the database holds only its ciphertext."""
    response = api.post("/leads", lead_data(11, note="called from the webinar"))
    assert response.status_code == 201, response.content
    touch = LeadTouch.objects.get(client__code=response.json()["client"])
    assert touch.payload["email"] == "amira.11@example.com" and touch.payload["note"] == "called from the webinar"
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT payload FROM leads_leadtouch WHERE id = %s", [touch.pk])
        stored = cursor.fetchone()[0]
    assert stored.startswith("enc1:") and "amira" not in stored and "webinar" not in stored


@pytest.mark.parametrize("envelope", [{"leads": []}, {"leads": "x"}, {"leads": [lead_data(1)] * 1001}, [lead_data(1)]])
def test_a_bad_envelope_is_422(world, api, envelope):
    assert_error(api.post("/leads", envelope), 422, "invalid")
    assert not Client.objects.exists()


def test_json_types_are_checked_before_anything_else(world, api):
    body = assert_error(api.post("/leads", lead_data(1, first_name=42, deposit_intent=True, consent=[1])), 422, "invalid")
    assert body["fields"] == {"first_name": ["Enter text."], "deposit_intent": ["Enter an amount, such as 5000."],
                              "consent": ["Answer yes or no."]}
    response = api.post("/leads", {"leads": [lead_data(2, phone=442070000002), lead_data(3, deposit_intent=2500)]})
    results = response.json()["results"]
    assert results[0]["status"] == "invalid" and results[0]["errors"] == {"phone": ["Enter text."]}
    assert results[1]["status"] == "created"


def test_malformed_json_is_400(world, api):
    assert_error(api.post("/leads", raw=b"{not json"), 400, "malformed_body")
    # Nested deeper than any lead could be: refused as malformed, not a server error.
    assert_error(api.post("/leads", raw=b"[" * 100_000 + b"]" * 100_000), 400, "malformed_body")


def test_a_key_without_the_scope_is_refused(world):
    api = KeyClient(new_key(world.brand, scopes=["clients:read"]))
    before = written(LeadTouch)
    assert_error(api.post("/leads", lead_data(1)), 403, "missing_scope")
    assert_error(KeyClient("crm_nonsense_key_that_is_long_enough_to_parse_xxxxxxx").post("/leads", lead_data(1)),
                 401)
    assert written(LeadTouch) == before  # no client, no touch, no event


def test_a_key_cannot_send_leads_of_another_brand(world, api):
    other = make_brand(code="other")
    body = assert_error(api.post("/leads", lead_data(1, brand=other.code)), 422, "invalid")
    assert "brand" in body["fields"]


def test_a_staff_session_sends_leads_of_its_own_brand(world):
    agent = world.agents[0]
    http = session_client(agent)
    response = post_json(http, "/leads", lead_data(40, brand=world.brand.code))
    assert response.status_code == 201, response.content
    response = post_json(session_client(make_user(role_code=RoleCode.SALES_AGENT)), "/leads",
                         lead_data(41, brand=world.brand.code))
    assert_error(response, 422, "invalid")


def test_the_operation_is_in_the_openapi_schema_with_its_scope(world):
    from django.test import Client as HttpClient

    schema = HttpClient().get(f"{API}/openapi.json").json()
    operation = schema["paths"]["/api/v1/leads"]["post"]
    assert operation["x-required-scope"] == "leads:write"
    assert "oneOf" in operation["requestBody"]["content"]["application/json"]["schema"]


def test_leads_have_their_own_request_budget_per_key(world, settings):
    settings.LEADS_API_RATE_LIMIT = "2/m"
    settings.CRM_API_RATE_LIMIT = "1000/m"
    api = KeyClient(new_key(world.brand, scopes=["leads:write", "clients:read"], name="Burst vendor"))
    for n in range(2):
        assert api.post("/leads", lead_data(900 + n)).status_code == 201
    response = api.post("/leads", lead_data(902))
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) >= 1
    assert api.get("/clients").status_code == 200  # the API's general budget is another one
    assert not Client.objects.filter(email_hash=keyed_hash("amira.902@example.com", kind="email")).exists()
