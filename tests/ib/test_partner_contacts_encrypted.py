"""A partner's contact email, a partner application's contact email and phone and a partner invitation's
email are encrypted in their columns, the emails found by their keyed hashes: the tables (and the
partner's history) hold no address, a second application waiting from one address in another case is
refused as before, an invitation still open to an address is found whatever its case, the mails still
reach the address, the staff's partner search finds a partner by its whole email in any case and by
part of its name. The migration that encrypts existing rows (and decrypts them on the way back) is walked
in test_encryption_migrations.py."""

from __future__ import annotations

import pytest
from django.core import mail
from django.db import connection
from django.urls import reverse
from psycopg import sql

from crm.lib.fieldcrypt import keyed_hash
from ib import onboarding, tasks
from ib.exceptions import ValidationFailed
from ib.models import Partner, PartnerApplication, PartnerInvitation
from tests.factories import make_brand

WAITING = "An application from this address is already waiting for review. We will email you."


def _stored(table: str, pk: int, *columns: str, key: str = "id") -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("SELECT {columns} FROM {table} WHERE {key} = %s ORDER BY 1").format(
            columns=sql.SQL(", ").join(map(sql.Identifier, columns)), table=sql.Identifier(table),
            key=sql.Identifier(key)).as_string(None), [pk])
        return cursor.fetchall()


def _apply(brand, **overrides):
    values = {"company": "Gulf Traders LLC", "expected_clients": 25, "countries": ["AE"],
              "marketing_methods": ["social"], "contact_name": "Layla Nasser",
              "contact_email": "layla@gulftraders.example", "contact_phone": "+971 50 123 4567", "agree": True}
    return onboarding.partner_application_submit(brand=brand, ip="203.0.113.9", **(values | overrides))


def _run_mails(callbacks):
    """Run what the commit queued, each mail task's own body instead of the broker."""
    with pytest.MonkeyPatch.context() as mp:
        for task in (tasks.partner_invitation_mail, tasks.partner_application_rejected_mail):
            mp.setattr(task, "delay", task)
        for callback in callbacks:
            callback()


@pytest.fixture
def applying(settings):
    settings.PARTNER_APPLY_RATE_LIMIT = "1000/m"
    settings.CRM_PUBLIC_URL = "https://crm.example.com"


def test_a_partners_contact_email_is_stored_encrypted_in_its_table_and_its_history(ib):
    ib.services.partner_move(actor=ib.manager, partner=ib.leaf, new_parent=ib.sub_b, reason="a history row")
    [(email, email_hash)] = _stored("ib_partner", ib.leaf.pk, "contact_email", "contact_email_hash")
    assert email.startswith("enc1:") and "ib.example" not in email
    assert email_hash == keyed_hash("LEAF@ib.example", kind="email")
    history = _stored("ib_historicalpartner", ib.leaf.pk, "contact_email")
    assert history and all(e.startswith("enc1:") and "ib.example" not in e for (e,) in history)
    assert Partner.objects.get(pk=ib.leaf.pk).contact_email == "leaf@ib.example"
    assert {h.contact_email for h in Partner.history.filter(id=ib.leaf.pk)} == {"leaf@ib.example"}


def test_an_application_is_stored_encrypted_and_its_rejection_reaches_the_address(
        ib, applying, django_capture_on_commit_callbacks):
    application = _apply(ib.brand)
    [(email, phone, email_hash)] = _stored("ib_partnerapplication", application.pk,
                                           "contact_email", "contact_phone", "contact_email_hash")
    assert email.startswith("enc1:") and "gulftraders" not in email
    assert phone.startswith("enc1:") and "971501234567" not in phone
    assert email_hash == keyed_hash("Layla@GulfTraders.example", kind="email")
    stored = PartnerApplication.objects.get(pk=application.pk)
    assert (stored.contact_email, stored.contact_phone) == ("layla@gulftraders.example", "+971501234567")

    with django_capture_on_commit_callbacks() as callbacks:
        onboarding.application_reject(actor=ib.manager, application=application, reason="No licence yet.")
    _run_mails(callbacks)
    [message] = mail.outbox
    assert message.to == ["layla@gulftraders.example"]


def test_a_second_waiting_application_from_one_address_in_another_case_is_refused(ib, applying, monkeypatch):
    _apply(ib.brand)
    with pytest.raises(ValidationFailed) as caught:
        _apply(ib.brand, contact_email="  LAYLA@GulfTraders.EXAMPLE ", company="Other name")
    assert caught.value.fields["contact_email"] == [WAITING]
    # Two sent at once both pass the check: the database's (hash, brand) constraint refuses the second,
    # with the same words.
    monkeypatch.setattr(onboarding, "_email_free", lambda *args: None)
    with pytest.raises(ValidationFailed) as caught:
        _apply(ib.brand, contact_email="Layla@gulftraders.example", company="Other name")
    assert caught.value.fields["contact_email"] == [WAITING]
    assert PartnerApplication.objects.filter(brand=ib.brand).count() == 1
    other = make_brand()
    assert _apply(other).brand == other  # another brand has its own queue


def test_an_invitation_is_stored_encrypted_found_open_in_any_case_and_mailed_to_its_address(
        ib, applying, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        invitation = onboarding.partner_invite_send(actor=ib.manager, brand=ib.brand, email="Newcomer@Example.org")
    [(email, email_hash)] = _stored("ib_partnerinvitation", invitation.pk, "email", "email_hash")
    assert email.startswith("enc1:") and "example.org" not in email.lower()
    assert email_hash == keyed_hash("newcomer@example.org", kind="email")
    assert PartnerInvitation.objects.get(pk=invitation.pk).email == "Newcomer@Example.org"
    _run_mails(callbacks)
    [message] = mail.outbox
    assert message.to == ["Newcomer@Example.org"]
    with pytest.raises(ValidationFailed) as caught:
        onboarding.partner_invite_send(actor=ib.manager, brand=ib.brand, email="NEWCOMER@example.ORG")
    assert caught.value.fields["email"] == ["An invitation to this address is still open."]


def test_the_staff_partner_search_finds_a_whole_email_in_any_case_and_part_of_a_name(client, ib):
    client.force_login(ib.manager)

    def found(q: str) -> set[str]:
        page = client.get(reverse("ib_partner_list"), {"q": q}).content.decode()
        return {p.display_name for p in (ib.master, ib.sub_a, ib.sub_b, ib.leaf)
                if reverse("ib_partner_detail", args=[p.code]) in page}

    assert found("A@IB.Example") == {"Sub A"}
    assert found("master@ib.example") == {"Master IB"}
    assert found("sub") == {"Sub A", "Sub B"}
    assert found("aste") == {"Master IB"}
    # A part of an address finds nothing: the address is encrypted, only its whole hash is kept.
    assert found("ib.example") == set()
    assert found("leaf@") == set()
