"""Commission disputes: a partner questions one of its commission lines from the partner portal; the
IB manager reads the line's whole trace beside the question and answers it once, upholding it (the
plan, the attribution or the deal is corrected and the period recalculated: only the difference is
paid) or rejecting it with the reason. Both steps are audited and emitted; the brand's IB managers
are alerted of a new one and the partner is mailed the answer (ib.handlers); the partner reads it in
the portal too.

A line is named by its key (source, beneficiary, rule: ib.models.line_key) and the run it was in: a
daily increment may write the same line again under another id and a recalculation supersedes the
run, so the line in force now is found by the key (`dispute_current_line`), beside the line as the
partner saw it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import Conflict, NotFound, ValidationFailed
from crm.models import User
from crm.permissions import code_or_404, user_can, visible_brands
from ib import selectors
from ib.commissions import MANAGE
from ib.models import (
    DISPUTE_STATES,
    LINE_ID_SHIFT,
    CommissionDispute,
    CommissionLine,
    CommissionShare,
    DisputeState,
    Partner,
    line_pk_q,
)

TEXT_MAX = 2000


def _text(value: str, field: str, empty: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationFailed(fields={field: empty})
    if len(text) > TEXT_MAX:
        raise ValidationFailed(fields={field: gettext("At most %(max)d characters (this has %(count)d).")
                                       % {"max": TEXT_MAX, "count": len(text)}})
    return text


def line_label(dispute: CommissionDispute | CommissionLine) -> str:
    return f"{dispute.source_kind} {dispute.source_id} / {dispute.rule_code}"


def _announce(name: str, dispute: CommissionDispute, *, actor: User | None) -> None:
    data: dict[str, Any] = {
        "dispute": str(dispute.code),
        "partner": {"code": str(dispute.partner.code), "name": dispute.partner.display_name},
        "line": line_label(dispute), "amount": str(dispute.amount), "currency": dispute.currency,
        "state": dispute.state}
    if dispute.answer:
        data["answer"] = dispute.answer
    emit(name, brand=dispute.brand_id, actor=actor, data=data)


def line_disputes(partner: Partner, line: CommissionLine) -> QuerySet[CommissionDispute]:
    """The partner's questions about `line` (by its key: any run's line of that source and rule), newest first."""
    return partner.disputes.filter(source_kind=line.source_kind, source_id=line.source_id,
                                   rule_code=line.rule_code).order_by("-opened_at", "-id")


def _open_one(partner: Partner, line: CommissionLine) -> CommissionDispute | None:
    return line_disputes(partner, line).filter(state=DisputeState.OPEN).first()


def _already(existing: CommissionDispute) -> Conflict:
    return Conflict(gettext("You asked about this line on %(date)s; the answer will show on this page.")
                    % {"date": date_format(timezone.localtime(existing.opened_at), "SHORT_DATE_FORMAT")},
                    code="dispute_open")


def dispute_open(*, partner: Partner, line_key: str, message: str) -> CommissionDispute:
    """The signed-in partner questions one of its own counted lines, named by its key (another
    partner's, or one no longer earning, is NotFound). One open question per line: a second is
    refused by name."""
    text = _text(message, "message", gettext("Say what you think is wrong with this amount."))
    with transaction.atomic():
        # One question at a time per partner: a second tab's waits here, then finds the first.
        Partner.objects.select_for_update(no_key=True).filter(pk=partner.pk).first()
        line = selectors.partner_line_by_key(partner, line_key)
        if line is None:
            raise NotFound()
        existing = _open_one(partner, line)
        if existing is not None:
            raise _already(existing)
        dispute = CommissionDispute.objects.create(
            brand_id=partner.brand_id, partner=partner, run_id=line.run_id, line_id=line.pk,
            source_kind=line.source_kind, source_id=line.source_id, rule_code=line.rule_code,
            amount=line.amount, currency=line.currency, message=text)
        audit_record(action="ib.dispute_opened", obj=dispute, actor=None,
                     after={"partner": str(partner.code), "line": line_label(line), "run": str(line.run.code),
                            "amount": str(line.amount), "currency": line.currency, "message": text})
        _announce("ib.dispute_opened", dispute, actor=None)
        return dispute


@transaction.atomic
def dispute_decide(*, actor: User, dispute: CommissionDispute, upheld: bool, answer: str) -> CommissionDispute:
    """The IB manager's one answer: upheld or rejected, with the text the partner reads."""
    if not user_can(actor, MANAGE):
        raise NotFound()
    text = _text(answer, "answer", gettext("Write the answer the partner will read."))
    dispute = CommissionDispute.objects.select_for_update(of=("self",)).select_related("partner").get(pk=dispute.pk)
    DISPUTE_STATES.move(dispute, DisputeState.UPHELD if upheld else DisputeState.REJECTED, save=(),
                        also={"answer": text, "decided_at": timezone.now(), "decided_by": actor})
    audit_record(action="ib.dispute_decided", obj=dispute, actor=actor, before={"state": DisputeState.OPEN},
                 after={"state": dispute.state, "answer": text})
    _announce("ib.dispute_decided", dispute, actor=actor)
    return dispute


# --- reading ----------------------------------------------------------------------------------------------

def dispute_queryset_for_user(user: Any) -> QuerySet[CommissionDispute]:
    if not user_can(user, MANAGE):
        return CommissionDispute.objects.none()
    qs = CommissionDispute.objects.select_related("partner", "brand", "decided_by")
    if user.is_administrator or user.all_brands:
        return qs
    return qs.filter(brand__in=visible_brands(user))


def dispute_get_for_user(user: Any, code: Any) -> CommissionDispute:
    try:
        return dispute_queryset_for_user(user).get(code=code_or_404(code))
    except CommissionDispute.DoesNotExist:
        raise NotFound() from None


def partner_disputes(partner: Partner) -> QuerySet[CommissionDispute]:
    """The partner's own questions, open first, newest first."""
    return partner.disputes.select_related("run").order_by("-state", "-opened_at", "-id")


def _opened_days(rows: Iterable[CommissionDispute]) -> dict[int, dt.date]:
    """Per dispute id: the day of the batch its line was in when opened (a line of the same key is
    in a batch of the same day in any run: the day is its source's)."""
    by_share = {d.line_id // LINE_ID_SHIFT: d.pk for d in rows}
    return {by_share[share]: day for share, day in
            CommissionShare.objects.filter(pk__in=list(by_share)).values_list("pk", "batch__day")}


def dispute_current_line(dispute: CommissionDispute) -> CommissionLine | None:
    """The line of the dispute's key that counts now (a recalculation's or an increment's), or None
    when it no longer earns anything."""
    lines = selectors.partner_lines(dispute.partner).filter(
        source_kind=dispute.source_kind, source_id=dispute.source_id, rule_code=dispute.rule_code)
    day = _opened_days([dispute]).get(dispute.pk)
    return (lines.filter(batch_day=day) if day else lines).first()


def dispute_line_as_opened(dispute: CommissionDispute) -> CommissionLine | None:
    """The line the partner questioned, if its run still holds it under that id."""
    return (CommissionLine.objects.select_related("run").filter(line_pk_q(dispute.line_id), run_id=dispute.run_id)
            .first())


@dataclass
class DisputeView:
    dispute: CommissionDispute
    current: CommissionLine | None  # the line in force now
    explained: selectors.LineExplanation | None  # the trace of `current`, else of the line as opened
    changed: bool  # the amount in force differs from the one the partner questioned


def dispute_view(dispute: CommissionDispute) -> DisputeView:
    """One dispute with its line in force and that line's whole trace (the dispute's own page)."""
    current = dispute_current_line(dispute)
    line = current or dispute_line_as_opened(dispute)
    explained = selectors.line_explanation(line, dispute.partner) if line is not None else None
    return DisputeView(dispute=dispute, current=current, explained=explained,
                       changed=current is None or current.amount != dispute.amount)


def dispute_rows(rows: Iterable[CommissionDispute]) -> list[DisputeView]:
    """Disputes for a list (a page of them): each with its line in force, found for all of them in
    one query; no trace."""
    rows = list(rows)
    keys = Q(pk__in=[])
    for d in rows:
        keys |= Q(beneficiary_id=d.partner_id, source_kind=d.source_kind, source_id=d.source_id, rule_code=d.rule_code)
    # Only the partners' batches of the days the lines were in are read (every day of theirs when
    # a line's batch was since rewritten by an increment).
    lines = selectors.current_lines().filter(keys, beneficiary_id__in={d.partner_id for d in rows})
    days = _opened_days(rows)
    if len(days) == len(rows):
        lines = lines.filter(batch_day__in=set(days.values()))
    current = {(x.beneficiary_id, x.source_kind, x.source_id, x.rule_code): x for x in lines} if rows else {}
    out = []
    for d in rows:
        line = current.get((d.partner_id, d.source_kind, d.source_id, d.rule_code))
        out.append(DisputeView(dispute=d, current=line, explained=None,
                               changed=line is None or line.amount != d.amount))
    return out
