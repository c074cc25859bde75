"""Partners: the hierarchy (one query per subtree or ancestor chain, moves dated, audited and
refusing cycles), joining (application, approval, invitation), the partner login."""

from __future__ import annotations

import datetime as dt

import pytest
import time_machine
from django.core import signing

from crm.models import AuditLog, Event
from ib import selectors
from ib.exceptions import HierarchyCycle, InvitationUnusable, NotAllowed, ValidationFailed
from ib.models import PartnerParentChange, PartnerStatus
from tests.ib.conftest import PASSWORD


def _refresh(*partners):
    for p in partners:
        p.refresh_from_db()


def test_subtree_and_ancestors_are_one_query_each(ib, django_assert_num_queries):
    with django_assert_num_queries(1):
        names = [p.display_name for p in selectors.partner_subtree(ib.master)]
    assert names[0] == "Master IB" and set(names) == {"Master IB", "Sub A", "Sub B", "Leaf"}
    with django_assert_num_queries(1):
        chain = [p.display_name for p in selectors.partner_ancestors(ib.leaf)]
    assert chain == ["Master IB", "Sub A"]
    assert ib.leaf.depth == 2 and ib.master.depth == 0


def test_moving_a_partner_moves_its_subtree_dated_and_audited(ib):
    change = ib.services.partner_move(actor=ib.manager, partner=ib.sub_a, new_parent=ib.sub_b,
                                      reason="Sub A now works under Sub B")
    _refresh(ib.sub_a, ib.leaf)
    assert ib.sub_a.parent_id == ib.sub_b.pk
    assert ib.leaf.path == [ib.master.pk, ib.sub_b.pk, ib.sub_a.pk, ib.leaf.pk]
    assert [p.display_name for p in selectors.partner_ancestors(ib.leaf)] == ["Master IB", "Sub B", "Sub A"]
    assert set(selectors.partner_subtree(ib.sub_b).values_list("display_name", flat=True)) == {"Sub B", "Sub A", "Leaf"}
    assert (change.old_parent, change.new_parent, change.actor) == (ib.master, ib.sub_b, ib.manager)
    assert change.effective_at is not None and change.reason == "Sub A now works under Sub B"
    assert AuditLog.objects.filter(action="ib.partner_moved", object_id=str(ib.sub_a.code)).exists()
    event = Event.objects.get(name="ib.partner_moved")
    assert event.data["moved"] == 2 and event.data["new_parent"]["name"] == "Sub B"
    # To the top: a root of its own.
    ib.services.partner_move(actor=ib.manager, partner=ib.sub_a, new_parent=None, reason="independent")
    _refresh(ib.leaf)
    assert ib.leaf.path == [ib.sub_a.pk, ib.leaf.pk]
    assert PartnerParentChange.objects.filter(partner=ib.sub_a).count() == 2


def test_a_move_under_ones_own_descendant_is_refused(ib):
    with pytest.raises(HierarchyCycle) as caught:
        ib.services.partner_move(actor=ib.manager, partner=ib.master, new_parent=ib.leaf, reason="loop")
    assert "own sub-partners" in caught.value.message and "parent" in caught.value.fields
    with pytest.raises(HierarchyCycle):
        ib.services.partner_move(actor=ib.manager, partner=ib.sub_a, new_parent=ib.sub_a, reason="self")
    _refresh(ib.master)
    assert ib.master.path == [ib.master.pk] and not PartnerParentChange.objects.exists()


def test_an_agent_cannot_move_partners(ib):
    with pytest.raises(NotAllowed):
        ib.services.partner_move(actor=ib.agent, partner=ib.sub_a, new_parent=ib.sub_b, reason="x")


def test_an_application_waits_for_approval_and_then_signs_in(ib):
    partner = ib.services.partner_apply(brand=ib.brand, display_name="Gulf Traders", email="Ali@Gulf.example",
                                        password=PASSWORD, country="ae")
    assert partner.status == PartnerStatus.APPLIED and partner.country == "AE"
    assert ib.services.partner_authenticate(brand=ib.brand, email="ali@gulf.example", password=PASSWORD) is None
    ib.services.partner_approve(actor=ib.manager, partner=partner)
    login = ib.services.partner_authenticate(brand=ib.brand, email="ALI@gulf.example", password=PASSWORD)
    assert login is not None and login.partner == partner
    assert PASSWORD not in login.password and "$" in login.password  # a Django hash, never the password
    assert ib.services.partner_authenticate(brand=ib.brand, email="ali@gulf.example", password="wrong") is None
    assert Event.objects.filter(name="ib.partner_approved", data__partner__code=str(partner.code)).exists()


def test_an_application_is_rejected_with_a_reason_and_duplicates_refused(ib):
    partner = ib.services.partner_apply(brand=ib.brand, display_name="Spam", email="spam@x.example",
                                        password=PASSWORD)
    with pytest.raises(ValidationFailed) as caught:
        ib.services.partner_reject(actor=ib.manager, partner=partner, reason="")
    assert "reason" in caught.value.fields
    ib.services.partner_reject(actor=ib.manager, partner=partner, reason="No website")
    partner.refresh_from_db()
    assert partner.status == PartnerStatus.REJECTED
    with pytest.raises(ValidationFailed) as caught:
        ib.services.partner_apply(brand=ib.brand, display_name="Again", email="SPAM@x.example", password=PASSWORD)
    assert "email" in caught.value.fields


def test_auto_approval_makes_applicants_active(ib):
    ib.services.partner_program_set(actor=ib.manager, brand=ib.brand, auto_approve=True)
    partner = ib.services.partner_apply(brand=ib.brand, display_name="Quick", email="q@x.example",
                                        password=PASSWORD, kind="affiliate")
    assert partner.status == PartnerStatus.ACTIVE and partner.kind == "affiliate"


def test_an_invitation_makes_a_sub_ib_and_works_once(ib):
    token = ib.services.partner_invite(brand=ib.brand, email="new@sub.example", inviting_partner=ib.sub_b)
    partner = ib.services.partner_accept_invitation(token=token, display_name="New Sub", password=PASSWORD)
    assert partner.status == PartnerStatus.ACTIVE and partner.parent == ib.sub_b
    assert partner.path == [ib.master.pk, ib.sub_b.pk, partner.pk]
    assert ib.services.partner_authenticate(brand=ib.brand, email="new@sub.example", password=PASSWORD)
    with pytest.raises(InvitationUnusable, match="already been used"):
        ib.services.partner_accept_invitation(token=token, display_name="Twice", password=PASSWORD)


def test_an_expired_or_tampered_invitation_is_refused(ib):
    token = ib.services.partner_invite(brand=ib.brand, email="late@sub.example", actor=ib.manager, parent=ib.master)
    with pytest.raises(InvitationUnusable, match="not valid"):
        ib.services.partner_accept_invitation(token=token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
                                              display_name="X", password=PASSWORD)
    forged = signing.dumps({"i": "00000000-0000-0000-0000-000000000000"}, salt="ib.invitation")
    with pytest.raises(InvitationUnusable, match="not valid"):
        ib.services.partner_accept_invitation(token=forged, display_name="X", password=PASSWORD)
    with time_machine.travel(dt.datetime.now(dt.UTC) + dt.timedelta(days=8)), \
            pytest.raises(InvitationUnusable, match="expired"):
        ib.services.partner_accept_invitation(token=token, display_name="X", password=PASSWORD)
