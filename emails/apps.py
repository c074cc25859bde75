from __future__ import annotations

from django.apps import AppConfig


class EmailsConfig(AppConfig):
    name = "emails"
    verbose_name = "Emails"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        # The delivery task, and the composer's notice of a failed email to its author.
        from crm.models import RoleCode
        from crm.registry import ClientTab, NavItem, contribute
        from emails import composer, sms  # noqa: F401  (sms: its delivery task)
        from emails.services import EMAIL_TIMELINE
        from emails.views import email_tab_context

        contribute(
            "emails",
            permissions={RoleCode.ADMIN: ["emails.view_emailtemplate", "emails.add_emailtemplate",
                                          "emails.change_emailtemplate", "emails.manage_smsprovider"]},
            timeline=[*EMAIL_TIMELINE, *sms.SMS_TIMELINE],
            tabs=[ClientTab(key="email", label=_("Email"), template="emails/client_tab.html", order=35,
                            permission="crm.email_client", context=email_tab_context)],
            navigation=[NavItem("sms_providers", _("SMS providers"), "sms_provider_list", "settings",
                                permission="emails.manage_smsprovider", order=910)],
        )
