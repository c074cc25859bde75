"""The wallet's smaller lifecycles through their machines (crm.lib.states): a settlement import runs
once and ends done or failed, a matched settlement line stays matched, an incoming wire is settled
once. Each refusal is the model's own error naming both states, and it changes nothing."""

from __future__ import annotations

import datetime as dt

import pytest

from crm.lib.money import Money
from tests.factories import make_user
from tests.wallet.recon_support import build_world, csv_file, import_file, line, psp_deposit
from wallet import reconciliation
from wallet.exceptions import (
    BankWireTransitionRefused,
    SettlementImportTransitionRefused,
    SettlementLineTransitionRefused,
)
from wallet.models import (
    IMPORT_STATES,
    LINE_STATES,
    WIRE_STATES,
    BankWireStatus,
    ImportStatus,
    LineState,
    SettlementFileLine,
)
from wallet.provider_services import bank_wire_incoming_record, payment_provider_save


@pytest.fixture
def world(db):
    return build_world()


def test_a_finished_import_is_not_run_again_and_a_late_failure_leaves_it_done(
        world, django_capture_on_commit_callbacks):
    psp_deposit(world, "10.00", ref="pay_a")
    imp = import_file(world, django_capture_on_commit_callbacks, csv_file(line("pay_a", "10.00"), line("pay_b", "4.00")))
    assert imp.status == ImportStatus.DONE and (imp.line_count, imp.matched_count) == (2, 1)

    # The job again (a retried delivery of it): nothing moves, nothing is imported twice.
    assert reconciliation.settlement_import_run(handle=None, import_id=imp.pk) == {"lines": 2, "matched": 1,
                                                                                   "breaks": 1}
    # A cancel that comes after the write committed: the import keeps what it stored.
    reconciliation._import_fail(imp, "cancelled")
    imp.refresh_from_db()
    assert (imp.status, imp.error) == (ImportStatus.DONE, "")
    assert SettlementFileLine.objects.filter(settlement=imp).count() == 2

    with pytest.raises(SettlementImportTransitionRefused) as refused:
        IMPORT_STATES.move(imp, ImportStatus.RUNNING, save=())
    assert refused.value.message == "A settlement import that is done cannot become running."
    imp.refresh_from_db()
    assert imp.status == ImportStatus.DONE


def test_a_matched_line_stays_matched_and_a_duplicate_is_never_matched(world, django_capture_on_commit_callbacks):
    psp_deposit(world, "10.00", ref="pay_a")
    first = import_file(world, django_capture_on_commit_callbacks, csv_file(line("pay_a", "10.00")))
    later = import_file(world, django_capture_on_commit_callbacks, csv_file(line("pay_a", "10.00"), line("pay_z", "1.00")),
                        name="later.csv")
    matched = SettlementFileLine.objects.get(settlement=first)
    duplicate = SettlementFileLine.objects.get(settlement=later, provider_ref="pay_a")
    assert (matched.state, duplicate.state) == (LineState.MATCHED, LineState.DUPLICATE)
    assert LINE_STATES.sources(LineState.MATCHED) == [LineState.OPEN]  # the rematch's WHERE

    for settled, state in ((matched, "matched"), (duplicate, "duplicate")):
        with pytest.raises(SettlementLineTransitionRefused, match=f"that is {state} cannot become (unmatched|matched)"):
            LINE_STATES.move(settled, LineState.OPEN if state == "matched" else LineState.MATCHED, save=())
    reconciliation.settlement_rematch_open()
    matched.refresh_from_db()
    duplicate.refresh_from_db()
    assert (matched.state, duplicate.state) == (LineState.MATCHED, LineState.DUPLICATE)


def test_an_incoming_wire_is_matched_or_returned_once(db):
    wire = payment_provider_save(code="wire-life", name="Bank wire", kind="bank_wire", settings={
        "beneficiary": "Broker Ltd", "iban": "GB33BUKB20201555555555", "bic": "BUKBGB22"})
    incoming = bank_wire_incoming_record(provider=wire, amount=Money("500.00", "USD"), payer_name="ANN EXAMPLE",
                                         value_date=dt.date(2026, 3, 2), actor=make_user(role_code="finance"))
    assert incoming.status == BankWireStatus.UNMATCHED
    WIRE_STATES.move(incoming, BankWireStatus.MATCHED, also={"matched_merchant_ref": "dep-1"}, save=())
    with pytest.raises(BankWireTransitionRefused) as refused:
        WIRE_STATES.move(incoming, BankWireStatus.RETURNED, save=())
    assert refused.value.message == "A wire that is matched cannot be returned to the payer: it was settled already."
    incoming.refresh_from_db()
    assert (incoming.status, incoming.matched_merchant_ref) == (BankWireStatus.MATCHED, "dep-1")
