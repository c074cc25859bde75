"""The error pages a person lands on (400, 403, 404, 413, 500): the CRM's look, a way back, and the
request id support asks for; under /api/, the API's error shape instead of a page."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.test import Client as HttpClient
from django.urls import reverse

from crm.models import RoleCode
from tests.crm.api_support import new_key
from tests.factories import make_brand, make_user

pytestmark = pytest.mark.django_db


def test_a_missing_page_is_styled_leads_back_and_names_the_request(client):
    agent = make_user(role_code=RoleCode.SALES_AGENT)
    client.force_login(agent)
    response = client.get("/clients/no-such-thing/", HTTP_REFERER="http://testserver/clients/",
                          HTTP_X_REQUEST_ID="req-404-abc123")
    html = response.content.decode()
    assert response.status_code == 404
    assert "css/app.css" in html and "This page does not exist." in html
    assert 'href="/"' in html and 'href="http://testserver/clients/"' in html  # home, and back where they were
    assert response["X-Request-ID"] in html


def test_a_visitor_is_led_to_sign_in_and_never_back_to_another_site():
    response = HttpClient().get("/nowhere/", HTTP_REFERER="https://evil.example/phish")
    html = response.content.decode()
    assert response.status_code == 404 and f'href="{reverse("login")}"' in html
    assert "evil.example" not in html


@pytest.mark.urls("tests.crm.error_urls")
def test_a_server_error_is_a_page_with_the_request_id_and_no_details():
    agent = make_user(role_code=RoleCode.SALES_AGENT)
    http = HttpClient(raise_request_exception=False)
    http.force_login(agent)
    response = http.get("/__boom__/")
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side." in html and response["X-Request-ID"] in html
    assert "secret internals" not in html
    api = http.get("/api/__boom__/")
    assert api.status_code == 500 and api.json()["code"] == "server_error"


def test_the_500_handler_draws_its_page_without_the_database(rf):
    from crm.views.errors import server_error

    request = rf.get("/clients/")
    request.request_id = "req-500-xyz"
    with connection.execute_wrapper(_no_queries):
        response = server_error(request)
    html = response.content.decode()
    assert response.status_code == 500
    assert "Something went wrong on our side." in html and "req-500-xyz" in html
    assert "secret" not in html and "Traceback" not in html


def _no_queries(execute, sql, params, many, context):
    raise AssertionError(f"the 500 page queried the database: {sql}")


def test_an_unknown_api_path_and_an_oversized_api_body_answer_with_the_error_shape(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1_000_000
    response = HttpClient().get("/api/v1/nothing-here")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    big = json.dumps({"leads": [{"first_name": "x" * 1000}] * 1500})
    response = HttpClient().post("/api/v1/leads", big, content_type="application/json",
                                 HTTP_AUTHORIZATION=f"Bearer {new_key(make_brand(code='alpha'))}")
    assert response.status_code == 413, response.content[:300]
    body = response.json()
    assert body["code"] == "too_large" and "1.0 MB" in body["message"] and body["fields"] == {}


def test_an_oversized_form_is_a_page_not_a_bare_400(settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = HttpClient().post(reverse("login"), {"username": "x" * 5000, "password": "y"})
    assert response.status_code == 413
    assert "What was sent is too large." in response.content.decode()
