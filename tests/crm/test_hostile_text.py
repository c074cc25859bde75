"""Hostile text, fed to every page and every API operation there is when the suite runs.

The operations and pages are read from the URL conf and the OpenAPI schema, not listed here, so an
endpoint added later is covered the day it is added. Text PostgreSQL cannot store (NUL; lone UTF-16
surrogates from JSON escapes) is refused with the one error shape naming the field and nothing is
written; over-long and control characters never make a 500.
"""

from __future__ import annotations

import json
import re
import uuid
from functools import cache
from typing import Any

import pytest
from django.db import connection
from django.test import Client as HttpClient
from psycopg import sql

from crm.models import AuditLog, RoleCode
from integrations.assembly import api
from tests.crawl import page_paths
from tests.crm.api_support import new_key
from tests.factories import make_brand, make_client, make_desk, make_user

pytestmark = pytest.mark.django_db

NUL = "a\x00b"
SURROGATE = "a\ud800b"
OVERLONG = "x" * 25_000  # over every field's limit (the longest, a note, takes 20,000)
CONTROL = "a\x01\x08\x1b[31m\u202eb"

# --- what exists ------------------------------------------------------------------------------


@cache
def _schema() -> dict[str, Any]:
    """The OpenAPI schema, made once per test process: making it takes seconds, and the JSON sweeps
    read it for every operation."""
    schema: dict[str, Any] = api.get_openapi_schema()
    return schema


def api_operations() -> list[tuple[str, str, dict[str, Any]]]:
    """(method, path, operation) for every operation of the OpenAPI schema."""
    schema = _schema()
    out = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            out.append((method.upper(), path, operation))
    return sorted(out, key=lambda o: (o[1], o[0]))


def _resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[1]
        node = schema["components"]["schemas"][name]
    return node


def string_properties(operation: dict[str, Any]) -> list[str]:
    """The request body's string properties (top level), as the caller names them."""
    schema = _schema()
    body = (operation.get("requestBody") or {}).get("content", {}).get("application/json", {}).get("schema")
    if not body:
        return []
    node = _resolve(schema, body)
    if "oneOf" in node:  # one object or a batch of them (the lead API): the object's fields
        node = _resolve(schema, node["oneOf"][0])
    out = []
    for name, prop in (node.get("properties") or {}).items():
        prop = _resolve(schema, prop)
        kinds = {prop.get("type")} | {_resolve(schema, p).get("type") for p in prop.get("anyOf", [])}
        if "string" in kinds:
            out.append(name)
    return out


def _concrete(path: str) -> str:
    return re.sub(r"\{\w+\}", lambda _m: str(uuid.uuid4()), path)


# --- what was written ---------------------------------------------------------------------------------


def _row_counts() -> dict[str, int]:
    """Rows of every table of ours but the audit log (a refusal is audited on purpose); a table
    partitioned by month is counted whole, not by its partitions."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                       "AND relkind IN ('r', 'p') AND NOT relispartition AND relname NOT IN "
                       "('crm_auditlog', 'django_session', 'axes_accessattempt', 'axes_accesslog')")
        tables = [row[0] for row in cursor.fetchall()]
        union = sql.SQL(" UNION ALL ").join(sql.SQL("SELECT {name}, count(*) FROM {table}").format(
            name=sql.Literal(t), table=sql.Identifier(t)) for t in tables)
        cursor.execute(union.as_string(None))
        return dict(cursor.fetchall())


@pytest.fixture
def world(db):
    brand = make_brand(code="hostile", name="Hostile Markets")
    admin = make_user(role_code=RoleCode.ADMIN)
    agent = make_user(role_code=RoleCode.SALES_AGENT, desk=make_desk(brand=brand))
    make_client(actor=agent, first_name="Amira", phone="+442071838750", email="amira@example.com")
    return {"brand": brand, "admin": admin, "key": new_key(brand, actor=admin)}


def _admin_http(world, login_verified) -> HttpClient:
    http = HttpClient()
    login_verified(http, world["admin"])
    return http


# --- the sweeps --------------------------------------------------------------------------------------


def test_the_sweeps_find_the_pages_and_operations_there_are():
    pages, operations = page_paths(), api_operations()
    assert "/login/" in pages and "/search/" in pages and len(pages) > 40
    assert ("POST", "/api/v1/leads", ) in {(m, p) for m, p, _o in operations}
    assert len(operations) > 10


def test_nul_in_a_query_string_is_refused_by_name_on_every_page(world, login_verified):
    http = _admin_http(world, login_verified)
    before = _row_counts()
    for path in page_paths():
        response = http.get(path, {"q": NUL})
        assert response.status_code == 422, path
        assert 'id="refused-fields"' in response.content.decode() and ">q</bdi>" in response.content.decode(), path
    assert _row_counts() == before


def test_nul_in_a_form_field_is_refused_by_name_on_every_page_and_nothing_is_written(world, login_verified):
    http = _admin_http(world, login_verified)
    before = _row_counts()
    for path in page_paths():
        response = http.post(path, {"first_name": NUL, "note": "fine"})
        assert response.status_code == 422, path
        assert ">first_name</bdi>" in response.content.decode(), path
    assert _row_counts() == before
    assert AuditLog.objects.filter(action="request.refused_text").count() == len(page_paths())


@pytest.mark.parametrize("text", [OVERLONG, CONTROL], ids=["overlong", "control"])
def test_over_long_and_control_text_never_makes_a_page_fail(world, login_verified, text):
    http = _admin_http(world, login_verified)
    for path in page_paths():
        response = http.get(path, {"q": text, "page": text, "sort": text})
        assert response.status_code < 500, (path, response.status_code)
        response = http.post(path, {"first_name": text, "title": text, "body": text, "name": text})
        assert response.status_code < 500, (path, response.status_code)


@pytest.mark.parametrize("text", [NUL, SURROGATE, CONTROL], ids=["nul", "surrogate", "control"])
def test_unstorable_text_in_any_json_field_is_refused_by_name(world, text):
    http = HttpClient()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {world['key']}"}
    before = _row_counts()
    checked = 0
    for method, path, operation in api_operations():
        if method not in {"POST", "PUT", "PATCH"}:
            continue
        for name in string_properties(operation):
            body = json.dumps({name: text})
            response = http.generic(method, _concrete(path), body, content_type="application/json", **headers)
            assert response.status_code < 500, (method, path, name, response.status_code)
            if response.status_code == 422:
                assert name in response.json()["fields"], (method, path, name, response.json())
            checked += 1
    assert checked > 5
    assert _row_counts() == before


# Only NUL: a query string is bytes decoded as UTF-8 with errors replaced, so it cannot carry a lone
# surrogate (nor can the test client send one).
@pytest.mark.parametrize("text", [NUL], ids=["nul"])
def test_unstorable_text_in_any_query_parameter_is_refused_by_name(world, text):
    http = HttpClient()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {world['key']}"}
    for method, path, operation in api_operations():
        if method != "GET":
            continue
        for param in operation.get("parameters", []):
            if param.get("in") != "query":
                continue
            response = http.get(_concrete(path), {param["name"]: text}, **headers)
            assert response.status_code < 500, (path, param["name"], response.status_code)
            if text == NUL:
                assert response.status_code == 422 and param["name"] in response.json()["fields"], (path, param)


@pytest.mark.parametrize("text", [NUL, SURROGATE, CONTROL], ids=["nul", "surrogate", "control"])
def test_a_lead_batch_refuses_only_the_item_with_unstorable_text(world, text):
    from tests.leads.conftest import lead_data

    http = HttpClient()
    headers = {"HTTP_AUTHORIZATION": f"Bearer {world['key']}"}
    items = [lead_data(n) for n in range(1, 6)]
    items[2]["last_name"] = text
    items[3]["utm_source"] = "fine"
    items[3]["extra_field"] = text  # kept in the raw payload, without what cannot be stored
    response = http.post("/api/v1/leads", json.dumps({"leads": items}), content_type="application/json",
                         **headers)
    assert response.status_code < 500, response.content[:500]
    results = response.json()["results"]
    assert [r["status"] for r in results].count("invalid") == 1
    bad = next(r for r in results if r["status"] == "invalid")
    assert bad["index"] == 2 and "last_name" in bad["errors"]


@pytest.mark.parametrize("field", ["first_name", "last_name", "email", "phone", "country", "language", "source",
                                   "campaign", "utm_source", "utm_medium", "utm_campaign", "utm_term",
                                   "utm_content", "referrer_code", "click_id", "landing_page"])
def test_a_single_lead_with_a_lone_surrogate_is_refused_by_name(world, field):
    from tests.leads.conftest import lead_data

    http = HttpClient()
    data = {**lead_data(1), field: SURROGATE}
    response = http.post("/api/v1/leads", json.dumps(data), content_type="application/json",
                         HTTP_AUTHORIZATION=f"Bearer {world['key']}")
    assert response.status_code == 422, response.content[:300]
    assert field in response.json()["fields"]


def test_nul_in_the_login_form_is_refused_and_the_attempt_is_on_record(db):
    for field in ("username", "password"):
        response = HttpClient().post("/login/", {"username": "a\x00@example.com" if field == "username" else "a@b.c",
                                                 "password": "x\x00" if field == "password" else "secret"})
        assert response.status_code == 422 and f">{field}</bdi>" in response.content.decode()
    rows = AuditLog.objects.filter(action="request.refused_text", object_id="/login/")
    assert [r.after["fields"] for r in rows.order_by("id")] == [["username"], ["password"]]


def test_nul_in_the_search_dropdown_is_refused_not_a_500(world, login_verified):
    http = _admin_http(world, login_verified)
    response = http.get("/search/?q=%00", HTTP_HX_REQUEST="true")
    assert response.status_code == 422


def test_a_nul_in_a_stored_header_is_dropped_not_a_500(world):
    response = HttpClient().post("/login/", {"username": "x@example.com", "password": "nope"},
                                 HTTP_USER_AGENT="Probe\x00/1.0", HTTP_COOKIE="sessionid=abc\x00def")
    assert response.status_code == 200
    assert AuditLog.objects.filter(action="auth.login_failed").latest("id").user_agent == "Probe/1.0"


def test_control_characters_in_a_stored_header_are_dropped(world):
    # An escape sequence kept in the audit log would recolour the terminal of whoever reads it.
    response = HttpClient().post("/login/", {"username": "x@example.com", "password": "nope"},
                                 HTTP_USER_AGENT="Probe\x1b[31m/1.0\x07\tx")
    assert response.status_code == 200
    assert AuditLog.objects.filter(action="auth.login_failed").latest("id").user_agent == "Probe[31m/1.0\tx"


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v1/leads", "lead", "first_name"),
    ("/api/v1/clients/{client}/notes", {"body": "Called\x1b[2J back"}, "body"),
])
def test_a_control_character_in_json_text_is_refused_by_name(world, path, body, field):
    from crm.models import Client
    from tests.leads.conftest import lead_data

    client = Client.objects.get(first_name="Amira")
    if body == "lead":
        body = {**lead_data(1), "first_name": "Ami\x0bra"}
    before = _row_counts()
    response = HttpClient().post(path.format(client=client.code), json.dumps(body), content_type="application/json",
                                 HTTP_AUTHORIZATION=f"Bearer {world['key']}")
    assert response.status_code == 422, response.content[:300]
    assert response.json()["code"] == "invalid" and "control character" in response.json()["fields"][field][0]
    assert _row_counts() == before


def test_a_control_character_in_a_form_or_query_is_refused_by_name(world, login_verified):
    http = _admin_http(world, login_verified)
    response = http.get("/search/", {"q": "Amira\x1b[2J"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 422 and ">q</bdi>" in response.content.decode()
    response = HttpClient().post("/login/", {"username": "a\x08@example.com", "password": "secret"})
    assert response.status_code == 422 and ">username</bdi>" in response.content.decode()
