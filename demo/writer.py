"""Writing the demo: `seed` and the writer it runs (organisation, staff tasks, notifications)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from time import monotonic
from typing import Any

from demo.emails import COMPOSER_TEMPLATES
from demo.in_bulk import _InBulk
from demo.notes_and_tasks import STAFF_TASKS
from demo.organisation import BRANDS, DEMO_BRAND_CODES, DESKS, STAFF, StaffSpec, staff_sorted
from demo.plan import Planner, _local_day_end
from demo.via_services import _ViaServices

DEFAULT_CLIENTS = 2_000
DEFAULT_VIA_SERVICES = 50  # enough to exercise the services; the rest look the same (tests/demo)


@dataclass(frozen=True)
class Login:
    role: str
    email: str
    password: str


@dataclass
class SeedResult:
    created: bool
    logins: list[Login]
    counts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    via_services: int = 0
    notes: list[str] = field(default_factory=list)


def demo_logins() -> list[Login]:
    return [Login(s.role, s.email, s.password) for s in staff_sorted()]


DEMO_2FA_NOTE = (
    "Two-factor login is OFF for the demo's privileged roles (admin, compliance, finance) so that "
    "every demo login works at once. In production mark those roles privileged again "
    "(staff administration, or crm.staff_services.role_set_requires_2fa)."
)


def demo_present() -> bool:
    from crm.models import Brand

    return Brand.objects.filter(code__in=DEMO_BRAND_CODES).exists()


def seed(*, clients: int = DEFAULT_CLIENTS, via_services: int = DEFAULT_VIA_SERVICES,
         progress: Callable[[str], None] | None = None) -> SeedResult:
    """Write the demo data unless it is already there (then nothing is written).

    One transaction: a failure leaves nothing behind, and a second concurrent run waits for the
    first and then finds the data present.
    """
    from django.db import connection, transaction

    from plumbing import context

    started = monotonic()
    say = progress or (lambda _msg: None)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_SEED_LOCK])
        if demo_present():
            return SeedResult(created=False, logins=demo_logins(), seconds=monotonic() - started)
        request_id = f"seed-demo-{uuid.uuid4().hex[:16]}"
        with context.acting_as(None, source="system", request_id=request_id):
            writer = _Writer(clients=clients, via_services=via_services, say=say, request_id=request_id)
            result = writer.run()
    result.seconds = monotonic() - started
    return result


# Arbitrary constant naming the seed's advisory lock.
_SEED_LOCK = 0x5345454444454D4F  # "SEEDDEMO"


class _Writer(_ViaServices, _InBulk):
    def __init__(self, *, clients: int, via_services: int, say: Callable[[str], None], request_id: str) -> None:
        from django.utils import timezone

        self.now = timezone.now()
        self.clients = clients
        self.via_services = max(0, min(via_services, clients))
        self.say = say
        self.request_id = request_id
        self.users: dict[str, Any] = {}
        self.brands: dict[str, Any] = {}
        self.desks: dict[str, Any] = {}

    def run(self) -> SeedResult:
        from crm.models import Client, Event, Note, Task

        t0 = monotonic()
        self._organisation()
        self.say(f"organisation: {monotonic() - t0:.1f} s")
        plans = Planner(clients=self.clients, now=self.now).plan()
        t1 = monotonic()
        self._via_services(plans[: self.via_services])
        t2 = monotonic()
        self.say(f"{self.via_services} clients through the services: {t2 - t1:.1f} s")
        self._in_bulk(plans[self.via_services:])
        t3 = monotonic()
        self.say(f"{len(plans) - self.via_services} clients in bulk: {t3 - t2:.1f} s")
        self._staff_tasks()
        self._notifications()
        self._emails()
        # History, not news: nothing of the seed is handed to subscribers (see the module docstring).
        Event.objects.filter(request_id=self.request_id, dispatched_at__isnull=True).update(dispatched_at=self.now)
        counts = {
            "brands": len(self.brands), "desks": len(self.desks), "staff": len(self.users),
            "clients": Client.objects.filter(brand__in=self.brands.values()).count(),
            "notes": Note.objects.filter(client__brand__in=self.brands.values()).count(),
            "tasks": Task.objects.filter(client__brand__in=self.brands.values()).count(),
            "events": Event.objects.filter(request_id=self.request_id).count(),
        }
        return SeedResult(created=True, logins=demo_logins(), counts=counts, via_services=self.via_services,
                          notes=[DEMO_2FA_NOTE])

    # staff and structure

    def _organisation(self) -> None:
        from crm.audit import audit_record, model_snapshot
        from crm.models import Brand, Role
        from crm.roles import roles_sync
        from crm.services import user_create
        from crm.staff_services import desk_create, desk_update, role_set_requires_2fa

        roles_sync()
        started = monotonic()
        self._hash_passwords()
        self.say(f"{len(STAFF)} demo passwords hashed: {monotonic() - started:.1f} s")
        for brand_spec in BRANDS:
            # Brands have no service of their own yet: administrators create them in the admin site.
            brand = Brand.objects.create(code=brand_spec.code, name=brand_spec.name, default_currency=brand_spec.currency)
            audit_record(action="brand.create", obj=brand,
                         after=model_snapshot(brand, ("code", "name", "default_currency")))
            self.brands[brand_spec.code] = brand

        admin_spec = next(s for s in STAFF if s.role == "admin")
        admin = self._user(user_create, admin_spec, actor=None)
        for desk_spec in DESKS:
            self.desks[desk_spec.key] = desk_create(
                actor=admin, brand=self.brands[desk_spec.brand], name=desk_spec.name, kind=desk_spec.kind,
                countries=desk_spec.countries, languages=desk_spec.languages, timezone=desk_spec.timezone,
                work_start=desk_spec.work_start, work_end=desk_spec.work_end, work_days=desk_spec.work_days,
            )
        for spec in STAFF:
            if spec is not admin_spec:
                self._user(user_create, spec, actor=admin)
        for spec in STAFF:
            if spec.manages:
                desk_update(actor=admin, desk=self.desks[spec.manages], manager=self.users[spec.email],
                            reason="Demo data")
        for role in Role.objects.filter(requires_2fa=True).order_by("code"):
            role_set_requires_2fa(actor=admin, role=role, required=False,
                                  reason="Demo data: every demo login works without an authenticator app")

    def _hash_passwords(self) -> None:
        """Hash the demo passwords side by side: PBKDF2 takes about half a second each, and
        hashlib lets threads run it in parallel. Each is checked against the password rules first."""
        from concurrent.futures import ThreadPoolExecutor

        from django.contrib.auth.hashers import make_password
        from django.contrib.auth.password_validation import validate_password

        from crm.models import User

        for spec in STAFF:
            validate_password(spec.password, user=User(email=spec.email, full_name=spec.full_name))
        with ThreadPoolExecutor(max_workers=4) as pool:
            hashes = list(pool.map(make_password, [spec.password for spec in STAFF]))
        self.password_hashes = {spec.email: h for spec, h in zip(STAFF, hashes, strict=True)}

    def _user(self, user_create: Callable[..., Any], spec: StaffSpec, *, actor: Any) -> Any:
        from crm.models import User

        # The password is set from the hash made in _hash_passwords (it passed the same rules
        # user_create applies).
        user = user_create(
            actor=actor, email=spec.email, full_name=spec.full_name, role_code=spec.role, password=None,
            desk=self.desks.get(spec.desk) if spec.desk else None,
            brands=[self.brands[code] for code in spec.brands], all_brands=spec.all_brands,
            language=spec.language, timezone=spec.timezone,
        )
        user.password = self.password_hashes[spec.email]
        User.objects.filter(pk=user.pk).update(password=user.password)
        self.users[spec.email] = user
        return user

    def _staff_tasks(self) -> None:
        """Work of the day for everyone who is not an agent (agents have their clients' tasks)."""
        from crm.services import task_create

        for spec in STAFF:
            for title, when in STAFF_TASKS.get(spec.role, ()):
                user = self.users[spec.email]
                if when == "overdue":
                    due = self.now - timedelta(days=1, hours=3)
                elif when == "today":
                    room = _local_day_end(self.now, spec.timezone) - self.now
                    due = self.now + (room / 2 if room > timedelta(minutes=40) else timedelta(minutes=20))
                else:
                    due = self.now + timedelta(days=3)
                remind = due - timedelta(minutes=15) if due > self.now + timedelta(minutes=15) else None
                task_create(actor=user, title=title, assignee=user, due_at=due, remind_at=remind)

    def _notifications(self) -> None:
        """A few unread notifications per agent, so the bell has something to show."""
        from crm.models import Client, Task
        from crm.services import notification_send

        for spec in STAFF:
            if spec.role not in ("sales_agent", "retention_agent", "desk_manager"):
                continue
            user = self.users[spec.email]
            due = (Task.objects.filter(assignee=user, done_at__isnull=True, due_at__gte=self.now)
                   .order_by("due_at").first())
            if due is not None:
                notification_send(user=user, kind="task_reminder", title="Task reminder", body=due.title)
            recent = Client.objects.filter(owner=user).order_by("-created_at").first()
            if recent is not None:
                notification_send(user=user, kind="client_assigned", title="A client was assigned to you",
                                  body=recent.full_name)

    def _emails(self) -> None:
        """The composer's templates for each brand, and one email each agent wrote from one of them
        (queued: a running worker sends it into var/mail/, and the profile's Email tab lists it)."""
        from crm.models import Client
        from emails.composer import client_email_send, composer_template
        from emails.services import email_template_save
        from plumbing import context

        for brand in self.brands.values():
            for (key, language), values in COMPOSER_TEMPLATES.items():
                email_template_save(actor=None, brand=brand, key=key, language=language, **values)
        for spec in STAFF:
            if spec.role not in ("sales_agent", "retention_agent"):
                continue
            user = self.users[spec.email]
            client = (Client.objects.select_related("brand", "owner").filter(owner=user).exclude(email_hash="")
                      .order_by("-created_at", "-id").first())
            if client is None:
                continue
            template = composer_template(client=client, key="follow_up")
            with context.acting_as(user, source="system", request_id=self.request_id):
                client_email_send(actor=user, client=client, subject=template.subject, body=template.body,
                                  language=template.language, template_key=template.key)
