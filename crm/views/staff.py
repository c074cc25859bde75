"""Staff administration for administrators: people, roles and desks.

Everyone else gets 404 (the pages do not exist for them, as DESIGN.md asks of forbidden things).
Staff are never deleted, only deactivated: the audit trail and client history point at them.
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from crm.auth_forms import (
    DeskForm,
    ReasonForm,
    RoleTwoFactorForm,
    StaffFilterForm,
    UserCreateForm,
    UserEditForm,
)
from crm.exceptions import DomainError
from crm.models import Desk, Role, User
from crm.permissions import AuthedRequest
from crm.staff_services import (
    desk_create,
    desk_update,
    otp_enabled,
    otp_reset,
    otp_user_ids,
    password_generate,
    password_rules,
    role_set_requires_2fa,
    staff_search,
    staff_user_create,
    user_set_active,
    user_update,
)
from crm.views.ui.forms import apply_domain_errors

PAGE_SIZE = 50


def administrator_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Log in first; then only administrators see the page, everyone else a plain 404."""

    @functools.wraps(view)
    @login_required
    def wrapper(request: AuthedRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_administrator:
            raise Http404
        return view(request, *args, **kwargs)

    return wrapper


def _get_user(code: Any) -> User:
    return get_object_or_404(User.objects.select_related("role", "desk"), code=code)


# --- people -------------------------------------------------------------------------------------


@administrator_required
def staff_list(request: AuthedRequest) -> HttpResponse:
    form = StaffFilterForm(request.GET or None)
    filters: dict[str, Any] = {}
    if form.is_valid():
        filters = {
            "role": form.cleaned_data["role"], "desk": form.cleaned_data["desk"],
            "brand": form.cleaned_data["brand"], "active": form.active(), "q": form.cleaned_data["q"],
        }
    page = Paginator(staff_search(**filters), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(request, "crm/admin/staff_list.html", {
        "form": form,
        "page": page,
        "otp_user_ids": otp_user_ids(page.object_list),
        "filtered": any(v not in (None, "") for v in filters.values()),
        "query": query.urlencode(),
    })


@sensitive_post_parameters("password")
@administrator_required
def staff_create(request: AuthedRequest) -> HttpResponse:
    form = UserCreateForm(request.POST if request.method == "POST" else None,
                          initial={"language": "en", "timezone": "UTC"})
    if form.is_valid():
        data = form.cleaned_data
        password = data["password"] or password_generate()
        try:
            user = staff_user_create(
                actor=request.user, email=data["email"], full_name=data["full_name"], role=data["role"],
                password=password, desk=data["desk"], brands=list(data["brands"]), all_brands=data["all_brands"],
                language=data["language"], timezone=data["timezone"],
            )
        except DomainError as exc:
            apply_domain_errors(form, exc)
        else:
            # Rendered, not redirected: a generated password is never stored anywhere to show it later.
            return render(request, "crm/admin/staff_created.html", {
                "member": user,
                "generated_password": password if not data["password"] else "",
            })
    return render(request, "crm/admin/staff_form.html", {
        "form": form, "member": None, "password_rules": password_rules(),
    })


@administrator_required
def staff_edit(request: AuthedRequest, code: Any) -> HttpResponse:
    member = _get_user(code)
    form = UserEditForm(request.POST if request.method == "POST" else None, user=member)
    if form.is_valid():
        data = form.cleaned_data
        try:
            user_update(
                actor=request.user, user=member, email=data["email"], full_name=data["full_name"],
                role=data["role"], desk=data["desk"], brands=list(data["brands"]), all_brands=data["all_brands"],
                language=data["language"], timezone=data["timezone"], phone_extension=data["phone_extension"],
            )
        except DomainError as exc:
            apply_domain_errors(form, exc)
        else:
            messages.success(request, _("Saved %(name)s.") % {"name": data["full_name"]})
            return redirect("staff_edit", code=member.code)
    return render(request, "crm/admin/staff_form.html", {
        "form": form,
        "member": member,
        "member_otp": otp_enabled(member),
        "reason_form": ReasonForm(),
        "is_self": member.pk == request.user.pk,
    })


@administrator_required
@require_POST
def staff_set_active(request: AuthedRequest, code: Any) -> HttpResponse:
    member = _get_user(code)
    form = ReasonForm(request.POST)
    active = request.POST.get("active") == "1"
    if form.is_valid():
        try:
            user_set_active(actor=request.user, user=member, active=active, reason=form.cleaned_data["reason"])
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, (_("%(name)s can log in again.") if active
                                       else _("%(name)s is deactivated and can no longer log in."))
                             % {"name": member.full_name})
    return redirect("staff_edit", code=member.code)


@administrator_required
@require_POST
def staff_reset_2fa(request: AuthedRequest, code: Any) -> HttpResponse:
    member = _get_user(code)
    form = ReasonForm(request.POST)
    if form.is_valid():
        try:
            otp_reset(actor=request.user, user=member, reason=form.cleaned_data["reason"])
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, _("Two-factor authentication of %(name)s was reset; they set it up "
                                        "again at their next login.") % {"name": member.full_name})
    return redirect("staff_edit", code=member.code)


# --- roles --------------------------------------------------------------------------------------


def _permission_summary(role: Role) -> list[tuple[str, list[str]]]:
    """The role's permissions as (model, [actions]) pairs: "Client: view, add, change, reveal contact"."""
    by_model: dict[str, list[str]] = defaultdict(list)
    for perm in role.group.permissions.all():
        model = perm.content_type.model_class()
        label = str(model._meta.verbose_name).capitalize() if model else perm.content_type.model
        action = perm.codename.split("_", 1)[0]
        if model is None or perm.codename not in {f"{a}_{model._meta.model_name}" for a in ("view", "add", "change",
                                                                                             "delete")}:
            action = perm.name.removeprefix("Can ").lower()
        by_model[label].append(action)
    return sorted(by_model.items())


@administrator_required
def role_list(request: AuthedRequest) -> HttpResponse:
    roles = (
        Role.objects.select_related("group")
        .prefetch_related("group__permissions__content_type")
        .annotate(active_users=Count("users", filter=Q(users__is_active=True)))
        .order_by("name")
    )
    return render(request, "crm/admin/role_list.html", {
        "roles": [{"role": role, "permissions": _permission_summary(role)} for role in roles],
    })


@administrator_required
@require_POST
def role_set_2fa(request: AuthedRequest, code: str) -> HttpResponse:
    role = get_object_or_404(Role, code=code)
    form = RoleTwoFactorForm(request.POST)
    if form.is_valid():
        required = form.cleaned_data["requires_2fa"]
        try:
            role_set_requires_2fa(actor=request.user, role=role, required=required)
        except DomainError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, (_("%(role)s now logs in with two-factor authentication.") if required
                                       else _("%(role)s no longer needs two-factor authentication."))
                             % {"role": role.name})
    return redirect("role_list")


# --- desks --------------------------------------------------------------------------------------


@administrator_required
def desk_list(request: AuthedRequest) -> HttpResponse:
    desks = (
        Desk.objects.select_related("brand", "manager")
        .annotate(member_count=Count("members", filter=Q(members__is_active=True)))
        .order_by("brand__name", "name")
    )
    return render(request, "crm/admin/desk_list.html", {"desks": desks})


def _desk_changes(data: dict[str, Any]) -> dict[str, Any]:
    fields = ("brand", "name", "kind", "countries", "languages", "timezone", "work_start", "work_end",
              "work_days", "manager")
    return {name: data[name] for name in fields}


@administrator_required
def desk_create_view(request: AuthedRequest) -> HttpResponse:
    form = DeskForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            desk = desk_create(actor=request.user, **_desk_changes(form.cleaned_data))
        except DomainError as exc:
            apply_domain_errors(form, exc)
        else:
            messages.success(request, _("Desk %(name)s created.") % {"name": desk.name})
            return redirect("desk_list")
    return render(request, "crm/admin/desk_form.html", {"form": form, "desk": None})


@administrator_required
def desk_edit(request: AuthedRequest, code: Any) -> HttpResponse:
    desk = get_object_or_404(Desk.objects.select_related("brand"), code=code)
    form = DeskForm(request.POST if request.method == "POST" else None, desk=desk)
    if form.is_valid():
        try:
            desk_update(actor=request.user, desk=desk, is_active=form.cleaned_data["is_active"],
                        **_desk_changes(form.cleaned_data))
        except DomainError as exc:
            apply_domain_errors(form, exc)
        else:
            messages.success(request, _("Desk %(name)s saved.") % {"name": form.cleaned_data["name"]})
            return redirect("desk_list")
    members = desk.members.select_related("role").order_by("full_name")
    return render(request, "crm/admin/desk_form.html", {
        "form": form, "desk": desk, "members": members,
        "members_url": f"{reverse('staff_list')}?{urlencode({'desk': str(desk.code)})}",
    })
