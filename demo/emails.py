"""What the demo's emails say: the templates agents start from in the profile's composer."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from emails.services import TemplateText

# The templates agents start their emails from (the profile's composer), per brand and language.
COMPOSER_TEMPLATES: dict[tuple[str, str], TemplateText] = {
    ("follow_up", "en"): {
        "description": "After a call: the agent follows up",
        "subject": "{{ client.first_name }}, following up from {{ brand.name }}",
        "body": ("Dear {{ client.first_name }},\n\nThank you for your time on our call. As promised, I am following "
                 "up on what we discussed.\n\nIf you have any questions, reply to this email and I will get back "
                 "to you.\n\nKind regards,\n{{ owner.name }}\n{{ brand.name }}"),
    },
    ("follow_up", "ar"): {
        "description": "متابعة بعد مكالمة مع العميل",
        "subject": "{{ client.first_name }}، متابعة من {{ brand.name }}",
        "body": ("عزيزي/عزيزتي {{ client.first_name }}،\n\nشكرًا لوقتك خلال مكالمتنا. كما وعدتك، أتابع معك ما "
                 "تحدثنا عنه.\n\nإذا كانت لديك أي أسئلة، رُدّ على هذه الرسالة وسأعود إليك.\n\nمع أطيب "
                 "التحيات،\n{{ owner.name }}\n{{ brand.name }}"),
    },
    ("deposit_help", "en"): {
        "description": "A verified client who has not funded yet",
        "subject": "How to fund your {{ brand.name }} account",
        "body": ("Dear {{ client.first_name }},\n\nYour account is verified and ready. You can fund it by card, "
                 "bank transfer or e-wallet from your client area.\n\nIf a payment does not go through, reply "
                 "to this email and I will help you straight away.\n\nKind regards,\n{{ owner.name }}\n"
                 "{{ brand.name }}"),
    },
    ("deposit_help", "ar"): {
        "description": "عميل تم التحقق منه ولم يموّل حسابه بعد",
        "subject": "كيفية تمويل حسابك لدى {{ brand.name }}",
        "body": ("عزيزي/عزيزتي {{ client.first_name }}،\n\nتم التحقق من حسابك وهو جاهز. يمكنك تمويله بالبطاقة "
                 "أو بالتحويل المصرفي أو بالمحفظة الإلكترونية من منطقة العملاء.\n\nإذا لم تنجح عملية الدفع، "
                 "رُدّ على هذه الرسالة وسأساعدك على الفور.\n\nمع أطيب التحيات،\n{{ owner.name }}\n"
                 "{{ brand.name }}"),
    },
}
