"""Watchlists are global (issue 57, item 8): a load re-screens the clients of every brand, so a
compliance officer limited to some brands cannot load one, on the page, through the API or the
service, and is told why; an administrator (or an officer of every brand) can."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from compliance.models import WatchlistVersion
from compliance.services import watchlist_load
from compliance.watchlists.parsers import SourceFile
from crm.exceptions import NotAllowed
from crm.models import RoleCode
from tests.factories import make_brand, make_user

FIXTURES = Path(__file__).resolve().parent / "fixtures"
NAMES = ("sdn_v2.csv", "alt.csv", "add.csv")
pytestmark = pytest.mark.django_db


@pytest.fixture
def lists(db, django_capture_on_commit_callbacks):
    brand = make_brand()
    with django_capture_on_commit_callbacks(execute=False):
        version = watchlist_load(name="OFAC SDN", fmt="ofac-csv",
                                 files=[SourceFile(n, (FIXTURES / n).read_bytes()) for n in ("sdn.csv", "alt.csv")])
    return SimpleNamespace(
        version=version,
        limited=make_user(role_code=RoleCode.COMPLIANCE, brand=brand),
        everywhere=make_user(role_code=RoleCode.COMPLIANCE, brand=brand, all_brands=True),
        admin=make_user(role_code=RoleCode.ADMIN),
    )


def _uploads() -> list[SimpleUploadedFile]:
    return [SimpleUploadedFile(n, (FIXTURES / n).read_bytes()) for n in NAMES]


def _versions() -> int:
    return WatchlistVersion.objects.count()


def test_a_brand_limited_officer_cannot_load_a_list_on_the_page_and_is_told_why(lists, client, login_verified,
                                                                                  django_capture_on_commit_callbacks):
    login_verified(client, lists.limited)
    page = client.get(reverse("compliance_watchlist_versions"))
    assert page.status_code == 200
    text = page.content.decode()
    assert 'data-form="upload"' not in text
    assert "only an administrator" in text
    with django_capture_on_commit_callbacks(execute=False) as queued:
        refused = client.post(reverse("compliance_watchlist_versions"),
                              {"list_name": "OFAC SDN", "fmt": "ofac-csv", "files": _uploads()})
    assert refused.status_code == 403
    assert "every brand" in refused.content.decode()
    assert _versions() == 1 and queued == []  # nothing loaded, nobody re-screened


def test_a_brand_limited_officer_cannot_load_a_list_through_the_api_or_the_service(lists, client, login_verified):
    login_verified(client, lists.limited)
    refused = client.post("/api/v1/compliance/watchlists/versions",
                          {"list_name": "New list", "fmt": "ofac-csv", "files": _uploads()})
    assert refused.status_code == 403
    body = refused.json()
    assert body["code"] == "watchlist_global" and "every brand" in body["message"]
    with pytest.raises(NotAllowed, match="every brand"):
        watchlist_load(name="OFAC SDN", fmt="ofac-csv", actor=lists.limited,
                       files=[SourceFile(n, (FIXTURES / n).read_bytes()) for n in NAMES])
    assert _versions() == 1


def test_an_administrator_loads_a_list_on_the_page_and_an_officer_of_every_brand_through_the_api(
        lists, client, login_verified):
    login_verified(client, lists.admin)
    page = client.get(reverse("compliance_watchlist_versions"))
    assert 'data-form="upload"' in page.content.decode()
    answer = client.post(reverse("compliance_watchlist_versions"),
                         {"list_name": "OFAC SDN", "fmt": "ofac-csv", "files": _uploads()})
    assert answer.status_code == 302
    login_verified(client, lists.everywhere)
    loaded = client.post("/api/v1/compliance/watchlists/versions",
                         {"list_name": "OFAC SDN", "fmt": "ofac-csv", "files": _uploads()})
    assert loaded.status_code == 201 and loaded.json()["number"] == 3
    assert _versions() == 3
