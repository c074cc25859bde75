"""`manage.py compliance_seed_demo_risk`: the demo clients' risk scores, computed by the brand's
(default) risk model as the events would have, and one high-risk client with its enhanced due
diligence task: the client of a high-risk jurisdiction that the restrictions demo restricted, who
declares borrowed money as the source of funds (the compliance officer enters the questionnaire
on the client's behalf).

Idempotent: only the clients without a score are scored (a worker may have scored some already, on
an event), and the high-risk client is made only on a brand without any score from this loader.
Run after compliance_seed_demo_restrictions (the demo jurisdictions) and kyc_questionnaire_seed.
`--jobs N` scores in N processes at once (each its part of the clients, by id; 0: one more than the
cores, at most 4): each score waits on PostgreSQL much of the time."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count

from compliance.models import RiskBand, RiskScore
from compliance.risk import risk_score_compute
from crm.exceptions import DomainError
from crm.lib.fieldcrypt import keyed_hashes
from crm.models import Brand, Client, RoleCode, Stage, User
from plumbing import context
from plumbing.demo_parts import Shards, demo_jobs, shard_parse

OFFICER_EMAIL = "priya.raman@demo-broker.example"
PORTAL_DEMO_EMAIL = "alex.morgan@demo-client.example"  # the trader's-room demo login keeps an ordinary profile


class Command(BaseCommand):
    help = "Compute the demo clients' risk scores; make one demo client high risk with its due diligence task."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--jobs", type=int, default=1,
                            help="score in this many processes (0: one more than the cores, at most 4)")
        parser.add_argument("--shard", type=shard_parse, default=None, metavar="K/N",
                            help="score only the clients of part K of N (by id), and nothing else")

    def handle(self, *args: Any, jobs: int = 1, shard: tuple[int, int] | None = None, **options: Any) -> None:
        officer = User.objects.filter(email=OFFICER_EMAIL, is_active=True).first() or \
            User.objects.filter(role__code=RoleCode.COMPLIANCE, is_active=True).order_by("id").first()
        brands = list(Brand.objects.order_by("id"))
        with context.acting_as(officer, source="seed"):
            if shard is not None:
                counts = self._score(brands, part=shard)
                self.stdout.write(f"compliance risk demo: part {shard[0]} of {shard[1]}: "
                                  f"{' '.join(f'{brand}={n}' for brand, n in counts.items())}")
                return
            high = {brand.code: self._high_one(brand, officer) for brand in brands
                    if not RiskScore.objects.filter(brand=brand, trigger="demo").exists()}
            jobs = demo_jobs(jobs)
            if jobs > 1 and self._unscored(brands).count() >= 2 * jobs:
                with Shards("compliance_seed_demo_risk", [], count=jobs) as parts:
                    scored = self._score(brands, part=(0, jobs))
                    try:
                        parts.join()
                    except RuntimeError as error:
                        raise CommandError(str(error)) from None
            else:
                scored = self._score(brands, part=None)
        for brand in brands:
            bands = dict(RiskScore.objects.filter(brand=brand, trigger="demo").values("band")
                         .annotate(n=Count("id")).values_list("band", "n"))
            counts = {band: bands.get(band, 0) for band in RiskBand.values}
            if brand.code not in high and not scored.get(brand.code):
                self.stdout.write(f"compliance risk demo: {brand.code}: already scored")
                continue
            self.stdout.write(f"compliance risk demo: {brand.code}: {counts}; high risk with its task: "
                              f"{high.get(brand.code) or 'none'}")

    @staticmethod
    def _unscored(brands: list[Brand]) -> Any:
        return (Client.objects.filter(brand__in=brands).exclude(pk__in=RiskScore.objects.values("client_id"))
                .order_by("id"))

    def _score(self, brands: list[Brand], *, part: tuple[int, int] | None) -> dict[str, int]:
        """A score for each client of `brands` without one (of `part` only: ids K modulo N); how many
        were scored, by brand."""
        codes = {brand.pk: brand.code for brand in brands}
        scored = dict.fromkeys(codes.values(), 0)
        for client_id, brand_id in self._unscored(brands).values_list("pk", "brand_id"):
            if part is not None and client_id % part[1] != part[0]:
                continue
            if risk_score_compute(client_id=client_id, trigger="demo") is not None:
                scored[codes[brand_id]] += 1
        return scored

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
