"""Offboarding: a case closed with the decision "offboard" (proposed by one officer, approved by another)
ends the client's relationship through each app's public services.

When the case closes (in its transaction, compliance.cases calls `offboarding_apply`):
- the client may no longer deposit or sign in to the trader's room: restrictions of source "offboarding",
  whose messages say the account is closed (the wallet's deposit check and the portal's login check ask
  compliance.restrictions; nothing says why);
- the client's stage becomes closed (crm's stage service, in neutral words: the timeline is read by sales);
- the decision, its reason and both officers are in the audit trail ("compliance.case_closed" and
  "compliance.client_offboarded").
After commit, a Celery task (`offboarding_accounts_close`) closes each of the client's trading accounts
through trading's `trading_account_close` (disabled on the platform through its adapter, marked closed, no
more deposits); an account the platform does not confirm stays "closing" and trading retries it.

What is left in the wallet goes back through finance's withdrawal queue: an officer asks for it on the
closed case (`case_balance_return`, the wallet's `withdrawal_return_balance`), and finance approves and pays
it as any other withdrawal.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.utils.translation import gettext

from compliance import permissions
from compliance.exceptions import CaseRefused
from compliance.models import Case, CaseDecision, CaseStatus, RestrictionKind, RestrictionSource
from compliance.restrictions import impose_restriction
from crm.audit import audit_record
from crm.exceptions import DomainError, NotAllowed, ValidationFailed
from crm.lib.enqueue import task_named
from crm.lib.money import currency_normalise
from crm.models import Client, Stage
from crm.permissions import user_can

if TYPE_CHECKING:
    from crm.models import User

logger = logging.getLogger("compliance.offboarding")

WORK_PERMISSION = permissions.CASE_WORK
OFFBOARD_KINDS = (RestrictionKind.DEPOSIT, RestrictionKind.LOGIN)


def _neutral(case: Case) -> str:
    # What the restriction and the stage change say: they reach the client's timeline (tipping off).
    return gettext("Relationship closed, case %(case)s") % {"case": str(case.code)[:8]}


def offboarding_apply(*, case: Case, by: User | None, reason: str) -> None:
    """The client of `case` (being closed with the decision offboard) is offboarded: no deposits, no
    sign-in, stage closed, audited; its trading accounts are closed after commit. Runs in the case's
    transaction."""
    from crm.services import client_stage_change

    client = case.client
    impose_restriction(client=client, kinds=list(OFFBOARD_KINDS), reason=_neutral(case), by=by,
                       source=RestrictionSource.OFFBOARDING)
    if client.stage != Stage.CLOSED:
        client_stage_change(actor=None, client=client, stage=Stage.CLOSED, reason=_neutral(case))
    audit_record(action="compliance.client_offboarded", obj=client, actor=by, reason=reason,
                 after={"case": str(case.code), "decided_by": str(case.decided_by.code) if case.decided_by else "",
                        "approved_by": str(case.approved_by.code) if case.approved_by else "",
                        "restricted": list(OFFBOARD_KINDS)})
    case_id = case.pk
    transaction.on_commit(lambda: _enqueue_close(case_id))


def _enqueue_close(case_id: int) -> None:
    from kombu.exceptions import OperationalError

    try:
        task_named("compliance.tasks.offboarding_accounts_close").delay(case_id)
    except OperationalError:  # the broker is down: logged for the operators, who run the task again
        logger.warning("could not queue the closing of an offboarded client's accounts", extra={"case": case_id},
                       exc_info=True)


def offboarding_accounts_close(*, case_id: int) -> dict[str, int]:
    """Close each trading account of the offboarded client of case `case_id` that is not closed yet,
    through trading's service (the platform is called outside any transaction). Counts of accounts closed
    now and still closing: an account the platform did not confirm stays "closing" in trading, which
    retries it with backoff, resolves an unanswered close by looking the account up, and gives staff a
    task when the attempts are used up. Idempotent."""
    from trading.selectors import accounts_to_close_for_client
    from trading.services import trading_account_close

    case = Case.objects.select_related("client", "approved_by").get(pk=case_id)
    counts = {"closed": 0, "closing": 0}
    if case.status != CaseStatus.CLOSED or case.decision != CaseDecision.OFFBOARD:
        return counts
    reason = gettext("Client offboarded (case %(case)s)") % {"case": str(case.code)[:8]}
    for account in accounts_to_close_for_client(client=case.client):
        if account.is_closing:  # trading's own retries have it
            counts["closing"] += 1
            continue
        closed = trading_account_close(actor=None, account=account, reason=reason)
        counts["closed" if closed.is_closed else "closing"] += 1
    return counts


def case_balance_return(*, case: Case, actor: User, currency: str, method_code: Any,
                        destination: str, reason: str) -> Any:
    """An officer returns what is left in the offboarded client's wallet in `currency` by the withdrawal
    method `method_code` to `destination` (a card, e-wallet or IBAN): a withdrawal in finance's queue
    (wallet's withdrawal_return_balance). Only on a case closed as offboard (CaseRefused otherwise);
    NotAllowed without the permission to work cases; WithdrawalBlocked naming what stops it."""
    from wallet.selectors import method_get
    from wallet.services import withdrawal_return_balance

    if not user_can(actor, WORK_PERMISSION):
        raise NotAllowed(gettext("You are not allowed to work compliance cases."))
    if case.status != CaseStatus.CLOSED or case.decision != CaseDecision.OFFBOARD:
        raise CaseRefused(gettext("Only the balance of a client offboarded by this case can be returned."),
                          code="not_offboarded")
    client: Client = case.client
    try:
        currency = currency_normalise(str(currency))
    except DomainError as error:
        raise ValidationFailed(fields={"currency": error.message}) from None
    try:
        method = method_get(str(uuid.UUID(str(method_code))))
    except ValueError:
        method = None
    if method is None or method.brand_id != client.brand_id or method.direction != "withdrawal":
        raise ValidationFailed(fields={"method": gettext("Choose a withdrawal method of the client's brand.")})
    with transaction.atomic():
        withdrawal = withdrawal_return_balance(client=client, currency=currency, method=method,
                                               destination={method.method: destination}, actor=actor,
                                               reason=reason)
        audit_record(action="compliance.case_balance_returned", obj=case, actor=actor, reason=reason,
                     after={"client": str(client.code), "withdrawal": str(withdrawal.code),
                            "amount": withdrawal.money.text(), "currency": withdrawal.currency})
    return withdrawal
