"""The one four-eyes component (crm.lib.approvals.FourEyes): a proposal waits on the owning object's
fields, a second, different person approves or sends it back, the threshold is data, and every step
is one audit row. The decisions that use it (compliance cases and screening hits, withdrawals, high-risk
KYC approvals) are
tested through their services in their apps; here the component alone, and that each use is
registered and declares its audit actions."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

import pytest

from crm.lib.approvals import FourEyes, approvals
from crm.lib.errors import DomainError


class Refused(DomainError):
    default_code = "refused"
    status_code = 409


@dataclass
class Person:
    pk: int
    code: str


@dataclass
class _Field:
    null: bool


class _Meta:
    fields = {"proposed_by": _Field(True), "choice": _Field(False), "decided_on": _Field(True),
              "approved_by": _Field(True)}

    def get_field(self, name: str) -> _Field:
        return self.fields[name]


@dataclass
class Decision:
    """Stands for a model row: its fields, and what each save wrote."""

    amount: int
    proposed_by: Person | None = None
    choice: str = ""
    decided_on: str | None = None
    approved_by: Person | None = None
    saves: list[list[str]] = field(default_factory=list)
    _meta: _Meta = field(default_factory=_Meta)

    def save(self, *, update_fields: list[str]) -> None:
        self.saves.append(list(update_fields))


ANN, BEN = Person(1, "ann"), Person(2, "ben")


@pytest.fixture
def audit() -> list[dict[str, Any]]:
    return []


def _four_eyes(audit: list[dict[str, Any]], **overrides: Any) -> FourEyes:
    def record(**row: Any) -> None:
        audit.append(row)

    options: dict[str, Any] = {
        "name": "test decision", "proposer_field": "proposed_by", "value_fields": ("choice", "decided_on"),
        "approver_field": "approved_by", "error": Refused, "audit": record, "register": False,
        "actions": {"proposed": "t.proposed", "approved": "t.approved", "sent_back": "t.sent_back"},
        "needed": lambda obj, values: obj.amount > 100,
        "same_person_approve": "Someone else must approve.", "same_person_send_back": "Someone else must judge.",
        "not_pending": "Nothing waits.", "same_person_code": "second_person_required",
    }
    return FourEyes(**{**options, **overrides})


def test_the_threshold_is_data_of_each_use(audit):
    four_eyes = _four_eyes(audit)
    assert four_eyes.needed(Decision(amount=101), {}) and not four_eyes.needed(Decision(amount=100), {})
    assert _four_eyes(audit, needed=lambda obj, values: values["choice"] == "report").needed(
        Decision(amount=1), {"choice": "report"})


def test_a_proposal_waits_on_the_objects_fields_and_is_audited(audit):
    four_eyes, decision = _four_eyes(audit), Decision(amount=500)
    assert four_eyes.pending(decision) is None
    proposal = four_eyes.propose(decision, actor=ANN, values={"choice": "pay", "decided_on": "today"}, reason="fine",
                                 before={"status": "open"}, after={"status": "waiting"})
    assert (proposal.by, proposal.values) == (ANN, {"choice": "pay", "decided_on": "today"})
    assert (decision.proposed_by, decision.choice, decision.decided_on) == (ANN, "pay", "today")
    assert decision.saves == [["proposed_by", "choice", "decided_on"]]
    assert audit == [{"action": "t.proposed", "obj": decision, "actor": ANN, "reason": "fine",
                      "before": {"status": "open"}, "after": {"status": "waiting"}}]
    assert four_eyes.pending(decision) == proposal
    with pytest.raises(ValueError, match="not fields of the proposal"):
        four_eyes.propose(decision, actor=ANN, values={"amount": 1})


def test_the_proposer_may_neither_approve_nor_send_back_and_nothing_is_written(audit):
    four_eyes, decision = _four_eyes(audit), Decision(amount=500)
    four_eyes.propose(decision, actor=ANN, values={"choice": "pay"})
    saves, rows = list(decision.saves), list(audit)
    with pytest.raises(Refused) as approving:
        four_eyes.approve(decision, actor=Person(1, "ann again"))
    assert (approving.value.code, approving.value.message) == ("second_person_required", "Someone else must approve.")
    with pytest.raises(Refused) as sending:
        four_eyes.send_back(decision, actor=ANN, reason="no")
    assert (sending.value.code, sending.value.message) == ("second_person_required", "Someone else must judge.")
    assert decision.saves == saves and audit == rows and decision.approved_by is None and decision.choice == "pay"


def test_a_second_person_approves_and_the_proposal_is_kept(audit):
    four_eyes, decision = _four_eyes(audit), Decision(amount=500)
    four_eyes.propose(decision, actor=ANN, values={"choice": "pay"})
    proposal = four_eyes.approve(decision, actor=BEN, reason="agreed")
    assert (proposal.by, proposal.values["choice"], decision.approved_by) == (ANN, "pay", BEN)
    assert decision.saves[-1] == ["approved_by"] and decision.proposed_by == ANN
    assert audit[-1]["action"] == "t.approved" and audit[-1]["actor"] == BEN
    assert audit[-1]["after"] == {"proposed_by": "ann"}


def test_without_an_approval_action_the_effect_is_the_audit_row(audit):
    four_eyes = _four_eyes(audit, actions={"proposed": "t.proposed", "sent_back": "t.sent_back"})
    decision = Decision(amount=500)
    four_eyes.propose(decision, actor=ANN, values={"choice": "pay"})
    four_eyes.approve(decision, actor=BEN)
    assert [row["action"] for row in audit] == ["t.proposed"]
    with pytest.raises(ValueError, match="no audit action"):
        _four_eyes(audit, actions={"proposed": "t.proposed"})


def test_sending_back_clears_the_proposal_and_says_what_was_proposed(audit):
    four_eyes, decision = _four_eyes(audit), Decision(amount=500)
    four_eyes.propose(decision, actor=ANN, values={"choice": "pay", "decided_on": "today"})
    proposal = four_eyes.send_back(decision, actor=BEN, reason="not enough evidence", after={"proposed": "pay"})
    assert proposal.values == {"choice": "pay", "decided_on": "today"}
    # Cleared as each column allows: "" where it cannot be null.
    assert (decision.proposed_by, decision.choice, decision.decided_on) == (None, "", None)
    assert decision.saves[-1] == ["proposed_by", "choice", "decided_on"]
    assert audit[-1] == {"action": "t.sent_back", "obj": decision, "actor": BEN, "reason": "not enough evidence",
                         "before": None, "after": {"proposed_by": "ann", "proposed": "pay"}}
    assert four_eyes.pending(decision) is None


def test_approving_or_sending_back_where_nothing_waits_is_refused(audit):
    four_eyes, decision = _four_eyes(audit), Decision(amount=500)
    for attempt in (lambda: four_eyes.approve(decision, actor=BEN),
                    lambda: four_eyes.send_back(decision, actor=BEN, reason="no")):
        with pytest.raises(Refused) as caught:
            attempt()
        assert caught.value.message == "Nothing waits." and caught.value.code == "refused"
    assert decision.saves == [] and audit == []


def test_every_four_eyes_decision_of_the_house_is_registered_with_its_audit_actions():
    for module in ("compliance.cases", "compliance.screening", "kyc.services", "wallet.withdrawals", "wallet.deposits",
                   "monitoring.review.services"):
        importlib.import_module(module)  # each use registers itself when its module is imported
    uses = {use.name: use for use in approvals()}
    assert {"compliance case decision", "screening hit decision", "withdrawal approval",
            "kyc high-risk approval", "deposit refund", "monitoring restriction"} <= set(uses)
    for use in uses.values():
        assert issubclass(use.error, DomainError)
        assert {"proposed", "sent_back"} <= set(use.actions)
        assert all(action.count(".") == 1 for action in use.actions.values())
    assert "test decision" not in uses
