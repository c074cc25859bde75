"""The OpenAPI schema lists every operation a broker automates across the apps, each with its scope
and the one error shape; the API key form offers every scope the operations name."""

from __future__ import annotations

import pytest
from django.urls import reverse

from crm.api import scopes
from crm.models import RoleCode
from integrations.assembly import api
from tests.factories import make_user

API = "/api/v1"

OPERATIONS = {
    ("get", "/trading-accounts"): "trading:read",
    ("get", "/clients/{code}/trading-accounts"): "trading:read",
    ("get", "/deals"): "trading:read",
    ("get", "/clients/{code}/wallet/balances"): "wallet:read",
    ("get", "/deposits"): "wallet:read",
    ("get", "/deposits/{code}"): "wallet:read",
    ("post", "/deposits/{code}/refunds"): "wallet:write",
    ("get", "/withdrawals"): "wallet:read",
    ("get", "/withdrawals/{code}"): "wallet:read",
    ("post", "/withdrawals/{code}/approval"): "wallet:approve",
    ("post", "/withdrawals/{code}/rejection"): "wallet:approve",
    ("post", "/clients/{code}/transfers"): "wallet:write",
    ("get", "/disputes"): "wallet:disputes",
    ("get", "/disputes/{code}"): "wallet:disputes",
    ("get", "/disputes/{code}/evidence/{evidence}"): "wallet:disputes",
    ("post", "/disputes/{code}/evidence"): "wallet:disputes",
    ("post", "/disputes/{code}/representment"): "wallet:disputes",
    ("post", "/disputes/{code}/acceptance"): "wallet:disputes",
    ("post", "/disputes/{code}/outcome"): "wallet:disputes",
    ("get", "/chargeback-ratios"): "wallet:disputes",
    ("get", "/partners"): "ib:read",
    ("get", "/partners/{code}"): "ib:read",
    ("get", "/partners/{code}/clients"): "ib:read",
    ("get", "/partners/{code}/commission-lines"): "ib:read",
    ("get", "/partners/{code}/settlements"): "ib:read",
    ("get", "/clients/{code}/kyc"): "kyc:read",
}


def test_every_new_operation_is_in_the_schema_with_its_scope_and_the_error_shape():
    paths = api.get_openapi_schema()["paths"]
    for (method, path), scope in OPERATIONS.items():
        operation = paths[f"{API}{path}"][method]
        assert operation["x-required-scope"] == scope, (method, path)
        for status in ("401", "403", "404", "422"):
            schema = operation["responses"][int(status)]["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Error"}, (method, path, status)


@pytest.mark.django_db
def test_the_key_form_offers_every_new_scope_with_its_description(client, login_verified):
    admin = make_user(role_code=RoleCode.ADMIN)
    login_verified(client, admin)
    page = client.get(reverse("apikey_create")).content.decode()
    for scope in sorted(set(OPERATIONS.values())):
        assert scope in scopes()
        assert scope in page and str(scopes()[scope])[:30].replace("'", "&#x27;") in page, scope
