"""`manage.py kyc_seed_demo`: verification submissions in every state for demo clients, so that the KYC
queue, the review page and the profile's KYC tab have something to show.

For each brand: a KYC policy (if it has none), then for registered clients without a verification:
addresses, submissions with simple generated document images (a passport-like card as PNG, a bill as
PDF; they are not meant to pass OCR) and Reports recorded through kyc.services, which decide as they
would for the real engine: approved by the checks, approved by an officer, rejected (retryable and
final), more information requested, a high-risk client waiting for the second approval, an expired
verification, and a dozen waiting in the queue with their failed checks named.

Idempotent: a brand whose clients already have submissions is left alone.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from crm.models import Brand, Client, RoleCode, Stage, User
from kyc.demo import demo_submission
from kyc.models import KycPolicy, Submission
from plumbing import context

OFFICER_EMAIL = "priya.raman@demo-broker.example"
WAITING = 12


class Command(BaseCommand):
    help = "Create KYC submissions in every state for demo clients (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        admin = User.objects.filter(is_active=True, role__code=RoleCode.ADMIN).order_by("id").first() \
            or User.objects.filter(is_superuser=True).order_by("id").first()
        with context.acting_as(None, source="seed"):
            for brand in Brand.objects.order_by("id"):
                made = self._brand(brand, admin)
                self.stdout.write(f"kyc demo: {brand.code}: {made}")

    def _brand(self, brand: Brand, admin: User | None) -> str:
        from kyc.services import kyc_policy_save

        if Submission.objects.filter(brand=brand).exists():
            return "already has submissions"
        if not KycPolicy.objects.filter(brand=brand).exists():
            kyc_policy_save(actor=None, brand=brand, allowed_issuing_countries=[], poa_max_age_days=90,
                            expiry_warning_days=30, review_sla_hours=24, high_risk_countries=["IR", "KP", "SY"],
                            expiry_holds=["withdrawals"])
        officers = list(User.objects.filter(is_active=True, role__code=RoleCode.COMPLIANCE)
                        .filter(all_brands=True).order_by("id")) + \
            list(User.objects.filter(is_active=True, role__code=RoleCode.COMPLIANCE, brands=brand).order_by("id"))
        officer = next((u for u in officers if u.email == OFFICER_EMAIL), officers[0] if officers else admin)
        plan = ["auto", "officer", "retry", "final", "info", "four_eyes", "expired", *["review"] * WAITING]
        clients = list(Client.objects.filter(brand=brand, stage__in=[Stage.REGISTERED, Stage.LEAD])
                       .exclude(kyc_profile__isnull=False).order_by("id")[:len(plan)])
        done = 0
        for n, (client, kind) in enumerate(zip(clients, plan, strict=False)):
            with transaction.atomic():
                self._one(client, kind, n, officer=officer)
            done += 1
        return f"{done} submissions"

    def _one(self, client: Client, kind: str, n: int, *, officer: User | None) -> None:
        from kyc import services

        decision = {"auto": "approve", "expired": "approve", "retry": "reject", "four_eyes": "approve"}.get(kind,
                                                                                                          "review")
        submission = demo_submission(client=client, n=n, decision=decision,
                                     expiry_days={"officer": 20, "expired": 0}.get(kind, 900),
                                     country="IR" if kind == "four_eyes" else "")
        if officer is None:
            return
        if kind == "officer":
            services.submission_approve(submission=submission, actor=officer, note="Documents match.")
        elif kind == "final":
            services.submission_reject(submission=submission, actor=officer, reason="The document appears altered.",
                                       can_resubmit=False)
        elif kind == "info":
            services.submission_request_info(submission=submission, actor=officer,
                                             message="Please send a bank statement from the last three months.")
        elif kind == "four_eyes":
            services.submission_approve(submission=submission, actor=officer, note="First look: fine.")
        elif kind == "expired":
            # Approved with a passport that runs out today: the daily job expires it.
            services.kyc_expiry_run(today=timezone.localdate())
