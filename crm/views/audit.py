"""The audit log, for administrators and compliance: filter it, read each change's before and
after, and check the hash chain. Everyone else gets 404.

The list is keyset-paginated (newest first): the log grows without bound, and a page deep in it
costs the same as the first.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from crm.audit import (
    PROBLEM_CONTENT,
    PROBLEM_LINK,
    ChainReport,
    DiffLine,
    audit_diff,
    audit_log_search,
    audit_objects_named,
    verify_chain,
)
from crm.lib.pagination import InvalidCursor, Key, paginate
from crm.models import AuditLog, User
from crm.permissions import client_queryset_for_user, user_can
from crm.views.ui import render_page, wants_partial

PAGE_SIZE = 50
TEMPLATE = "crm/audit/audit_list.html"
ID_DESC = (Key("id", True, "int"),)
SYSTEM = "system"


def _may_read_audit(user: Any) -> bool:
    return bool(user.is_administrator or user_can(user, "crm.view_auditlog"))


class AuditFilterForm(forms.Form):
    actor = forms.ChoiceField(label=gettext_lazy("Actor"), required=False)
    action = forms.CharField(label=gettext_lazy("Action"), required=False, max_length=100,
                             help_text=gettext_lazy('Matches the beginning: "client." finds every client action.'))
    object_type = forms.CharField(label=gettext_lazy("Object type"), required=False, max_length=100)
    object_id = forms.CharField(label=gettext_lazy("Object id"), required=False, max_length=64)
    date_from = forms.DateField(label=gettext_lazy("From"), required=False,
                                widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=gettext_lazy("To"), required=False,
                              widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        staff = User.objects.order_by("full_name", "email").values_list("code", "full_name", "email")
        self.fields["actor"].choices = [
            ("", _("Anyone")), (SYSTEM, _("The system (tasks, imports)")),
            *((str(code), f"{name or email} <{email}>") for code, name, email in staff),
        ]
        self.fields["object_type"].widget.attrs["placeholder"] = "crm.client"
        for field in self.fields.values():
            field.widget.attrs["class"] = "input"

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and end < start:
            self.add_error("date_to", _("The end date is before the start date."))
        return data

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for audit_log_search; dates are whole days in the user's time zone."""
        if not self.is_bound or not self.is_valid():
            return {}
        data = self.cleaned_data
        out: dict[str, Any] = {
            "action": data["action"].strip(), "object_type": data["object_type"].strip(),
            "object_id": data["object_id"].strip(),
        }
        if data["actor"] == SYSTEM:
            out["system_only"] = True
        elif data["actor"]:
            out["actor"] = User.objects.filter(code=data["actor"]).first()
        if data["date_from"]:
            out["since"] = _start_of_day(data["date_from"])
        if data["date_to"]:
            out["until"] = _start_of_day(data["date_to"] + timedelta(days=1))
        return out


def _start_of_day(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


@dataclass(frozen=True)
class ShownLine:
    key: str
    before: str
    after: str
    changed: bool


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def _shown(lines: list[DiffLine]) -> list[ShownLine]:
    return [ShownLine(line.key, _show(line.before), _show(line.after), line.changed) for line in lines]


@dataclass(frozen=True)
class Entry:
    row: AuditLog
    diff: list[ShownLine]
    name: str = ""  # the object's name, when it still exists
    url: str = ""  # its page, when the viewer may open it


def client_audit_links(viewer: Any, clients: list[Any]) -> dict[str, str]:
    """Links to the profiles of the audited clients the viewer may open."""
    from django.urls import reverse

    visible = set(client_queryset_for_user(viewer).filter(pk__in=[c.pk for c in clients])
                  .values_list("code", flat=True))
    return {str(c.code): reverse("client_detail", args=[c.code]) for c in clients if c.code in visible}


def _entries(viewer: Any, rows: list[AuditLog]) -> list[Entry]:
    named = audit_objects_named(viewer, [(row.object_type, row.object_id) for row in rows])
    entries = []
    for row in rows:
        name, url = named.get((row.object_type, row.object_id), ("", ""))
        entries.append(Entry(row, _shown(audit_diff(row.before, row.after)), name=name, url=url))
    return entries


@login_required
@require_GET
def audit_list(request: HttpRequest) -> HttpResponse:
    if not _may_read_audit(request.user):
        raise Http404
    form = AuditFilterForm(request.GET or None)
    filters = form.filters()
    rows = audit_log_search(**{k: v for k, v in filters.items() if v not in ("", None)})
    try:
        page = paginate(rows, cursor=request.GET.get("cursor") or None, limit=PAGE_SIZE, keys=ID_DESC)
    except InvalidCursor:
        page = paginate(rows, cursor=None, limit=PAGE_SIZE, keys=ID_DESC)
    query = request.GET.copy()
    query.pop("cursor", None)
    base_query = query.urlencode()
    context = {
        "form": form,
        "entries": _entries(request.user, page.items),
        "filtered": bool(base_query),
        "first_page_url": f"?{base_query}" if base_query else "?",
        "next_page_url": f"?{urlencode({**query.dict(), 'cursor': page.next_cursor})}" if page.next_cursor else "",
        "is_first_page": not request.GET.get("cursor"),
    }
    return render_page(request, TEMPLATE, context, partial="audit-table")


@login_required
@require_POST
def audit_verify(request: HttpRequest) -> HttpResponse:
    """Walk the whole chain now and say whether it holds (and where it breaks if not)."""
    if not _may_read_audit(request.user):
        raise Http404
    report = verify_chain()
    if wants_partial(request):
        return render_page(request, TEMPLATE, {
            "report": report, "problem": _problem_text(report), "verified_at": timezone.now(),
        }, partial="chain-status")
    if report.ok:
        messages.success(request, _("The audit chain is intact: %(count)d rows checked.") % {"count": report.checked})
    elif report.checkpoint is not None:
        messages.error(request, _("The audit chain is BROKEN: %(problem)s") % {"problem": _problem_text(report)})
    else:
        messages.error(request, _("The audit chain is BROKEN at row %(id)s: %(problem)s") % {
            "id": report.first_bad_id, "problem": _problem_text(report)})
    return redirect("audit_list")


def _problem_text(report: ChainReport) -> str:
    return {
        PROBLEM_LINK: _("it does not point at the row before it (a row was removed or inserted)"),
        PROBLEM_CONTENT: _("its content was changed after it was written"),
    }.get(report.problem) or report.describe()
