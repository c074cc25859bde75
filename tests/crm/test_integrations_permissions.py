"""integrations.permissions on its own: who may manage API clients, give a key a guarded scope, and act
on a key's webhook subscribers (the pages and services that ask it are tested with them)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from crm.models import RoleCode
from integrations.permissions import may_manage_api_clients, scopes_withheld, subscriber_manage_refused
from integrations.services import apikey_create
from tests.factories import make_brand, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def brand():
    return make_brand(code="alpha", name="Alpha Markets")


@pytest.fixture
def admin(brand):
    return make_user(role_code=RoleCode.ADMIN, full_name="Ada Admin")


def test_only_administrators_manage_api_clients(admin, brand):
    assert may_manage_api_clients(admin)
    for role in (RoleCode.COMPLIANCE, RoleCode.DESK_MANAGER, RoleCode.SALES_AGENT):
        assert not may_manage_api_clients(make_user(role_code=role, brand=brand)), role
    assert not may_manage_api_clients(AnonymousUser())


def test_a_guarded_scope_is_withheld_from_whoever_lacks_its_permission(admin, brand):
    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=brand)
    requested = ["clients:read", "compliance:events"]
    assert scopes_withheld(admin, requested) == []
    assert scopes_withheld(officer, requested) == []
    assert scopes_withheld(agent, requested) == ["compliance:events"]
    assert scopes_withheld(agent, ["no:such-scope"]) == []  # unknown: the service refuses it as such


def test_a_keys_subscribers_are_managed_by_administrators_and_by_the_key_itself(admin, brand):
    key, _raw = apikey_create(actor=admin, brand=brand, name="Vendor", scopes=["clients:read"])
    other, _raw = apikey_create(actor=admin, brand=brand, name="Other vendor", scopes=["clients:read"])
    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=brand)
    assert not subscriber_manage_refused(admin, None, key.pk)
    assert subscriber_manage_refused(agent, None, key.pk)
    assert not subscriber_manage_refused(None, key, key.pk)
    assert subscriber_manage_refused(None, other, key.pk)
    assert subscriber_manage_refused(None, None, key.pk)
