"""Settlement reconciliation: a provider's file imported by the RQ job and matched against the
ledger (by reference, by amount and date within the tolerances, batched payouts one line to many),
every kind of break from a crafted file, resolutions that post once and are audited, the same file
refused twice, a corrupt file storing nothing, and the month-end summary."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from crm.exceptions import Conflict
from crm.lib.money import Money
from crm.models import AuditLog, Job
from tests.wallet.recon_support import (
    DAY,
    build_world,
    csv_file,
    import_file,
    line,
    psp_deposit,
    psp_payout,
)
from wallet.ledger import balance, clearing_account_for
from wallet.models import LedgerTransaction, ReconciliationBreak, ReconciliationMatch, SettlementFileLine
from wallet.reconciliation import break_resolve, open_breaks_summary, settlement_import_start


@pytest.fixture
def world(db):
    return build_world()


def _breaks(imp) -> dict[str, list[ReconciliationBreak]]:
    found: dict[str, list[ReconciliationBreak]] = {}
    for brk in ReconciliationBreak.objects.filter(settlement=imp).order_by("id"):
        found.setdefault(brk.kind, []).append(brk)
    return found


def test_lines_match_their_movements_by_the_providers_reference(world, django_capture_on_commit_callbacks):
    first = psp_deposit(world, "100.00", ref="pay_1", fee="2.50")
    second = psp_payout(world, "40.00", ref="po_1", fee="1.00")
    imp = import_file(world, django_capture_on_commit_callbacks, csv_file(
        line("pay_1", "100.00", fee="2.50"), line("po_1", "-39.00", fee="1.00", kind="payout")))
    assert imp.status == "done", imp.error
    assert (imp.line_count, imp.matched_count, imp.break_count) == (2, 2, 0)
    matches = {m.line.provider_ref: (m.transaction_id, m.method) for m in ReconciliationMatch.objects.filter(
        line__settlement=imp).select_related("line")}
    assert matches == {"pay_1": (first.pk, "reference"), "po_1": (second.pk, "reference")}
    job = Job.objects.get(pk=imp.job_id)
    assert job.status == "done" and job.counts == {"lines": 2, "matched": 2, "breaks": 0}


def test_a_line_without_a_known_reference_matches_by_amount_and_date_within_the_tolerances(
        world, django_capture_on_commit_callbacks):
    late = psp_deposit(world, "250.00", day=DAY - dt.timedelta(days=2))  # the ledger never learned the reference
    short = psp_deposit(world, "80.00")
    psp_deposit(world, "60.00", day=DAY - dt.timedelta(days=9))  # too far from the value date
    imp = import_file(world, django_capture_on_commit_callbacks, csv_file(
        line("pay_late", "250.00"), line("pay_short", "79.99"), line("pay_far", "60.00")))
    matches = dict(ReconciliationMatch.objects.filter(line__settlement=imp).values_list("line__provider_ref",
                                                                                         "transaction_id"))
    assert matches == {"pay_late": late.pk, "pay_short": short.pk}
    assert set(ReconciliationMatch.objects.filter(line__settlement=imp).values_list("method", flat=True)) == {"tolerance"}
    breaks = _breaks(imp)
    # Matched within the tolerance, the cent still differs and is there to be resolved.
    assert [(b.line.provider_ref, b.difference) for b in breaks["amount_mismatch"]] == [("pay_short", Decimal("-0.01"))]
    assert [b.line.provider_ref for b in breaks["missing_in_ledger"]] == ["pay_far"]


def test_a_batched_payout_line_matches_every_payout_of_its_batch(world, django_capture_on_commit_callbacks):
    payouts = [psp_payout(world, amount, fee="1.00") for amount in ("100.00", "50.00", "20.00")]
    imp = import_file(world, django_capture_on_commit_callbacks, csv_file(
        line("batch_77", "-167.00", fee="3.00", kind="payout", batch="S20260302")))
    assert (imp.line_count, imp.matched_count, imp.break_count) == (1, 1, 0)
    matched = ReconciliationMatch.objects.filter(line__settlement=imp)
    assert sorted(matched.values_list("transaction_id", flat=True)) == sorted(p.pk for p in payouts)
    assert set(matched.values_list("method", flat=True)) == {"batch"}


def test_a_crafted_file_produces_every_kind_of_break(world, django_capture_on_commit_callbacks):
    psp_deposit(world, "100.00", ref="pay_amount")
    psp_deposit(world, "100.00", ref="pay_fee", fee="2.00")
    psp_deposit(world, "100.00", ref="pay_currency")
    psp_deposit(world, "100.00", ref="pay_dup")
    unseen = psp_deposit(world, "321.00", ref="pay_unseen")
    imp = import_file(world, django_capture_on_commit_callbacks, csv_file(
        line("pay_amount", "95.00"),
        line("pay_fee", "100.00", fee="3.10"),
        line("pay_currency", "100.00", currency="EUR"),
        line("pay_dup", "100.00"),
        line("pay_dup", "100.00"),
        line("pay_stranger", "777.00"),
    ))
    assert imp.status == "done", imp.error
    breaks = _breaks(imp)
    assert sorted(breaks) == ["amount_mismatch", "currency_mismatch", "duplicate", "fee_mismatch",
                              "missing_at_provider", "missing_in_ledger"]
    assert [(b.line.provider_ref, b.difference) for b in breaks["amount_mismatch"]] == [("pay_amount", Decimal("-5"))]
    fee = breaks["fee_mismatch"][0]
    assert (fee.line.provider_ref, fee.provider_fee, fee.ledger_fee) == ("pay_fee", Decimal("3.1"), Decimal("2"))
    assert fee.difference == Decimal("1.1")  # the fees' difference (the amounts agree), as the queue shows it
    assert [(b.currency, b.provider_currency) for b in breaks["currency_mismatch"]] == [("USD", "EUR")]
    assert [b.line.row for b in breaks["duplicate"]] == [6]
    assert [b.line.provider_ref for b in breaks["missing_in_ledger"]] == ["pay_stranger"]
    assert [(b.transaction_id, b.ledger_amount) for b in breaks["missing_at_provider"]] == [(unseen.pk, Decimal("321"))]
    assert imp.break_count == 6 and imp.matched_count == 4


def test_a_later_file_settling_a_movement_clears_its_missing_at_provider_break(world, django_capture_on_commit_callbacks):
    psp_deposit(world, "10.00", ref="pay_a")
    late = psp_deposit(world, "20.00", ref="pay_b")
    first = import_file(world, django_capture_on_commit_callbacks, csv_file(line("pay_a", "10.00")))
    brk = ReconciliationBreak.objects.get(settlement=first, kind="missing_at_provider")
    assert brk.transaction_id == late.pk
    import_file(world, django_capture_on_commit_callbacks,
                csv_file(line("pay_b", "20.00", day=DAY + dt.timedelta(days=1))), name="next.csv")
    brk.refresh_from_db()
    assert (brk.status, brk.resolution) == ("resolved", "cleared")


def test_a_resolution_posts_its_adjustment_once_under_a_double_submit_and_is_audited(
        world, django_capture_on_commit_callbacks):
    psp_deposit(world, "100.00", ref="pay_fee", fee="2.00")
    imp = import_file(world, django_capture_on_commit_callbacks, csv_file(line("pay_fee", "100.00", fee="3.50")))
    brk = ReconciliationBreak.objects.get(settlement=imp, kind="fee_mismatch")
    clearing = clearing_account_for(provider=world.provider.code, currency="USD", brand=world.brand.pk)
    before = balance(clearing)
    resolved = break_resolve(actor=world.finance, brk=brk, resolution="post_fee", note="PSP raised its fee")
    with pytest.raises(Conflict):
        break_resolve(actor=world.finance, brk=brk, resolution="post_fee", note="PSP raised its fee")
    postings = LedgerTransaction.objects.filter(ref_kind="recon_break", ref_code=str(brk.code))
    assert postings.count() == 1 and resolved.adjustment_id == postings.get().pk
    # The provider kept 1.50 more than booked: it owes us 1.50 less.
    assert balance(clearing) - before == Money("1.50", "USD")
    audits = AuditLog.objects.filter(action="wallet.recon_break_resolved", object_id=str(brk.code))
    assert audits.count() == 1 and audits.get().actor_id == world.finance.pk
    assert (resolved.status, resolved.resolved_by_id) == ("resolved", world.finance.pk)


def test_writing_off_a_line_missing_in_the_ledger_books_it_to_suspense(world, django_capture_on_commit_callbacks):
    imp = import_file(world, django_capture_on_commit_callbacks, csv_file(line("pay_x", "42.00")))
    brk = ReconciliationBreak.objects.get(settlement=imp, kind="missing_in_ledger")
    resolved = break_resolve(actor=world.finance, brk=brk, resolution="write_off", note="unknown payer, to suspense")
    legs = {(leg.account.kind, leg.amount) for leg in resolved.adjustment.legs.select_related("account")}
    assert legs == {("psp_clearing", Decimal("-42")), ("suspense", Decimal("42"))}


def test_the_same_file_twice_is_refused_with_a_clear_message(world, django_capture_on_commit_callbacks):
    psp_deposit(world, "10.00", ref="pay_a")
    data = csv_file(line("pay_a", "10.00"))
    import_file(world, django_capture_on_commit_callbacks, data)
    with pytest.raises(Conflict, match="already imported"):
        settlement_import_start(actor=world.finance, provider=world.provider, data=data, file_name="again.csv")


def test_a_corrupt_file_fails_with_the_row_named_and_stores_nothing(world, django_capture_on_commit_callbacks):
    psp_deposit(world, "10.00", ref="pay_a")
    imp = import_file(world, django_capture_on_commit_callbacks,
                      csv_file(line("pay_a", "10.00"), line("pay_b", "ten dollars")))
    assert imp.status == "failed"
    assert "Row 3" in imp.error and "amount" in imp.error
    assert Job.objects.get(pk=imp.job_id).status == "failed"
    assert not SettlementFileLine.objects.filter(settlement=imp).exists()
    assert not ReconciliationBreak.objects.exists() and not ReconciliationMatch.objects.exists()
    # Once fixed, the file can be imported.
    fixed = import_file(world, django_capture_on_commit_callbacks, csv_file(line("pay_a", "10.00")))
    assert fixed.status == "done" and fixed.matched_count == 1


def test_the_summary_counts_breaks_open_at_a_date_per_provider_and_currency(world, django_capture_on_commit_callbacks):
    imp = import_file(world, django_capture_on_commit_callbacks, csv_file(
        line("pay_x", "42.00"), line("pay_y", "8.00"), line("pay_z", "5.00", currency="EUR")))
    rows = {(r.provider, r.currency): (r.count, r.difference) for r in open_breaks_summary(as_of=timezone.localdate())}
    assert rows == {(world.provider.code, "USD"): (2, Decimal("50")), (world.provider.code, "EUR"): (1, Decimal("5"))}
    brk = ReconciliationBreak.objects.get(settlement=imp, line__provider_ref="pay_y")
    break_resolve(actor=world.finance, brk=brk, resolution="timing", note="")
    rows = {(r.provider, r.currency): r.count for r in open_breaks_summary(as_of=timezone.localdate())}
    assert rows[(world.provider.code, "USD")] == 1
    assert open_breaks_summary(as_of=timezone.localdate() - dt.timedelta(days=1)) == []


def test_a_line_an_earlier_file_already_settled_is_a_duplicate(world, django_capture_on_commit_callbacks):
    psp_deposit(world, "10.00", ref="pay_a")
    psp_deposit(world, "12.00", ref="pay_b")
    import_file(world, django_capture_on_commit_callbacks, csv_file(line("pay_a", "10.00"), line("pay_b", "12.00")))
    later = import_file(world, django_capture_on_commit_callbacks,
                        csv_file(line("pay_a", "10.00"), line("pay_c", "3.00")), name="later.csv")
    assert [b.line.provider_ref for b in _breaks(later)["duplicate"]] == ["pay_a"]
    assert later.matched_count == 0
