"""Login, logout, two-factor, password change and reset, and staff/role/desk administration."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from crm.views import auth, staff

urlpatterns: list[URLPattern | URLResolver] = [
    path("login/", auth.login_view, name="login"),
    path("logout/", auth.logout_view, name="logout"),
    path("2fa/setup/", auth.otp_setup, name="otp_setup"),
    path("2fa/verify/", auth.otp_verify, name="otp_verify"),
    path("2fa/backup-codes/", auth.otp_backup_codes, name="otp_backup_codes"),
    path("2fa/disable/", auth.otp_disable_view, name="otp_disable"),
    path("settings/password/", auth.password_change, name="password_change"),
    path("password/forgot/", auth.password_reset_request_view, name="password_reset_request"),
    path("password/forgot/sent/", auth.password_reset_sent, name="password_reset_sent"),
    path("password/reset/<str:code>/<str:token>/", auth.password_reset_confirm, name="password_reset_confirm"),
    path("staff/", staff.staff_list, name="staff_list"),
    path("staff/new/", staff.staff_create, name="staff_create"),
    path("staff/roles/", staff.role_list, name="role_list"),
    path("staff/roles/<slug:code>/two-factor/", staff.role_set_2fa, name="role_set_2fa"),
    path("staff/desks/", staff.desk_list, name="desk_list"),
    path("staff/desks/new/", staff.desk_create_view, name="desk_create"),
    path("staff/desks/<uuid:code>/", staff.desk_edit, name="desk_edit"),
    path("staff/<uuid:code>/", staff.staff_edit, name="staff_edit"),
    path("staff/<uuid:code>/active/", staff.staff_set_active, name="staff_set_active"),
    path("staff/<uuid:code>/reset-2fa/", staff.staff_reset_2fa, name="staff_reset_2fa"),
]
