"""The broker playbook: the usual rules and email templates a new brand can start from."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import transaction

from crm import automation_actions as registry
from crm.automation.rules import automation_rule_save
from crm.models import AutomationRule, Brand, Stage, User

if TYPE_CHECKING:
    from crm.email_templates import TemplateText

PLAYBOOK_EVENTS = ("lead.routed", "client.stage_changed", "kyc.submitted", "kyc.approved", "wallet.first_deposit",
                   "trading.account_inactive")

PLAYBOOK_TEMPLATES: dict[tuple[str, str], TemplateText] = {
    ("kyc_reminder", "en"): {
        "description": "Registered clients who have not verified after a day",
        "subject": "{{ client.first_name }}, finish your verification with {{ brand.name }}",
        "body": (
            "Dear {{ client.first_name }},\n\n"
            "Thank you for registering with {{ brand.name }}. One step is left before you can fund your account "
            "and start trading: verifying your identity.\n\n"
            "It takes a few minutes: upload a photo of your ID and a recent proof of address in your client area.\n\n"
            "{% if owner.name %}If you need help, reply to this email or contact {{ owner.name }}"
            "{% if owner.email %} at {{ owner.email }}{% endif %}.\n\n{% endif %}"
            "Kind regards,\n{{ brand.name }}"
        ),
    },
    ("kyc_reminder", "ar"): {
        "description": "تذكير بالتحقق من الهوية بعد يوم من التسجيل",
        "subject": "{{ client.first_name }}، أكمل التحقق من حسابك لدى {{ brand.name }}",
        "body": (
            "عزيزي/عزيزتي {{ client.first_name }}،\n\n"
            "شكرًا لتسجيلك لدى {{ brand.name }}. بقيت خطوة واحدة قبل أن تتمكن من تمويل حسابك والبدء في التداول: "
            "التحقق من هويتك.\n\n"
            "لن يستغرق ذلك سوى بضع دقائق: حمّل صورة من هويتك وإثبات عنوان حديث في منطقة العملاء.\n\n"
            "{% if owner.name %}إذا احتجت إلى مساعدة، رُدّ على هذه الرسالة أو تواصل مع {{ owner.name }}"
            "{% if owner.email %} على {{ owner.email }}{% endif %}.\n\n{% endif %}"
            "مع أطيب التحيات،\n{{ brand.name }}"
        ),
    },
}


def _playbook_rules() -> list[dict[str, Any]]:
    return [
        {
            "name": "New lead: first call on the owner's list",
            "description": ("The intake routes each lead and notifies its new owner at once; this puts the "
                            "first call on the owner's task list, due within the hour."),
            "trigger": "lead.routed",
            "conditions": [{"field": "client.has_owner", "operator": "eq", "value": True}],
            "actions": [{"type": "create_task", "title": "First call: {{ client.full_name }}",
                         "assignee": registry.WHO_OWNER, "due_in_hours": 1,
                         "description": "{{ client.country }} · {{ client.language }}"}],
        },
        {
            "name": "Registered, no KYC after 24 hours",
            "description": "A reminder email and a task for the owner, unless the client has sent documents.",
            "trigger": "client.stage_changed",
            "delay_hours": 24,
            "cancel_on": ["kyc.submitted", "kyc.approved"],
            "conditions": [{"field": "data.to", "operator": "eq", "value": Stage.REGISTERED.value},
                           {"field": "client.stage", "operator": "eq", "value": Stage.REGISTERED.value}],
            "actions": [
                {"type": "send_email", "template": "kyc_reminder"},
                {"type": "create_task", "title": "Help {{ client.full_name }} finish verification",
                 "assignee": registry.WHO_OWNER, "due_in_hours": 24, "description": ""},
            ],
        },
        {
            "name": "First deposit: notify the agent",
            "trigger": "wallet.first_deposit",
            "conditions": [],
            "actions": [{"type": "notify", "who": registry.WHO_OWNER,
                         "title": "First deposit: {{ client.full_name }}",
                         "body": "{{ event.data.amount }} {{ event.data.currency }}"}],
        },
        {
            "name": "No trade for 12 days: retention task",
            "trigger": "trading.account_inactive",
            "conditions": [{"field": "data.days", "operator": "gte", "value": 12}],
            "actions": [{"type": "create_task", "title": "Win back {{ client.full_name }}: no trade for 12 days",
                         "assignee": registry.WHO_OWNER, "due_in_hours": 48, "description": ""}],
        },
    ]


@dataclass(frozen=True)
class PlaybookReport:
    templates_created: list[str]
    rules_created: list[str]


@transaction.atomic
def automation_seed_playbook(*, brand: Brand, actor: User | None = None) -> PlaybookReport:
    """Give `brand` the brokers' usual rules and the email templates they use. Idempotent: a
    template (key, language) or a rule (by name) that exists is left as it is, edited or not."""
    from crm.email_templates import email_template_save
    from crm.models import EmailTemplate

    # Serialise concurrent seeds of one brand: the existence checks below must not race.
    Brand.objects.select_for_update().filter(pk=brand.pk).first()
    templates: list[str] = []
    for (key, language), values in PLAYBOOK_TEMPLATES.items():
        if not EmailTemplate.objects.filter(brand=brand, key=key, language=language).exists():
            email_template_save(actor=actor, brand=brand, key=key, language=language, **values)
            templates.append(f"{key}:{language}")
    rules: list[str] = []
    for spec in _playbook_rules():
        if AutomationRule.objects.filter(brand=brand, name__iexact=spec["name"]).exists():
            continue
        automation_rule_save(actor=actor, brand=brand, **spec)
        rules.append(spec["name"])
    return PlaybookReport(templates_created=templates, rules_created=rules)
