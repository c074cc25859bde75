"""The emails KYC sends the client, in the client's language: what to fix after a retryable rejection,
a final rejection, a request for more information, a warning before a document runs out and the
expiry itself.

They are ordinary brand email templates (emails.services), contributed to the playbook so that a
brand gets them with the others and administrators can reword them. A brand that has none yet gets
them written the first time one is needed. The words of the moment (the officer's reason, what to
fix, the day a document runs out) reach the template as `event.data.*`, the names a template may use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils import timezone, translation
from django.utils.translation import gettext

from crm.models import Client, Event, User
from crm.registry import PlaybookTemplate
from emails.models import EmailTemplate
from emails.services import (
    EmailSendResult,
    email_send_templated,
    email_template_pick,
    email_template_save,
)

_SIGN_EN = "\n\nKind regards,\n{{ brand.name }}"
_SIGN_AR = "\n\nمع أطيب التحيات،\n{{ brand.name }}"

_TEMPLATES: dict[tuple[str, str], dict[str, str]] = {
    ("kyc_resubmit", "en"): {
        "description": "Verification refused: what the client should send again",
        "subject": "{{ brand.name }}: please send your documents again",
        "body": ("Dear {{ client.first_name }},\n\nWe could not verify your identity with the documents you sent."
                 "{% if event.data.reason %}\n\n{{ event.data.reason }}{% endif %}"
                 "{% if event.data.hints %}\n\nPlease:\n{% for hint in event.data.hints %}- {{ hint }}\n{% endfor %}"
                 "{% endif %}\nYou can upload new documents in your client area." + _SIGN_EN),
    },
    ("kyc_resubmit", "ar"): {
        "description": "رفض التحقق: ما يجب على العميل إرساله مجددًا",
        "subject": "{{ brand.name }}: يرجى إرسال مستنداتك مرة أخرى",
        "body": ("عزيزي/عزيزتي {{ client.first_name }}،\n\nلم نتمكن من التحقق من هويتك بالمستندات التي أرسلتها."
                 "{% if event.data.reason %}\n\n{{ event.data.reason }}{% endif %}"
                 "{% if event.data.hints %}\n\nيرجى:\n{% for hint in event.data.hints %}- {{ hint }}\n{% endfor %}"
                 "{% endif %}\nيمكنك تحميل مستندات جديدة في منطقة العملاء." + _SIGN_AR),
    },
    ("kyc_rejected", "en"): {
        "description": "Verification refused for good",
        "subject": "{{ brand.name }}: your verification",
        "body": ("Dear {{ client.first_name }},\n\nWe are unable to verify your account."
                 "{% if event.data.reason %}\n\n{{ event.data.reason }}{% endif %}"
                 "\n\nIf you have questions, reply to this email." + _SIGN_EN),
    },
    ("kyc_rejected", "ar"): {
        "description": "رفض التحقق نهائيًا",
        "subject": "{{ brand.name }}: التحقق من حسابك",
        "body": ("عزيزي/عزيزتي {{ client.first_name }}،\n\nنأسف لعدم تمكننا من التحقق من حسابك."
                 "{% if event.data.reason %}\n\n{{ event.data.reason }}{% endif %}"
                 "\n\nإذا كانت لديك أسئلة، يرجى الرد على هذه الرسالة." + _SIGN_AR),
    },
    ("kyc_info_requested", "en"): {
        "description": "A compliance officer needs more information",
        "subject": "{{ brand.name }}: we need a little more information",
        "body": ("Dear {{ client.first_name }},\n\nTo finish verifying your account we need more information:"
                 "\n\n{{ event.data.message }}\n\nPlease send it from your client area." + _SIGN_EN),
    },
    ("kyc_info_requested", "ar"): {
        "description": "يحتاج مسؤول الامتثال إلى مزيد من المعلومات",
        "subject": "{{ brand.name }}: نحتاج إلى بعض المعلومات الإضافية",
        "body": ("عزيزي/عزيزتي {{ client.first_name }}،\n\nلإكمال التحقق من حسابك نحتاج إلى مزيد من المعلومات:"
                 "\n\n{{ event.data.message }}\n\nيرجى إرسالها من منطقة العملاء." + _SIGN_AR),
    },
    ("kyc_expiry_warning", "en"): {
        "description": "A verification document runs out soon",
        "subject": "{{ brand.name }}: your document expires on {{ event.data.expires_on }}",
        "body": ("Dear {{ client.first_name }},\n\nYour {{ event.data.document }} expires on "
                 "{{ event.data.expires_on }}. Please upload a valid one in your client area before then "
                 "to keep your account fully verified." + _SIGN_EN),
    },
    ("kyc_expiry_warning", "ar"): {
        "description": "تنتهي صلاحية مستند التحقق قريبًا",
        "subject": "{{ brand.name }}: تنتهي صلاحية مستندك في {{ event.data.expires_on }}",
        "body": ("عزيزي/عزيزتي {{ client.first_name }}،\n\nتنتهي صلاحية {{ event.data.document }} في "
                 "{{ event.data.expires_on }}. يرجى تحميل مستند ساري المفعول في منطقة العملاء قبل ذلك "
                 "للحفاظ على التحقق الكامل من حسابك." + _SIGN_AR),
    },
    ("kyc_expired", "en"): {
        "description": "The verification ran out",
        "subject": "{{ brand.name }}: please verify your account again",
        "body": ("Dear {{ client.first_name }},\n\nYour verification has expired: {{ event.data.reason }}."
                 "{% if event.data.holds %}\n\nUntil you verify again: {{ event.data.holds }}.{% endif %}"
                 "\n\nPlease upload valid documents in your client area." + _SIGN_EN),
    },
    ("kyc_expired", "ar"): {
        "description": "انتهت صلاحية التحقق",
        "subject": "{{ brand.name }}: يرجى التحقق من حسابك مجددًا",
        "body": ("عزيزي/عزيزتي {{ client.first_name }}،\n\nانتهت صلاحية التحقق من حسابك: {{ event.data.reason }}."
                 "{% if event.data.holds %}\n\nإلى أن تتحقق مجددًا: {{ event.data.holds }}.{% endif %}"
                 "\n\nيرجى تحميل مستندات سارية في منطقة العملاء." + _SIGN_AR),
    },
}

TEMPLATES = [PlaybookTemplate(key, language, values) for (key, language), values in _TEMPLATES.items()]


def _ensure_templates(client: Client, key: str) -> None:
    """Give the brand the KYC template `key` in every language we have, unless it has it in one."""
    brand = client.brand
    if email_template_pick(brand=brand, key=key, language=client.language) is not None:
        return
    existing = set(EmailTemplate.objects.filter(brand=brand, key=key).values_list("language", flat=True))
    for (k, language), values in _TEMPLATES.items():
        if k == key and language not in existing:
            email_template_save(actor=None, brand=brand, key=key, language=language, subject=values["subject"],
                                body=values["body"], description=values["description"])


def client_language(client: Client) -> str:
    return (client.language or client.brand.default_language or "en").split("-", 1)[0]


def in_client_language(client: Client, text: str, params: Mapping[str, Any] | None = None) -> str:
    """`text` (an English message id, e.g. a check's hint) in the client's language, filled in with
    `params` (%(name)s placeholders) once translated."""
    if not text:
        return ""
    with translation.override(client_language(client)):
        translated = gettext(text)
        return translated % params if params else translated


def kyc_email_send(*, client: Client, key: str, data: Mapping[str, Any], actor: User | None) -> EmailSendResult:
    """Queue KYC email `key` to `client` with `data` as `event.data` (in the caller's transaction)."""
    _ensure_templates(client, key)
    event = Event(name=f"kyc.email.{key}", client=client, data=dict(data), occurred_at=timezone.now())
    return email_send_templated(template_key=key, client=client, actor=actor, event=event)
