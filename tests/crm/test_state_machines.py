"""Every model with a life moves through one guarded state machine (crm.lib.states): deposits,
withdrawals, transfers, KYC verifications, clients' stages, compliance cases, screening hits and AML
alerts, partners, their invitations, applications, payouts, commission disputes and attribution conflicts, commission runs and
postback deliveries, trading balance operations, prop challenges, ledger holds, incoming wires, settlement imports and
their lines, reconciliation breaks and monitoring alerts, deposit refunds, KYC submissions, lead imports, automation runs, outgoing emails,
event and webhook deliveries and background jobs (tests/test_architecture.py fails for a status field that no machine guards). Each table is complete against its
model's choices; every move a table (or a route) lists is made through the helper and recorded,
every other one is refused with the model's domain error naming both states, and a refused or
failed move leaves nothing written."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import models
from django.utils import timezone

from automation.exceptions import RunTransitionRefused
from automation.models import AutomationRun
from compliance.data_request_models import DataSubjectRequest
from compliance.exceptions import (
    AmlAlertTransitionRefused,
    CaseTransitionRefused,
    DataRequestTransitionRefused,
    HitTransitionRefused,
)
from compliance.models import AmlAlert, Case, ScreeningHit
from crm.exceptions import EventDeliveryTransitionRefused, JobTransitionRefused, StageRefused
from crm.lib.states import StateMachine, TransitionRefused, machines
from crm.models import Client, EventDelivery, Job, Stage
from crm.models.stages import CLIENT_STAGES
from emails.exceptions import EmailTransitionRefused, SmsTransitionRefused
from emails.models import OutboundEmail
from emails.sms_models import SmsMessage
from ib.exceptions import (
    ApplicationTransitionRefused,
    AttributionConflictTransitionRefused,
    CommissionRunTransitionRefused,
    DisputeTransitionRefused,
    InvitationTransitionRefused,
    PartnerTransitionRefused,
    PayoutTransitionRefused,
    PostbackTransitionRefused,
)
from ib.models import (
    AttributionConflict,
    CommissionDispute,
    CommissionRun,
    Partner,
    PartnerApplication,
    PartnerInvitation,
    PartnerPayout,
    PostbackDelivery,
)
from integrations.exceptions import WebhookDeliveryTransitionRefused
from integrations.models import WebhookDelivery
from kyc.exceptions import (
    KycError,
    KycTransitionRefused,
    QuestionnaireVersionTransitionRefused,
    SubmissionTransitionRefused,
)
from kyc.models import KycProfile, KycStatus, QuestionnaireVersion, Submission
from leads.exceptions import LeadImportTransitionRefused
from leads.models import LeadImport
from marketing.campaign_models import (
    Campaign,
    CampaignRecipient,
    CampaignTransitionRefused,
    RecipientTransitionRefused,
)
from marketing.sequence_models import (
    EnrollmentTransitionRefused,
    Sequence,
    SequenceEnrollment,
    SequenceTransitionRefused,
)
from monitoring.exceptions import AlertTransitionRefused
from monitoring.models import MonitoringAlert
from support.exceptions import ComplaintTransitionRefused, TicketTransitionRefused
from support.models import Complaint, Ticket
from tests.factories import make_client
from tests.states import assert_table_complete, table_problems
from tests.writes import written
from trading.exceptions import BalanceOperationTransitionRefused, ChallengeTransitionRefused
from trading.models import BalanceOperation
from trading.prop_models import Challenge
from wallet.exceptions import (
    BankWireTransitionRefused,
    DisputeRefused,
    HoldNotOpen,
    IllegalTransition,
    ReconciliationBreakTransitionRefused,
    RefundTransitionRefused,
    SettlementImportTransitionRefused,
    SettlementLineTransitionRefused,
    TransferTransitionRefused,
    WithdrawalTransitionRefused,
)
from wallet.models import (
    BankWireIncoming,
    Deposit,
    DepositRefund,
    Dispute,
    LedgerHold,
    ReconciliationBreak,
    SettlementFileLine,
    SettlementImport,
    Transfer,
    Withdrawal,
)

# Each machine: an unsaved object of its model at a given state, and the error a refused move raises.
MODELS: dict[str, tuple[Callable[[str], Any], type[TransitionRefused]]] = {
    "deposit": (lambda s: Deposit(status=s), IllegalTransition),
    "deposit refund": (lambda s: DepositRefund(status=s), RefundTransitionRefused),
    "dispute": (lambda s: Dispute(status=s), DisputeRefused),
    "withdrawal": (lambda s: Withdrawal(state=s), WithdrawalTransitionRefused),
    "transfer": (lambda s: Transfer(state=s), TransferTransitionRefused),
    "verification": (lambda s: KycProfile(status=s), KycTransitionRefused),
    "client stage": (lambda s: Client(stage=s), StageRefused),
    "questionnaire version": (lambda s: QuestionnaireVersion(status=s), QuestionnaireVersionTransitionRefused),
    "compliance case": (lambda s: Case(status=s), CaseTransitionRefused),
    "screening hit": (lambda s: ScreeningHit(status=s), HitTransitionRefused),
    "aml alert": (lambda s: AmlAlert(status=s), AmlAlertTransitionRefused),
    "data-subject request": (lambda s: DataSubjectRequest(status=s), DataRequestTransitionRefused),
    "partner": (lambda s: Partner(status=s), PartnerTransitionRefused),
    "partner application": (lambda s: PartnerApplication(status=s), ApplicationTransitionRefused),
    "partner payout": (lambda s: PartnerPayout(state=s), PayoutTransitionRefused),
    "commission dispute": (lambda s: CommissionDispute(state=s), DisputeTransitionRefused),
    "partner invitation": (lambda s: PartnerInvitation(status=s), InvitationTransitionRefused),
    "attribution conflict": (lambda s: AttributionConflict(status=s), AttributionConflictTransitionRefused),
    "balance operation": (lambda s: BalanceOperation(state=s), BalanceOperationTransitionRefused),
    "prop challenge": (lambda s: Challenge(state=s), ChallengeTransitionRefused),
    "reconciliation break": (lambda s: ReconciliationBreak(status=s), ReconciliationBreakTransitionRefused),
    "monitoring alert": (lambda s: MonitoringAlert(status=s), AlertTransitionRefused),
    "event delivery": (lambda s: EventDelivery(status=s), EventDeliveryTransitionRefused),
    "job": (lambda s: Job(status=s), JobTransitionRefused),
    "webhook delivery": (lambda s: WebhookDelivery(status=s), WebhookDeliveryTransitionRefused),
    "outbound email": (lambda s: OutboundEmail(status=s), EmailTransitionRefused),
    "sms message": (lambda s: SmsMessage(status=s), SmsTransitionRefused),
    "automation run": (lambda s: AutomationRun(status=s), RunTransitionRefused),
    "marketing campaign": (lambda s: Campaign(status=s), CampaignTransitionRefused),
    "marketing campaign recipient": (lambda s: CampaignRecipient(status=s), RecipientTransitionRefused),
    "marketing sequence": (lambda s: Sequence(status=s), SequenceTransitionRefused),
    "marketing sequence enrollment": (lambda s: SequenceEnrollment(status=s), EnrollmentTransitionRefused),
    "kyc submission": (lambda s: Submission(status=s), SubmissionTransitionRefused),
    "lead import": (lambda s: LeadImport(status=s), LeadImportTransitionRefused),
    "ledger hold": (lambda s: LedgerHold(state=s), HoldNotOpen),
    "incoming wire": (lambda s: BankWireIncoming(status=s), BankWireTransitionRefused),
    "settlement import": (lambda s: SettlementImport(status=s), SettlementImportTransitionRefused),
    "settlement line": (lambda s: SettlementFileLine(state=s), SettlementLineTransitionRefused),
    "commission run": (lambda s: CommissionRun(status=s), CommissionRunTransitionRefused),
    "postback delivery": (lambda s: PostbackDelivery(status=s), PostbackTransitionRefused),
    "support ticket": (lambda s: Ticket(status=s), TicketTransitionRefused),
    "support complaint": (lambda s: Complaint(status=s), ComplaintTransitionRefused),
}
NAMES = sorted(MODELS)


def _machine(name: str) -> StateMachine:
    return next(m for m in machines() if m.name == name)


def _recording(machine: StateMachine) -> tuple[StateMachine, list[tuple[str, str, dict[str, Any]]]]:
    """The machine with its record replaced by a list (the walk writes no rows), unregistered."""
    rows: list[tuple[str, str, dict[str, Any]]] = []

    def record(obj: Any, old: str, new: str, **details: Any) -> str:
        rows.append((old, new, details))
        return "row"

    return dataclasses.replace(machine, record=record, register=False), rows


def _walk(machine: StateMachine) -> Iterator[tuple[str | None, str, str]]:
    for via in (None, *machine.routes):
        for old in machine.states.values:
            for new in machine.states.values:
                yield via, old, new


def _listed(machine: StateMachine, via: str | None, old: str, new: str) -> bool:
    """Read from the tables themselves, not through the machine's own answer."""
    return new in machine.transitions[old] or (via is not None and new in machine.routes[via].get(old, ()))


def test_every_model_with_a_life_has_one_registered_machine():
    assert sorted(m.name for m in machines()) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_every_table_is_complete(name):
    assert_table_complete(_machine(name))


def test_the_table_check_finds_a_missing_state_an_unknown_one_and_an_undeclared_end():
    class Light(models.TextChoices):
        RED = "red", "Red"
        AMBER = "amber", "Amber"
        GREEN = "green", "Green"

    broken = StateMachine(name="light", states=Light, register=False, terminal=frozenset({"red"}),
                          message=lambda old, new: f"{old} to {new}",
                          transitions={"red": frozenset({"green"}), "green": frozenset({"blue"})},
                          routes={"night": {"black": frozenset({"red"})}})
    assert table_problems(broken) == [
        "light: 'amber' has no row in the table",
        "light: the table moves 'green' to unknown state 'blue'",
        "light: route 'night' has a row for unknown state 'black'",
        "light: 'amber' leads nowhere but is not declared terminal",
        "light: terminal state 'red' has moves",
    ]
    assert "light" not in [m.name for m in machines()]


@pytest.mark.django_db
@pytest.mark.parametrize("name", NAMES)
def test_every_move_of_every_table_is_made_or_refused_naming_both_states(name):
    at, error = MODELS[name]
    machine, rows = _recording(_machine(name))
    made = refused = 0
    for via, old, new in _walk(machine):
        obj = at(old)
        rows.clear()
        if _listed(machine, via, old, new):
            assert machine.move(obj, new, via=via, reason="walk") == "row", (via, old, new)
            assert getattr(obj, machine.state_field) == new
            assert rows == [(old, new, {"reason": "walk"})]
            made += 1
            continue
        with pytest.raises(error) as caught:
            machine.move(obj, new, via=via, reason="walk")
        refusal = caught.value
        assert isinstance(refusal, TransitionRefused) and refusal.status_code == 409
        assert (refusal.from_state, refusal.to_state) == (old, new)
        for state in (old, new):
            assert str(machine.states(state).label).lower() in refusal.message.lower(), (via, old, new, refusal.message)
        if machine.error_field:
            assert refusal.fields == {machine.error_field: [refusal.message]}
        assert getattr(obj, machine.state_field) == old and rows == []
        refused += 1
    assert made and refused


@pytest.mark.django_db
def test_the_guard_refuses_a_final_rejection_going_back_to_pending():
    machine, rows = _recording(_machine("verification"))
    final = KycProfile(status=KycStatus.REJECTED, can_resubmit=False)
    with pytest.raises(KycError) as caught:
        machine.move(final, KycStatus.PENDING)
    assert "Rejected" in caught.value.message and "Pending" in caught.value.message
    assert final.status == KycStatus.REJECTED and rows == []
    machine.move(KycProfile(status=KycStatus.REJECTED, can_resubmit=True), KycStatus.PENDING)
    assert [(old, new) for old, new, _details in rows] == [(KycStatus.REJECTED, KycStatus.PENDING)]


def test_a_route_is_taken_only_when_named():
    machine = _machine("verification")
    assert not machine.allows(KycStatus.APPROVED, KycStatus.PENDING)
    assert machine.allows(KycStatus.APPROVED, KycStatus.PENDING, via="reopen")
    with pytest.raises(KeyError):
        machine.targets(KycStatus.APPROVED, via="no such route")


def test_the_sources_of_a_state_are_read_from_the_table_and_the_route_named():
    machine = _machine("verification")
    for via in (None, *machine.routes):
        for new in machine.states.values:
            assert machine.sources(new, via=via) == sorted(old for old in machine.states.values
                                                           if _listed(machine, via, old, new)), (via, new)
    assert KycStatus.APPROVED not in machine.sources(KycStatus.PENDING)
    assert KycStatus.APPROVED in machine.sources(KycStatus.PENDING, via="reopen")


@pytest.mark.django_db
def test_a_move_whose_record_fails_leaves_nothing_written():
    client = make_client(first_name="Nadia")
    stamp, before = client.stage_changed_at, written()

    def record_then_fail(obj: Any, old: str, new: str, **details: Any) -> None:
        assert CLIENT_STAGES.record is not None
        CLIENT_STAGES.record(obj, old, new, **details)  # the audit row and the event are written...
        raise RuntimeError("the disk is full")  # ...and then something fails

    failing = dataclasses.replace(CLIENT_STAGES, record=record_then_fail, register=False)
    with pytest.raises(RuntimeError):
        failing.move(client, Stage.REGISTERED, also={"stage_changed_at": timezone.now()}, save=("updated_at",),
                     actor=None, reason="registered", action="client.stage_change", event_via="move")
    assert (client.stage, client.stage_changed_at) == (Stage.LEAD, stamp)
    client.refresh_from_db()
    assert (client.stage, client.stage_changed_at) == (Stage.LEAD, stamp)
    assert written() == before


@pytest.mark.django_db
def test_a_refused_move_writes_nothing_and_changes_nothing():
    client = make_client(first_name="Omar")
    before = written()
    with pytest.raises(StageRefused) as caught:
        CLIENT_STAGES.move(client, Stage.FUNDED, also={"stage_changed_at": timezone.now()}, save=("updated_at",),
                           actor=None, reason="by hand", action="client.stage_change", event_via="move")
    assert "from Lead to Funded" in caught.value.message
    assert client.stage == Stage.LEAD
    client.refresh_from_db()
    assert client.stage == Stage.LEAD and written() == before
