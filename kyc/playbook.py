"""What kyc adds to the broker playbook (automation.playbook): a reminder, by email and as a
task for the owner, to the registered clients who have not sent their documents after a day."""

from __future__ import annotations

from django.utils.translation import gettext_noop

from crm.models import Stage
from crm.registry import PlaybookRule, PlaybookTemplate
from emails import selectors as email_selectors

# In English, marked for the catalogues (emails.defaults gives a brand each language they translate).
_TEMPLATES: dict[str, dict[str, str]] = {
    "kyc_reminder": {
        "description": "Registered clients who have not verified after a day",
        "subject": gettext_noop("{{ client.first_name }}, finish your verification with {{ brand.name }}"),
        "body": gettext_noop(
            "Dear {{ client.first_name }},\n\n"
            "Thank you for registering with {{ brand.name }}. One step is left before you can fund your account "
            "and start trading: verifying your identity.\n\n"
            "It takes a few minutes: upload a photo of your ID and a recent proof of address in your client area.\n\n"
            "{% if owner.name %}If you need help, reply to this email or contact {{ owner.name }}"
            "{% if owner.email %} at {{ owner.email }}{% endif %}.\n\n{% endif %}"
            "Kind regards,\n{{ brand.name }}"
        ),
    },
}


def playbook_templates() -> list[PlaybookTemplate]:
    """The verification reminder for the playbook, in each language the catalogues translate it into."""
    return email_selectors.playbook_templates(_TEMPLATES)


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
