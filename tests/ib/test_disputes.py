"""Commission disputes: a partner questions one of its lines in the partner portal, the IB manager
answers it beside the line's trace; bad input is named and stores nothing; the line in force is
found again after a recalculation."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.core import mail
from django.test import Client as HttpClient

from crm.events import dispatch_pending
from crm.exceptions import Conflict
from crm.models import AuditLog, Event, Notification, RoleCode
from ib import commissions as cs
from ib import disputes
from ib.models import CommissionDispute, CommissionLine, DisputeState
from tests.factories import make_brand, make_user
from tests.ib.engine_world import MARCH, t
from tests.ib.test_partner_portal import portal_world, sign_in

D = Decimal
MESSAGE = "The client closed 2 lots, not 1: I expected twice this rebate."


@pytest.fixture
def world(db):
    w = portal_world()
    w.manager = make_user(role_code=RoleCode.IB_MANAGER, brand=w.brand)
    return w


@pytest.fixture
def partner_http(world):
    http, _ = sign_in(world)
    return http


@pytest.fixture
def manager_http(world):
    http = HttpClient()
    http.force_login(world.manager)
    return http


def master_line(w, volume: str = "1") -> CommissionLine:
    """The Master's counted line of the trade of `volume` lots (1 USD a lot at level 2)."""
    from ib.selectors import partner_lines

    return next(x for x in partner_lines(w.master) if x.amount == D(volume))


def test_a_partner_questions_its_line_and_the_ib_manager_is_alerted(world, partner_http):
    line = master_line(world)
    response = partner_http.post(f"/partners/earnings/{line.key}/dispute/", {"message": MESSAGE})
    assert response.status_code == 302 and response["Location"] == f"/partners/earnings/{line.key}/"
    dispute = CommissionDispute.objects.get()
    assert (dispute.partner, dispute.source_id, dispute.rule_code, dispute.amount, dispute.state) == (
        world.master, line.source_id, "fx_rebate", D("1"), DisputeState.OPEN)
    page = partner_http.get(f"/partners/earnings/{line.key}/").content.decode()
    assert MESSAGE[:30] in page and "Waiting for the IB manager" in page
    assert 'name="message"' not in page  # one open question per line
    listing = partner_http.get("/partners/disputes/").content.decode()
    assert 'data-dispute="open"' in listing and "fx_rebate" in listing
    dispatch_pending()
    alert = Notification.objects.get(user=world.manager)
    assert alert.url == f"/ib/disputes/{dispute.code}/" and "Master" in alert.body
    assert AuditLog.objects.filter(action="ib.dispute_opened", object_id=str(dispute.code)).exists()
    assert Event.objects.get(name="ib.dispute_opened").data["line"] == f"deal {line.source_id} / fx_rebate"


@pytest.mark.parametrize(("message", "error"), [
    ("   ", "Say what you think is wrong"),
    ("x" * 2001, "At most 2000 characters (this has 2001)"),
])
def test_an_empty_or_overlong_question_is_refused_by_name_and_stores_nothing(world, partner_http, message, error):
    line = master_line(world)
    response = partner_http.post(f"/partners/earnings/{line.key}/dispute/", {"message": message})
    assert response.status_code == 400 and error in response.content.decode()
    assert not CommissionDispute.objects.exists()


def test_a_second_question_on_an_open_line_is_refused_and_another_partners_line_is_not_found(world, partner_http):
    line = master_line(world)
    disputes.dispute_open(partner=world.master, line_key=line.key, message=MESSAGE)
    with pytest.raises(Conflict, match="You asked about this line on"):
        disputes.dispute_open(partner=world.master, line_key=line.key, message="Again")
    theirs = CommissionLine.objects.filter(beneficiary=world.leaf).order_by("-run__number").first()
    assert partner_http.post(f"/partners/earnings/{theirs.pk}/dispute/", {"message": MESSAGE}).status_code == 404
    assert CommissionDispute.objects.count() == 1


def test_the_ib_manager_answers_beside_the_trace_and_the_partner_reads_it(world, partner_http, manager_http):
    line = master_line(world)
    dispute = disputes.dispute_open(partner=world.master, line_key=line.key, message=MESSAGE)
    queue = manager_http.get("/ib/disputes/").content.decode()
    assert f'data-dispute="{dispute.code}"' in queue and "Master" in queue
    detail = manager_http.get(f"/ib/disputes/{dispute.code}/").content.decode()
    deal = world.account.deals.get(pk=line.source_id)
    assert f"#{deal.deal_id}" in detail and "Standard, version 1" in detail and "Leaf" in detail
    assert MESSAGE[:30] in detail

    empty = manager_http.post(f"/ib/disputes/{dispute.code}/", {"outcome": "rejected", "answer": " "})
    assert empty.status_code == 400 and "Write the answer the partner will read." in empty.content.decode()
    answer = "Only one lot was held longer than the minimum of 60 seconds; the other was a scalp."
    done = manager_http.post(f"/ib/disputes/{dispute.code}/", {"outcome": "rejected", "answer": answer})
    assert done.status_code == 302
    dispute.refresh_from_db()
    assert (dispute.state, dispute.decided_by, dispute.answer) == (DisputeState.REJECTED, world.manager, answer)
    assert Event.objects.get(name="ib.dispute_decided").data["state"] == "rejected"
    page = partner_http.get(f"/partners/earnings/{line.key}/").content.decode()
    assert answer in page and 'name="message"' in page  # answered: the line may be questioned again
    mail.outbox.clear()
    dispatch_pending()
    sent = [m for m in mail.outbox if world.login.email in m.to]
    assert len(sent) == 1 and answer in sent[0].body and "/partners/disputes/" in sent[0].body
    assert "finds the line right" in sent[0].body
    with pytest.raises(Conflict, match="answered already"):
        disputes.dispute_decide(actor=world.manager, dispute=dispute, upheld=True, answer="Changed my mind")


def test_only_the_brands_ib_managers_see_disputes(world, manager_http):
    dispute = disputes.dispute_open(partner=world.master, line_key=master_line(world).key, message=MESSAGE)
    for user in (make_user(role_code=RoleCode.SALES_AGENT, brand=world.brand),
                 make_user(role_code=RoleCode.IB_MANAGER, brand=make_brand())):
        http = HttpClient()
        http.force_login(user)
        assert http.get(f"/ib/disputes/{dispute.code}/").status_code in (403, 404)
        assert http.post(f"/ib/disputes/{dispute.code}/", {"outcome": "upheld", "answer": "x"}).status_code in (403, 404)
    dispute.refresh_from_db()
    assert dispute.state == DisputeState.OPEN


def test_after_a_plan_correction_the_dispute_shows_the_amount_in_force(world, manager_http, partner_http):
    line = master_line(world, "2")
    dispute = disputes.dispute_open(partner=world.master, line_key=line.key, message=MESSAGE)
    cs.plan_version_record(actor=None, plan=world.plan, effective_from=t(1, 0, month=1),
                           rules=[{"code": "fx_rebate", "kind": "per_lot", "group": "fx", "level_rates": ["5", "2", "1.5"]}],
                           min_hold_seconds=60, note="Master's rate was 1.5")
    cs.commission_run(actor=None, brand=world.brand, period=MARCH)
    view = disputes.dispute_view(dispute)
    assert view.current is not None and view.current.pk != line.pk and view.current.amount == D("3")
    assert view.changed
    detail = manager_http.get(f"/ib/disputes/{dispute.code}/").content.decode()
    assert "changed since the question" in detail
    listing = partner_http.get("/partners/disputes/").content.decode()
    assert f"/partners/earnings/{view.current.key}/" in listing


def test_the_partners_page_names_its_plan_and_its_disputes(world, manager_http):
    dispute = disputes.dispute_open(partner=world.master, line_key=master_line(world).key, message=MESSAGE)
    page = manager_http.get(f"/ib/partners/{world.master.code}/").content.decode()
    assert f'href="/ib/plans/{world.plan.code}/">Standard</a>' in page
    assert f"/ib/disputes/{dispute.code}/" in page


def test_a_line_link_and_its_dispute_outlive_a_recalculation_of_the_month(world, partner_http, manager_http):
    earnings = partner_http.get("/partners/earnings/").content.decode()
    link = re.findall(r'href="(/partners/earnings/[^"/]+/)"', earnings)[0]
    before = partner_http.get(link)
    assert before.status_code == 200
    line = before.context["line"]
    response = partner_http.post(link + "dispute/", {"message": MESSAGE})
    assert response.status_code == 302 and response["Location"] == link
    dispute = CommissionDispute.objects.get()

    # The month is computed again: a new run, whose lines are stored under new ids.
    again = cs.commission_run(actor=None, brand=world.brand, period=MARCH)
    assert again.number > line.run.number

    after = partner_http.get(link)
    assert after.status_code == 200
    same = after.context["line"]
    assert same.run_id == again.pk and same.pk != line.pk
    assert (same.source_kind, same.source_id, same.beneficiary_id, same.rule_code, same.amount) == (
        line.source_kind, line.source_id, line.beneficiary_id, line.rule_code, line.amount)
    assert "Waiting for the IB manager" in after.content.decode()
    # The dispute still shows its line: in the partner's list (the same link) and to the IB manager.
    assert link in partner_http.get("/partners/disputes/").content.decode()
    view = disputes.dispute_view(dispute)
    assert view.current is not None and view.current.run_id == again.pk and not view.changed
    detail = manager_http.get(f"/ib/disputes/{dispute.code}/").content.decode()
    assert "changed since the question" not in detail and line.rule_code in detail
