"""A settlement line "missing in the ledger" whose payment reached the ledger later (its webhook came
late): finance matches the break or the whole import again and the break closes as matched by
itself; the nightly run does the same for every provider; a pair that differs opens its own break;
a provider being imported is not matched at the same time."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connections
from django.test import Client as HttpClient
from django.urls import reverse

from crm.exceptions import Conflict, NotFound
from crm.models import AuditLog
from tests.factories import make_brand, make_user
from tests.wallet.recon_support import build_world, csv_file, import_file, line, psp_deposit
from wallet import tasks
from wallet.models import LedgerTransaction, ReconciliationBreak, ReconciliationMatch, SettlementFileLine
from wallet.reconciliation import ProviderBusy, settlement_rematch


@pytest.fixture
def world(db):
    return build_world()


def _missing(imp, ref: str) -> ReconciliationBreak:
    return ReconciliationBreak.objects.get(settlement=imp, kind="missing_in_ledger", line__provider_ref=ref)


def test_a_late_payment_matched_again_closes_its_break_as_matched(world, django_capture_on_commit_callbacks):
    imp = import_file(world, django_capture_on_commit_callbacks, csv_file(line("pay_late", "100.00")))
    brk = _missing(imp, "pay_late")
    assert settlement_rematch(actor=world.finance, brk=brk).matched == 0  # not in the ledger yet: stays open
    brk.refresh_from_db()
    assert brk.status == "open"

    late = psp_deposit(world, "100.00", ref="pay_late")  # the webhook came, the deposit is posted
    result = settlement_rematch(actor=world.finance, brk=brk)

    assert (result.lines, result.matched, result.breaks) == (1, 1, 0)
    brk.refresh_from_db()
    assert (brk.status, brk.resolution, brk.resolved_by_id, brk.adjustment_id) == (
        "resolved", "matched", world.finance.pk, None)
    match = ReconciliationMatch.objects.get(line=brk.line)
    assert (match.transaction_id, match.method) == (late.pk, "reference")
    assert SettlementFileLine.objects.get(pk=brk.line_id).state == "matched"
    imp.refresh_from_db()
    assert imp.matched_count == 1
    assert not LedgerTransaction.objects.filter(ref_kind="recon_break").exists()  # nothing to post
    audit = AuditLog.objects.get(action="wallet.recon_lines_rematched", actor=world.finance)
    assert audit.after["matched"] == 1 and str(brk.code) in audit.after["resolved"]
    with pytest.raises(Conflict):
        settlement_rematch(actor=world.finance, brk=brk)


def test_matching_an_import_again_closes_what_arrived_opens_what_differs_and_leaves_the_rest(
        world, django_capture_on_commit_callbacks):
    imp = import_file(world, django_capture_on_commit_callbacks, csv_file(
        line("pay_a", "100.00"), line("pay_b", "50.00"), line("pay_c", "20.00")))
    psp_deposit(world, "100.00", ref="pay_a")
    psp_deposit(world, "49.00", ref="pay_b")  # confirmed for another amount

    result = settlement_rematch(actor=world.finance, settlement=imp)

    assert (result.lines, result.matched, result.breaks) == (3, 2, 1)
    states = dict(ReconciliationBreak.objects.filter(settlement=imp, kind="missing_in_ledger")
                  .values_list("line__provider_ref", "status"))
    assert states == {"pay_a": "resolved", "pay_b": "resolved", "pay_c": "open"}
    difference = ReconciliationBreak.objects.get(settlement=imp, kind="amount_mismatch")
    assert (difference.line.provider_ref, difference.difference, difference.status, difference.brand_id) == (
        "pay_b", Decimal("1"), "open", world.brand.pk)
    imp.refresh_from_db()
    assert imp.matched_count == 2 and imp.break_count == 4


def test_the_nightly_run_matches_the_late_payments_of_every_provider(db, settings,
                                                                     django_capture_on_commit_callbacks):
    assert any(e["task"] == "wallet.tasks.settlement_rematch_open" for e in settings.CELERY_BEAT_SCHEDULE.values())
    worlds = [build_world(), build_world()]
    breaks = []
    for n, world in enumerate(worlds):
        imp = import_file(world, django_capture_on_commit_callbacks,
                          csv_file(line(f"pay_late_{n}", "75.00"), line(f"pay_never_{n}", "5.00")))
        breaks.append(_missing(imp, f"pay_late_{n}"))
        psp_deposit(world, "75.00", ref=f"pay_late_{n}")

    assert tasks.settlement_rematch_open() == 2
    for brk in breaks:
        brk.refresh_from_db()
        assert (brk.status, brk.resolution, brk.resolved_by_id) == ("resolved", "matched", None)
    assert ReconciliationBreak.objects.filter(kind="missing_in_ledger", status="open").count() == 2
    assert tasks.settlement_rematch_open() == 0  # nothing new the second night


def test_a_provider_being_imported_is_not_matched_again_at_the_same_time(world, django_capture_on_commit_callbacks):
    imp = import_file(world, django_capture_on_commit_callbacks, csv_file(line("pay_late", "100.00")))
    psp_deposit(world, "100.00", ref="pay_late")
    other = connections.create_connection("default")  # an import's job, in another session
    key = f"wallet.recon:{world.provider.pk}"
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(hashtext(%s))", [key])
        with pytest.raises(ProviderBusy, match="being imported"):
            settlement_rematch(actor=world.finance, settlement=imp)
        # The import ends. Unlocked before closing: a closed session's locks go only when its server
        # process has exited, which may be after the next statement here.
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(hashtext(%s))", [key])
    finally:
        other.close()
    assert _missing(imp, "pay_late").status == "open"
    assert settlement_rematch(actor=world.finance, settlement=imp).matched == 1


def test_finance_matches_again_from_the_queue_and_the_import_page(world, login_verified,
                                                                  django_capture_on_commit_callbacks):
    imp = import_file(world, django_capture_on_commit_callbacks,
                      csv_file(line("pay_one", "10.00"), line("pay_two", "20.00")))
    http = HttpClient()
    login_verified(http, world.finance)
    queue = http.get(reverse("wallet_recon_breaks")).content.decode()
    one, two = _missing(imp, "pay_one"), _missing(imp, "pay_two")
    assert reverse("wallet_recon_break_rematch", args=[one.code]) in queue

    psp_deposit(world, "10.00", ref="pay_one")
    answer = http.post(reverse("wallet_recon_break_rematch", args=[one.code]), follow=True)
    assert "Lines missing in the ledger matched now: 1 of 1" in answer.content.decode()
    page = http.get(reverse("wallet_recon_import", args=[imp.code])).content.decode()
    assert "1 line of this file is still missing in the ledger" in page

    psp_deposit(world, "20.00", ref="pay_two")
    http.post(reverse("wallet_recon_import_rematch", args=[imp.code]))
    two.refresh_from_db()
    assert (two.status, two.resolution) == ("resolved", "matched")
    resolved = http.get(reverse("wallet_recon_breaks"), {"status": "resolved"}).content.decode()
    assert "Matched when the movement reached the ledger" in resolved

    # An agent, and finance of another brand, reach neither.
    agent = HttpClient()
    agent.force_login(world.agent)
    assert agent.post(reverse("wallet_recon_import_rematch", args=[imp.code])).status_code == 404
    outsider = HttpClient()
    login_verified(outsider, make_user(role_code="finance", brand=make_brand()))
    assert outsider.post(reverse("wallet_recon_break_rematch", args=[one.code])).status_code == 404
    assert outsider.post(reverse("wallet_recon_import_rematch", args=[imp.code])).status_code == 404
    with pytest.raises(NotFound):
        settlement_rematch(actor=make_user(role_code="finance", brand=make_brand()), settlement=imp)
