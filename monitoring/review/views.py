"""Alert review pages: the decision posts from the alert's page (monitoring's, which shows the
reasons and evidence and audits each look; the decision block is templates/monitoring/review/
_decision.html), the desk's alert budget and the agent performance page. Thin: parse,
fetch-and-authorise, call a service, render."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_POST

from crm.exceptions import Conflict, NotAllowed, NotFound, ValidationFailed
from crm.models import Desk, RoleCode, User
from crm.permissions import AuthedRequest, code_or_404, desks_run_by, page_permission_required, user_can
from monitoring.models import AlertStatus
from monitoring.review import budget as budget_math
from monitoring.review import performance as perf
from monitoring.review import selectors, services
from monitoring.review.permissions import alert_get_for_reviewer

VIEW_DESKS = "monitoring_review.view_deskalertbudget"
# The second reviewer's steps on a restriction proposed by another (services.RESTRICTION_APPROVAL).
APPROVE_RESTRICTION = "approve_restriction"
SEND_BACK_RESTRICTION = "send_back_restriction"


def _alert_or_404(request: AuthedRequest, code: Any) -> Any:
    try:
        return alert_get_for_reviewer(request.user, code)
    except NotFound:
        raise Http404 from None


@login_required
@require_POST
def alert_decide(request: AuthedRequest, code: Any) -> HttpResponse:
    alert = _alert_or_404(request, code)
    decision = request.POST.get("decision", "")
    reason = request.POST.get("reason", "")
    try:
        if decision == AlertStatus.BENIGN:
            raw = (request.POST.get("quiet_days") or "").strip()
            try:
                days = int(raw) if raw else None
            except ValueError:
                raise ValidationFailed(fields={"quiet_days": [gettext("Give a whole number of days.")]}) from None
            decided = services.alert_decide_benign(actor=request.user, alert=alert, reason=reason, quiet_days=days)
            done = gettext("Marked benign: the same pattern stays quiet until %(day)s.") % {
                "day": decided.quiet_until}
        elif decision == AlertStatus.COACHING:
            services.alert_decide_coaching(actor=request.user, alert=alert, note=reason)
            done = gettext("Coaching noted: a task was given to the desk manager.")
        elif decision == AlertStatus.ESCALATED:
            services.alert_escalate(actor=request.user, alert=alert, reason=reason)
            done = gettext("Escalated to compliance.")
        elif decision == AlertStatus.RESTRICTED:
            decided = services.alert_restrict_now(actor=request.user, alert=alert, reason=reason)
            done = _restricted_message(decided)
        elif decision == APPROVE_RESTRICTION:
            done = _restricted_message(services.alert_restriction_approve(actor=request.user, alert=alert))
        elif decision == SEND_BACK_RESTRICTION:
            services.alert_restriction_send_back(actor=request.user, alert=alert, reason=reason)
            done = gettext("The restriction was sent back: nothing is restricted and the alert is open again.")
        else:
            raise ValidationFailed(fields={"decision": [gettext("Choose a decision.")]})
    except ValidationFailed as error:
        messages.error(request, " ".join(m for msgs in error.fields.values() for m in msgs) or error.message)
    except (Conflict, NotAllowed) as error:
        messages.error(request, error.message)
    else:
        messages.success(request, done)
    target = request.POST.get("next") or ""
    return redirect(target if _local(target) else reverse("monitoring_alert", args=[alert.code]))


def _restricted_message(alert: Any) -> str:
    if alert.status != AlertStatus.RESTRICTED:
        return gettext("Restriction proposed: it takes effect once a second reviewer approves it.")
    return gettext("%(agent)s is restricted from their next request: no reveals, no exports, read-only.") % {
        "agent": alert.agent}


def _local(url: str | None) -> bool:
    return bool(url and url.startswith("/") and not url.startswith("//"))


# --- desks: the budget and the performance page ------------------------------------------------------


def _desks_for(user: User) -> list[Desk]:
    qs = Desk.objects.select_related("brand").order_by("brand__name", "name")
    if user.is_administrator:
        return list(qs)
    if user.role_code == RoleCode.DESK_MANAGER:
        return list(qs.filter(pk__in=desks_run_by(user).values("pk")))
    if user.all_brands:
        return list(qs)
    return list(qs.filter(brand_id__in=user.brands.values("pk")))


def _code_or_http404(text: str) -> uuid.UUID:
    # A code that is no UUID names no desk or agent: the page's 404, like a code nobody has.
    try:
        return code_or_404(text)
    except NotFound:
        raise Http404 from None


def _desk_from(request: AuthedRequest, desks: list[Desk]) -> Desk | None:
    wanted = request.GET.get("desk") or request.POST.get("desk")
    if not wanted:
        return desks[0] if desks else None
    code = _code_or_http404(wanted)
    for desk in desks:
        if desk.code == code:
            return desk
    raise Http404


@page_permission_required(VIEW_DESKS)
def budget_page(request: AuthedRequest) -> HttpResponse:
    desks = _desks_for(request.user)
    desk = _desk_from(request, desks)
    if request.method == "POST":
        if desk is None:
            raise Http404
        try:
            services.desk_budget_set(actor=request.user, desk=desk, alerts_per_100=request.POST.get("alerts_per_100", ""))
            messages.success(request, gettext("Budget set; the desk's threshold is calibrated to it."))
        except ValidationFailed as error:
            messages.error(request, " ".join(m for msgs in error.fields.values() for m in msgs) or error.message)
        except NotAllowed as error:
            messages.error(request, error.message)
        return redirect(f"{reverse('monitoring_budget')}?desk={desk.code}")
    context: dict[str, Any] = {"desks": desks, "desk": desk}
    if desk is not None:
        row = selectors.desk_budget(desk)
        value = float(row.alerts_per_100) if row is not None else selectors.DEFAULT_BUDGET
        scores = services.desk_scores(desk)
        cost = budget_math.desk_cost(scores, value)
        synthetic = budget_math.synthetic_cost(value, selectors.synthetic_days())
        kinds = sorted(k for k in synthetic.recall if k != "all")
        context.update({
            "budget": row, "value": value, "double": 2 * value, "cost": cost,
            "can_set": services.desk_budget_refusal(request.user, desk) is None,
            "recall_rows": [(k, synthetic.recall.get(k), synthetic.recall_double.get(k)) for k in [*kinds, "all"]],
            "chart": {"labels": [f"{b:g}" for b, _r in synthetic.curve],
                      "recall": [{"label": gettext("Recall of injected scenarios"),
                                  "data": [r for _b, r in synthetic.curve]}]},
        })
    return render(request, "monitoring/review/budget.html", context)


@page_permission_required(VIEW_DESKS)
@require_GET
def performance_page(request: AuthedRequest) -> HttpResponse:
    desks = _desks_for(request.user)
    desk = _desk_from(request, desks)
    context: dict[str, Any] = {"desks": desks, "desk": desk}
    if desk is not None:
        agent = None
        if request.GET.get("agent"):
            agent = User.objects.filter(code=_code_or_http404(request.GET["agent"]), desk=desk).first()
            if agent is None:
                raise Http404
        try:
            days = int(request.GET.get("days") or perf.DAYS_DEFAULT)
        except ValueError:
            days = perf.DAYS_DEFAULT
        result = perf.performance(desk=desk, agent=agent, days=days)
        context.update({"agent": agent, "days": days, "result": result, "chart": result.series,
                        "can_see_alerts": user_can(request.user, "monitoring.review_monitoringalert")})
    return render(request, "monitoring/review/performance.html", context)
