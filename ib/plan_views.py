"""The IB manager's commission plan pages: the plans, each with its versions (rules, recorded and in
force), its assignments, a form recording the next version (or a correction, or a draft), a form
assigning it to a partner, and a what-if run of a draft over a past month; and the form on the
runs page that calculates (or recalculates) a period. Runs started here are computed by a
django-rq job (ib.commissions.commission_run_start); the run's page shows its progress. Thin:
parse, fetch and authorise, call one service of ib.commissions, render."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from django.contrib import messages
from django.db.models import Count, Prefetch, Q
from django.http import Http404, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.exceptions import DomainError, NotFound
from crm.lib.money import decimal_text
from crm.permissions import AuthedRequest, code_or_404, page_permission_required, user_can, visible_brands
from crm.views.ui import render_page
from crm.views.ui.forms import apply_domain_errors
from crm.views.ui.listing import form_problems
from ib import commissions
from ib.forms import ImportForm, PlanAssignForm, PlanVersionForm, RunStartForm, WhatIfForm
from ib.importer import ib_import_start
from ib.models import CommissionPlan, HedgeMode, PassUpBase, PlanAssignment, PlanRule, PlanVersion
from ib.permissions import partner_queryset_for_user, plan_queryset_for_user

MANAGE = commissions.MANAGE
RUN = commissions.RUN


def _plan_or_404(request: AuthedRequest, code: Any) -> CommissionPlan:
    plan = plan_queryset_for_user(request.user).filter(code=code_or_404(code)).first()
    if plan is None:
        raise Http404
    return plan


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


@page_permission_required(MANAGE)
@require_GET
def plan_list(request: AuthedRequest) -> HttpResponse:
    now = timezone.now()
    plans = list(plan_queryset_for_user(request.user).annotate(
        version_count=Count("versions", filter=Q(versions__is_draft=False), distinct=True),
        draft_count=Count("versions", filter=Q(versions__is_draft=True), distinct=True),
        partner_count=Count("assignments", filter=Q(assignments__partner__isnull=False, assignments__effective_from__lte=now)
                            & (Q(assignments__effective_to__isnull=True) | Q(assignments__effective_to__gt=now)),
                            distinct=True),
    ).order_by("brand__name", "name"))
    return render_page(request, "ib/plan_list.html", {"plans": plans})


def _detail(request: AuthedRequest, plan: CommissionPlan, *, version_form: PlanVersionForm | None = None,
            assign_form: PlanAssignForm | None = None, what_if_forms: dict[int, WhatIfForm] | None = None,
            status: int = 200) -> HttpResponse:
    versions = list(plan.versions.select_related("actor").prefetch_related(
        Prefetch("rules", queryset=PlanRule.objects.select_related("instrument_group").order_by("code")))
        .order_by("-number"))
    latest = next((v for v in versions if not v.is_draft), versions[0] if versions else None)
    if version_form is None:
        initial: dict[str, Any] = {"rules": "[]", "split_mode": "levels", "min_hold_seconds": 0}
        if latest is not None:
            initial.update(
                rules="[\n" + ",\n".join("  " + json.dumps(commissions.rule_spec(r)) for r in latest.rules.all()) + "\n]",
                split_mode=latest.split_mode, min_hold_seconds=latest.min_hold_seconds,
                effective_from=latest.effective_from.astimezone(dt.UTC).date(),
                pass_up_percent=latest.pass_up_percent or None, period_cap=latest.period_cap,
                pass_up_percents=", ".join(decimal_text(p) for p in latest.pass_up_percents),
                period_minimum=latest.period_minimum, pass_up_base=latest.pass_up_base, hedge_mode=latest.hedge_mode,
                client_cap=latest.client_cap)
        version_form = PlanVersionForm(initial=initial, currency=plan.currency)
    partners = partner_queryset_for_user(request.user).filter(brand_id=plan.brand_id).order_by("path")
    forms_by_version = what_if_forms or {}
    last_month = commissions.period_before()
    return render_page(request, "ib/plan_detail.html", {
        "plan": plan, "versions": [{"version": v, "what_if": forms_by_version.get(v.pk) or WhatIfForm(
            prefix=f"v{v.number}", initial={"period": f"{last_month:%Y-%m}"})} for v in versions],
        "assignments": list(PlanAssignment.objects.filter(plan=plan).select_related("partner", "account", "actor")
                            .order_by("-effective_from", "-id")[:200]),
        "version_form": version_form, "assign_form": assign_form or PlanAssignForm(partners=partners),
        "can_run": user_can(request.user, RUN),
    }, status=status)


@page_permission_required(MANAGE)
@require_GET
def plan_detail(request: AuthedRequest, code: Any) -> HttpResponse:
    return _detail(request, _plan_or_404(request, code))


@page_permission_required(MANAGE)
@require_POST
def plan_version_new(request: AuthedRequest, code: Any) -> HttpResponse:
    plan = _plan_or_404(request, code)
    form = PlanVersionForm(request.POST, currency=plan.currency)
    if form.is_valid():
        data = form.cleaned_data
        try:
            version = commissions.plan_version_record(
                actor=request.user, plan=plan, effective_from=commissions.version_start(plan, data["effective_from"]), rules=data["rules"],
                min_hold_seconds=data["min_hold_seconds"], split_mode=data["split_mode"],
                pass_up_percent=data["pass_up_percent"] if data["pass_up_percent"] is not None else "0",
                period_cap=data["period_cap"], period_minimum=data["period_minimum"], note=data["note"],
                draft=data["draft"], pass_up_base=data["pass_up_base"] or PassUpBase.OUT_OF,
                hedge_mode=data["hedge_mode"] or HedgeMode.LATER_UNPAID, client_cap=data["client_cap"],
                pass_up_percents=data["pass_up_percents"])
        except NotFound:
            raise Http404 from None
        except DomainError as error:
            # A rule's problem is named by its place (rules[1].level_rates): shown on the rules field.
            for name, problems in error.fields.items():
                for problem in problems:
                    if name in form.fields:
                        form.add_error(name, problem)
                    elif name.startswith("pass_up_percents["):
                        form.add_error("pass_up_percents", f"{name}: {problem}")
                    else:
                        form.add_error("rules", f"{name}: {problem}")
            if not error.fields:
                form.add_error(None, error.message)
        else:
            messages.success(request, gettext("Version %(number)d recorded.") % {"number": version.number})
            return HttpResponseRedirect(reverse("ib_plan_detail", args=[plan.code]) + f"#v{version.number}")
    return _detail(request, plan, version_form=form, status=400)


@page_permission_required(MANAGE)
@require_POST
def plan_assign(request: AuthedRequest, code: Any) -> HttpResponse:
    plan = _plan_or_404(request, code)
    partners = partner_queryset_for_user(request.user).filter(brand_id=plan.brand_id).order_by("path")
    form = PlanAssignForm(request.POST, partners=partners)
    if form.is_valid():
        data = form.cleaned_data
        try:
            account = (commissions.account_for_override(brand=plan.brand, login=data["account_login"])
                       if data.get("account_login") else None)
            commissions.plan_assign(actor=request.user, plan=plan, partner=data.get("partner"), account=account,
                                    effective_from=_midnight(data["effective_from"]))
        except NotFound:
            raise Http404 from None
        except DomainError as error:
            apply_domain_errors(form, error, aliases={"login": "account_login"})
        else:
            target = (gettext("%(partner)s's clients") % {"partner": data["partner"].display_name} if account is None
                      else gettext("account %(login)s") % {"login": account.login})
            messages.success(request, gettext("%(plan)s applies to %(target)s from %(date)s.") % {
                "plan": plan.name, "target": target, "date": data["effective_from"].isoformat()})
            return HttpResponseRedirect(reverse("ib_plan_detail", args=[plan.code]))
    return _detail(request, plan, assign_form=form, status=400)


@page_permission_required(RUN)
@require_POST
def plan_what_if(request: AuthedRequest, code: Any, number: int) -> HttpResponse:
    plan = _plan_or_404(request, code)
    version = PlanVersion.objects.filter(plan=plan, number=number, is_draft=True).first()
    if version is None:
        raise Http404
    form = WhatIfForm(request.POST, prefix=f"v{number}")
    started = _started(request, form, lambda data: {"brand": plan.brand, "what_if_versions": [version]})
    return started or _detail(request, plan, what_if_forms={version.pk: form}, status=400)


def _started(request: AuthedRequest, form: Any, target: Any) -> HttpResponse | None:
    """Start the run a valid `form` asks for (`target(cleaned_data)`: its brand and drafts) and go
    to its page; None with the service's refusal on the form."""
    if not form.is_valid():
        return None
    try:
        run = commissions.commission_run_start(actor=request.user, period=form.cleaned_data["period"],
                                               **target(form.cleaned_data))
    except NotFound:
        raise Http404 from None
    except DomainError as error:
        apply_domain_errors(form, error)
        return None
    return HttpResponseRedirect(reverse("ib_run_detail", args=[run.code]))


@page_permission_required(RUN)
@require_POST
def run_start(request: AuthedRequest) -> HttpResponse:
    form = RunStartForm(request.POST, brands=visible_brands(request.user), prefix="start")
    started = _started(request, form, lambda data: {"brand": data["brand"]})
    if started is not None:
        return started
    messages.error(request, " ".join(form_problems(form)))
    return HttpResponseRedirect(reverse("ib_run_list"))


@page_permission_required(MANAGE)
@require_http_methods(["GET", "POST"])
def import_upload(request: AuthedRequest) -> HttpResponse:
    """Upload a partner programme file (the format of manage.py ib_import); a job imports it."""
    form = ImportForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        status = 400
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                job = ib_import_start(actor=request.user, data=upload.read(), file_name=upload.name)
            except NotFound:
                raise Http404 from None
            except DomainError as error:
                apply_domain_errors(form, error)
            else:
                return HttpResponseRedirect(reverse("job_detail", args=[job.code]))
    return render_page(request, "ib/import.html", {"form": form}, status=status)
