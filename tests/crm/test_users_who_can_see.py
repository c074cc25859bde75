"""users_who_can_see(client): the staff whose scope includes a client, in one query, the mirror of
client_queryset_for_user. And user_can reading every permission source in one query."""

from __future__ import annotations

import itertools

import pytest
from django.contrib.auth.models import Group, Permission

from crm.models import RoleCode
from crm.permissions import client_visible_to, user_can, users_who_can_see
from crm.services import client_share
from crm.staff_services import desk_update, user_set_active, user_update
from tests.factories import make_brand, make_client, make_desk, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(trio):
    """The trio plus every kind of user the scope rules tell apart, around trio.client (brand A, desk 1)."""
    admin = make_user(role_code=RoleCode.ADMIN)
    desk_2 = make_desk(brand=trio.brand)
    return {
        "owner": trio.owner,
        "colleague": trio.colleague,
        "outsider": trio.outsider,
        "admin": admin,
        "admin_without_brands": make_user(role_code=RoleCode.ADMIN, all_brands=False, brands=[]),
        "desk_manager": make_user(role_code=RoleCode.DESK_MANAGER, desk=trio.desk),
        "other_desk_manager": make_user(role_code=RoleCode.DESK_MANAGER, desk=desk_2),
        "manager_of_desk_1_elsewhere": make_user(role_code=RoleCode.DESK_MANAGER, desk=desk_2),
        "compliance": make_user(role_code=RoleCode.COMPLIANCE, brand=trio.brand),
        "compliance_other_brand": make_user(role_code=RoleCode.COMPLIANCE, brand=make_brand()),
        "finance_all_brands": make_user(role_code=RoleCode.FINANCE, all_brands=True),
        "agent_other_desk": make_user(role_code=RoleCode.SALES_AGENT, desk=desk_2),
        "_admin_actor": admin,
        "_desk_2": desk_2,
    }


def _names(staff, users):
    ids = {u.pk for u in users}
    return {name for name, user in staff.items() if not name.startswith("_") and user.pk in ids}


def test_owner_sees_the_client_colleague_and_outsider_do_not(trio, staff):
    visible = _names(staff, users_who_can_see(trio.client))
    assert "owner" in visible
    assert "colleague" not in visible
    assert "outsider" not in visible


def test_staff_who_see_a_client_follow_the_scope_rules(trio, staff):
    desk_update(actor=staff["_admin_actor"], desk=trio.desk, manager=staff["manager_of_desk_1_elsewhere"])
    assert _names(staff, users_who_can_see(trio.client)) == {
        "owner", "admin", "admin_without_brands", "desk_manager", "manager_of_desk_1_elsewhere",
        "compliance", "finance_all_brands",
    }


def test_a_share_adds_the_user_and_deactivation_removes_them(trio, staff):
    client_share(actor=trio.owner, client=trio.client, user=trio.colleague)
    assert "colleague" in _names(staff, users_who_can_see(trio.client))
    user_set_active(actor=staff["_admin_actor"], user=trio.colleague, active=False)
    assert "colleague" not in _names(staff, users_who_can_see(trio.client))


def test_view_all_clients_granted_directly_or_through_a_group_counts(trio, staff):
    perm = Permission.objects.get(codename="view_all_clients", content_type__app_label="crm")
    direct, grouped = staff["agent_other_desk"], trio.colleague
    direct.user_permissions.add(perm)
    group = Group.objects.create(name="Back office helpers")
    group.permissions.add(perm)
    grouped.groups.add(group)
    visible = _names(staff, users_who_can_see(trio.client))
    assert {"agent_other_desk", "colleague"} <= visible


def test_unassigned_client_without_desk_is_seen_by_back_office_and_admins_only(trio, staff):
    client = make_client(brand=trio.brand)
    assert client.owner_id is None and client.desk_id is None
    assert _names(staff, users_who_can_see(client)) == {
        "admin", "admin_without_brands", "compliance", "finance_all_brands",
    }


def test_it_agrees_with_client_visible_to_for_every_user_and_client(trio, staff):
    """The mirror property: for every pair, users_who_can_see and client_queryset_for_user agree."""
    desk_update(actor=staff["_admin_actor"], desk=staff["_desk_2"], manager=staff["desk_manager"])
    staff["compliance_other_brand"] = user_update(
        actor=staff["_admin_actor"], user=staff["compliance_other_brand"], all_brands=True)
    clients = [
        trio.client,
        make_client(actor=staff["agent_other_desk"]),
        make_client(brand=trio.brand),
        make_client(actor=trio.outsider),
    ]
    client_share(actor=trio.owner, client=trio.client, user=staff["agent_other_desk"])
    users = [u for name, u in staff.items() if not name.startswith("_")]
    for client, user in itertools.product(clients, users):
        expected = client_visible_to(user, client)
        assert users_who_can_see(client).filter(pk=user.pk).exists() is expected, (client, user.email)


def test_it_is_one_query(trio, staff, django_assert_num_queries):
    with django_assert_num_queries(1):
        users = list(users_who_can_see(trio.client))
    assert _names(staff, users) == {"owner", "admin", "admin_without_brands", "desk_manager", "compliance",
                                    "finance_all_brands"}


def test_task_assignee_choices_come_from_one_scope_query(trio, staff, django_assert_max_num_queries):
    from crm.views.ui.forms import assignee_queryset

    with django_assert_max_num_queries(1):
        names = _names(staff, assignee_queryset(trio.client, trio.owner))
    assert "owner" in names and "desk_manager" in names
    assert "colleague" not in names and "outsider" not in names


def test_user_can_reads_role_group_and_direct_permissions_in_one_query(trio, django_assert_num_queries):
    perm = Permission.objects.get(codename="view_auditlog", content_type__app_label="crm")
    trio.colleague.user_permissions.add(perm)
    fresh = type(trio.colleague).objects.select_related("role").get(pk=trio.colleague.pk)
    with django_assert_num_queries(1):
        assert user_can(fresh, "crm.reveal_contact")  # from the sales agent role
        assert user_can(fresh, "crm.view_auditlog")  # granted directly
        assert not user_can(fresh, "crm.view_all_clients")


def test_tasks_tab_costs_the_same_queries_however_many_staff_the_brand_has(client, trio):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    url = f"{reverse('client_detail', args=[trio.client.code])}?tab=tasks"
    client.force_login(trio.owner)
    client.get(url)

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(url).status_code == 200
        return len(ctx.captured_queries)

    few = queries()
    for _ in range(6):
        make_user(role_code=RoleCode.DESK_MANAGER, desk=trio.desk)
        make_user(role_code=RoleCode.SALES_AGENT, desk=trio.desk)
    assert queries() == few
