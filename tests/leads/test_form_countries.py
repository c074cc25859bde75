"""The public lead form names countries as portal registration does, in the visitor's language."""

from __future__ import annotations

import re

import pytest
from django.test import Client as HttpClient

pytestmark = pytest.mark.django_db


def _country_label(html: str, code: str) -> str:
    select = re.search(r'<select name="country"[^>]*>(.*?)</select>', html, re.S)
    assert select, html
    found = re.search(rf'<option value="{code}"[^>]*>([^<]*)</option>', select.group(1))
    assert found, select.group(1)[:500]
    return found.group(1).strip()


def test_the_lead_form_names_countries_as_registration_does(world):
    http = HttpClient()
    lead_form = http.get(f"/f/{world.brand.code}/lead/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    registration = http.get(f"/portal/{world.brand.code}/register/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert _country_label(lead_form, "GB") == _country_label(registration, "GB") == "United Kingdom"
    assert _country_label(lead_form, "AE") == "United Arab Emirates"


def test_the_lead_form_names_countries_in_arabic_for_an_arabic_visitor(world):
    html = HttpClient().get(f"/f/{world.brand.code}/lead/?lang=ar").content.decode()
    label = _country_label(html, "AE")
    assert label != "AE" and re.search(r"[\u0600-\u06ff]", label), label
