"""Helpers and fixtures for the API tests (tests/crm/test_api_*.py import them)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client as HttpClient

from crm.models import RoleCode
from crm.registry import API_SCOPES
from integrations.services import apikey_create
from tests.factories import make_brand, make_client, make_desk, make_user

API = "/api/v1"


def new_key(brand: Any, *, scopes: list[str] | None = None, actor: Any = None, name: str = "Integration") -> str:
    """A raw API key for `brand` with `scopes` (default: all), made by an administrator."""
    actor = actor or make_user(role_code=RoleCode.ADMIN)
    _key, raw = apikey_create(actor=actor, brand=brand, name=name, scopes=scopes or [str(c) for c in API_SCOPES.keys()])
    return raw


class KeyClient:
    """A test client that sends one API key as a bearer token and JSON bodies."""

    def __init__(self, raw_key: str, *, header: str = "bearer") -> None:
        self.http = HttpClient()
        if header == "bearer":
            self.headers = {"HTTP_AUTHORIZATION": f"Bearer {raw_key}"}
        else:
            self.headers = {"HTTP_X_API_KEY": raw_key}

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.http.get(f"{API}{path}", params or {}, **self.headers)

    def post(self, path: str, body: Any = None, *, raw: bytes | None = None) -> Any:
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        return self.http.post(f"{API}{path}", data, content_type="application/json", **self.headers)

    def patch(self, path: str, body: Any) -> Any:
        return self.http.patch(f"{API}{path}", json.dumps(body), content_type="application/json", **self.headers)


def session_client(user: Any, login_verified: Any = None, *, csrf: bool = False) -> HttpClient:
    """A browser-like client logged in as `user` (with the second factor proven when given)."""
    http = HttpClient(enforce_csrf_checks=csrf)
    if login_verified is not None:
        login_verified(http, user)
    else:
        http.force_login(user)
    return http


def patch_json(http: HttpClient, path: str, body: Any, **extra: Any) -> Any:
    return http.patch(f"{API}{path}", json.dumps(body), content_type="application/json", **extra)


def post_json(http: HttpClient, path: str, body: Any, **extra: Any) -> Any:
    return http.post(f"{API}{path}", json.dumps(body), content_type="application/json", **extra)


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """The response is a `status` answer in the API's error shape (and has `code`, if given)."""
    assert response.status_code == status, (response.status_code, response.content[:500])
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "fields"}, body
    assert isinstance(body["code"], str) and body["code"]
    assert isinstance(body["message"], str) and body["message"]
    assert isinstance(body["fields"], dict)
    assert all(isinstance(v, list) and all(isinstance(m, str) for m in v) for v in body["fields"].values())
    if code is not None:
        assert body["code"] == code, body
    return body


@pytest.fixture
def world(db):
    """Brand A (a desk with an owner agent and a colleague agent) and brand B (an outsider agent),
    with one client in each brand."""
    brand_a, brand_b = make_brand(code="alpha", name="Alpha Markets"), make_brand(code="beta", name="Beta FX")
    desk_a = make_desk(brand=brand_a, name="London sales")
    desk_b = make_desk(brand=brand_b, name="Dubai sales")
    owner = make_user(role_code=RoleCode.SALES_AGENT, desk=desk_a, full_name="Olivia Owner")
    colleague = make_user(role_code=RoleCode.SALES_AGENT, desk=desk_a, full_name="Colin Colleague")
    outsider = make_user(role_code=RoleCode.SALES_AGENT, desk=desk_b, full_name="Otto Outsider")
    client_a = make_client(
        actor=owner, first_name="Amira", last_name="Haddad", email="amira.haddad@example.com",
        phone="+442071838750", country="GB", tags=["vip"],
    )
    client_b = make_client(actor=outsider, first_name="Bruno", last_name="Berg", email="bruno@example.com",
                           phone="+4930901820", country="DE")
    return {
        "brand_a": brand_a, "brand_b": brand_b, "desk_a": desk_a, "desk_b": desk_b, "owner": owner,
        "colleague": colleague, "outsider": outsider, "client_a": client_a, "client_b": client_b,
    }
