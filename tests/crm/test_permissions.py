"""Who sees which clients: owner / colleague / outsider, desk managers, brand limits, admins, shares."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import Permission

from crm.exceptions import NotAllowed, NotFound, ValidationFailed
from crm.models import Role, RoleCode
from crm.permissions import (
    client_get_for_user,
    client_queryset_for_user,
    note_get_for_user,
    task_get_for_user,
    user_can,
)
from crm.registry import role_permissions
from crm.roles import roles_sync
from crm.selectors import client_list
from crm.services import client_share, client_unshare, note_add, task_create
from tests.factories import make_client, make_desk, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(trio):
    """The trio (brand A, desk 1) plus a second desk in brand A and a client in the outsider's brand."""
    desk_2 = make_desk(brand=trio.brand)
    outsider_desk = trio.outsider.desk
    return {
        "brand_a": trio.brand, "brand_b": outsider_desk.brand, "desk_1": trio.desk, "desk_2": desk_2,
        "desk_b": outsider_desk, "owner": trio.owner, "colleague": trio.colleague, "outsider": trio.outsider,
        "client": trio.client,
        "other_desk_client": make_client(brand=trio.brand, desk=desk_2),
        "brand_b_client": make_client(brand=outsider_desk.brand, desk=outsider_desk),
    }


def _visible(user):
    return set(client_queryset_for_user(user).values_list("pk", flat=True))


def test_agent_opens_own_client(world):
    found = client_get_for_user(world["owner"], world["client"].code)
    assert found.pk == world["client"].pk


def test_agent_cannot_open_colleagues_client(world):
    with pytest.raises(NotFound):
        client_get_for_user(world["colleague"], world["client"].code)


def test_outsider_cannot_open_client_of_another_brand(world):
    with pytest.raises(NotFound):
        client_get_for_user(world["outsider"], world["client"].code)


def test_missing_and_forbidden_raise_the_same_error(world):
    with pytest.raises(NotFound) as forbidden:
        client_get_for_user(world["colleague"], world["client"].code)
    with pytest.raises(NotFound) as missing:
        client_get_for_user(world["colleague"], uuid.uuid4())
    with pytest.raises(NotFound) as garbage:
        client_get_for_user(world["colleague"], "not-a-code")
    assert forbidden.value.as_dict() == missing.value.as_dict() == garbage.value.as_dict()


def test_agent_list_holds_only_their_book(world):
    assert _visible(world["owner"]) == {world["client"].pk}
    assert _visible(world["colleague"]) == set()
    assert set(client_list(user=world["owner"]).values_list("pk", flat=True)) == {world["client"].pk}


def test_desk_manager_sees_their_desk_and_managed_desks_only(world):
    manager = make_user(role_code=RoleCode.DESK_MANAGER, desk=world["desk_1"])
    assert _visible(manager) == {world["client"].pk}
    world["desk_2"].manager = manager
    world["desk_2"].save()
    assert _visible(manager) == {world["client"].pk, world["other_desk_client"].pk}


def test_desk_manager_cannot_open_client_of_other_desk(world):
    manager = make_user(role_code=RoleCode.DESK_MANAGER, desk=world["desk_1"])
    with pytest.raises(NotFound):
        client_get_for_user(manager, world["other_desk_client"].code)


@pytest.mark.parametrize("role", [RoleCode.COMPLIANCE, RoleCode.FINANCE, RoleCode.IB_MANAGER, RoleCode.DEALER])
def test_brand_limited_back_office_sees_every_client_of_their_brand_only(world, role):
    user = make_user(role_code=role, brand=world["brand_a"])
    assert _visible(user) == {world["client"].pk, world["other_desk_client"].pk}
    with pytest.raises(NotFound):
        client_get_for_user(user, world["brand_b_client"].code)


def test_all_brands_back_office_sees_every_brand(world):
    user = make_user(role_code=RoleCode.COMPLIANCE, all_brands=True)
    assert {world["client"].pk, world["other_desk_client"].pk, world["brand_b_client"].pk} <= _visible(user)


def test_brand_limit_applies_to_agents_book_too(world):
    # An agent's client that was moved to a brand they do not work for drops out of their scope.
    stray = make_client(brand=world["brand_b"], owner=make_user(role_code=RoleCode.SALES_AGENT,
                                                                brands=[world["brand_a"], world["brand_b"]]))
    limited_owner = stray.owner
    assert stray.pk in _visible(limited_owner)
    limited_owner.brands.set([world["brand_a"]])
    assert stray.pk not in _visible(limited_owner)


def test_administrator_sees_everything_without_brands(world):
    admin = make_user(role_code=RoleCode.ADMIN, all_brands=False, brands=[])
    assert {world["client"].pk, world["other_desk_client"].pk, world["brand_b_client"].pk} <= _visible(admin)


def test_inactive_user_sees_nothing(world):
    owner = world["owner"]
    owner.is_active = False
    owner.save()
    assert _visible(owner) == set()


def test_shared_client_becomes_visible_to_colleague_and_unshare_hides_it(world):
    client_share(actor=world["owner"], client=world["client"], user=world["colleague"])
    assert client_get_for_user(world["colleague"], world["client"].code).pk == world["client"].pk
    client_unshare(actor=world["owner"], client=world["client"], user=world["colleague"])
    with pytest.raises(NotFound):
        client_get_for_user(world["colleague"], world["client"].code)


def test_sharing_twice_keeps_one_grant_and_one_event(world):
    client_share(actor=world["owner"], client=world["client"], user=world["colleague"])
    client_share(actor=world["owner"], client=world["client"], user=world["colleague"])
    assert world["client"].events.filter(name="client.shared").count() == 1
    assert world["client"].clientuserobjectpermission_set.count() == 1


def test_share_with_user_of_another_brand_is_refused(world):
    with pytest.raises(ValidationFailed) as exc:
        client_share(actor=world["owner"], client=world["client"], user=world["outsider"])
    assert "user" in exc.value.fields
    with pytest.raises(NotFound):
        client_get_for_user(world["outsider"], world["client"].code)


def test_agent_cannot_share_a_client_they_do_not_own(world):
    client_share(actor=world["owner"], client=world["client"], user=world["colleague"])
    third = make_user(role_code=RoleCode.SALES_AGENT, desk=world["desk_1"])
    with pytest.raises(NotAllowed):
        client_share(actor=world["colleague"], client=world["client"], user=third)


def test_scope_is_one_sql_query(world, django_assert_num_queries):
    owner = world["owner"]
    user_can(owner, "crm.view_all_clients")  # warm the per-user permission cache
    qs = client_list(user=owner)
    sql = str(qs.query).upper()
    assert "IN (SELECT" in sql and "ANY(ARRAY(SELECT" in sql
    with django_assert_num_queries(1):
        assert list(qs) == [world["client"]]


def test_task_access_follows_assignee_creator_and_client(world):
    task = task_create(actor=world["owner"], title="Call back", assignee=world["owner"], client=world["client"])
    assert task_get_for_user(world["owner"], task.code).pk == task.pk
    with pytest.raises(NotFound):
        task_get_for_user(world["colleague"], task.code)
    with pytest.raises(NotFound):
        task_get_for_user(world["outsider"], task.code)
    compliance = make_user(role_code=RoleCode.COMPLIANCE, brand=world["brand_a"])
    assert task_get_for_user(compliance, task.code).pk == task.pk


def test_note_access_follows_the_client(world):
    note = note_add(actor=world["owner"], client=world["client"], body="Prefers calls after 5pm")
    assert note_get_for_user(world["owner"], note.code).pk == note.pk
    with pytest.raises(NotFound):
        note_get_for_user(world["colleague"], note.code)
    with pytest.raises(NotFound):
        note_get_for_user(world["outsider"], note.code)


# --- roles and permissions ----------------------------------------------------------------------

def test_roles_exist_after_migrate_with_their_permissions():
    assert set(Role.objects.values_list("code", flat=True)) == set(RoleCode.values)
    agent = Role.objects.get(code=RoleCode.SALES_AGENT)
    perms = {f"{p.content_type.app_label}.{p.codename}" for p in agent.group.permissions.all()}
    assert perms == set(role_permissions()[RoleCode.SALES_AGENT])


def test_privileged_roles_require_2fa_by_default():
    required = set(Role.objects.filter(requires_2fa=True).values_list("code", flat=True))
    assert required == {RoleCode.ADMIN, RoleCode.COMPLIANCE, RoleCode.FINANCE}


def test_roles_sync_is_idempotent_and_repairs_permissions():
    first = roles_sync()
    assert first.created == [] and first.updated == []
    dealer = Role.objects.get(code=RoleCode.DEALER)
    dealer.group.permissions.add(Permission.objects.get(codename="view_auditlog"))
    repaired = roles_sync()
    assert repaired.updated == [RoleCode.DEALER]
    assert not dealer.group.permissions.filter(codename="view_auditlog").exists()


def test_roles_sync_keeps_an_administrators_2fa_choice():
    Role.objects.filter(code=RoleCode.SALES_AGENT).update(requires_2fa=True)
    roles_sync()
    assert Role.objects.get(code=RoleCode.SALES_AGENT).requires_2fa is True


def test_roles_sync_recreates_a_deleted_role():
    role = Role.objects.get(code=RoleCode.DEALER)
    role.delete()
    report = roles_sync()
    assert report.created == [RoleCode.DEALER]
    assert Role.objects.get(code=RoleCode.DEALER).group.permissions.exists()


@pytest.mark.parametrize(("role", "perm", "expected"), [
    (RoleCode.SALES_AGENT, "crm.reveal_contact", True),
    (RoleCode.SALES_AGENT, "crm.view_all_clients", False),
    (RoleCode.SALES_AGENT, "crm.view_auditlog", False),
    (RoleCode.DEALER, "crm.reveal_contact", False),
    (RoleCode.DEALER, "crm.view_all_clients", True),
    (RoleCode.COMPLIANCE, "crm.view_auditlog", True),
    (RoleCode.FINANCE, "crm.view_auditlog", False),
    (RoleCode.ADMIN, "crm.view_eventdelivery", True),
    (RoleCode.DESK_MANAGER, "crm.view_eventdelivery", False),
    (RoleCode.DESK_MANAGER, "crm.assign_client", True),
])
def test_user_can_follows_the_role(role, perm, expected):
    assert user_can(make_user(role_code=role), perm) is expected


def test_user_can_uses_the_role_group_even_without_membership():
    agent = make_user(role_code=RoleCode.SALES_AGENT)
    agent.groups.clear()
    fresh = type(agent).objects.get(pk=agent.pk)
    assert user_can(fresh, "crm.reveal_contact")


def test_inactive_user_can_nothing():
    admin = make_user(role_code=RoleCode.ADMIN)
    admin.is_active = False
    assert not user_can(admin, "crm.view_client")


def test_roles_sync_command_reports_what_it_did():
    import io

    from django.core.management import call_command

    Role.objects.get(code=RoleCode.FINANCE).group.permissions.clear()
    out = io.StringIO()
    call_command("roles_sync", stdout=out)
    assert "permissions changed: finance" in out.getvalue()


def test_user_can_counts_a_permission_granted_directly_or_through_another_group():
    from django.contrib.auth.models import Group

    perm = Permission.objects.get(codename="view_auditlog", content_type__app_label="crm")
    direct, grouped, neither = (make_user(role_code=RoleCode.SALES_AGENT) for _ in range(3))
    direct.user_permissions.add(perm)
    group = Group.objects.create(name="Audit readers")
    group.permissions.add(perm)
    grouped.groups.add(group)
    fresh = {user.pk: type(user).objects.get(pk=user.pk) for user in (direct, grouped, neither)}
    assert user_can(fresh[direct.pk], "crm.view_auditlog")
    assert user_can(fresh[grouped.pk], "crm.view_auditlog")
    assert not user_can(fresh[neither.pk], "crm.view_auditlog")
    assert user_can(fresh[neither.pk], "crm.reveal_contact")  # the role's own, alongside
    assert not user_can(fresh[direct.pk], "monitoring.no_such_permission")
