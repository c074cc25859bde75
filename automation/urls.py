"""Administrators' automation pages: rules, the run log, email templates."""

from __future__ import annotations

from django.urls import URLPattern, URLResolver, path

from automation import views as automation

urlpatterns: list[URLPattern | URLResolver] = [
    path("admin-tools/automation/", automation.automation_rule_list, name="automation_rule_list"),
    path("admin-tools/automation/new/", automation.automation_rule_create, name="automation_rule_create"),
    path("admin-tools/automation/playbook/", automation.automation_playbook_seed, name="automation_playbook_seed"),
    path("admin-tools/automation/runs/", automation.automation_run_list, name="automation_run_list"),
    path("admin-tools/automation/rows/condition/", automation.automation_condition_row,
         name="automation_condition_row"),
    path("admin-tools/automation/rows/action/", automation.automation_action_row, name="automation_action_row"),
    path("admin-tools/automation/<uuid:code>/", automation.automation_rule_edit, name="automation_rule_edit"),
    path("admin-tools/automation/<uuid:code>/active/", automation.automation_rule_toggle,
         name="automation_rule_toggle"),
    path("admin-tools/automation/<uuid:code>/move/", automation.automation_rule_move, name="automation_rule_move"),
    path("admin-tools/automation/<uuid:code>/delete/", automation.automation_rule_delete,
         name="automation_rule_delete"),
    path("admin-tools/email-templates/", automation.email_template_list, name="email_template_list"),
    path("admin-tools/email-templates/new/", automation.email_template_create, name="email_template_create"),
    path("admin-tools/email-templates/preview/", automation.email_template_preview, name="email_template_preview"),
    path("admin-tools/email-templates/preview/<str:token>/", automation.email_template_preview_frame,
         name="email_template_preview_frame"),
    path("admin-tools/email-templates/<uuid:code>/", automation.email_template_edit, name="email_template_edit"),
]
