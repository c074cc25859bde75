"""The events the partner programme emits, and their payloads (see crm.events.catalogue).

Partner events carry the brand and no client; attribution events carry the client, so they show
on its timeline."""

from __future__ import annotations

from typing import NotRequired, TypedDict

from crm.events.catalogue import CodeText, DateTimeText, DecimalText, PersonalText, Ref, declare


class PartnerStatusEvent(TypedDict):
    partner: Ref
    kind: str
    status: str
    parent: Ref | None
    via: str  # application, invitation, staff
    reason: NotRequired[str]


class PartnerApplicationEvent(TypedDict):
    application: CodeText
    company: str
    countries: list[str]  # ISO 3166-1 alpha-2 codes (pages show their names)
    kind: str  # ib, affiliate
    status: NotRequired[str]  # approved, rejected (decisions)
    partner: NotRequired[Ref | None]  # the partner an approval made
    reason: NotRequired[str]


class PartnerInvited(TypedDict):
    invitation: CodeText
    email: PersonalText
    kind: str
    parent: Ref | None  # the partner the invited one will join under
    by_partner: Ref | None  # the partner that invited (from the portal); None: staff


class PartnerMoved(TypedDict):
    partner: Ref
    old_parent: Ref | None
    new_parent: Ref | None
    effective_at: DateTimeText
    moved: int  # partners re-pathed: the partner and its sub-partners
    reason: str


class ClientAttributed(TypedDict):
    partner: Ref
    previous: Ref | None
    source: str  # link, code, manual, import
    effective_from: DateTimeText
    reason: str


class ClientQualified(TypedDict):
    partner: Ref  # the client's partner when it qualified (the CPA's level 0)
    rule: str  # the CPA rule's code
    qualified_at: DateTimeText  # when the last condition was met
    run: CodeText  # the regular commission run that found it


class AttributionConflictOpened(TypedDict):
    conflict: CodeText
    partners: list[Ref]
    suggested: Ref | None


class AttributionConflictResolved(TypedDict):
    conflict: CodeText
    chosen: Ref
    reason: str


class CommissionSettled(TypedDict):
    partner: Ref
    period: str  # YYYY-MM
    run: CodeText
    currency: str
    amount: DecimalText  # posted to the partner's payable balance; negative: clawed back
    payable: DecimalText  # the period's payable this settles the partner to


class PayoutEvent(TypedDict):
    payout: CodeText
    partner: Ref
    amount: DecimalText
    currency: str
    destination: str  # client_wallet, bank
    state: str  # requested, paid, rejected
    reason: NotRequired[str]


class DisputeEvent(TypedDict):
    dispute: CodeText
    partner: Ref
    line: str  # the line's source and rule, e.g. "deal 123 / fx"
    amount: DecimalText
    currency: str
    state: str  # open, upheld, rejected
    answer: NotRequired[str]


declare("ib.partner_applied", payload=PartnerStatusEvent,
        description="Someone applied to become a partner (an IB or an affiliate); the IB manager decides.")
declare("ib.partner_approved", payload=PartnerStatusEvent,
        description="A partner became active: approved, automatically approved, or joined by invitation.")
declare("ib.partner_rejected", payload=PartnerStatusEvent, description="A partner application was rejected.")
declare("ib.partner_application_received", payload=PartnerApplicationEvent,
        description="Someone applied on the public partner form; the application waits in the IB manager's queue.")
declare("ib.partner_application_decided", payload=PartnerApplicationEvent,
        description="The IB manager approved (a partner and its login were made) or rejected a partner application.")
declare("ib.partner_invited", payload=PartnerInvited,
        description="Staff or a partner (a sub-partner) invited someone by email to join as a partner.")
declare("ib.partner_moved", payload=PartnerMoved,
        description="A partner (with its sub-partners) moved under another parent, from a date on.")
declare("ib.client_attributed", payload=ClientAttributed,
        description="A client belongs to a partner from a date on (first attribution or re-attribution).")
declare("ib.attribution_conflict", payload=AttributionConflictOpened,
        description="Two or more partners claim one client: held for the IB manager.")
declare("ib.attribution_conflict_resolved", payload=AttributionConflictResolved,
        description="The IB manager decided which partner a contested client belongs to.")
declare("ib.client_qualified", payload=ClientQualified,
        description="A client met a CPA rule's conditions for the first time (found by a regular commission run).")

declare("ib.commission_settled", payload=CommissionSettled,
        description="A partner's commission of a period was settled and posted to its payable balance "
                    "(a negative amount claws back what a recalculation took away).")
declare("ib.payout_requested", payload=PayoutEvent,
        description="A partner asked to be paid out of its payable balance (to its own client wallet: paid at once).")
declare("ib.payout_decided", payload=PayoutEvent,
        description="Finance paid or rejected a partner's payout request.")
declare("ib.dispute_opened", payload=DisputeEvent,
        description="A partner questioned one of its commission lines; the IB manager answers it.")
declare("ib.dispute_decided", payload=DisputeEvent,
        description="The IB manager answered a partner's question about a commission line (upheld or rejected).")
