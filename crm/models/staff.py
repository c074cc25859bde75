from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime, time
from typing import Any, ClassVar

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, Group, PermissionsMixin
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models.functions import Lower
from django.utils.timezone import now as tz_now
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from plumbing.context import history_user


class Brand(models.Model):
    """A trading name of the brokerage. Every client, partner, rule and template belongs to one."""

    code = models.SlugField(max_length=40, unique=True)
    name = models.CharField(max_length=120)
    default_currency = models.CharField(max_length=3, default="USD")
    default_language = models.CharField(max_length=8, default="en")
    is_active = models.BooleanField(default=True)
    # Where the brand may open accounts (ISO 3166-1 alpha-2); empty: every country. The trader's
    # room refuses registrations from anywhere else.
    served_countries = ArrayField(models.CharField(max_length=2), default=list, blank=True,
                                  help_text=_("Two-letter country codes; empty serves every country."))
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def serves(self, country: str) -> bool:
        return not self.served_countries or country in self.served_countries


class RoleCode(models.TextChoices):
    ADMIN = "admin", _("Administrator")
    DESK_MANAGER = "desk_manager", _("Desk manager")
    SALES_AGENT = "sales_agent", _("Sales agent")
    RETENTION_AGENT = "retention_agent", _("Retention agent")
    COMPLIANCE = "compliance", _("Compliance officer")
    FINANCE = "finance", _("Finance officer")
    IB_MANAGER = "ib_manager", _("IB manager")
    DEALER = "dealer", _("Dealer / risk")
    SUPPORT_AGENT = "support_agent", _("Support agent")
    MARKETING = "marketing", _("Marketing")


class Role(models.Model):
    """A staff role: its permissions live on the linked auth Group; `requires_2fa` marks it privileged."""

    code = models.CharField(max_length=32, choices=RoleCode.choices, unique=True)
    name = models.CharField(max_length=80)
    group = models.OneToOneField(Group, on_delete=models.PROTECT, related_name="crm_role")
    requires_2fa = models.BooleanField(
        default=False, help_text=_("Privileged: users with this role must log in with a TOTP code.")
    )
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_agent(self) -> bool:
        return self.code in {RoleCode.SALES_AGENT, RoleCode.RETENTION_AGENT}


class DeskKind(models.TextChoices):
    SALES = "sales", _("Sales")
    RETENTION = "retention", _("Retention")
    SUPPORT = "support", _("Support")


class Desk(models.Model):
    """A team of agents serving some countries and languages within working hours in one time zone."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="desks")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=DeskKind.choices, default=DeskKind.SALES)
    countries = ArrayField(models.CharField(max_length=2), default=list, blank=True)
    languages = ArrayField(models.CharField(max_length=8), default=list, blank=True)
    timezone = models.CharField(max_length=64, default="UTC")
    work_start = models.TimeField(default=time(9, 0))
    work_end = models.TimeField(default=time(18, 0))
    # ISO weekdays, Monday = 1.
    work_days = ArrayField(models.PositiveSmallIntegerField(), default=list, blank=True)
    manager = models.ForeignKey(
        "crm.User", on_delete=models.SET_NULL, null=True, blank=True, related_name="managed_desks"
    )
    is_active = models.BooleanField(default=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["brand__name", "name"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["brand", "name"], name="desk_unique_name_per_brand"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.brand.code})"

    def is_open_at(self, moment: datetime) -> bool:
        """Whether `moment` falls in working hours in the desk's own time zone."""
        local = moment.astimezone(zoneinfo.ZoneInfo(self.timezone))
        days = self.work_days or [1, 2, 3, 4, 5]
        if local.isoweekday() not in days:
            return False
        if self.work_start <= self.work_end:
            return self.work_start <= local.time() < self.work_end
        return local.time() >= self.work_start or local.time() < self.work_end  # overnight shift


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A member of the brokerage's staff. Logs in with email."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    email = models.EmailField(unique=True)
    full_name = models.CharField(max_length=150)
    role = models.ForeignKey(Role, on_delete=models.PROTECT, null=True, blank=True, related_name="users")
    desk = models.ForeignKey(Desk, on_delete=models.SET_NULL, null=True, blank=True, related_name="members")
    # Empty + all_brands=False would see nothing; administrators usually have all_brands.
    all_brands = models.BooleanField(default=False)
    brands = models.ManyToManyField(Brand, blank=True, related_name="staff")
    language = models.CharField(max_length=8, default="en")
    timezone = models.CharField(max_length=64, default="UTC")
    phone_extension = models.CharField(max_length=20, blank=True)
    on_leave_until = models.DateField(null=True, blank=True)
    # Since when the user is restricted (no reveals, no exports, read-only), None when not: a copy of
    # the open StaffRestriction's start, kept on the row every request loads anyway, so checking it
    # costs no query (crm.permissions.staff_restricted). Written only by crm.services.restrictions.
    restricted_since = models.DateTimeField(null=True, blank=True, editable=False)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text=_("May use the Django admin site."))
    date_joined = models.DateTimeField(default=tz_now)
    history = HistoricalRecords(get_user=history_user, excluded_fields=["password", "last_login"])

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["full_name"]

    class Meta:
        ordering = ["full_name"]
        constraints: ClassVar = [
            # Emails are compared case-insensitively at login; keep them unique that way too.
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.full_name or self.email

    @property
    def role_code(self) -> str | None:
        role = self.role  # no query when there is none
        return role.code if role is not None else None

    @property
    def is_administrator(self) -> bool:
        return self.is_superuser or self.role_code == RoleCode.ADMIN

    @property
    def requires_2fa(self) -> bool:
        role = self.role
        return bool(role is not None and role.requires_2fa)


class StaffRestriction(models.Model):
    """A restriction of a member of staff: no reveals of personal data, no exports, read-only (no
    changes on staff pages) from `started_at` until it is lifted. Rows are kept when lifted (the
    history); at most one is open per user. `origin` says what led to it ("monitoring alert ...")."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    user = models.ForeignKey(User, on_delete=models.PROTECT, related_name="restrictions")
    reason = models.TextField()
    origin = models.CharField(max_length=200, blank=True)
    started_at = models.DateTimeField(default=tz_now)
    started_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    lift_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints: ClassVar = [
            # One open restriction per user: restricting twice would leave two rows to lift.
            models.UniqueConstraint(fields=["user"], condition=models.Q(lifted_at__isnull=True),
                                    name="staffrestriction_one_open_per_user"),
            models.CheckConstraint(condition=models.Q(lifted_at__isnull=True) | models.Q(lifted_at__gte=models.F("started_at")),
                                   name="staffrestriction_lifted_after_start"),
        ]

    def __str__(self) -> str:
        return f"restriction of {self.user_id} since {self.started_at:%Y-%m-%d %H:%M}"

    @property
    def is_open(self) -> bool:
        return self.lifted_at is None
