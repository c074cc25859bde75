from __future__ import annotations

from django.apps import AppConfig


class AutomationConfig(AppConfig):
    name = "automation"
    verbose_name = "Automation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from automation.selectors import catalogue_rule_listeners
        from crm.events.catalogue import rule_listeners_register
        from crm.models import RoleCode
        from crm.registry import NavItem, contribute

        actions = ("view", "add", "change", "delete")
        contribute(
            "automation",
            permissions={RoleCode.ADMIN: [*(f"automation.{a}_automationrule" for a in actions),
                                          "automation.view_automationrun"]},
            navigation=[
                NavItem("automation", _("Automation"), "automation_rule_list", "flag", admin_only=True, order=800),
                NavItem("email_templates", _("Email templates"), "email_template_list", "mail", admin_only=True,
                        order=810),
            ],
        )
        # A month of the event outbox is kept while runs scheduled on its events wait.
        from automation.selectors import automation_archive_check
        from crm.events import outbox_archive_guard

        outbox_archive_guard("scheduled automation runs", automation_archive_check)
        # The event catalogue lists the rules that listen to each event.
        rule_listeners_register(catalogue_rule_listeners)
        # The rules' subscription to the event stream, after every app's handlers (crm's ready found
        # those): a rule judges an event once the apps have acted on it.
        from automation import subscriber  # noqa: F401
