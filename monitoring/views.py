"""Staff pages of agent monitoring: the context managers record (cover, leave, notice, shifts,
campaign days, holidays), the alert list and an alert's page (reasons and evidence), and an agent's
activity on a day (the evidence). Reading an alert or the evidence is audited. Nobody sees an alert
about themselves (monitoring.permissions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from crm.audit import audit_record
from crm.exceptions import DomainError
from crm.models import User
from crm.permissions import AuthedRequest, page_permission_required
from crm.views.ui import render_page
from crm.views.ui.forms import apply_domain_errors
from monitoring import forms as mforms
from monitoring import selectors, services
from monitoring.export import activity_export_allowed, activity_export_request
from monitoring.models import AlertStatus, SubjectKind
from monitoring.permissions import (
    agents_managed_by,
    alert_get_for_user,
    brands_for,
    desks_managed_by,
)

VIEW_CONTEXT = "monitoring.view_cover"
VIEW_ALERTS = "monitoring.view_monitoringalert"
ALERTS_PER_PAGE = 50


@dataclass(frozen=True)
class ContextKind:
    key: str
    title: Any
    form: type[forms.Form]
    columns: tuple[Any, ...]


KINDS: dict[str, ContextKind] = {k.key: k for k in (
    ContextKind("cover", _("Cover"), mforms.CoverForm, (_("Agent"), _("Covers"), _("From"), _("To"), _("Note"))),
    ContextKind("leave", _("Leave"), mforms.LeaveForm, (_("Agent"), _("From"), _("To"), _("Note"))),
    ContextKind("notice", _("Notice and last day"), mforms.NoticeForm,
                (_("Agent"), _("Notice given"), _("Last day"), _("Note"), _("Status"))),
    ContextKind("shifts", _("Shifts"), mforms.ShiftForm, (_("Agent"), _("Hours (UTC)"), _("From"))),
    ContextKind("campaigns", _("Campaign days"), mforms.CampaignDayForm, (_("Desk"), _("Day"), _("Note"))),
    ContextKind("holidays", _("Holidays"), mforms.HolidayForm, (_("Day"), _("Name"), _("Country"), _("Brand"))),
)}


def _kind(key: str) -> ContextKind:
    found = KINDS.get(key)
    if found is None:
        raise Http404("No such page.")
    return found


def _form(kind: ContextKind, user: Any, data: Any = None) -> forms.Form:
    form_class: Any = kind.form
    form: forms.Form = form_class(
        data, agents=agents_managed_by(user), desks=desks_managed_by(user).select_related("brand"),
        brands=brands_for(user).filter(desks__in=desks_managed_by(user)).distinct())
    return form


def _rows(kind: ContextKind, records: list[Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for r in records:
        if kind.key == "cover":
            rows.append({"cells": [r.agent, r.covered, r.starts_on, r.ends_on, r.note]})
        elif kind.key == "leave":
            rows.append({"cells": [r.agent, r.starts_on, r.ends_on, r.note]})
        elif kind.key == "notice":
            status = gettext("withdrawn") if r.withdrawn_at else gettext("standing")
            rows.append({"cells": [r.agent, r.given_on, r.last_day, r.note, status],
                         "withdraw": None if r.withdrawn_at else r.code})
        elif kind.key == "shifts":
            rows.append({"cells": [r.agent, f"{r.start_hour:02d}:00–{r.end_hour:02d}:00", r.starts_on]})
        elif kind.key == "campaigns":
            rows.append({"cells": [r.desk.name, r.day, r.note]})
        else:
            rows.append({"cells": [r.day, r.name, r.country or "—", r.brand.name]})
    return rows


def _context_page(request: AuthedRequest, kind: ContextKind, form: forms.Form | None = None,
                  status: int = 200) -> HttpResponse:
    cut = selectors.context_rows(user=request.user, kind=kind.key)
    return render_page(request, "monitoring/context.html", {
        "kind": kind, "kinds": KINDS.values(), "form": form or _form(kind, request.user),
        "rows": _rows(kind, cut.rows), "cut": cut, "can_edit": desks_managed_by(request.user).exists(),
    }, status=status)


def _save(kind: ContextKind, user: User, data: dict[str, Any]) -> str:
    if kind.key == "cover":
        services.cover_set(actor=user, **data)
        return gettext("Cover recorded.")
    if kind.key == "leave":
        services.leave_set(actor=user, **data)
        return gettext("Leave recorded.")
    if kind.key == "notice":
        services.notice_enter(actor=user, **data)
        return gettext("Notice recorded: the agent's last 30 days are being scored again.")
    if kind.key == "shifts":
        services.shift_set(actor=user, **data)
        return gettext("Shift recorded.")
    if kind.key == "campaigns":
        services.campaign_day_set(actor=user, **data)
        return gettext("Campaign day recorded.")
    services.holiday_set(actor=user, **data)
    return gettext("Holiday recorded.")


@page_permission_required(VIEW_CONTEXT)
def context_page(request: AuthedRequest, kind: str) -> HttpResponse:
    found = _kind(kind)
    if request.method != "POST":
        return _context_page(request, found)
    form = _form(found, request.user, request.POST)
    if form.is_valid():
        try:
            message = _save(found, request.user, dict(form.cleaned_data))
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, message)
            return redirect("monitoring_context", kind=found.key)
    return _context_page(request, found, form=form, status=400)


@page_permission_required(VIEW_CONTEXT)
@require_POST
def notice_withdraw(request: AuthedRequest, code: Any) -> HttpResponse:
    notice = selectors.notice_get_for_user(request.user, code)
    if notice is None:
        raise Http404("No such notice.")
    try:
        services.notice_withdraw(actor=request.user, notice=notice)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, gettext("Notice withdrawn."))
    return redirect("monitoring_context", kind="notice")


# --- alerts ---------------------------------------------------------------------------------------


@page_permission_required(VIEW_ALERTS)
def alert_list(request: AuthedRequest) -> HttpResponse:
    status = request.GET.get("status", AlertStatus.OPEN)
    if status not in AlertStatus.values:
        status = ""
    page = Paginator(selectors.alerts_for_user(request.user, status=status), ALERTS_PER_PAGE).get_page(
        request.GET.get("page"))
    return render_page(request, "monitoring/alert_list.html", {
        "alerts": list(page.object_list), "page_obj": page, "status": status, "statuses": AlertStatus.choices,
        "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        "export_brands": list(brands_for(request.user)) if activity_export_allowed(request.user) else [],
    }, partial="alert-table")


@page_permission_required(VIEW_ALERTS)
@require_POST
def activity_export(request: AuthedRequest) -> HttpResponse:
    """Start the activity export (EVENTS.jsonl and CONTEXT.json) of a brand; the job page follows it."""
    brand = brands_for(request.user).filter(code=request.POST.get("brand", "")).first()
    if brand is None or not activity_export_allowed(request.user):
        raise Http404("No such brand.")
    try:
        job = activity_export_request(actor=request.user, brand=brand)
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("monitoring_alerts")
    return redirect("job_detail", code=job.code)


@page_permission_required(VIEW_ALERTS)
def alert_detail(request: AuthedRequest, code: Any) -> HttpResponse:
    alert = alert_get_for_user(request.user, code)
    audit_record(action="monitoring.alert_view", obj=alert, actor=request.user, brand=alert.brand_id)
    return render_page(request, "monitoring/alert_detail.html", {
        "alert": alert, "subject": _subject_label(alert),
        "history": selectors.alert_score_history(user=request.user, alert=alert),
    })


def _subject_label(alert: Any) -> str:
    if alert.subject_kind == SubjectKind.AGENT and alert.agent is not None:
        return str(alert.agent)
    if alert.subject_kind == SubjectKind.CLIENT and alert.client is not None:
        return gettext("client %(code)s") % {"code": str(alert.client.code)[:8]}
    if alert.partner is not None:
        return str(alert.partner.display_name)
    return "—"


@page_permission_required(VIEW_ALERTS)
def agent_day(request: AuthedRequest, code: Any, day: str) -> HttpResponse:
    """Every activity row of an agent on a day (the evidence behind an alert), audited."""
    try:
        when = date.fromisoformat(day)
        when + timedelta(days=1)  # the last day there is (9999-12-31) has no next day
    except (ValueError, OverflowError):
        raise Http404("No such day.") from None
    agent = selectors.agent_for_activity(request.user, code)
    if agent is None or agent.desk is None:
        raise Http404("No such agent.")
    audit_record(action="monitoring.activity_view", obj=agent, actor=request.user, brand=agent.desk.brand_id,
                 after={"day": when.isoformat()})
    cut = selectors.agent_day_activity(user=request.user, agent=agent, day=when)
    return render_page(request, "monitoring/agent_day.html", {"agent": agent, "day": when, "events": cut.rows,
                                                               "cut": cut})


def alerts_url() -> str:
    return reverse("monitoring_alerts")
