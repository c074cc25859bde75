"""The API key page for administrators, and the API's interactive docs."""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client as HttpClient
from django.urls import reverse

from crm.models import ApiKey, AuditLog, RoleCode
from integrations.services import apikey_create
from tests.crm.api_support import API, KeyClient, assert_error
from tests.factories import make_brand, make_client, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def brand():
    return make_brand(code="alpha", name="Alpha Markets")


@pytest.fixture
def admin(brand):
    return make_user(role_code=RoleCode.ADMIN, full_name="Ada Admin")


@pytest.fixture
def admin_client(client, admin, login_verified):
    login_verified(client, admin)
    return client


def test_administrator_creates_a_key_and_sees_it_once(admin_client, brand):
    make_client(brand=brand, first_name="Amira")
    response = admin_client.post(reverse("apikey_create"), {
        "name": "Landing pages", "brand": "alpha", "scopes": ["clients:read", "clients:write"],
    })
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    raw = re.search(rb'data-testid="raw-key">(crm_[A-Za-z0-9_-]+)<', response.content).group(1).decode()
    key = ApiKey.objects.get()
    assert (key.name, key.brand, key.scopes) == ("Landing pages", brand, ["clients:read", "clients:write"])
    assert raw not in key.key_hash and key.prefix in raw
    # The key works, within its scopes.
    api = KeyClient(raw)
    assert [c["first_name"] for c in api.get("/clients").json()["items"]] == ["Amira"]
    assert_error(api.get("/events"), 403, "missing_scope")
    # The list never shows the secret again.
    listing = admin_client.get(reverse("apikey_list"))
    assert raw.encode() not in listing.content
    assert f"crm_{key.prefix}_".encode() in listing.content


def test_creating_a_key_needs_a_name_a_brand_and_a_scope(admin_client):
    response = admin_client.post(reverse("apikey_create"), {"name": "", "brand": "", "scopes": []})
    assert response.status_code == 200
    form = response.context["form"]
    assert set(form.errors) == {"name", "brand", "scopes"}
    assert not ApiKey.objects.exists()


def test_administrator_revokes_a_key_and_it_stops_working_at_once(admin_client, admin, brand):
    key, raw = apikey_create(actor=admin, brand=brand, name="Vendor", scopes=["clients:read"])
    assert KeyClient(raw).get("/clients").status_code == 200
    response = admin_client.post(reverse("apikey_revoke", args=[key.prefix]))
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert AuditLog.objects.filter(action="apikey.revoke", actor=admin).exists()
    assert_error(KeyClient(raw).get("/clients"), 401, "invalid_api_key")


def test_revoke_needs_post_and_an_existing_key(admin_client, admin, brand):
    key, _raw = apikey_create(actor=admin, brand=brand, name="Vendor", scopes=["clients:read"])
    assert admin_client.get(reverse("apikey_revoke", args=[key.prefix])).status_code == 405
    assert admin_client.post(reverse("apikey_revoke", args=["nosuchkey"])).status_code == 404


@pytest.mark.parametrize("role_code", [RoleCode.SALES_AGENT, RoleCode.DESK_MANAGER, RoleCode.IB_MANAGER])
def test_key_pages_are_404_for_everyone_but_administrators(client, admin, brand, role_code):
    key, _raw = apikey_create(actor=admin, brand=brand, name="Vendor", scopes=["clients:read"])
    client.force_login(make_user(role_code=role_code, brand=brand))
    assert client.get(reverse("apikey_list")).status_code == 404
    assert client.get(reverse("apikey_create")).status_code == 404
    assert client.post(reverse("apikey_create"), {"name": "x", "brand": "alpha", "scopes": ["clients:read"]}
                       ).status_code == 404
    assert client.post(reverse("apikey_revoke", args=[key.prefix])).status_code == 404
    key.refresh_from_db()
    assert key.revoked_at is None
    assert ApiKey.objects.count() == 1


# --- docs ------------------------------------------------------------------------------------------


def test_docs_page_uses_the_vendored_swagger_ui_and_no_cdn():
    response = HttpClient().get(f"{API}/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert "/static/vendor/swagger-ui/swagger-ui.css" in html
    assert f"{API}/openapi.json" in html
    assert not re.search(r"(src|href)=\"(https?:)?//", html), "the docs page must not load anything remote"
    for asset in ("vendor/swagger-ui/swagger-ui-bundle.js", "vendor/swagger-ui/swagger-ui.css", "js/api-docs.js"):
        assert finders.find(asset), asset
    assert settings.STATIC_URL == "/static/"


def test_openapi_schema_describes_auth_errors_pagination_and_scopes():
    schema = HttpClient().get(f"{API}/openapi.json").json()
    assert set(schema["components"]["securitySchemes"]) == {"ApiKeyBearer", "ApiKeyInHeader", "StaffSession"}
    list_clients = schema["paths"][f"{API}/clients"]["get"]
    assert list_clients["x-required-scope"] == "clients:read"
    assert {p["name"] for p in list_clients["parameters"]} >= {"cursor", "limit", "stage", "q", "owner"}
    assert "in full" in schema["components"]["schemas"]["ClientOut"]["properties"]["email"]["description"].lower()
    assert "422" in schema["info"]["description"] and "next_cursor" in schema["info"]["description"]
