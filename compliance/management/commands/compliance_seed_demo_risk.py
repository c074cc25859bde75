"""`manage.py compliance_seed_demo_risk`: the demo clients' risk scores, computed by the brand's
(default) risk model as the events would have, and one high-risk client with its enhanced due
diligence task: the client of a high-risk jurisdiction that the restrictions demo restricted, who
declares borrowed money as the source of funds (the compliance officer enters the questionnaire
on the client's behalf).

Idempotent: a brand whose clients already have scores is left alone. Run after
compliance_seed_demo_restrictions (the demo jurisdictions) and kyc_questionnaire_seed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from compliance.models import RiskBand, RiskScore
from compliance.risk import risk_score_compute
from crm.exceptions import DomainError
from crm.lib import context
from crm.lib.fieldcrypt import keyed_hashes
from crm.models import Brand, Client, RoleCode, Stage, User

OFFICER_EMAIL = "priya.raman@demo-broker.example"
PORTAL_DEMO_EMAIL = "alex.morgan@demo-client.example"  # the trader's-room demo login keeps an ordinary profile


class Command(BaseCommand):
    help = "Compute the demo clients' risk scores; make one demo client high risk with its due diligence task."

    def handle(self, *args: Any, **options: Any) -> None:
        officer = User.objects.filter(email=OFFICER_EMAIL, is_active=True).first() or \
            User.objects.filter(role__code=RoleCode.COMPLIANCE, is_active=True).order_by("id").first()
        with context.acting_as(officer, source="seed"):
            for brand in Brand.objects.order_by("id"):
                if RiskScore.objects.filter(brand=brand).exists():
                    self.stdout.write(f"compliance risk demo: {brand.code}: already scored")
                    continue
                high = self._high_one(brand, officer)
                counts = {b: 0 for b in RiskBand.values}
                for client_id in Client.objects.filter(brand=brand).order_by("id").values_list("pk", flat=True):
                    row = risk_score_compute(client_id=client_id, trigger="demo")
                    if row is not None:
                        counts[row.band] += 1
                self.stdout.write(f"compliance risk demo: {brand.code}: {counts}; high risk with its task: "
                                  f"{high or 'none'}")

    def _high_one(self, brand: Brand, officer: User | None) -> str:
        from kyc.selectors import questionnaire_current_for
        from kyc.services import questionnaire_submit

        client = (Client.objects.filter(brand=brand, stage__in=[Stage.FUNDED, Stage.ACTIVE], country="NG")
                  .exclude(email_hash__in=keyed_hashes(PORTAL_DEMO_EMAIL, kind="email")).order_by("id").first())
        version = questionnaire_current_for(client=client) if client is not None else None
        if client is None or version is None:
            return ""
        from kyc.questionnaire_demo import ANSWERS_APPROPRIATE

        try:
            questionnaire_submit(actor=officer, client=client, version=version,
                                 answers={**ANSWERS_APPROPRIATE, "source_of_funds": "borrowed"})
        except DomainError as error:  # the brand's own questionnaire, or the client answered today
            self.stdout.write(f"compliance risk demo: {brand.code}: questionnaire not entered: {error.message}")
            return ""
        return f"{client.full_name} ({client.code})"
