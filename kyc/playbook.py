"""What kyc adds to the broker playbook (automation.playbook): a reminder, by email and as a
task for the owner, to the registered clients who have not sent their documents after a day."""

from __future__ import annotations

from crm.models import Stage
from crm.registry import PlaybookRule, PlaybookTemplate

_TEMPLATES: dict[tuple[str, str], dict[str, str]] = {
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


TEMPLATES = [PlaybookTemplate(key, language, values) for (key, language), values in _TEMPLATES.items()]

RULES = [
    PlaybookRule({
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
             "assignee": "owner", "due_in_hours": 24, "description": ""},
        ],
    }, order=20),
]
