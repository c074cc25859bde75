"""Model history (django-simple-history) names who made each change: the requesting user in a
request, the user a task acts for (`acting_as`), nobody for the system."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import transaction
from django.db.models.signals import post_save
from django.urls import reverse

from crm import events
from crm.models import AuditLog, Client, Note
from crm.services import client_stage_change, client_update
from plumbing.context import acting_as, history_user

events.declare("test.history", payload=None)  # a throwaway event without data, for the handler below

pytestmark = pytest.mark.django_db

DOMAIN_APPS = {"crm", "emails", "automation", "leads", "trading", "kyc", "wallet", "ib", "compliance", "monitoring", "portal", "reports", "integrations"}

# Models without history, each for a reason. Anything else in a domain app must keep history.
NO_HISTORY = {
    "crm.auditlog": "append-only and hash-chained: it is the history",
    "crm.auditcheckpoint": "append-only signed anchors of the audit chain; rows are never changed",
    "crm.auditarchiveanchor": "append-only signed anchors of the audit chain's archived months; never changed",
    "crm.accessevent": "append-only record of views and reveals",
    "crm.event": "append-only outbox; the timeline is read from it",
    "crm.eventdelivery": "operational delivery receipts, written in bulk by the dispatcher",
    "crm.notification": "a user's own inbox; not business state",
    "crm.job": "a background job's progress record; its start and cancel are audited",
    "integrations.webhookdelivery": "outbound webhook delivery log, written in bulk by the sender; replays are audited",
    "integrations.webhookattempt": "append-only: each POST of a delivery is its own row",
    "automation.automationrun": "the automation run log: each row is itself the record of a verdict",
    "emails.outboundemail": "an email's delivery record; sending shows as email.sent / email.failed events",
    "emails.smsmessage": "an SMS's delivery record; sending shows as sms.sent / sms.delivered / sms.failed events",
    "emails.smswebhook": "append-only inbox: every SMS provider's delivery received, kept (encrypted)",
    "compliance.datasubjectrequest": "its moves are its DataRequestStep rows (who, when, from and to), each audited",
    "compliance.datarequeststep": "append-only: a data-subject request's steps are its history",
    "compliance.retentionrule": "each change is audited with the values it set (kind, days kept, basis) and who set them",
    "compliance.retentionrun": "a run's report, written once by the run and audited",
    "compliance.clienterasure": "an erasure's record (counts, holds, end dates), written once and audited",
    "integrations.importedref": "written once per imported object; the import's job and its reports record the run",
    "crm.clientuserobjectpermission": "grants are audited by client_share / client_unshare",
    "crm.staffrestriction": "one row per restriction, kept after it is lifted; imposing and lifting are audited",
    "monitoring.activity": "append-only activity table, partitioned by day; a trigger refuses changes",
    "monitoring.agentdayscore": "computed by the scoring from the activity; rescored nightly",
    "monitoring.agentdayfeatures": "computed from the activity table; rebuilt by the nightly rescore",
    "monitoring.scoringstate": "the scoring's watermark and calibrated thresholds, written by the passes",
    "reports.floatingfigure": "a read model: the open positions' snapshot, replaced every minute",
    "crm.clientgroupobjectpermission": "grants are audited by client_share / client_unshare",
    "trading.deal": "the platform's records, written in bulk by the sync; content hash, updated_at and deleted_at track changes",
    "leads.leadtouch": "append-only: each arrival of a person is its own row",
    "leads.contactkey": "a dedupe index derived from the client's email and phone, whose changes the client's history shows",
    "leads.clientmerge": "append-only record of a merge, which is itself the history",
    "leads.leadscore": "append-only: every scoring is a new row with the rules that made it",
    "leads.routingpointer": "round-robin cursor, advanced on every assignment",
    "leads.leadcontactstate": "derived from calls and events; the timeline shows first contact and escalations",
    "leads.leadimport": "a job's progress record; the import's outcome is audited",
    "leads.leadimportrowerror": "append-only per-row report of an import",
    "leads.telephonyevent": "append-only webhook receipts, unique per provider event",
    "leads.telephonywebhook": "append-only inbox: every telephony provider's delivery received, kept (encrypted)",
    "leads.savedview": "a user's own saved filters; not business state",
    "leads.segmentmember": "materialised membership, recomputed from the segment's definition",
    "trading.accountequityday": "each day's equity high, written by the account-state sync; derived from the "
                                "platform and rebuilt by the next poll",
    "trading.position": "a snapshot of open positions, replaced on every account-state poll",
    "trading.challengeproduct": "versioned: a change writes a new version row (the old one is kept as it was) "
                                "and an audit row with before and after",
    "trading.challenge": "its changes are ChallengeDecision rows (what, when, why, a snapshot); the evaluator "
                         "writes its figures in bulk",
    "trading.challengedecision": "append-only: each decision about a challenge is itself the record",
    "trading.challengeequitypoint": "the equity curve, appended by the evaluator in bulk",
    "trading.tradingpasswordlink": "holds an encrypted password until it is shown, then nothing; issuing and revealing "
                                   "are audited (a history would keep copies of the ciphertext)",
    "kyc.questionnaireresponse": "append-only: every answer set is a new row; the latest one counts",
    "kyc.kycstatuschange": "the verification status's history, as rows",
    "kyc.submission": "every step on a submission (checks, claim, assign, approvals, rejection) is a KycDecision row",
    "kyc.kycdecision": "append-only: the steps taken on a submission, with their evidence",
    "kyc.document": "an uploaded file's record, written once with the submission; its expiry warning is a kyc event",
    "kyc.vendorevent": "append-only inbox: every verification vendor's webhook received, kept raw",
    "wallet.deposit": "every status change is a DepositStatusChange row; refunds are DepositRefund rows",
    "wallet.depositstatuschange": "a deposit's history, as rows",
    "wallet.dispute": "every status change is a DisputeStep row with its audit row and event; evidence is added, never edited",
    "wallet.disputestep": "a dispute's history, as rows (append-only)",
    "wallet.disputeevidence": "a stored file is never changed; its addition is a step, audited with its hash",
    "wallet.depositrefund": "one refund asked of the provider; requesting it is audited and its outcome moves the deposit",
    "wallet.withdrawal": "every state change is a WithdrawalStatusChange row",
    "wallet.withdrawalstatuschange": "a withdrawal's history, as rows",
    "wallet.transfer": "every state change is a TransferStatusChange row; its money moves are ledger postings",
    "wallet.transferstatuschange": "a transfer's history, as rows",
    "wallet.ledgeraccount": "created once by account_for and never edited; the ledger's legs are its history",
    "wallet.ledgertransaction": "immutable: PostgreSQL refuses UPDATE and DELETE; a correction is a reversal",
    "wallet.ledgerleg": "immutable: PostgreSQL refuses UPDATE and DELETE",
    "wallet.ledgerbalance": "derived: the running sum of an account's legs, updated by every posting",
    "wallet.ledgerhold": "a hold's state moves only through the ledger's services, each capture a posted transaction",
    "wallet.webhookdelivery": "append-only inbox: every notification received, kept raw",
    "wallet.monthclose": "written once when a month is closed; PostgreSQL refuses UPDATE and DELETE; closing is audited",
    "wallet.settlementimport": "one file imported once; its status and counts are written by the import job only",
    "wallet.settlementfileline": "the provider's file as read, written in bulk and never edited but for its match state",
    "wallet.reconciliationmatch": "written by the matching pass; a match is never edited",
    "wallet.reconciliationbreak": "its one change (the resolution) is audited and carries actor, time, note and the posting",
    "ib.partnerlogin": "credentials (a password hash); setting a password is audited",
    "ib.partnerparentchange": "append-only: a partner's moves, dated",
    "ib.partnerinvitation": "a single-use invitation; sending and accepting are audited",
    "ib.partnerapplication": "an application and its one decision (approved or rejected); both are audited",
    "compliance.watchlist": "a list is its name and format; what changes is its versions, each loaded once and audited",
    "compliance.watchlistversion": "a loaded version is never changed: a new file is a new version, with its diff",
    "compliance.watchlistentry": "an entry as one version listed it; the next version has its own rows and the diff",
    "compliance.screeninghit": "its changes are the officers' decisions, each a ScreeningDecision row and an audit row",
    "compliance.screeningdecision": "append-only: each step an officer took on a hit, never changed",
    "compliance.riskmodel": "versioned: a change is a new version row, each save audited with before and after",
    "compliance.riskscore": "append-only history of a client's scores; only the mark that its review was raised "
                            "is set later, and that is audited",
    "compliance.trailexport": "one export asked once; its request and its outcome are audited",
    "compliance.caseitem": "an alert or hit attached to a case once; never changed (the case's audit rows say when)",
    "compliance.casestep": "append-only: each move of a case, with who, when and why",
    "compliance.casenote": "notes are added, never edited",
    "compliance.caseattachment": "a stored file is never changed; its addition is audited with its hash",
    "compliance.amlrule": "its parameters are versions (AmlRuleVersion, never changed); switching it on or off is audited",
    "compliance.amlruleversion": "a version is never changed: an edit of the rule is a new version, audited",
    "compliance.amlalert": "raised once per set of facts (audited); each status change is an audit row with its reason",
    "compliance.amlrun": "bookkeeping of the periodic pass's windows; nothing a person changes",
    "ib.click": "append-only: one row per visit, written by the public redirect",
    "reports.dailyfigure": "a read model derived from events and deals; a rebuild recomputes it from them",
    "reports.dailytrader": "a read model derived from deals; a rebuild recomputes it from them",
    "reports.traderbitmap": "a read model derived from deals; a rebuild recomputes it from them",
    "trading.retentionsummary": "a read model of the accounts and their equity days; a rebuild recomputes it",
    "trading.exposurerow": "a read model of the open positions, replaced after each poll",
    "reports.appliedevent": "which events the read model counted: written once per event",
    "reports.readmodelmark": "the deals refresh's watermark, an operational pointer",
    "reports.reportschedule": "created and stopped only through reports.services, each change an audit row",
    "reports.reportdelivery": "append-only delivery log: one row per sending",
    "ib.clientattribution": "dated rows (effective_from / effective_to): re-attribution closes one and opens another",
    "ib.attributionconflict": "a conflict and its resolution; resolving is audited and writes the dated attribution",
    "ib.planrule": "written once with its plan version; a change is a new version",
    "ib.clientdeposit": "facts fed from deposits and imports, unique per source",
    "ib.clientchargeback": "facts fed from chargebacks and refunds, unique per source",
    "ib.commissionrun": "each computation is its own numbered run; a recalculation is a new run",
    "ib.commissionline": "a view of one row per line over the batches and shares of a run",
    "ib.commissionbatch": "written by one run (an increment replaces a day's batches of a partner, correcting its totals)",
    "ib.commissionshare": "written with its batch and never changed",
    "ib.commissiontotal": "written by one run and never changed",
    "ib.commissionsettlement": "append-only: each settlement adds the difference it settled",
    "ib.clientqualification": "written once per client by the commission run that found it; never changed",
    "ib.postback": "a partner's postback settings: every save is audited (ib.postback_saved); the signing secret must not be copied into a history table",
    "ib.postbackdelivery": "the delivery log itself: one row per notification with its attempts",
    "ib.commissiondispute": "a partner's question and its one answer, kept on the row (decided_by, decided_at), "
                            "audited and announced (ib.dispute_opened, ib.dispute_decided)",
    "ib.partnerpayout": "a request and its one decision, kept on the row (decided_by, decided_at), audited and announced (ib.payout_decided)",
    "portal.clientlogin": "credentials (a password hash, an encrypted TOTP secret); every security change is audited",
    "portal.consentrecord": "append-only: one row per acceptance or withdrawal",
    "portal.accountchoice": "a client's wish for their first account type; the account opened is audited",
    "portal.accountrequest": "an idempotency record of one form submit; the account it opened is audited",
    "portal.portalsession": "a sign-in session's device and last-seen time; sign-ins and sign-outs are audited",
    "portal.notification": "a client's own inbox, made from the domain events (which are the history)",
}


def _history_records(model):
    """The HistoricalRecords attached to `model`, found through its post_save receivers."""
    sync, async_ = post_save._live_receivers(model)
    for receiver in [*sync, *async_]:
        owner = getattr(receiver, "__self__", None)
        if type(owner).__name__ == "HistoricalRecords":
            return owner
    return None


def test_every_domain_model_keeps_history_attributed_to_the_acting_user():
    checked = []
    for model in apps.get_models():
        label = model._meta.label_lower
        if model._meta.app_label not in DOMAIN_APPS or label in NO_HISTORY:
            continue
        if model.__name__.startswith("Historical") or model._meta.auto_created:
            continue
        records = _history_records(model)
        assert records is not None, f"{label} has no HistoricalRecords (or add it to NO_HISTORY with a reason)"
        assert records.get_user is history_user, f"{label}: HistoricalRecords(get_user=history_user) expected"
        checked.append(label)
    assert {"crm.client", "crm.note", "crm.task", "crm.user", "crm.brand", "crm.desk", "crm.role"} <= set(checked)


def test_a_change_made_in_a_request_records_the_requesting_user(client, login_verified, trio):
    login_verified(client, trio.owner)

    response = client.post(reverse("client_note_add", args=[trio.client.code]), {"body": "Called, no answer."},
                           HTTP_X_REQUEST_ID="req-history-0001", REMOTE_ADDR="203.0.113.9")

    assert response.status_code in (200, 302)
    note = Note.objects.get(client=trio.client)
    record = note.history.get()
    assert record.history_type == "+"
    assert record.history_user == trio.owner
    audit = AuditLog.objects.get(action="note.add", object_id=str(note.code))
    assert (audit.actor_id, audit.ip, audit.request_id, audit.source) == (
        trio.owner.pk, "203.0.113.9", "req-history-0001", "web")


def test_a_change_inside_acting_as_records_that_user(trio):
    with acting_as(trio.owner):
        client_stage_change(actor=trio.owner, client=trio.client, stage="registered")

    record = Client.objects.get(pk=trio.client.pk).history.latest()
    assert record.stage == "registered"
    assert record.history_user == trio.owner


def test_a_change_outside_any_request_or_task_has_no_history_user(trio):
    client_update(actor=None, client=trio.client, first_name="Renamed")

    record = Client.objects.get(pk=trio.client.pk).history.latest()
    assert record.first_name == "Renamed"
    assert record.history_user is None


def test_an_event_handler_acts_for_the_user_who_emitted_the_event(trio):
    """The dispatcher runs handlers as the event's actor, so their changes are attributed to that
    user even though the worker has no request."""
    saved = ({k: list(v) for k, v in events._registry.items()}, list(events._wildcard))

    def tag_vip(event):
        client = Client.objects.get(pk=event.client_id)
        client_update(actor=None, client=client, tags=["vip"])

    try:
        events._registry.clear()
        events._wildcard.clear()
        events.subscribe("test.history")(tag_vip)
        with acting_as(trio.colleague, source="web"), transaction.atomic():
            events.emit("test.history", client=trio.client)
        events.dispatch_pending()
    finally:
        events._registry.clear()
        events._registry.update(saved[0])
        events._wildcard[:] = saved[1]

    record = Client.objects.get(pk=trio.client.pk).history.latest()
    assert record.tags == ["vip"]
    assert record.history_user == trio.colleague
