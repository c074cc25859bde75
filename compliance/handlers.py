"""Screening reacts to the lower apps' events: a registration, a KYC submission, a change of the
client's name, date of birth or country. Each queues the client's screening (a Celery task) once the
delivery commits; the screening itself is compliance.services.client_screen. And an account opened
while the client may not trade is made read-only too."""

from __future__ import annotations

from compliance.models import ScreeningTrigger
from compliance.screening import SCREENED_FIELDS
from compliance.services import client_screen_enqueue
from crm.events import subscribe
from crm.lib.enqueue import task_send_on_commit
from crm.models import Event


@subscribe("portal.registered")
def screen_at_registration(event: Event) -> None:
    if event.client_id is not None:
        client_screen_enqueue(client_id=event.client_id, trigger=ScreeningTrigger.REGISTRATION)


@subscribe("kyc.submitted")
def screen_at_kyc_submission(event: Event) -> None:
    if event.client_id is not None:
        client_screen_enqueue(client_id=event.client_id, trigger=ScreeningTrigger.KYC_SUBMISSION)


@subscribe("client.updated")
def screen_on_details_change(event: Event) -> None:
    """Only a change of what screening compares screens again (a new phone number does not)."""
    fields = set((event.data or {}).get("fields") or ())
    if event.client_id is not None and fields & SCREENED_FIELDS:
        client_screen_enqueue(client_id=event.client_id, trigger=ScreeningTrigger.DETAILS_CHANGED)


@subscribe("trading.account_opened")
def read_only_while_restricted(event: Event) -> None:
    from compliance.models import RestrictionKind
    from compliance.restrictions import restriction_in_force, restriction_trading_sync

    if event.client_id is None:
        return
    row = restriction_in_force(client=event.client_id, kind=RestrictionKind.TRADING)
    if row is not None and restriction_trading_sync(restriction_id=row.pk)["failed"]:
        # The delivery is recorded as failed and retried with backoff (crm.events.retry_due).
        raise RuntimeError("the platform did not set the new account read-only")


# --- the risk score: each event that changes one of its factors recomputes it (compliance.risk) ---------
# The AML alerts' factor adds its event here at merge ("compliance.alert_raised").

RISK_CLIENT_EVENTS = (
    "client.created", "kyc.submitted", "kyc.approved", "kyc.rejected", "kyc.expired", "kyc.assessed",
    "wallet.deposit_succeeded", "wallet.deposit_refunded", "wallet.deposit_charged_back",
    "wallet.dispute_opened", "wallet.dispute_decided",
)
RISK_FIELDS = frozenset({"country", "nationality"})


@subscribe(*RISK_CLIENT_EVENTS)
def risk_on_factor_event(event: Event) -> None:
    from compliance.risk import risk_score_enqueue

    if event.client_id is not None:
        risk_score_enqueue(client_id=event.client_id, trigger=event.name)


@subscribe("client.updated")
def risk_on_client_updated(event: Event) -> None:
    from compliance.risk import risk_score_enqueue

    fields = set((event.data or {}).get("fields") or ())
    if event.client_id is not None and fields & RISK_FIELDS:
        risk_score_enqueue(client_id=event.client_id, trigger=event.name)


@subscribe("compliance.hit_confirmed", "compliance.hit_dismissed")
def risk_on_screening_decision(event: Event) -> None:
    """Screening events name the client in their data (they are not the client's events)."""
    from compliance.risk import risk_score_enqueue
    from crm.models import Client

    code = (event.data or {}).get("client")
    client_id = Client.objects.filter(code=code).values_list("pk", flat=True).first() if code else None
    if client_id is not None:
        risk_score_enqueue(client_id=client_id, trigger=event.name)


@subscribe("compliance.jurisdiction_changed")
def risk_on_jurisdiction_changed(event: Event) -> None:

    data = event.data or {}
    country, brand_id = data.get("country"), event.brand_id
    if not country or brand_id is None or data.get("region"):
        return

    task_send_on_commit("compliance.tasks.risk_rescore_country", brand_id, country, event.name)


@subscribe("compliance.alert_raised")
def case_for_alert(event: Event) -> None:
    """An AML alert joins the client's open case (or opens one), as a generic item: the alert's id,
    its rule and version, its score; cases do not know the alert's model."""
    from compliance.cases import case_item_attach
    from compliance.models import AmlAlert, CaseItemKind
    from compliance.services import aml_alert_mark_in_case

    data = event.data or {}
    # The event names no client (it must not reach the client's timeline): the alert does.
    alert_id = data.get("alert_id")
    alert = AmlAlert.objects.filter(pk=int(alert_id)).first() if isinstance(alert_id, int) else None
    if alert is None:
        return
    score = data.get("score")
    item = case_item_attach(client=alert.client_id, kind=CaseItemKind.AML_ALERT, ref_id=alert.pk,
                            summary=f"{data.get('rule', '')} v{data.get('rule_version', '')}: {alert.summary}"[:300],
                            score=int(score) if score is not None else None)
    aml_alert_mark_in_case(alert_id=alert.pk, case_ref=str(item.case.code))
    # An alert is a factor of the client's risk score.
    from compliance.risk import risk_score_enqueue

    risk_score_enqueue(client_id=alert.client_id, trigger=event.name)


@subscribe("compliance.hit_confirmed")
def case_for_confirmed_hit(event: Event) -> None:
    """A confirmed screening hit joins the client's open case (or opens one): a sanctions hit as
    critical, a PEP as high."""
    from compliance.cases import case_item_attach
    from compliance.models import CaseItemKind, CasePriority, ListKind, ScreeningHit

    code = (event.data or {}).get("hit")
    hit = ScreeningHit.objects.select_related("watchlist").filter(code=code).first() if code else None
    if hit is None:
        return
    sanctions = hit.watchlist.kind == ListKind.SANCTIONS
    case_item_attach(client=hit.client_id, kind=CaseItemKind.SCREENING_HIT, ref_id=str(hit.code),
                     summary=f"{hit.watchlist.name} {hit.ent_num}: {hit.matched_name}",
                     score=round(float(hit.score) * 100),
                     priority=CasePriority.CRITICAL if sanctions else CasePriority.HIGH)


# --- AML monitoring: a client's posted movement runs the rules over that client's last days -------------
# (The rules read ledger postings: a deposit is posted when it succeeds, a withdrawal when it is paid.
# A trade only ever lowers what the rapid in-and-out rule finds, so trading's events start nothing.)

@subscribe("wallet.deposit_succeeded", "wallet.withdrawal_paid")
def aml_on_movement(event: Event) -> None:
    from compliance.services import aml_client_enqueue

    if event.client_id is not None:
        aml_client_enqueue(client_id=event.client_id)


# --- agent monitoring: an alert a reviewer escalated to compliance ------------------------------------
# (Monitoring is a sibling: it cannot be imported from here, and its event is the bridge.)

@subscribe("monitoring.alert_escalated")
def compliance_work_for_escalated_alert(event: Event) -> None:
    """An alert about a client joins the client's case (or opens one); an alert about an agent (staff:
    no client, so no case) becomes a task for the brand's reporting officer, else for the brand's
    compliance officer first by name (who is notified of the task). The alert's
    reasons and the reviewer's reason go into the task; never to the agent it is about."""
    from django.urls import reverse

    from compliance.cases import case_item_attach
    from compliance.models import CaseItemKind
    from crm.models import Client, RoleCode, User
    from crm.permissions import staff_of_brand
    from crm.services import task_create

    data = event.data or {}
    code = str(data.get("alert") or "")
    if not code:
        return
    reasons = [str(r) for r in (data.get("reasons") or [])]
    summary = f"{data.get('detector', '')} {data.get('day', '')}: " + "; ".join(reasons)
    client_code = data.get("client")
    if client_code:
        client = Client.objects.filter(code=client_code).first()
        if client is not None:
            case_item_attach(client=client, kind=CaseItemKind.MONITORING_ALERT, ref_id=code, summary=summary[:300],
                             score=min(100, round(float(data.get("score") or 0) * 10)))
            return
    about = (data.get("agent") or {}).get("code")
    officer_code = (data.get("officer") or {}).get("code")
    officers = list(User.objects.filter(code=officer_code, is_active=True)) if officer_code else []
    if not officers:
        officers = sorted(staff_of_brand(event.brand_id, roles=[RoleCode.COMPLIANCE]), key=lambda u: (u.full_name, u.pk))
    officers = [u for u in officers if str(u.code) != about]
    if not officers:
        return
    agent_name = (data.get("agent") or {}).get("name", "")
    lines = [f"Escalated by {(data.get('by') or {}).get('name', '')}: {data.get('reason', '')}", "", *reasons,
             "", reverse("monitoring_alert", args=[code])]
    task_create(actor=None, assignee=officers[0],
                title=f"Monitoring alert escalated: {agent_name} ({data.get('detector', '')}, {data.get('day', '')})",
                description="\n".join(lines))
