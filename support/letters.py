"""The emails support writes to clients and requesters, in English, marked for the catalogues
(emails.defaults gives a brand each language they translate): the acknowledgement of a complaint and
the final response (support.complaints), a staff answer on a ticket (support.outbound)."""

from __future__ import annotations

from django.utils.translation import gettext_noop

from crm.registry import PlaybookTemplate

ACK_TEMPLATE = "support_complaint_ack"
FINAL_TEMPLATE = "support_complaint_final"
ANSWER_TEMPLATE = "support_ticket_answer"

TEMPLATES: dict[str, dict[str, str]] = {
    ACK_TEMPLATE: {
        "description": "A complaint is registered: its reference and when the final response is due",
        "subject": gettext_noop("{{ brand.name }}: your complaint {{ event.data.reference }}"),
        "body": gettext_noop(
            "Dear {{ client.first_name }},\n\nWe have received your complaint and registered it on "
            "{{ event.data.registered_on }} under the reference {{ event.data.reference }} "
            "(your request {{ event.data.ticket }}). Please quote this reference when you write to us "
            "about it.\n\nWe will investigate it and send you our final response by "
            "{{ event.data.response_due }}.\n\nKind regards,\n{{ brand.name }}"
        ),
    },
    FINAL_TEMPLATE: {
        "description": "The final response to a complaint",
        "subject": gettext_noop(
            "{{ brand.name }}: our final response to your complaint {{ event.data.reference }}"
        ),
        "body": gettext_noop(
            "Dear {{ client.first_name }},\n\n{{ event.data.response }}"
            "{% if event.data.amount %}\n\nWe will pay you {{ event.data.amount }}.{% endif %}"
            "\n\nThis is our final response to your complaint {{ event.data.reference }}. If you are not "
            "satisfied with it, you may refer your complaint to the financial ombudsman.\n\nKind regards,\n"
            "{{ brand.name }}"
        ),
    },
    ANSWER_TEMPLATE: {
        "description": "A staff answer on a support ticket, mailed to the requester",
        "subject": "{{ event.data.subject }}",
        "body": gettext_noop(
            "{{ event.data.body }}\n\n{{ event.data.agent }}\n{{ brand.name }}\n\n"
            "Reply to this email to write on your request {{ event.data.reference }}."
        ),
    },
}


def playbook_templates() -> list[PlaybookTemplate]:
    """Support's emails for the playbook, in each language the catalogues translate them into."""
    from emails.selectors import playbook_templates as translated

    return translated(TEMPLATES)
