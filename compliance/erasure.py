"""The erasure engine (issue 64, section 2): what of a client's data an approved erasure request removes,
what must stay, why and until when.

`erasure_plan(client)` lists, per kind of data, whether it is erased, anonymised or held, and for what is
held the hold: its legal basis and end date. The holds:
- AML record keeping (the money-laundering directives' five years): the identification documents, the
  account and transaction records and compliance's own matters stay five years after the business
  relationship ends, which is the client's closing (stage closed) or else their last money movement; a
  client who never deposited, withdrew or opened a live account had no relationship to keep records of;
- proof of consent: the consent records stay two years after the relationship ends;
- the audit trail: append-only and hash-chained (crm.audit), never rewritten; its rows are masked where shown.
Some states block the erasure whole (`plan.blocked`, with the reasons): an open compliance case or AML
alert, money in the wallet, an open dispute or chargeback, an open withdrawal.

`erasure_apply` then, in one transaction and through each owning app's services: the profile is renamed
"Erased client <code>" and loses contacts and birth date (its history rows and timeline too, crm's
client_erase), notes' text is replaced, lead touches lose their payloads (leads), the outgoing emails their
addresses and text (emails), the KYC documents' files and rows and the address go unless held (kyc); apps
above compliance add their part through `erasure_step_register` (support's tickets). Held records stay, tied
to the anonymised profile. One audit row sums it up: counts and holds, and the fingerprints (keyed hashes) by
which compliance.erasure_mask masks the old names and contacts where the audit log's rows are shown.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from compliance import permissions
from compliance.erasure_mask import FINGERPRINTS, erasure_fingerprints
from compliance.exceptions import ErasureRefused
from compliance.models import UNCLOSED_CASE_STATUSES, AmlAlert, AmlAlertStatus, Case
from compliance.retention_models import ClientErasure
from crm.audit import audit_record
from crm.exceptions import NotAllowed
from crm.models import Stage
from crm.permissions import client_visible_to, user_can
from trading.selectors import live_accounts_for_client
from wallet.selectors import (
    WITHDRAWAL_OPEN_STATES,
    open_disputes_of_client,
    wallet_balances_for_client,
    withdrawals_for_client,
)

if TYPE_CHECKING:
    from crm.models import Client, User

AML_KEEP_YEARS = 5
CONSENT_KEEP_YEARS = 2
ERASED_TEXT = "[erased]"
APPLY_PERMISSION = permissions.DATA_REQUEST_WORK


class DataKind(StrEnum):
    PROFILE = "profile"
    NOTES = "notes"
    LEAD_DATA = "lead_data"
    KYC_DOCUMENTS = "kyc_documents"
    TRADING_ACCOUNTS = "trading_accounts"
    TRANSACTIONS = "transactions"
    AML = "aml"
    TICKETS = "tickets"
    PORTAL_LOGIN = "portal_login"
    EMAILS = "emails"
    CONSENTS = "consents"
    AUDIT_LOG = "audit_log"


KIND_LABELS: dict[str, Any] = {
    DataKind.PROFILE: _("Profile: names and contacts"), DataKind.NOTES: _("Free-text notes (the client's and calls')"),
    DataKind.LEAD_DATA: _("Lead and form payloads"), DataKind.KYC_DOCUMENTS: _("KYC documents and address"),
    DataKind.TRADING_ACCOUNTS: _("Trading accounts"), DataKind.TRANSACTIONS: _("Transactions and ledger"),
    DataKind.AML: _("AML alerts and cases"), DataKind.TICKETS: _("Support tickets"),
    DataKind.PORTAL_LOGIN: _("Trader's room login"),
    DataKind.EMAILS: _("Emails sent"), DataKind.CONSENTS: _("Consent records"), DataKind.AUDIT_LOG: _("Audit log"),
}


class Treatment(StrEnum):
    ERASED = "erased"
    ANONYMISED = "anonymised"
    HELD = "held"


@dataclass(frozen=True)
class Hold:
    code: str
    basis: str
    until: dt.date | None


@dataclass(frozen=True)
class PlanItem:
    kind: str
    treatment: Treatment
    hold: Hold | None = None

    @property
    def label(self) -> str:
        return str(KIND_LABELS[self.kind])


@dataclass(frozen=True)
class ErasurePlan:
    client_id: int
    at: dt.datetime
    relationship_end: dt.datetime | None
    items: tuple[PlanItem, ...]
    blockers: tuple[str, ...] = ()

    @property
    def blocked(self) -> bool:
        return bool(self.blockers)

    def item(self, kind: str) -> PlanItem:
        return next(item for item in self.items if item.kind == kind)

    def held(self, kind: str) -> bool:
        return self.item(kind).treatment == Treatment.HELD


@dataclass(frozen=True)
class ErasureReport:
    client: str
    name: str
    counts: dict[str, int] = field(default_factory=dict)
    held: dict[str, str] = field(default_factory=dict)  # kind -> the hold's end date (ISO) or "" for none


@dataclass(frozen=True)
class ErasureStep:
    """What an app above compliance erases of a client (support's tickets): `apply(client, actor)` returns
    how many rows it changed; it is not run when the plan holds its kind."""

    kind: str
    apply: Callable[[Client, User | None], int]


_STEPS: dict[str, ErasureStep] = {}


def erasure_step_register(step: ErasureStep) -> None:
    _STEPS[step.kind] = step


def _add_years(when: dt.datetime, years: int) -> dt.date:
    day = when.date()
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def relationship_end(client: Client) -> dt.datetime | None:
    """When the business relationship ended: the closing, or else the last posting on the client's wallet
    (the wallet's published view of movements); None when there was none (no posting, no live trading
    account)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(occurred_at) FROM wallet_public_client_movements WHERE client_id = %s",
                       [client.pk])
        last_movement = cursor.fetchone()[0]
    if last_movement is None and not live_accounts_for_client(client=client).exists():
        return None
    moments = [m for m in (last_movement, client.stage_changed_at if client.stage == Stage.CLOSED else None) if m]
    return max(moments) if moments else client.created_at


def _blockers(client: Client) -> list[str]:
    reasons = []
    cases = Case.objects.filter(client=client, status__in=UNCLOSED_CASE_STATUSES).count()
    if cases:
        reasons.append(gettext("%(n)d compliance case(s) still open.") % {"n": cases})
    alerts = AmlAlert.objects.filter(client=client, status=AmlAlertStatus.OPEN).count()
    if alerts:
        reasons.append(gettext("%(n)d AML alert(s) still open.") % {"n": alerts})
    for wallet in wallet_balances_for_client(client):
        if wallet.balance.amount:
            reasons.append(gettext("A wallet balance of %(amount)s %(currency)s.") % {
                "amount": wallet.balance.amount, "currency": wallet.balance.currency})
    if open_disputes_of_client(client_id=client.pk).exists():
        reasons.append(gettext("An open dispute or chargeback."))
    if withdrawals_for_client(client=client).filter(state__in=WITHDRAWAL_OPEN_STATES).exists():
        reasons.append(gettext("A withdrawal still open."))
    return reasons


def erasure_plan(client: Client, *, at: dt.datetime | None = None) -> ErasurePlan:
    """What an erasure of `client` at `at` (now) would erase, anonymise and hold, and whether it is blocked."""
    at = at or timezone.now()
    end = relationship_end(client)
    aml_until = _add_years(end, AML_KEEP_YEARS) if end is not None else None
    aml = Hold("aml_record_keeping", gettext(
        "AML record keeping: customer due diligence and transaction records are kept for %(years)d years "
        "after the business relationship ends.") % {"years": AML_KEEP_YEARS}, aml_until)
    aml_applies = aml_until is not None and aml_until > at.date()
    consent_until = _add_years(end or at, CONSENT_KEEP_YEARS)
    consent = Hold("proof_of_consent", gettext(
        "Proof of consent: consent records are kept %(years)d years after the relationship ends.") % {
        "years": CONSENT_KEEP_YEARS}, consent_until)
    audit = Hold("audit_trail", gettext(
        "Integrity of the audit trail: it is append-only and hash-chained, so its rows keep what they recorded; "
        "the names and contacts in them are masked wherever they are shown. It is archived after the audit "
        "retention period."), None)
    has_aml_matters = (Case.objects.filter(client=client).exists() or AmlAlert.objects.filter(client=client).exists())

    def kept_for_aml(kind: str, otherwise: Treatment) -> PlanItem:
        return PlanItem(kind, Treatment.HELD, aml) if aml_applies else PlanItem(kind, otherwise)

    items = (
        PlanItem(DataKind.PROFILE, Treatment.ANONYMISED),
        PlanItem(DataKind.NOTES, Treatment.ERASED),
        PlanItem(DataKind.LEAD_DATA, Treatment.ANONYMISED),
        kept_for_aml(DataKind.KYC_DOCUMENTS, Treatment.ERASED),
        kept_for_aml(DataKind.TRADING_ACCOUNTS, Treatment.ANONYMISED),
        kept_for_aml(DataKind.TRANSACTIONS, Treatment.ANONYMISED),
        (PlanItem(DataKind.AML, Treatment.HELD, aml if aml_until else Hold(aml.code, aml.basis, _add_years(
            at, AML_KEEP_YEARS))) if has_aml_matters else PlanItem(DataKind.AML, Treatment.ERASED)),
        PlanItem(DataKind.TICKETS, Treatment.ANONYMISED),
        PlanItem(DataKind.PORTAL_LOGIN, Treatment.ERASED),
        PlanItem(DataKind.EMAILS, Treatment.ANONYMISED),
        PlanItem(DataKind.CONSENTS, Treatment.HELD, consent) if consent_until > at.date()
        else PlanItem(DataKind.CONSENTS, Treatment.ERASED),
        PlanItem(DataKind.AUDIT_LOG, Treatment.HELD, audit),
    )
    return ErasurePlan(client_id=client.pk, at=at, relationship_end=end, items=items,
                       blockers=tuple(_blockers(client)))


def erased_name(client: Client) -> str:
    return f"Erased client {str(client.code)[:8]}"


def client_erasures(*, client: Client) -> list[ClientErasure]:
    """The erasures done to the client, newest first: what was kept, under which hold, until when."""
    return list(ClientErasure.objects.filter(client=client))


@transaction.atomic
def erasure_apply(*, client: Client, actor: User | None, plan: ErasurePlan, request: Any = None) -> ErasureReport:
    """Apply `plan` to `client` in one transaction: the blockers are checked again (ErasureRefused, nothing
    changed), then each app erases its part through its own services. `actor` None: the system (the
    retention schedule). Audited ("compliance.client_erased") with counts, holds and the fingerprints that mask
    the old name where audit rows are shown (compliance.erasure_mask), no personal data in clear."""
    from crm.services import client_erase
    from emails.services import outbound_emails_anonymise, sms_messages_anonymise
    from kyc.services import kyc_records_erase
    from leads.services import calls_anonymise, lead_touches_anonymise

    if actor is not None and not (user_can(actor, APPLY_PERMISSION) and client_visible_to(actor, client)):
        raise NotAllowed()
    if plan.client_id != client.pk:
        raise ErasureRefused(gettext("This plan is for another client."))
    blockers = _blockers(client)
    if blockers:
        raise ErasureRefused(" ".join([gettext("The erasure cannot proceed:"), *blockers]))
    name = erased_name(client)
    fingerprints = erasure_fingerprints(client)  # before the names and contacts go
    counts = {DataKind.NOTES.value: client_erase(actor=actor, client=client, name=name, placeholder=ERASED_TEXT)}
    counts[DataKind.LEAD_DATA] = lead_touches_anonymise(client=client, actor=actor)
    counts[DataKind.NOTES] += calls_anonymise(client=client, actor=actor, placeholder=ERASED_TEXT)
    counts[DataKind.EMAILS] = outbound_emails_anonymise(client=client, actor=actor, placeholder=ERASED_TEXT)
    counts[DataKind.EMAILS] += sms_messages_anonymise(client=client, actor=actor, placeholder=ERASED_TEXT)
    if not plan.held(DataKind.KYC_DOCUMENTS):
        counts[DataKind.KYC_DOCUMENTS] = kyc_records_erase(client=client, actor=actor)
    for step in _STEPS.values():
        if not plan.held(step.kind):
            counts[step.kind] = step.apply(client, actor)
    held = {item.kind: (item.hold.until.isoformat() if item.hold and item.hold.until else "")
            for item in plan.items if item.treatment == Treatment.HELD}
    report = ErasureReport(client=str(client.code), name=name, counts={str(k): v for k, v in counts.items()},
                           held=held)
    request_code = str(request.code) if request is not None else ""
    ClientErasure.objects.create(client=client, erased_at=timezone.now(), erased_by=actor, request_code=request_code,
                                 counts=report.counts, held=held)
    audit_record(action="compliance.client_erased", obj=client, actor=actor, brand=client.brand_id, after={
        "request": request_code, "counts": report.counts, "held": held, FINGERPRINTS: fingerprints})
    return report
