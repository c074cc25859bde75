"""The audit log page is scoped by brand like every other list: a brand-limited reader sees the rows
of their brands only (system-wide rows are for all-brand readers), a brand filter narrows it, and
contact data in before/after is masked. Rows are written by the real services."""

from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
from django.urls import reverse

from crm.audit import audit_record
from crm.models import AuditLog
from tests.factories import make_brand, make_client, make_desk, make_user


def _ids(html: str) -> set[int]:
    return {int(m) for m in re.findall(r'id="audit-(\d+)"', html)}


@pytest.fixture
def two_brands(db):
    from crm.services import client_update

    alpha, beta = make_brand(), make_brand()
    agent_a = make_user(role_code="sales_agent", desk=make_desk(brand=alpha))
    agent_b = make_user(role_code="sales_agent", desk=make_desk(brand=beta))
    client_a = make_client(actor=agent_a, brand=alpha, email="amira@example.com", phone="+442071838750")
    client_b = make_client(actor=agent_b, brand=beta, email="boris@example.com")
    client_update(actor=agent_a, client=client_a, first_name="Amira", last_name="Haddad")
    client_update(actor=agent_b, client=client_b, first_name="Boris", last_name="Becker")
    audit_record(action="rate.set", object_type="wallet.rate", object_id="EURUSD",
                 before={"rate": "1.0812"}, after={"rate": "1.0815"}, actor=None)
    rows = SimpleNamespace(
        alpha=set(AuditLog.objects.filter(object_id=str(client_a.code)).values_list("pk", flat=True)),
        beta=set(AuditLog.objects.filter(object_id=str(client_b.code)).values_list("pk", flat=True)),
        system=set(AuditLog.objects.filter(action="rate.set").values_list("pk", flat=True)),
    )
    return SimpleNamespace(alpha=alpha, beta=beta, client_a=client_a, client_b=client_b, rows=rows)


def _shown(http, **params) -> set[int]:
    response = http.get(reverse("audit_list"), params)
    assert response.status_code == 200
    return _ids(response.content.decode())


def test_audit_rows_carry_the_brand_of_their_client(two_brands):
    assert two_brands.rows.alpha and two_brands.rows.beta
    assert set(AuditLog.objects.filter(pk__in=two_brands.rows.alpha).values_list("brand_id", flat=True)) == {
        two_brands.alpha.pk}
    assert AuditLog.objects.get(action="rate.set").brand_id is None


def test_a_brand_limited_compliance_officer_sees_only_the_rows_of_their_brand(client, login_verified, two_brands):
    login_verified(client, make_user(role_code="compliance", brand=two_brands.alpha))
    response = client.get(reverse("audit_list"))
    html = response.content.decode()
    shown = _ids(html)
    assert two_brands.rows.alpha <= shown
    assert not shown & two_brands.rows.beta
    assert not shown & two_brands.rows.system  # system-wide rows are for all-brand readers
    assert "Becker" not in html and "Boris" not in html


def test_an_all_brands_admin_sees_both_brands_and_the_system_rows(client, login_verified, two_brands):
    login_verified(client, make_user(role_code="admin"))
    assert two_brands.rows.alpha | two_brands.rows.beta | two_brands.rows.system <= _shown(client)


def test_an_all_brands_compliance_officer_sees_both_brands(client, login_verified, two_brands):
    login_verified(client, make_user(role_code="compliance", all_brands=True))
    assert two_brands.rows.alpha | two_brands.rows.beta | two_brands.rows.system <= _shown(client)


def test_the_brand_filter_narrows_the_log_to_one_brand(client, login_verified, two_brands):
    login_verified(client, make_user(role_code="admin"))
    shown = _shown(client, brand=two_brands.beta.code)
    assert two_brands.rows.beta <= shown
    assert not shown & (two_brands.rows.alpha | two_brands.rows.system)
    page = client.get(reverse("audit_list")).content.decode()
    assert f'<option value="{two_brands.alpha.code}">' in page and f'<option value="{two_brands.beta.code}">' in page


def test_a_brand_limited_reader_can_neither_pick_nor_force_another_brand(client, login_verified, two_brands):
    login_verified(client, make_user(role_code="compliance", brand=two_brands.alpha))
    page = client.get(reverse("audit_list")).content.decode()
    assert f'<option value="{two_brands.beta.code}">' not in page
    assert not _shown(client, brand=two_brands.beta.code) & (two_brands.rows.beta | two_brands.rows.alpha)


def test_contact_data_in_before_and_after_is_masked(client, login_verified, two_brands):
    row = audit_record(action="client.import_fix", obj=two_brands.client_a, actor=None,
                       before={"email": "amira.old@example.com", "contact": {"mobile": "+442071838750"}},
                       after={"email": "amira@example.com", "note": "write to amira@example.com"})
    login_verified(client, make_user(role_code="compliance", brand=two_brands.alpha))
    html = client.get(reverse("audit_list")).content.decode()
    assert f'id="audit-{row.pk}"' in html
    assert "amira.old@example.com" not in html and "+442071838750" not in html
    assert "a***@example.com" in html and "+44*******750" in html
    assert "write to amira@example.com" in html  # free text is the actor's words, shown as written


def test_a_role_without_the_audit_permission_still_gets_not_found(client, login_verified, two_brands):
    login_verified(client, make_user(role_code="sales_agent", brand=two_brands.alpha))
    assert client.get(reverse("audit_list")).status_code == 404
