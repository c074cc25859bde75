"""The registries later apps extend: timeline event kinds and client profile tabs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.urls import reverse

from crm.models import RoleCode
from crm.registry import PROFILE_TABS, TIMELINE, contribute
from crm.views.ui import tabs, timeline
from tests.factories import make_user

pytest_plugins = ["tests.crm.ui_fixtures"]


def _event(name, data=None):
    return SimpleNamespace(pk=1, name=name, data=data or {}, occurred_at=None, actor=None)


def test_unregistered_event_still_shows_under_its_name():
    entry = timeline.describe(_event("kyc.something_new"))
    assert entry.label == "kyc.something_new"
    assert entry.summary == ""


def test_summary_renderer_that_breaks_does_not_break_the_timeline():
    with TIMELINE.temporarily(timeline.TimelineKind("test.broken", "Broken", summary=lambda e: e.data["missing"])):
        assert timeline.describe(_event("test.broken")).summary == ""
    assert "test.broken" not in TIMELINE


def test_core_summaries_read_the_events_the_services_emit():
    assigned = timeline.describe(_event("client.assigned", {
        "owner": {"from": None, "to": {"code": "x", "name": "Mona Manager"}},
        "desk": {"from": None, "to": {"code": "y", "name": "London sales"}}, "reason": "",
    }))
    assert assigned.summary == "Owner: Mona Manager · Desk: London sales"
    updated = timeline.describe(_event("client.updated", {"fields": ["country", "phone"], "changes": {}}))
    assert updated.summary == "Changed: country, phone"


@pytest.fixture
def extra_tab():
    tab = tabs.ClientTab(key="test-kyc", label="KYC", template="crm/clients/tabs/overview.html", order=15,
                         permission="crm.view_all_clients")
    with PROFILE_TABS.temporarily(tab):
        yield tab


@pytest.mark.django_db
def test_registered_tab_appears_in_order_for_users_with_its_permission(client, scene, extra_tab):
    keys = [t.key for t in tabs.tabs_for(scene["ib_manager"])]
    assert keys.index("overview") < keys.index("test-kyc") < keys.index("timeline")
    assert "test-kyc" not in [t.key for t in tabs.tabs_for(scene["owner"])]
    client.force_login(scene["ib_manager"])
    html = client.get(reverse("client_detail", args=[scene["client"].code]) + "?tab=test-kyc").content.decode()
    assert 'id="tab-test-kyc"' in html


@pytest.mark.django_db
def test_user_without_the_tabs_permission_cannot_open_it_by_url(client, scene, extra_tab):
    client.force_login(scene["owner"])
    html = client.get(reverse("client_detail", args=[scene["client"].code]) + "?tab=test-kyc").content.decode()
    assert 'id="tab-test-kyc"' not in html
    assert 'id="tab-overview" href' in html  # falls back to the first tab


def test_registering_a_key_again_replaces_the_tab(extra_tab):
    contribute("test", tabs=[tabs.ClientTab(key="test-kyc", label="KYC 2", template="x.html", order=15)])
    assert [t.label for t in PROFILE_TABS if t.key == "test-kyc"] == ["KYC 2"]


@pytest.mark.django_db
def test_every_core_role_gets_the_core_tabs(scene):
    # Every core role may read notes and tasks, so every role gets those tabs.
    dealer = make_user(role_code=RoleCode.DEALER, brand=scene["brand_a"])
    assert {"overview", "timeline", "notes", "tasks"} <= {t.key for t in tabs.tabs_for(dealer)}
