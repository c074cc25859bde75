"""Staff pages of trading: the client profile's Trading tab and its account actions, platform
servers with their sync health, brands' leverage caps, the dealer's view of recent deals and of
open exposure, and the retention workspace.

Views are thin: parse with a form, fetch-and-authorise with an access helper, call one service,
render. `ui_contributions()` gives TradingConfig.ready the tab and the timeline labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm import services as crm_services
from crm.exceptions import DomainError, NotFound
from crm.jobs import jobs_for
from crm.lib.csp import NONE, csp_exception
from crm.lib.money import amount_format
from crm.lib.pagination import Key
from crm.lib.paginator import CappedPaginator
from crm.models import Client, RoleCode
from crm.permissions import (
    AuthedRequest,
    client_queryset_for_user,
    page_permission_or_403,
    page_permission_required,
    user_can,
    visible_brands,
)
from crm.services import CLASSIFY_PERMISSION
from crm.views.ui import client_or_404, render_page
from crm.views.ui.forms import apply_domain_errors
from crm.views.ui.listing import form_problems
from crm.views.ui.tabs import tabs_for
from trading import exposure, forms, password_links, retention, selectors, services, summaries
from trading.exceptions import PasswordLinkUnusable
from trading.filters import DealFilter
from trading.models import (
    DEFAULT_LIVE_MIN_STAGE,
    BrandTradingPolicy,
    LeverageCap,
    PlatformServer,
    TradingAccount,
)
from trading.permissions import platform_server_get_for_user, trading_account_get_for_user
from trading.policy import LEVERAGE_CAP_MAX, leverage_limit, live_account_refusal, rule_text, stage_label
from trading.tables import DealTable

TAB_DAYS = 30
RETENTION_PAGE = 50


# --- registration: the client tab and the timeline --------------------------------------------------

def _tab_context(request: HttpRequest, client: Client) -> dict[str, Any]:
    user = request.user
    return {
        "trading_accounts": selectors.accounts_for_client(client=client, days=TAB_DAYS),
        "trading_deals": selectors.recent_deals_for_client(client=client, days=TAB_DAYS),
        "trading_operations": selectors.balance_operations_for_client(client=client),
        "trading_days": TAB_DAYS,
        "can_open_account": user_can(user, "trading.add_tradingaccount"),
        "can_change_account": user_can(user, "trading.change_tradingaccount"),
        "can_reset_password": user_can(user, "trading.reset_trading_password"),
        "can_move_money": user_can(user, "trading.add_balanceoperation"),
        "can_classify": user_can(user, CLASSIFY_PERMISSION),
        "live_refusal": live_account_refusal(client=client, brand=client.brand),
    }


def _d(event: Any) -> Mapping[str, Any]:
    return event.data if isinstance(event.data, Mapping) else {}


def _login(event: Any) -> str:
    data = _d(event)
    server = data.get("server_name")
    return f"{data.get('login', '')} · {server}" if server else str(data.get("login", ""))


def _change(event: Any) -> str:
    data = _d(event)
    text = gettext("%(login)s: %(old)s → %(new)s") % {"login": data.get("login", ""), "old": data.get("from", ""),
                                                     "new": data.get("to", "")}
    return f"{text} · {data['reason']}" if data.get("reason") else text


def _money(event: Any) -> str:
    data = _d(event)
    amount = amount_format(str(data.get("amount", "")), str(data.get("currency", "")))
    return f"{data.get('login', '')} · {amount} · {data.get('reference', '')}"


def _margin(event: Any) -> str:
    data = _d(event)
    return gettext("%(login)s: margin level %(level)s%%") % {"login": data.get("login", ""),
                                                            "level": data.get("margin_level") or "—"}


def _inactive(event: Any) -> str:
    data = _d(event)
    return gettext("%(login)s: no trade for %(days)s days") % {"login": data.get("login", ""),
                                                               "days": data.get("days", "?")}


def _deal(event: Any) -> str:
    data = _d(event)
    return gettext("%(login)s: deal %(deal)s") % {"login": data.get("login", ""), "deal": data.get("deal_id", "")}


def _mismatch(event: Any) -> str:
    data = _d(event)
    return gettext("%(login)s: deals %(deals)s, platform %(platform)s") % {
        "login": data.get("login", ""), "deals": data.get("deals_balance", ""),
        "platform": data.get("platform_balance", "")}


def _opened(event: Any) -> str:
    data = _d(event)
    kind = gettext("demo") if data.get("is_demo") else gettext("live")
    return f"{_login(event)} · {data.get('label', '')} ({kind}) · 1:{data.get('leverage', '')}"


def ui_contributions() -> dict[str, Any]:
    """The Trading tab of the client profile and the timeline labels of trading's events."""
    from crm.registry import ClientTab, TimelineKind

    return {
        "tabs": [ClientTab(key="trading", label=_("Trading"), template="trading/client_tab.html", order=25,
                           permission="trading.view_tradingaccount", context=_tab_context)],
        "timeline": [TimelineKind(name, label, icon, summary) for name, label, icon, summary in (
            ("trading.account_opened", _("Trading account opened"), "plus", _opened),
            ("trading.first_trade", _("First trade"), "flag", _login),
            ("trading.leverage_changed", _("Leverage changed"), "edit", _change),
            ("trading.group_changed", _("Trading group changed"), "edit", _change),
            ("trading.access_changed", _("Trading access changed"), "shield", _change),
            ("trading.password_reset", _("Trading password reset"), "key", _login),
            ("trading.balance_requested", _("Balance operation requested"), "swap", _money),
            ("trading.balance_applied", _("Balance operation applied"), "tick", _money),
            ("trading.balance_unknown", _("Balance operation unconfirmed"), "alert", _money),
            ("trading.balance_failed", _("Balance operation failed"), "x", _money),
            ("trading.margin_call_entered", _("Margin call"), "alert", _margin),
            ("trading.margin_call_left", _("Margin call over"), "tick", _margin),
            ("trading.account_inactive", _("Trading account inactive"), "clock", _inactive),
            ("trading.deal_edited", _("Deal edited on the platform"), "edit", _deal),
            ("trading.deal_deleted", _("Deal deleted on the platform"), "x", _deal),
            ("trading.balance_mismatch", _("Balance does not match deals"), "alert", _mismatch),
        )],
    }


# --- helpers ------------------------------------------------------------------------------------------





def _account_or_404(request: HttpRequest, code: Any) -> TradingAccount:
    try:
        return trading_account_get_for_user(request.user, code)
    except NotFound:
        raise Http404 from None


def _tab_url(client: Client) -> str:
    return reverse("client_detail", args=[client.code]) + "?tab=trading"


# --- the client's accounts -----------------------------------------------------------------------------

@page_permission_required("trading.add_tradingaccount")
@require_http_methods(["GET", "POST"])
def account_open(request: AuthedRequest, code: Any) -> HttpResponse:
    client = client_or_404(request, code)
    form = forms.OpenAccountForm(request.POST or None, client=client)
    if request.method == "POST" and form.is_valid():
        server, account_type = form.cleaned_data["plan"]
        try:
            account = services.trading_account_open(actor=request.user, client=client, server=server,
                                                    account_type=account_type, leverage=form.cleaned_data["leverage"])
        except DomainError as error:
            apply_domain_errors(form, error, aliases={"server": "plan", "account_type": "plan"})
        else:
            messages.success(request, gettext("Account %(login)s opened; the client was emailed a link to see the "
                                              "password.") % {"login": account.login})
            return redirect(_tab_url(client))
    return render_page(request, "trading/account_action.html", {
        "client": client, "form": form, "title": gettext("Open a trading account"),
        "submit": gettext("Open account"), "back": _tab_url(client),
        "live_refusal": live_account_refusal(client=client, brand=client.brand),
    }, status=400 if form.errors else 200)


ACCOUNT_ACTIONS: dict[str, dict[str, Any]] = {
    "leverage": {"form": forms.LeverageForm, "perm": "trading.change_tradingaccount",
                 "title": _("Change leverage"), "submit": _("Change leverage"), "done": _("Leverage changed.")},
    "group": {"form": forms.GroupForm, "perm": "trading.change_tradingaccount",
              "title": _("Change group"), "submit": _("Change group"), "done": _("Group changed.")},
    "access": {"form": forms.AccessForm, "perm": "trading.change_tradingaccount",
               "title": _("Set access"), "submit": _("Set access"), "done": _("Access changed.")},
    "password": {"form": forms.PasswordResetForm, "perm": "trading.reset_trading_password",
                 "title": _("Reset trading password"), "submit": _("Reset and email the client a link"),
                 "done": _("A new password was set; the client was emailed a link to see it once.")},
    "balance": {"form": forms.BalanceOperationForm, "perm": "trading.add_balanceoperation",
                "title": _("Balance operation"), "submit": _("Send to the platform"), "done": None},
}


def _run_action(action: str, request: AuthedRequest, account: TradingAccount, form: Any) -> str | None:
    data, actor = form.cleaned_data, request.user
    if action == "leverage":
        services.trading_account_set_leverage(actor=actor, account=account, leverage=data["leverage"],
                                              reason=data["reason"])
    elif action == "group":
        services.trading_account_set_group(actor=actor, account=account, group=data["group"], reason=data["reason"])
    elif action == "access":
        services.trading_account_set_access(actor=actor, account=account, access=data["access"],
                                            reason=data["reason"])
    elif action == "password":
        services.trading_account_reset_password(actor=actor, account=account, reason=data["reason"])
    else:
        op = services.balance_operation_request(actor=actor, account=account, kind=data["kind"],
                                                amount=form.signed_amount(), reason=data["reason"])
        return gettext("Operation %(reference)s: %(state)s.") % {"reference": op.reference,
                                                                 "state": op.get_state_display()}
    return None


@login_required
@require_http_methods(["GET", "POST"])
def account_action(request: AuthedRequest, code: Any, action: str) -> HttpResponse:
    spec = ACCOUNT_ACTIONS.get(action)
    if spec is None:
        raise Http404
    account = _account_or_404(request, code)
    if not user_can(request.user, spec["perm"]):
        raise PermissionDenied
    form = spec["form"](request.POST or None, account=account)
    if request.method == "POST" and form.is_valid():
        try:
            message = _run_action(action, request, account, form)
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, message or str(spec["done"]))
            return redirect(_tab_url(account.client))
    return render_page(request, "trading/account_action.html", {
        "client": account.client, "account": account, "form": form, "title": spec["title"],
        "submit": spec["submit"], "back": _tab_url(account.client), "action": action,
    }, status=400 if form.errors else 200)


# --- platform servers ---------------------------------------------------------------------------------

@page_permission_required("trading.view_platformserver")
@require_GET
def server_list(request: AuthedRequest) -> HttpResponse:
    servers = selectors.server_list_for_user(user=request.user)
    return render_page(request, "trading/server_list.html", {
        "servers": servers, "held_leases": selectors.server_leases_held(servers),
        "can_add": user_can(request.user, "trading.add_platformserver"),
        "can_change": user_can(request.user, "trading.change_platformserver"),
        "lease_long_seconds": selectors.LEASE_LONG_SECONDS,
    }, partial="server-rows")


@page_permission_required("trading.add_platformserver")
@require_http_methods(["GET", "POST"])
def server_create(request: AuthedRequest) -> HttpResponse:
    return _server_form(request, None)


@page_permission_required("trading.change_platformserver")
@require_http_methods(["GET", "POST"])
def server_edit(request: AuthedRequest, code: Any) -> HttpResponse:
    try:
        server = platform_server_get_for_user(request.user, code)
    except NotFound:
        raise Http404 from None
    return _server_form(request, server)


def _server_form(request: AuthedRequest, server: PlatformServer | None) -> HttpResponse:
    form = forms.ServerForm(request.POST or None, user=request.user, initial=forms.ServerForm.initial_for(server))
    if request.method == "POST" and form.is_valid():
        try:
            services.platform_server_save(actor=request.user, server=server,
                                          manager_password=form.cleaned_data["manager_password"],
                                          **form.service_values())
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("Server saved."))
            return redirect("trading_server_list")
    return render_page(request, "trading/server_form.html", {"form": form, "server": server},
                       status=400 if form.errors else 200)


@page_permission_required("trading.change_platformserver")
@require_http_methods(["GET", "POST"])
def server_groups(request: AuthedRequest, code: Any) -> HttpResponse:
    """The groups of a server's accounts with their book (A-book hedged, B-book in house), which the
    administrator sets: the reporting hub splits the broker's P/L by it."""
    try:
        server = platform_server_get_for_user(request.user, code)
    except NotFound:
        raise Http404 from None
    if not request.user.is_administrator:
        raise Http404
    status = 200
    if request.method == "POST":
        try:
            services.trading_group_book_set(actor=request.user, server=server, group=request.POST.get("group", ""),
                                            book=request.POST.get("book", ""))
        except DomainError as error:
            messages.error(request, error.message)
            status = 400
        else:
            messages.success(request, gettext("The group's book is saved."))
            return redirect("trading_server_groups", code=server.code)
    from trading.models import Book

    return render_page(request, "trading/server_groups.html", {
        "server": server, "groups": selectors.trading_groups_of_server(server), "books": Book.choices,
    }, status=status)


# --- brand policies and leverage caps -------------------------------------------------------------------

def _policy_brand_or_404(request: HttpRequest, brand_code: str) -> Any:
    brand = visible_brands(request.user).filter(code=brand_code).first()
    if brand is None:
        raise Http404
    return brand


@page_permission_required("trading.view_platformserver")
@require_GET
def policy_list(request: AuthedRequest) -> HttpResponse:
    """Each brand's policy and how many open accounts are above their caps."""
    rows = selectors.brand_policies_for_user(user=request.user, brands=visible_brands(request.user))
    return render_page(request, "trading/policy_list.html", {
        "rows": rows, "can_change": user_can(request.user, "trading.change_platformserver"),
        "cap_max": LEVERAGE_CAP_MAX, "default_stage": stage_label(DEFAULT_LIVE_MIN_STAGE),
    })


def _policy_initial(policy: BrandTradingPolicy | None) -> dict[str, Any]:
    if policy is None:
        return {}
    return {"max_leverage_live": policy.max_leverage_live, "max_leverage_demo": policy.max_leverage_demo,
            "live_min_stage": policy.live_min_stage, "live_requires_verification": policy.live_requires_verification}


@page_permission_required("trading.view_platformserver")
@require_http_methods(["GET", "POST"])
def policy_edit(request: AuthedRequest, brand_code: str) -> HttpResponse:
    """A brand's policy (for those who may change it), its cap rules, the accounts above their caps
    and the offer to lower them."""
    brand = _policy_brand_or_404(request, brand_code)
    can_change = user_can(request.user, "trading.change_platformserver")
    if request.method == "POST" and not can_change:
        raise PermissionDenied
    policy = getattr(brand, "trading_policy", None)
    form = forms.BrandPolicyForm(request.POST or None, initial=_policy_initial(policy))
    if request.method == "POST" and form.is_valid():
        try:
            services.brand_trading_policy_set(actor=request.user, brand=brand, **form.cleaned_data)
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("The trading policy of %(brand)s was saved.") % {"brand": brand.name})
            _warn_above(request, brand)
            return redirect("trading_policy_edit", brand.code)
    return render_page(request, "trading/policy_form.html", _policy_context(request, brand, policy, form,
                                                                           can_change),
                       status=400 if form.errors else 200)


def _warn_above(request: HttpRequest, brand: Any) -> None:
    above = selectors.accounts_above_cap(user=request.user, brand=brand).count()
    if above:
        messages.warning(request, ngettext(
            "%(count)s open account is above its cap. Lowering a cap does not change existing accounts: lower it "
            "below.",
            "%(count)s open accounts are above their caps. Lowering a cap does not change existing accounts: "
            "lower them below, all at once or one by one.", above) % {"count": above})


def _policy_context(request: HttpRequest, brand: Any, policy: BrandTradingPolicy | None, form: Any,
                    can_change: bool) -> dict[str, Any]:
    accounts = selectors.accounts_above_cap(user=request.user, brand=brand)
    can_change_account = user_can(request.user, "trading.change_tradingaccount")
    return {
        "brand": brand, "policy": policy, "form": form, "can_change": can_change,
        "rules": selectors.leverage_caps_for_brand(brand=brand),
        "accounts": accounts[: selectors.ABOVE_CAP_SHOWN], "above_count": accounts.count(),
        "groups": selectors.above_cap_groups(user=request.user, brand=brand) if can_change_account else [],
        "lower_jobs": (jobs_for(user=request.user).filter(kind=services.LOWER_JOB_KIND, brand=brand)[:5]
                       if can_change_account else []),
        "shown": selectors.ABOVE_CAP_SHOWN, "can_change_account": can_change_account,
        "default_stage": stage_label(DEFAULT_LIVE_MIN_STAGE),
    }


def _cap_or_404(brand: Any, code: Any) -> LeverageCap:
    cap = LeverageCap.objects.select_related("brand").filter(brand=brand, code=code).first()
    if cap is None:
        raise Http404
    return cap


@page_permission_required("trading.change_platformserver")
@require_http_methods(["GET", "POST"])
def cap_create(request: AuthedRequest, brand_code: str) -> HttpResponse:
    return _cap_form(request, _policy_brand_or_404(request, brand_code), None)


@page_permission_required("trading.change_platformserver")
@require_http_methods(["GET", "POST"])
def cap_edit(request: AuthedRequest, brand_code: str, code: Any) -> HttpResponse:
    brand = _policy_brand_or_404(request, brand_code)
    return _cap_form(request, brand, _cap_or_404(brand, code))


def _cap_form(request: AuthedRequest, brand: Any, cap: LeverageCap | None) -> HttpResponse:
    initial = {"country": cap.country, "classification": cap.classification,
               "max_leverage": cap.max_leverage} if cap is not None else {}
    form = forms.LeverageCapForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.leverage_cap_save(actor=request.user, brand=brand, cap=cap, **form.cleaned_data)
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("Cap saved: %(rule)s.") % {"rule": rule_text(
                country=saved.country, classification=saved.classification, cap=saved.max_leverage)})
            _warn_above(request, brand)
            return redirect(reverse("trading_policy_edit", args=[brand.code]) + "#above-cap")
    return render_page(request, "trading/cap_form.html", {"brand": brand, "cap": cap, "form": form},
                       status=400 if form.errors else 200)


@page_permission_required("trading.change_platformserver")
@require_POST
def cap_delete(request: AuthedRequest, brand_code: str, code: Any) -> HttpResponse:
    brand = _policy_brand_or_404(request, brand_code)
    cap = _cap_or_404(brand, code)
    rule = rule_text(country=cap.country, classification=cap.classification, cap=cap.max_leverage)
    services.leverage_cap_delete(actor=request.user, cap=cap)
    messages.success(request, gettext("Cap removed: %(rule)s.") % {"rule": rule})
    return redirect("trading_policy_edit", brand.code)


@page_permission_required("trading.view_platformserver")
@require_POST
def leverage_lower(request: AuthedRequest, brand_code: str) -> HttpResponse:
    """Start lowering the accounts above one cap (a background job); its page shows the progress."""
    brand = _policy_brand_or_404(request, brand_code)
    if not user_can(request.user, "trading.change_tradingaccount"):
        raise PermissionDenied
    form = forms.LowerForm(request.POST)
    if not form.is_valid():
        messages.error(request, gettext("Choose a cap to lower the accounts to."))
        return redirect("trading_policy_edit", brand.code)
    try:
        job = services.leverage_lower_start(actor=request.user, brand=brand, cap=form.cleaned_data["cap"],
                                            demo=form.cleaned_data["demo"])
    except DomainError as error:
        messages.error(request, error.message)
        return redirect("trading_policy_edit", brand.code)
    return redirect("job_detail", job.code)


# --- the client's classification ---------------------------------------------------------------------

@page_permission_required(CLASSIFY_PERMISSION)
@require_http_methods(["GET", "POST"])
def client_classification(request: AuthedRequest, code: Any) -> HttpResponse:
    """Retail, professional or eligible counterparty, with a reason: it sets the client's leverage caps."""
    client = client_or_404(request, code)
    form = forms.ClassificationForm(request.POST or None, client=client)
    if request.method == "POST" and form.is_valid():
        try:
            crm_services.client_classification_set(actor=request.user, client=client, **form.cleaned_data)
        except DomainError as error:
            apply_domain_errors(form, error)
        else:
            messages.success(request, gettext("The client is classified as %(classification)s.")
                             % {"classification": client.get_classification_display()})
            return redirect(_tab_url(client))
    live = leverage_limit(client=client, brand=client.brand, demo=False)
    return render_page(request, "trading/classification_form.html", {
        "client": client, "form": form, "back": _tab_url(client), "live_limit": live,
    }, status=400 if form.errors else 200)


# --- the client's password link (public) -------------------------------------------------------------

_PASSWORD_PAGE = csp_exception(
    "Shows a trading password to a client who is not logged in: stricter than the default, nothing but this "
    "site's stylesheet loads (no script, image, font or connection) and the form posts only here.",
    default_src=[NONE], script_src=[NONE], img_src=[NONE], font_src=[NONE], connect_src=[NONE],
    frame_src=[NONE],
)
_LINK_STATUS = {password_links.USED: 410, password_links.EXPIRED: 410, password_links.REPLACED: 410,
                password_links.UNKNOWN: 404}


def _private(response: HttpResponse) -> HttpResponse:
    response["Cache-Control"] = "no-store"
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex, nofollow"
    return response


@_PASSWORD_PAGE
@require_http_methods(["GET", "POST"])
def password_link(request: HttpRequest, token: str) -> HttpResponse:
    """The link of a trading password email: a button to see the password (GET, which mail scanners
    also fetch, uses nothing); pressing it (POST) shows the password once. A used, expired or
    replaced link gets a page that says so. In the client's language; no staff login."""
    view = password_links.password_link_view(token=token)
    language = view.link.language if view.link is not None and view.link.language else settings.LANGUAGE_CODE
    with translation.override(language):
        context: dict[str, Any] = {"brand": view.brand, "link": view.link, "state": view.state}
        if view.state != password_links.VALID:
            return _private(render(request, "trading/public/password_link.html", context,
                                   status=_LINK_STATUS.get(view.state, 404)))
        if request.method == "POST":
            try:
                revealed = password_links.password_link_reveal(token=token)
            except PasswordLinkUnusable as error:
                context.update(state="refused", message=error.message)
                return _private(render(request, "trading/public/password_link.html", context, status=410))
            context.update(state="revealed", revealed=revealed)
        return _private(render(request, "trading/public/password_link.html", context))


# --- the dealer's deals -------------------------------------------------------------------------------

DEALS_NEWEST_FIRST = (Key("time", True, "datetime"), Key("id", True, "int"))


@page_permission_required("trading.view_deal")
@require_GET
def deal_list(request: AuthedRequest) -> HttpResponse:
    filters = DealFilter(request.GET, queryset=selectors.deal_queryset_for_user(user=request.user),
                         user=request.user, request=request)
    table = DealTable(filters.qs)
    table.paginate_keyset(request, keys=DEALS_NEWEST_FIRST, per_page=selectors.DEAL_PAGE)
    return render_page(request, "trading/deal_list.html", {"filters": filters, "table": table}, partial="deal-rows")


# --- the dealer's exposure ----------------------------------------------------------------------------

@page_permission_or_403("trading.view_deal")
@require_GET
def exposure_view(request: AuthedRequest) -> HttpResponse:
    """Net open lots and floating P/L by symbol, client and account (P/L per currency)."""
    brands = visible_brands(request.user)
    servers = PlatformServer.objects.filter(brand__in=brands).select_related("brand").order_by("brand__name", "name")
    form = forms.ExposureFilterForm(request.GET or None, servers=servers, show_brand=brands.count() > 1)
    valid = not form.is_bound or form.is_valid()
    server = form.cleaned_data.get("server") if form.is_bound and valid else None
    report = exposure.exposure_for_user(user=request.user, server=server) if valid else None
    return render_page(request, "trading/exposure.html", {
        "form": form, "report": report, "chart_data": report.chart_data() if report else None,
        "top_clients": exposure.TOP_CLIENTS, "problems": [] if valid else form_problems(form),
    }, partial="exposure-body", status=200 if valid else 400)


# --- the retention workspace ----------------------------------------------------------------------------

@page_permission_or_403("trading.work_retention")
@require_GET
def retention_workspace(request: AuthedRequest) -> HttpResponse:
    """Dormant and at-risk traders in the user's scope, riskiest first, with their next task."""
    form = forms.RetentionFilterForm(request.GET or None, user=request.user)
    valid = not form.is_bound or form.is_valid()
    filters = form.filters()
    # The read model's rows whose 30-day window has since lost a peak are computed again first (none,
    # usually: the beat does it after midnight), so the list is as exact as a count over the raw rows.
    summaries.retention_expire()
    listed: QuerySet[Any] | list[Any] = retention.retention_queryset(user=request.user, filters=filters) if valid else []
    # Counted up to a cap (a brokerage's every trader would be sorted whole just to be counted); the
    # page itself is the first rows of the risk order.
    page = (CappedPaginator(listed, RETENTION_PAGE) if valid else Paginator(listed, RETENTION_PAGE)).get_page(
        request.GET.get("page"))
    tabs = {tab.key for tab in tabs_for(request.user)}
    return render_page(request, "trading/retention.html", {
        "form": form, "filters": filters, "page_obj": page,
        "rows": retention.retention_rows(rows=list(page.object_list), filters=filters),
        "page_range": page.paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1),
        "peak_days": retention.PEAK_DAYS, "can_call": "calls" in tabs, "can_task": "tasks" in tabs,
        "show_owner": request.user.is_administrator or request.user.role_code == RoleCode.DESK_MANAGER,
        "show_brand": form.show_brand, "problems": [] if valid else form_problems(form),
    }, partial="retention-table", status=200 if valid else 400)


def account_audit_links(viewer: Any, accounts: list[TradingAccount]) -> dict[str, str]:
    """The audit log links a trading account to its client's Trading tab, when the viewer may open
    that client."""
    codes = dict(client_queryset_for_user(viewer).filter(pk__in=[a.client_id for a in accounts])
                 .values_list("pk", "code"))
    return {str(a.code): reverse("client_detail", args=[codes[a.client_id]]) + "?tab=trading"
            for a in accounts if a.client_id in codes}
