from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class MarketingConfig(AppConfig):
    name = "marketing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from crm.registry import contribute
        from marketing.consent_views import consent_contribute

        contribute("marketing", permissions=_permissions(), navigation=_navigation())
        consent_contribute()  # the client page's consent tab and who reads it
        from marketing.retention import register as retention_register

        retention_register()  # consent decisions in the retention schedule (compliance.retention)
        _campaigns()
        from marketing import sequence_handlers  # noqa: F401 - sequences' triggers and goals


def _campaigns() -> None:
    """The campaigns' send job kind, their delivery handlers (marketing.campaigns) and the consent
    check on delivery (marketing.delivery)."""
    from django.utils.translation import gettext_lazy as _

    from crm.jobs import job_kind_register
    from emails.services import delivery_checks
    from marketing import campaign_handlers  # noqa: F401 - subscribes to email.sent / email.failed
    from marketing.campaigns import JOB_KIND
    from marketing.delivery import refused_marketing

    delivery_checks.register(refused_marketing)  # consent asked again as each email goes out

    job_kind_register(
        JOB_KIND,
        label=_("Campaign send"),
        counts={
            "sent": _("Sent"),
            "skipped": _("Skipped: no consent"),
            "failed": _("Failed"),
            "waiting": _("Waiting for their sending hours"),
            "held_out": _("Held out"),
        },
    )


def _permissions() -> dict[str, list[str]]:
    """Who works segments. The marketing role builds, counts and snapshots them over every client of
    its brands (it reads no client's record: counts and, later, campaigns). Compliance officers build
    them too, and alone (with administrators) on the risk band, which is for compliance's use only."""
    from crm.models import RoleCode

    work = [
        "marketing.view_segment",
        "marketing.add_segment",
        "marketing.change_segment",
        "marketing.view_segmentsnapshot",
        "marketing.add_segmentsnapshot",
    ]
    risk = ["marketing.segment_on_risk_band"]
    # Campaigns: the marketing role writes and sends them (and sees their send jobs); compliance
    # officers read them and their results.
    campaigns = ["marketing.view_campaign", "marketing.add_campaign", "marketing.change_campaign",
                 "marketing.send_campaign"]
    # Sequences (drips): the marketing role writes, pauses and resumes them; compliance reads them.
    sequences = ["marketing.view_sequence", "marketing.add_sequence", "marketing.change_sequence"]
    # The suppression list: the marketing role adds and lifts; compliance reads it.
    suppressions = ["marketing.view_suppression", "marketing.add_suppression", "marketing.delete_suppression"]
    return {
        RoleCode.ADMIN: [*work, *risk, *campaigns, *sequences, *suppressions],
        RoleCode.COMPLIANCE: [*work, *risk, "marketing.view_campaign", "marketing.view_sequence",
                              "marketing.view_suppression"],
        RoleCode.MARKETING: [*work, *campaigns, *sequences, *suppressions, "crm.view_notification"],
    }


def _navigation() -> list[Any]:
    from django.utils.translation import gettext_lazy as _

    from crm.registry import NavItem

    return [
        NavItem(
            "marketing_segments",
            _("Marketing segments"),
            "marketing_segments",
            "users",
            permission="marketing.view_segment",
            order=300,
        ),
        NavItem(
            "marketing_campaigns",
            _("Marketing campaigns"),
            "marketing_campaigns",
            "mail",
            permission="marketing.view_campaign",
            order=301,
        ),
        NavItem(
            "marketing_sequences",
            _("Marketing sequences"),
            "marketing_sequences",
            "clock",
            permission="marketing.view_sequence",
            order=302,
        ),
        NavItem(
            "marketing_suppressions",
            _("Suppression list"),
            "marketing_suppressions",
            "slash",
            permission="marketing.view_suppression",
            order=303,
        ),
    ]
