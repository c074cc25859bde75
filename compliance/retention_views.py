"""The retention schedule's page (officers who work data-subject requests): the schedule in force, what
the next run would remove (a dry run, nothing changed), the last runs' reports; a rule changed for every
brand, a run started now. Thin: compliance.retention does the work."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from compliance.erasure import KIND_LABELS, client_erasures
from compliance.retention import (
    RETENTION_MANAGE,
    RETENTION_VIEW,
    retention_preview,
    retention_rule_save,
    retention_runs,
    rules_for,
)
from compliance.retention_models import RetentionKind
from crm.exceptions import DomainError
from crm.lib.enqueue import task_send_on_commit
from crm.models import Client
from crm.permissions import AuthedRequest, page_permission_required, user_can
from crm.views.ui import render_page
from crm.views.ui.forms import apply_domain_errors


class RetentionRuleForm(forms.Form):
    kind = forms.ChoiceField(label=_("Kind of data"), choices=RetentionKind.choices)
    keep_days = forms.IntegerField(label=_("Kept for (days)"), min_value=1, max_value=36500)
    basis = forms.CharField(label=_("Basis"), max_length=300)


def _page(request: AuthedRequest, form: RetentionRuleForm | None = None, status: int = 200) -> HttpResponse:
    preview = retention_preview()
    rules = [(rule, preview.get(rule.kind, 0)) for rule in rules_for(None)]
    return render_page(request, "compliance/retention.html", {
        "rules": rules, "runs": retention_runs(), "form": form or RetentionRuleForm(),
        "can_manage": user_can(request.user, RETENTION_MANAGE)
        and (request.user.all_brands or request.user.is_administrator),
    }, status=status)


@page_permission_required(RETENTION_VIEW)
@require_GET
def retention_page(request: AuthedRequest) -> HttpResponse:
    return _page(request)


@page_permission_required(RETENTION_MANAGE)
@require_POST
def retention_rule_set(request: AuthedRequest) -> HttpResponse:
    form = RetentionRuleForm(request.POST)
    if form.is_valid():
        try:
            retention_rule_save(actor=request.user, brand=None, **form.cleaned_data)
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("The retention rule is saved."))
            return redirect("compliance_retention")
    return _page(request, form, status=400)


@page_permission_required(RETENTION_MANAGE)
@require_POST
def retention_run_now(request: AuthedRequest) -> HttpResponse:
    if not (request.user.all_brands or request.user.is_administrator):
        raise Http404  # the schedule runs over every brand: for those who work for every brand
    task_send_on_commit("compliance.tasks.retention_run_daily")
    messages.success(request, gettext("The retention run has started: its report appears below when done."))
    return redirect("compliance_retention")



def erasure_tab_context(request: AuthedRequest, client: Client) -> dict[str, Any]:
    """The erasures part of the client's Compliance tab: each erasure done, with what stays under a hold and
    until when (for those who see data-subject requests; None for others)."""
    if not user_can(request.user, RETENTION_VIEW):
        return {"erasures": None}
    return {"erasures": [
        {"at": row.erased_at, "by": row.erased_by, "request": row.request_code,
         "held": [(str(KIND_LABELS.get(kind, kind)), until) for kind, until in sorted(row.held.items())]}
        for row in client_erasures(client=client)]}
