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
from crm.lib.money import UnknownCurrency, currency_normalise
from crm.permissions import AuthedRequest, page_permission_required
from crm.views.ui import render_page
from wallet import permissions, selectors, services
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

PERM = permissions.RECONCILE_PERMISSION
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

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Finance limited to brands imports the files of providers serving only their brands.
        self.fields["provider"].queryset = selectors.providers_for_user(user).filter(is_enabled=True)  # type: ignore[attr-defined]  # a ModelChoiceField, typed as Field

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
    currency = forms.CharField(label=_("Currency"), required=False, max_length=10)
    # The month-end close links here with its month's last day: the breaks its count is about.
    until = forms.DateField(label=_("Dated up to"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].queryset = selectors.providers_for_user(user)  # type: ignore[attr-defined]  # a ModelChoiceField, typed as Field

    def clean_currency(self) -> str:
        value = self.cleaned_data.get("currency") or ""
        if not value:
            return ""
        try:
            return currency_normalise(value)
        except UnknownCurrency as error:
            raise forms.ValidationError(error.message) from None


class ResolveForm(forms.Form):
    resolution = forms.ChoiceField(label=_("Resolution"), choices=Resolution.choices)
    note = forms.CharField(label=_("Note"), required=False, max_length=1000)


@page_permission_required(PERM)
@require_GET
def recon_home(request: AuthedRequest) -> HttpResponse:
    return render_page(request, "wallet/reconciliation/home.html", {
        "form": ImportForm(user=request.user), "imports": selectors.imports_recent(user=request.user),
        "summary": selectors.open_breaks_summary(as_of=timezone.localdate(), user=request.user)})


@page_permission_required(PERM)
@require_POST
def recon_import(request: AuthedRequest) -> HttpResponse:
    form = ImportForm(request.POST, request.FILES, user=request.user)
    if form.is_valid():
        provider: PaymentProvider = form.cleaned_data["provider"]
        upload = form.cleaned_data.get("file")
        try:
            if upload is not None:
                data, name = upload.read(), upload.name
            else:
                day: dt.date = form.cleaned_data["day"]
                data, name = services.simulator_settlement_fetch(provider=provider, day=day), f"{provider.code}-{day}.csv"
            imp = services.settlement_import_start(actor=request.user, provider=provider, data=data, file_name=name,
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
        "form": form, "imports": selectors.imports_recent(user=request.user),
        "summary": selectors.open_breaks_summary(as_of=timezone.localdate(), user=request.user)}, status=400)


@page_permission_required(PERM)
@require_GET
def recon_import_detail(request: AuthedRequest, code: str) -> HttpResponse:
    imp = _import_or_404(request, code)
    by_kind = {row["kind"]: row["n"] for row in imp.breaks.values("kind").annotate(n=Count("id"))}
    unmatched = imp.breaks.filter(kind=BreakKind.MISSING_IN_LEDGER, status=BreakStatus.OPEN).count()
    return render_page(request, "wallet/reconciliation/import.html", {
        "imp": imp, "unmatched": unmatched,
        "by_kind": [(value, label, by_kind.get(value, 0)) for value, label in BreakKind.choices if value in by_kind]})


def _import_or_404(request: AuthedRequest, code: str) -> SettlementImport:
    try:
        return permissions.import_get_for_user(user=request.user, code=_uuid(code))
    except NotFound:
        raise Http404 from None


@page_permission_required(PERM)
@require_POST
def recon_import_rematch(request: AuthedRequest, code: str) -> HttpResponse:
    """Match the import's lines missing in the ledger again (payments whose webhook came late)."""
    imp = _import_or_404(request, code)
    try:
        result = services.settlement_rematch(actor=request.user, settlement=imp)
    except NotFound:
        raise Http404 from None
    except DomainError as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(request, _rematch_text(result))
    return HttpResponseRedirect(reverse("wallet_recon_import", args=[imp.code]))


@page_permission_required(PERM)
@require_POST
def recon_break_rematch(request: AuthedRequest, code: str) -> HttpResponse:
    """Match one break's line missing in the ledger again."""
    try:
        brk = permissions.break_get_for_user(user=request.user, code=code)
        result = services.settlement_rematch(actor=request.user, brk=brk)
    except NotFound:
        raise Http404 from None
    except DomainError as error:
        messages.error(request, _error_text(error))
    else:
        messages.success(request, _rematch_text(result))
    return HttpResponseRedirect(request.POST.get("next", "") if _safe_next(request) else reverse("wallet_recon_breaks"))


def _error_text(error: DomainError) -> str:
    fields = getattr(error, "fields", None) or {}
    return " ".join(str(m) for m in fields.values()) or error.message


def _rematch_text(result: selectors.RematchResult) -> str:
    if not result.lines:
        return gettext("No line of it is missing in the ledger any more.")
    if not result.matched:
        return gettext("Nothing in the ledger matches it yet: the break stays open.")
    text = gettext("Lines missing in the ledger matched now: %(matched)d of %(lines)d; their breaks are resolved.") % {
        "matched": result.matched, "lines": result.lines}
    if result.breaks:
        text += " " + gettext("New differences waiting in the queue: %(breaks)d.") % {"breaks": result.breaks}
    return text


def _uuid(code: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(code))
    except ValueError:
        raise Http404 from None


@page_permission_required(PERM)
@require_GET
def recon_breaks(request: AuthedRequest) -> HttpResponse:
    form = QueueFilter(request.GET or None, user=request.user)
    values = form.cleaned_data if form.is_valid() else {}
    status = values.get("status") or BreakStatus.OPEN
    qs = selectors.breaks_for_queue(user=request.user, status="" if status == "all" else status,
                                   provider=values.get("provider"), kind=values.get("kind") or "",
                                   older_than_days=values.get("older_than"), currency=values.get("currency") or "",
                                   occurred_until=values.get("until"))
    breaks = list(qs[:QUEUE_SIZE])
    today = timezone.localdate()
    for brk in breaks:
        brk.age = (today - brk.occurred_on).days  # type: ignore[attr-defined]  # for the template only
    return render_page(request, "wallet/reconciliation/breaks.html", {
        "filter": form, "breaks": breaks, "more": len(breaks) == QUEUE_SIZE,
        "allowed": {kind: [(r, Resolution(r).label) for r in rs] for kind, rs in selectors.BREAK_RESOLUTIONS.items()}},
        partial="break-table")


@page_permission_required(PERM)
@require_POST
def recon_break_resolve(request: AuthedRequest, code: str) -> HttpResponse:
    try:
        brk: ReconciliationBreak = permissions.break_get_for_user(user=request.user, code=code)
    except NotFound:
        raise Http404 from None
    form = ResolveForm(request.POST)
    if not form.is_valid():
        messages.error(request, gettext("Choose a resolution."))
    else:
        try:
            services.break_resolve(actor=request.user, brk=brk, resolution=form.cleaned_data["resolution"],
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
        result = services.platform_reconcile(actor=request.user)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, gettext(
            "Platform reconciliation: %(differing)d accounts differ from their ledger mirror (%(opened)d new, "
            "%(cleared)d cleared).") % {"differing": result.accounts_differing, "opened": result.opened,
                                       "cleared": result.cleared})
    return HttpResponseRedirect(reverse("wallet_recon_breaks") + "?kind=platform_mismatch")
