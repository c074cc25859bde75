"""Staff pages of AML monitoring (compliance officers only): the alert queue, an alert with its linked
ledger transactions, the rules, a rule's versions with the edit form (a new version), and a version's
dry run ("what would it have fired over the last month")."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from compliance import aml_forms as forms
from compliance import selectors, services
from compliance.aml import DECIDE_PERMISSION, RULES_EDIT_PERMISSION, RULES_VIEW_PERMISSION, VIEW_PERMISSION
from compliance.models import AmlAlert, AmlAlertStatus, AmlRule
from crm.exceptions import DomainError, NotAllowed, NotFound
from crm.permissions import AuthedRequest, page_permission_required, user_can, visible_brands
from crm.views.ui import raise_for_domain_error, render_page
from crm.views.ui.forms import apply_domain_errors


def _alert_or_404(request: AuthedRequest, code: Any) -> AmlAlert:
    try:
        return selectors.aml_alert_get_for_user(request.user, code)
    except NotFound:
        raise Http404 from None


def _rule_or_404(request: AuthedRequest, code: Any) -> AmlRule:
    try:
        return selectors.aml_rule_get_for_user(request.user, code)
    except NotFound:
        raise Http404 from None


@page_permission_required(VIEW_PERMISSION)
@require_GET
def alert_queue(request: AuthedRequest) -> HttpResponse:
    """Alerts by status (open first), rule and brand; best score first."""
    brands = [(b.pk, b.name) for b in visible_brands(request.user).order_by("name")]
    form = forms.AlertFilterForm(request.GET or None, brands=brands)
    status, rule, brand = selectors.ALERTS_CURRENT, "", None
    if form.is_bound and form.is_valid():
        status = form.cleaned_data["status"] or selectors.ALERTS_CURRENT
        rule = form.cleaned_data["rule"]
        brand = int(form.cleaned_data["brand"]) if form.cleaned_data["brand"] else None
    rows = selectors.aml_alert_queue(user=request.user, status="" if status == "all" else status, rule_kind=rule,
                                     brand_id=brand)
    page = Paginator(rows, selectors.AML_PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render_page(request, "compliance/aml/queue.html", {
        "page": page, "filter_form": form, "query": query.urlencode(),
        "can_view_rules": user_can(request.user, RULES_VIEW_PERMISSION),
    }, partial="aml-rows")


def _alert_context(request: AuthedRequest, alert: AmlAlert, **given: Any) -> dict[str, Any]:
    return {
        "alert": alert, "client": alert.client, "transactions": selectors.aml_alert_transactions(alert),
        "can_dismiss": user_can(request.user, DECIDE_PERMISSION) and alert.status == AmlAlertStatus.OPEN,
        "dismiss_form": given.get("dismiss_form") or forms.DismissForm(),
    }


@page_permission_required(VIEW_PERMISSION)
@require_GET
def alert_detail(request: AuthedRequest, code: Any) -> HttpResponse:
    alert = _alert_or_404(request, code)
    return render_page(request, "compliance/aml/alert.html", _alert_context(request, alert))


@page_permission_required(DECIDE_PERMISSION)
@require_POST
def alert_dismiss(request: AuthedRequest, code: Any) -> HttpResponse:
    alert = _alert_or_404(request, code)
    form = forms.DismissForm(request.POST)
    if form.is_valid():
        try:
            services.aml_alert_dismiss(alert=alert, actor=request.user, reason=form.cleaned_data["reason"])
        except NotFound as error:
            raise_for_domain_error(error)
            raise
        except (NotAllowed, DomainError) as error:
            apply_domain_errors(form, error)
    if form.errors:
        alert = _alert_or_404(request, code)
        return render_page(request, "compliance/aml/alert.html", _alert_context(request, alert, dismiss_form=form),
                           status=400)
    messages.success(request, gettext("Alert dismissed."))
    return redirect("compliance_aml_alert", code=alert.code)


@page_permission_required(RULES_VIEW_PERMISSION)
@require_GET
def rule_list(request: AuthedRequest) -> HttpResponse:
    rules = list(selectors.aml_rules_for_user(request.user))
    current = {r.pk: selectors.version_in_force(r) for r in rules}
    return render_page(request, "compliance/aml/rules.html", {
        "rows": [(r, current[r.pk]) for r in rules]})


def _rule_context(request: AuthedRequest, rule: AmlRule, **given: Any) -> dict[str, Any]:
    current = selectors.version_in_force(rule)
    return {
        "rule": rule, "current": current, "versions": selectors.aml_rule_versions(rule),
        "can_edit": user_can(request.user, RULES_EDIT_PERMISSION),
        "form": given.get("form") or forms.RuleVersionForm(kind=rule.kind,
                                                           current=current.parameters if current else None),
    }


@page_permission_required(RULES_VIEW_PERMISSION)
@require_http_methods(["GET", "POST"])
def rule_detail(request: AuthedRequest, code: Any) -> HttpResponse:
    """A rule's versions, newest first, and (for those who may) the form of a new version."""
    rule = _rule_or_404(request, code)
    if request.method == "POST":
        if not user_can(request.user, RULES_EDIT_PERMISSION):
            raise Http404
        form = forms.RuleVersionForm(request.POST, kind=rule.kind)
        if form.is_valid():
            try:
                version = services.aml_rule_version_add(
                    rule=rule, parameters=form.parameters(), actor=request.user,
                    effective_from=form.cleaned_data["effective_from"], note=form.cleaned_data["note"])
            except DomainError as error:
                apply_domain_errors(form, error, aliases=form.aliases())
            else:
                messages.success(request, gettext("Version %(n)s saved; the alerts of earlier versions keep "
                                                  "theirs.") % {"n": version.number})
                return redirect("compliance_aml_rule", code=rule.code)
        return render_page(request, "compliance/aml/rule.html", _rule_context(request, rule, form=form), status=400)
    return render_page(request, "compliance/aml/rule.html", _rule_context(request, rule))


@page_permission_required(RULES_VIEW_PERMISSION)
@require_GET
def rule_dry_run(request: AuthedRequest, code: Any, number: int) -> HttpResponse:
    """What the version would have fired over the last month's movements. Nothing is written."""
    rule = _rule_or_404(request, code)
    version = rule.versions.filter(number=number).first()
    if version is None:
        raise Http404
    result = selectors.aml_rule_dry_run(version=version)
    from crm.models import Client

    names = dict(Client.objects.filter(pk__in={r.client_id for r in result.rows}).values_list("pk", "code"))
    return render_page(request, "compliance/aml/dry_run.html", {
        "rule": rule, "version": version, "result": result,
        "rows": [(r, names.get(r.client_id)) for r in result.rows]})
