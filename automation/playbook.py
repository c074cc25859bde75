"""The broker playbook: the usual rules and email templates a new brand can start from.

The rules and templates are contributed by the apps whose events they follow (crm.registry:
`contribute(app, playbook=[PlaybookRule(...)], playbook_templates=[PlaybookTemplate(...)])`): the
first call on a routed lead by leads, the verification reminder by kyc, the first-deposit notice by
wallet, the win-back task by trading. `automation_seed_playbook` gives a brand what is registered.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from automation.models import AutomationRule
from automation.rules import automation_rule_save
from crm.models import Brand, User
from crm.registry import PLAYBOOK, PLAYBOOK_TEMPLATES


def playbook_events() -> set[str]:
    """The events the registered playbook rules start on or are cancelled by."""
    names: set[str] = set()
    for rule in PLAYBOOK:
        names.add(str(rule.spec["trigger"]))
        names.update(str(n) for n in rule.spec.get("cancel_on", ()))
    return names


@dataclass(frozen=True)
class PlaybookReport:
    templates_created: list[str]
    rules_created: list[str]


@transaction.atomic
def automation_seed_playbook(*, brand: Brand, actor: User | None = None) -> PlaybookReport:
    """Give `brand` the brokers' usual rules and the email templates they use. Idempotent: a
    template (key, language) or a rule (by name) that exists is left as it is, edited or not."""
    from emails.models import EmailTemplate
    from emails.services import email_template_save

    # Serialise concurrent seeds of one brand: the existence checks below must not race.
    # (FOR NO KEY UPDATE: the brand's other writers insert rows that refer to it meanwhile; crm.models.locks.)
    Brand.objects.select_for_update(no_key=True).filter(pk=brand.pk).first()
    templates: list[str] = []
    for template in PLAYBOOK_TEMPLATES:
        key, language = template.key, template.language
        if not EmailTemplate.objects.filter(brand=brand, key=key, language=language).exists():
            email_template_save(actor=actor, brand=brand, key=key, language=language,
                                subject=template.values["subject"], body=template.values["body"],
                                description=template.values.get("description", ""))
            templates.append(f"{key}:{language}")
    rules: list[str] = []
    for spec in (rule.spec for rule in PLAYBOOK):
        if AutomationRule.objects.filter(brand=brand, name__iexact=spec["name"]).exists():
            continue
        automation_rule_save(actor=actor, brand=brand, **dict(spec))
        rules.append(spec["name"])
    return PlaybookReport(templates_created=templates, rules_created=rules)
