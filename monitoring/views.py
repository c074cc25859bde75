"""Staff pages of agent monitoring: the context managers record (cover, leave, notice, shifts,
campaign days, holidays), the alert list and an alert's page (reasons and evidence), and an agent's
activity on a day (the evidence). Reading an alert or the evidence is audited. Nobody sees an alert
about themselves (monitoring.permissions)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.db import connection
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from crm.audit import audit_record
from crm.exceptions import DomainError
from crm.forms import apply_domain_errors
from crm.models import Client, User
from crm.permissions import AuthedRequest, code_or_404, page_permission_required
from crm.views.ui import render_page
from monitoring import forms as mforms
from monitoring import services
from monitoring.export import activity_export_allowed, activity_export_request
from monitoring.models import AlertStatus, CampaignDay, Cover, Holiday, Leave, Notice, Shift, SubjectKind
from monitoring.permissions import (
    agent_activity_visible,
    agents_managed_by,
    alert_get_for_user,
    alert_queryset_for_user,
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


def _rows(kind: ContextKind, user: Any) -> list[dict[str, Any]]:
    agents = agents_managed_by(user).values("pk")
    rows: list[dict[str, Any]] = []
    if kind.key == "cover":
        for c in Cover.objects.filter(agent__in=agents).select_related("agent", "covered")[:200]:
            rows.append({"cells": [c.agent, c.covered, c.starts_on, c.ends_on, c.note]})
    elif kind.key == "leave":
        for lv in Leave.objects.filter(agent__in=agents).select_related("agent")[:200]:
            rows.append({"cells": [lv.agent, lv.starts_on, lv.ends_on, lv.note]})
    elif kind.key == "notice":
        for n in Notice.objects.filter(agent__in=agents).select_related("agent")[:200]:
            status = gettext("withdrawn") if n.withdrawn_at else gettext("standing")
            rows.append({"cells": [n.agent, n.given_on, n.last_day, n.note, status],
                         "withdraw": None if n.withdrawn_at else n.code})
    elif kind.key == "shifts":
        for s in Shift.objects.filter(agent__in=agents).select_related("agent")[:200]:
            rows.append({"cells": [s.agent, f"{s.start_hour:02d}:00–{s.end_hour:02d}:00", s.starts_on]})
    elif kind.key == "campaigns":
        for day in CampaignDay.objects.filter(desk__in=desks_managed_by(user)).select_related("desk")[:200]:
            rows.append({"cells": [day.desk.name, day.day, day.note]})
    else:
        brands = desks_managed_by(user).values("brand_id")
        for h in Holiday.objects.filter(brand_id__in=brands).select_related("brand")[:200]:
            rows.append({"cells": [h.day, h.name, h.country or "—", h.brand.name]})
    return rows


def _context_page(request: AuthedRequest, kind: ContextKind, form: forms.Form | None = None,
                  status: int = 200) -> HttpResponse:
    return render_page(request, "monitoring/context.html", {
        "kind": kind, "kinds": KINDS.values(), "form": form or _form(kind, request.user),
        "rows": _rows(kind, request.user), "can_edit": desks_managed_by(request.user).exists(),
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
    notice = Notice.objects.filter(code=code_or_404(code), agent__in=agents_managed_by(request.user)).first()
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
    qs = alert_queryset_for_user(request.user)
    if status in AlertStatus.values:
        qs = qs.filter(status=status)
    else:
        status = ""
    return render_page(request, "monitoring/alert_list.html", {
        "alerts": list(qs[:ALERTS_PER_PAGE]), "status": status, "statuses": AlertStatus.choices,
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
        "history": _agent_days(alert) if alert.subject_kind == SubjectKind.AGENT else [],
    })


def _subject_label(alert: Any) -> str:
    if alert.subject_kind == SubjectKind.AGENT and alert.agent is not None:
        return str(alert.agent)
    if alert.subject_kind == SubjectKind.CLIENT and alert.client is not None:
        return gettext("client %(code)s") % {"code": str(alert.client.code)[:8]}
    if alert.partner is not None:
        return str(alert.partner.display_name)
    return "—"


def _agent_days(alert: Any) -> list[Any]:
    from monitoring.models import AgentDayScore

    return list(AgentDayScore.objects.filter(agent_id=alert.agent_id, day__lte=alert.day,
                                             day__gte=alert.day - timedelta(days=13)).order_by("-day"))


@page_permission_required(VIEW_ALERTS)
def agent_day(request: AuthedRequest, code: Any, day: str) -> HttpResponse:
    """Every activity row of an agent on a day (the evidence behind an alert), audited."""
    agent = User.objects.select_related("desk").filter(code=code_or_404(code)).first()
    try:
        when = date.fromisoformat(day)
        start = datetime.combine(when, time(0), tzinfo=UTC)
        end = start + timedelta(days=1)  # the last day there is (9999-12-31) has no next day
    except (ValueError, OverflowError):
        raise Http404("No such day.") from None
    if agent is None or agent.desk is None or not agent_activity_visible(request.user, agent):
        raise Http404("No such agent.")
    audit_record(action="monitoring.activity_view", obj=agent, actor=request.user, brand=agent.desk.brand_id,
                 after={"day": when.isoformat()})
    with connection.cursor() as cur:
        cur.execute("""SELECT id, time, kind, client_id, client_owner_id, client_high_value, rows, duration_s,
                              outcome, ip, device
                       FROM monitoring_activity WHERE agent_id = %s AND time >= %s AND time < %s
                       ORDER BY time, id LIMIT 2000""", [agent.pk, start, end])
        rows = cur.fetchall()
    codes = dict(Client.objects.filter(pk__in={r[3] for r in rows if r[3]}).values_list("pk", "code"))
    owners = dict(User.objects.filter(pk__in={r[4] for r in rows if r[4]}).values_list("pk", "full_name"))
    events = [{"id": r[0], "time": r[1], "kind": r[2], "client_code": codes.get(r[3]), "client_id": r[3],
               "owner": owners.get(r[4], ""), "own_book": r[4] == agent.pk, "high_value": r[5], "rows": r[6],
               "duration_s": r[7], "outcome": r[8], "ip": r[9], "device": r[10]} for r in rows]
    return render_page(request, "monitoring/agent_day.html", {"agent": agent, "day": when, "events": events,
                                                               "capped": len(rows) >= 2000})


def alerts_url() -> str:
    return reverse("monitoring_alerts")
