"""Staff, role and desk administration pages: administrators only, everything audited."""

from __future__ import annotations

from datetime import time

import pytest
from django.urls import reverse
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm.models import AuditLog, Desk, Event, Role, RoleCode, User
from tests.factories import make_brand, make_desk, make_user

pytestmark = pytest.mark.django_db

PASSWORD = "Quiet-harbour-lantern-42"


@pytest.fixture
def brand():
    return make_brand(code="alpha", name="Alpha Markets")


@pytest.fixture
def admin(brand):
    return make_user(role_code=RoleCode.ADMIN, email="admin@staff.example.com", full_name="Ada Admin")


@pytest.fixture
def admin_client(client, admin, login_verified):
    login_verified(client, admin)
    return client


def admin_urls(member: User, desk: Desk) -> list[tuple[str, str]]:
    return [
        ("get", reverse("staff_list")),
        ("get", reverse("staff_create")),
        ("post", reverse("staff_create")),
        ("get", reverse("staff_edit", args=[member.code])),
        ("post", reverse("staff_edit", args=[member.code])),
        ("post", reverse("staff_set_active", args=[member.code])),
        ("post", reverse("staff_reset_2fa", args=[member.code])),
        ("get", reverse("role_list")),
        ("post", reverse("role_set_2fa", args=[RoleCode.SALES_AGENT])),
        ("get", reverse("desk_list")),
        ("get", reverse("desk_create")),
        ("post", reverse("desk_create")),
        ("get", reverse("desk_edit", args=[desk.code])),
        ("post", reverse("desk_edit", args=[desk.code])),
    ]


# --- who may open the pages ---------------------------------------------------------------------


@pytest.mark.parametrize("role_code", [
    RoleCode.DESK_MANAGER, RoleCode.SALES_AGENT, RoleCode.RETENTION_AGENT, RoleCode.COMPLIANCE,
    RoleCode.FINANCE, RoleCode.IB_MANAGER, RoleCode.DEALER,
])
def test_staff_pages_are_404_for_everyone_but_administrators(client, brand, role_code, login_verified):
    desk = make_desk(brand=brand)
    member = make_user(role_code=RoleCode.SALES_AGENT, brand=brand)
    outsider = make_user(role_code=role_code, brand=brand, desk=desk)
    if outsider.requires_2fa:
        login_verified(client, outsider)
    else:
        client.force_login(outsider)

    for method, url in admin_urls(member, desk):
        response = getattr(client, method)(url)
        assert response.status_code == 404, (role_code, method, url)
    assert User.objects.count() == 2 + User.objects.filter(role__code=RoleCode.ADMIN).count()
    assert not AuditLog.objects.filter(action__startswith="staff.").exists()


def test_staff_pages_send_anonymous_visitors_to_login(client, brand):
    desk = make_desk(brand=brand)
    member = make_user(role_code=RoleCode.SALES_AGENT, brand=brand)
    for method, url in admin_urls(member, desk):
        response = getattr(client, method)(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith(reverse("login"))


def test_administrator_opens_every_staff_page(admin_client, brand):
    desk = make_desk(brand=brand)
    member = make_user(role_code=RoleCode.SALES_AGENT, brand=brand)
    for method, url in admin_urls(member, desk):
        if method == "get":
            assert admin_client.get(url).status_code == 200, url


def test_administrator_without_second_factor_is_not_let_in(client, admin):
    client.force_login(admin)

    response = client.get(reverse("staff_list"))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("otp_setup"))


def test_staff_and_roles_appear_in_navigation_for_administrators_only(client, admin, brand, login_verified):
    login_verified(client, admin)
    keys = {item["key"] for item in client.get(reverse("staff_list")).context["nav_items"]}
    assert {"staff", "roles"} <= keys

    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=brand)
    client.force_login(agent)
    keys = {item["key"] for item in client.get(reverse("client_list")).context["nav_items"]}
    assert not {"staff", "roles"} & keys


# --- list and filters ---------------------------------------------------------------------------


def test_staff_list_filters_by_role_desk_brand_and_status(admin_client, admin, brand):
    other_brand = make_brand(code="beta", name="Beta FX")
    desk = make_desk(brand=brand, name="Berlin Sales")
    on_desk = make_user(role_code=RoleCode.SALES_AGENT, brand=brand, desk=desk, full_name="Desk Dora")
    retention = make_user(role_code=RoleCode.RETENTION_AGENT, brand=other_brand, full_name="Beta Ben")
    gone = make_user(role_code=RoleCode.SALES_AGENT, brand=brand, full_name="Gone Gary")
    User.objects.filter(pk=gone.pk).update(is_active=False)

    def names(**params: str) -> set[str]:
        page = admin_client.get(reverse("staff_list"), params).context["page"]
        return {u.full_name for u in page.object_list}

    assert names() == {"Ada Admin", "Desk Dora", "Beta Ben", "Gone Gary"}
    assert names(role=RoleCode.RETENTION_AGENT) == {"Beta Ben"}
    assert names(desk=str(desk.code)) == {"Desk Dora"}
    assert names(brand="beta") == {"Beta Ben", "Ada Admin"}  # the administrator works for all brands
    assert names(status="inactive") == {"Gone Gary"}
    assert names(status="active", role=RoleCode.SALES_AGENT) == {"Desk Dora"}
    assert names(q="gary") == {"Gone Gary"}
    assert on_desk and retention


def test_staff_list_query_count_does_not_grow_with_staff(admin_client, brand, django_assert_max_num_queries):
    for _ in range(3):
        make_user(role_code=RoleCode.SALES_AGENT, brand=brand)
    with django_assert_max_num_queries(20) as small:
        first = admin_client.get(reverse("staff_list"))
    assert first.status_code == 200
    more = [make_user(role_code=RoleCode.SALES_AGENT, brand=brand, desk=make_desk(brand=brand)) for _ in range(12)]
    with django_assert_max_num_queries(len(small.captured_queries)):
        page = admin_client.get(reverse("staff_list"))
    html = page.content.decode()
    assert page.status_code == 200
    assert all(user.email in html and user.desk.name in html for user in more)  # with their desks


# --- creating people ----------------------------------------------------------------------------


def _create_form(brand, **overrides: str) -> dict[str, object]:
    data: dict[str, object] = {
        "full_name": "Nina New", "email": "Nina.New@Staff.Example.com", "role": RoleCode.SALES_AGENT,
        "desk": "", "brands": [brand.code], "language": "en", "timezone": "Europe/Berlin", "password": "",
    }
    data.update(overrides)
    return data


def test_administrator_creates_a_user_with_a_generated_password_shown_once(admin_client, admin, brand):
    response = admin_client.post(reverse("staff_create"), _create_form(brand))

    assert response.status_code == 200
    password = response.context["generated_password"]
    assert len(password) >= 12
    assert password in response.content.decode()
    nina = User.objects.get(email="nina.new@staff.example.com")
    assert nina.role.code == RoleCode.SALES_AGENT
    assert list(nina.brands.all()) == [brand]
    assert nina.timezone == "Europe/Berlin"
    assert nina.groups.filter(pk=nina.role.group_id).exists()
    assert nina.check_password(password)
    assert Event.objects.filter(name="staff.user_created", actor=admin, data__user=str(nina.code)).exists()
    assert AuditLog.objects.filter(action="user.create", object_id=str(nina.code), actor=admin).exists()
    assert password not in str(list(AuditLog.objects.values_list("after", flat=True)))

    admin_client.post(reverse("logout"))
    login = admin_client.post(reverse("login"), {"username": "nina.new@staff.example.com", "password": password})
    assert login.status_code == 302


def test_administrator_creates_a_user_with_a_chosen_password(admin_client, brand):
    response = admin_client.post(reverse("staff_create"), _create_form(brand, password=PASSWORD))

    assert response.status_code == 200
    assert response.context["generated_password"] == ""
    assert User.objects.get(email="nina.new@staff.example.com").check_password(PASSWORD)


@pytest.mark.parametrize(("password", "message"), [
    ("Short1!", "This password is too short. It must contain at least 12 characters."),
    ("password1234", "This password is too common."),
    ("734092817465091", "This password is entirely numeric."),
    ("nina.new.staff", "The password is too similar to the"),
])
def test_creating_a_user_with_a_weak_password_names_the_problem(admin_client, brand, password, message):
    response = admin_client.post(reverse("staff_create"), _create_form(brand, password=password))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not User.objects.filter(email="nina.new@staff.example.com").exists()


def test_creating_a_user_needs_a_brand_and_a_desk_of_that_brand(admin_client, brand):
    other = make_brand(code="beta", name="Beta FX")
    desk = make_desk(brand=other)

    no_brand = admin_client.post(reverse("staff_create"), _create_form(brand, brands=[]))
    wrong_desk = admin_client.post(reverse("staff_create"), _create_form(brand, desk=str(desk.code)))

    assert "Choose at least one brand, or give access to all brands." in no_brand.content.decode()
    assert "is not among the chosen brands" in wrong_desk.content.decode()
    assert not User.objects.filter(email="nina.new@staff.example.com").exists()


def test_creating_a_user_with_a_taken_email_is_refused_whatever_the_case(admin_client, admin, brand):
    response = admin_client.post(reverse("staff_create"), _create_form(brand, email="ADMIN@staff.example.com"))

    assert "A user with this email already exists." in response.content.decode()


# --- editing, deactivating, resetting two-factor ------------------------------------------------


def test_changing_a_users_role_moves_their_permissions_and_is_audited(admin_client, admin, brand):
    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=brand, full_name="Sam Agent")

    response = admin_client.post(reverse("staff_edit", args=[agent.code]), {
        "full_name": "Sam Agent", "email": agent.email, "role": RoleCode.DESK_MANAGER, "desk": "",
        "brands": [brand.code], "language": "ar", "timezone": "Asia/Dubai", "phone_extension": "204",
    })

    assert response.status_code == 302
    agent = User.objects.get(pk=agent.pk)
    assert agent.role.code == RoleCode.DESK_MANAGER
    assert set(agent.groups.all()) == {Role.objects.get(code=RoleCode.DESK_MANAGER).group}
    assert agent.has_perm("crm.assign_client")
    assert (agent.language, agent.timezone, agent.phone_extension) == ("ar", "Asia/Dubai", "204")
    row = AuditLog.objects.get(action="staff.user_updated", object_id=str(agent.code))
    assert row.actor_id == admin.pk
    assert row.before["role"] == RoleCode.SALES_AGENT and row.after["role"] == RoleCode.DESK_MANAGER
    assert Event.objects.filter(name="staff.user_updated", data__user=str(agent.code)).exists()


def test_administrator_cannot_demote_themselves(admin_client, admin, brand):
    response = admin_client.post(reverse("staff_edit", args=[admin.code]), {
        "full_name": admin.full_name, "email": admin.email, "role": RoleCode.SALES_AGENT, "desk": "",
        "all_brands": "on", "language": "en", "timezone": "UTC",
    })

    assert response.status_code == 200
    assert "You cannot take the administrator role away from yourself." in response.content.decode()
    admin.refresh_from_db()
    assert admin.role.code == RoleCode.ADMIN


def test_deactivated_user_is_logged_out_and_cannot_log_in_and_is_reactivated(admin_client, admin, brand):
    from django.test import Client

    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=brand, password=PASSWORD)
    agent_browser = Client()
    agent_browser.force_login(agent)
    assert agent_browser.get(reverse("client_list")).status_code == 200

    response = admin_client.post(reverse("staff_set_active", args=[agent.code]),
                                 {"active": "0", "reason": "left the company"})

    assert response.status_code == 302
    agent.refresh_from_db()
    assert not agent.is_active
    assert User.objects.filter(pk=agent.pk).exists()  # never deleted
    assert agent_browser.get(reverse("client_list"))["Location"].startswith(reverse("login"))
    refused = Client().post(reverse("login"), {"username": agent.email, "password": PASSWORD})
    assert "That email and password do not match an active account." in refused.content.decode()
    row = AuditLog.objects.get(action="staff.user_deactivated")
    assert (row.actor_id, row.reason, row.object_id) == (admin.pk, "left the company", str(agent.code))

    admin_client.post(reverse("staff_set_active", args=[agent.code]), {"active": "1"})
    agent.refresh_from_db()
    assert agent.is_active
    assert AuditLog.objects.filter(action="staff.user_reactivated").exists()


def test_administrator_cannot_deactivate_themselves(admin_client, admin):
    admin_client.post(reverse("staff_set_active", args=[admin.code]), {"active": "0"})

    admin.refresh_from_db()
    assert admin.is_active


def test_administrator_resets_another_users_two_factor_and_it_is_audited(admin_client, admin, brand, login_verified):
    from django.test import Client

    officer = make_user(role_code=RoleCode.COMPLIANCE, brand=brand)
    officer_browser = Client()
    login_verified(officer_browser, officer)
    assert officer_browser.get(reverse("client_list")).status_code == 200

    response = admin_client.post(reverse("staff_reset_2fa", args=[officer.code]), {"reason": "lost phone"})

    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=officer).exists()
    row = AuditLog.objects.get(action="staff.2fa_reset")
    assert (row.actor_id, row.reason, row.object_id) == (admin.pk, "lost phone", str(officer.code))
    assert Event.objects.filter(name="staff.2fa_reset", data__user=str(officer.code)).exists()
    # The officer's open session lost its second factor: back to setting up a new device.
    assert officer_browser.get(reverse("client_list"))["Location"].startswith(reverse("otp_setup"))


# --- roles --------------------------------------------------------------------------------------


def test_role_list_shows_each_role_with_its_permissions(admin_client):
    response = admin_client.get(reverse("role_list"))

    rows = {row["role"].code: row for row in response.context["roles"]}
    assert set(rows) == set(RoleCode.values)
    agent_perms = dict(rows[RoleCode.SALES_AGENT]["permissions"])
    assert {"view", "add", "change"} <= set(agent_perms["Client"])
    assert any(action.startswith("reveal") for action in agent_perms["Client"])
    assert "delete" not in agent_perms["Client"]
    assert rows[RoleCode.COMPLIANCE]["role"].requires_2fa is True


def test_administrator_makes_a_role_privileged_and_back_and_it_is_audited(admin_client, admin):
    role = Role.objects.get(code=RoleCode.DEALER)
    assert not role.requires_2fa

    admin_client.post(reverse("role_set_2fa", args=[role.code]), {"requires_2fa": "on"})
    role.refresh_from_db()
    assert role.requires_2fa

    admin_client.post(reverse("role_set_2fa", args=[role.code]), {})
    role.refresh_from_db()
    assert not role.requires_2fa

    rows = list(AuditLog.objects.filter(action="staff.role_2fa_changed").order_by("id"))
    assert [r.after for r in rows] == [{"requires_2fa": True}, {"requires_2fa": False}]
    assert all(r.actor_id == admin.pk for r in rows)


# --- desks --------------------------------------------------------------------------------------


def _desk_form(brand, **overrides: object) -> dict[str, object]:
    data: dict[str, object] = {
        "brand": brand.code, "name": "Dubai Retention", "kind": "retention", "countries": "ae, SA,qa",
        "languages": "ar, EN", "timezone": "Asia/Dubai", "work_start": "22:00", "work_end": "06:00",
        "work_days": ["7", "1", "2", "3", "4"], "manager": "",
    }
    data.update(overrides)
    return data


def test_administrator_creates_a_desk(admin_client, admin, brand):
    manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=brand)

    response = admin_client.post(reverse("desk_create"), _desk_form(brand, manager=str(manager.code)))

    assert response.status_code == 302
    desk = Desk.objects.get(name="Dubai Retention")
    assert desk.brand == brand and desk.kind == "retention"
    assert desk.countries == ["AE", "SA", "QA"]
    assert desk.languages == ["ar", "en"]
    assert (desk.work_start, desk.work_end, desk.work_days) == (time(22), time(6), [1, 2, 3, 4, 7])
    assert desk.manager == manager
    assert AuditLog.objects.filter(action="staff.desk_created", object_id=str(desk.code), actor=admin).exists()
    assert Event.objects.filter(name="staff.desk_created", data__desk=str(desk.code)).exists()


@pytest.mark.parametrize(("overrides", "message"), [
    ({"countries": "DE, XX"}, "Not an ISO country code: XX"),
    ({"languages": "english!"}, "Not a language code: english!"),
    ({"work_days": []}, "This field is required."),
    ({"work_start": "09:00", "work_end": "09:00"}, "The end must differ from the start."),
])
def test_desk_form_names_the_bad_field(admin_client, brand, overrides, message):
    response = admin_client.post(reverse("desk_create"), _desk_form(brand, **overrides))

    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Desk.objects.filter(name="Dubai Retention").exists()


def test_desk_manager_must_work_for_the_desks_brand(admin_client, brand):
    outsider = make_user(role_code=RoleCode.DESK_MANAGER, brand=make_brand())

    response = admin_client.post(reverse("desk_create"), _desk_form(brand, manager=str(outsider.code)))

    assert response.context["form"].errors["manager"] == ["This user has no access to the desk's brand."]
    assert not Desk.objects.filter(name="Dubai Retention").exists()


def test_desk_names_are_unique_per_brand(admin_client, brand):
    make_desk(brand=brand, name="Dubai Retention")

    response = admin_client.post(reverse("desk_create"), _desk_form(brand, name="dubai retention"))

    assert "This brand already has a desk with that name." in response.content.decode()


def test_administrator_edits_and_closes_a_desk(admin_client, admin, brand):
    desk = make_desk(brand=brand, name="Old Name")

    response = admin_client.post(reverse("desk_edit", args=[desk.code]), _desk_form(
        brand, name="New Name", is_active="",
    ))

    assert response.status_code == 302
    desk.refresh_from_db()
    assert desk.name == "New Name" and not desk.is_active
    row = AuditLog.objects.get(action="staff.desk_updated", object_id=str(desk.code))
    assert row.before["name"] == "Old Name" and row.after["name"] == "New Name"
    assert row.actor_id == admin.pk
