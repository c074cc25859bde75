"""Give every active brand without a questionnaire the example appropriateness questionnaire
(kyc.questionnaire_demo) as its published version 1. Idempotent: a brand that has one is left alone."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from crm.models import Brand
from kyc.models import Questionnaire
from kyc.questionnaire import questionnaire_draft_save, questionnaire_version_publish
from kyc.questionnaire_demo import demo_content


def questionnaire_seed() -> list[str]:
    """The codes of the brands that were given the example questionnaire now."""
    seeded = []
    have = set(Questionnaire.objects.values_list("brand_id", flat=True))
    for brand in Brand.objects.filter(is_active=True).exclude(pk__in=have).order_by("pk"):
        draft = questionnaire_draft_save(actor=None, brand=brand, content=demo_content())
        questionnaire_version_publish(actor=None, version=draft)
        seeded.append(brand.code)
    return seeded


class Command(BaseCommand):
    help = "Publish the example appropriateness questionnaire for every brand that has none (idempotent)."

    def handle(self, *args: Any, **options: Any) -> None:
        seeded = questionnaire_seed()
        if seeded:
            self.stdout.write(f"appropriateness questionnaire published for: {', '.join(seeded)}")
        else:
            self.stdout.write("appropriateness questionnaire: every brand has one")
