"""Finance's reconciliation pages: import a settlement file (a job with a progress bar), an import's
result, the breaks queue with its resolutions, and the platform reconciliation button."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django import forms
from django.contrib import messages
from django.db.models import Count
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from crm.exceptions import DomainError, NotFound
from crm.permissions import AuthedRequest, page_permission_required
from crm.views.ui import render_page
from wallet import reconciliation as recon
from wallet.exceptions import ProviderError
from wallet.models import (
    BreakKind,
    BreakStatus,
    PaymentProvider,
    ReconciliationBreak,
    Resolution,
    SettlementImport,
    SettlementMapping,
)

PERM = recon.RECONCILE_PERMISSION
MAX_UPLOAD_BYTES = 200 * 1024 * 1024
QUEUE_SIZE = 200


class ImportForm(forms.Form):
    provider = forms.ModelChoiceField(label=_("Provider"), queryset=PaymentProvider.objects.filter(is_enabled=True),
                                      to_field_name="code")
    mapping = forms.ModelChoiceField(label=_("Mapping"), queryset=SettlementMapping.objects.all(),
                                     to_field_name="code", required=False,
                                     help_text=_("Empty: the provider's saved mapping."))
    file = forms.FileField(label=_("Settlement file (CSV or XLSX)"), required=False)
    day = forms.DateField(label=_("Or fetch the simulator's file of"), required=False,
                          widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("file") and not data.get("day"):
            raise forms.ValidationError(gettext("Choose a file, or a day to fetch."))
        upload = data.get("file")
        if upload is not None and upload.size > MAX_UPLOAD_BYTES:
            self.add_error("file", gettext("The file is larger than 200 MB."))
        return data


class QueueFilter(forms.Form):
    status = forms.ChoiceField(label=_("Status"), required=False, choices=[("", _("Open")), ("resolved", _("Resolved")),
                                                                            ("all", _("All"))])
    provider = forms.ModelChoiceField(label=_("Provider"), queryset=PaymentProvider.objects.all(),
                                      to_field_name="code", required=False)
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("Any")), *BreakKind.choices])
    older_than = forms.IntegerField(label=_("Older than (days)"), required=False, min_value=0, max_value=3650)


class ResolveForm(forms.Form):
    resolution = forms.ChoiceField(label=_("Resolution"), choices=Resolution.choices)
    note = forms.CharField(label=_("Note"), required=False, max_length=1000)


@page_permission_required(PERM)
@require_GET
def recon_home(request: AuthedRequest) -> HttpResponse:
    return render_page(request, "wallet/reconciliation/home.html", {
        "form": ImportForm(), "imports": recon.imports_recent(user=request.user),
        "summary": recon.open_breaks_summary(as_of=timezone.localdate())})


@page_permission_required(PERM)
@require_POST
def recon_import(request: AuthedRequest) -> HttpResponse:
    form = ImportForm(request.POST, request.FILES)
    if form.is_valid():
        provider: PaymentProvider = form.cleaned_data["provider"]
        upload = form.cleaned_data.get("file")
        try:
            if upload is not None:
                data, name = upload.read(), upload.name
            else:
                day: dt.date = form.cleaned_data["day"]
                data, name = recon.simulator_settlement_fetch(provider=provider, day=day), f"{provider.code}-{day}.csv"
            imp = recon.settlement_import_start(actor=request.user, provider=provider, data=data, file_name=name,
                                                mapping=form.cleaned_data.get("mapping"))
        except ProviderError as error:
            form.add_error(None, gettext("The provider did not give the file: %(error)s") % {"error": error.message})
        except DomainError as error:
            fields = getattr(error, "fields", None) or {}
            for field, message in fields.items():
                form.add_error(field if field in form.fields else None, message)
            if not fields:
                form.add_error(None, error.message)
        else:
            assert imp.job is not None
            return redirect("job_detail", imp.job.code)
    return render_page(request, "wallet/reconciliation/home.html", {
        "form": form, "imports": recon.imports_recent(user=request.user),
        "summary": recon.open_breaks_summary(as_of=timezone.localdate())}, status=400)


@page_permission_required(PERM)
@require_GET
def recon_import_detail(request: AuthedRequest, code: str) -> HttpResponse:
    imp = SettlementImport.objects.select_related("provider", "job", "created_by").filter(code=_uuid(code)).first()
    if imp is None:
        raise Http404
    by_kind = {row["kind"]: row["n"] for row in imp.breaks.values("kind").annotate(n=Count("id"))}
    return render_page(request, "wallet/reconciliation/import.html", {
        "imp": imp, "by_kind": [(value, label, by_kind.get(value, 0)) for value, label in BreakKind.choices
                                if value in by_kind]})


def _uuid(code: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(code))
    except ValueError:
        raise Http404 from None


@page_permission_required(PERM)
@require_GET
def recon_breaks(request: AuthedRequest) -> HttpResponse:
    form = QueueFilter(request.GET or None)
    values = form.cleaned_data if form.is_valid() else {}
    status = values.get("status") or BreakStatus.OPEN
    qs = recon.breaks_for_queue(user=request.user, status="" if status == "all" else status,
                                provider=values.get("provider"), kind=values.get("kind") or "",
                                older_than_days=values.get("older_than"))
    breaks = list(qs[:QUEUE_SIZE])
    today = timezone.localdate()
    for brk in breaks:
        brk.age = (today - brk.occurred_on).days  # type: ignore[attr-defined]
    return render_page(request, "wallet/reconciliation/breaks.html", {
        "filter": form, "breaks": breaks, "more": len(breaks) == QUEUE_SIZE,
        "allowed": {kind: [(r, Resolution(r).label) for r in rs] for kind, rs in recon.ALLOWED.items()}},
        partial="break-table")


@page_permission_required(PERM)
@require_POST
def recon_break_resolve(request: AuthedRequest, code: str) -> HttpResponse:
    try:
        brk: ReconciliationBreak = recon.break_get_for_user(user=request.user, code=code)
    except NotFound:
        raise Http404 from None
    form = ResolveForm(request.POST)
    if not form.is_valid():
        messages.error(request, gettext("Choose a resolution."))
    else:
        try:
            recon.break_resolve(actor=request.user, brk=brk, resolution=form.cleaned_data["resolution"],
                                note=form.cleaned_data["note"])
        except DomainError as error:
            fields = getattr(error, "fields", None) or {}
            messages.error(request, " ".join(str(m) for m in fields.values()) or error.message)
        else:
            messages.success(request, gettext("Break resolved."))
    return HttpResponseRedirect(request.POST.get("next", "") if _safe_next(request) else reverse("wallet_recon_breaks"))


def _safe_next(request: AuthedRequest) -> bool:
    target = request.POST.get("next", "")
    return target.startswith("/wallet/reconciliation/") and "//" not in target


@page_permission_required(PERM)
@require_POST
def recon_platform(request: AuthedRequest) -> HttpResponse:
    try:
        result = recon.platform_reconcile(actor=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, gettext(
            "Platform reconciliation: %(differing)d accounts differ from their ledger mirror (%(opened)d new, "
            "%(cleared)d cleared).") % {"differing": result.accounts_differing, "opened": result.opened,
                                       "cleared": result.cleared})
    return HttpResponseRedirect(reverse("wallet_recon_breaks") + "?kind=platform_mismatch")
