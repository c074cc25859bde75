"""Who may do what in automation.

Rules are configured by administrators only: the pages (automation.views) are
crm.views.staff.administrator_required (anyone else gets a plain 404), and the services in
automation.rules refuse an actor without the model permission of the change: RULE_ADD to create a
rule (or seed the playbook), RULE_CHANGE to edit, switch on or off and reorder one, RULE_DELETE to
delete one. The run log is read on the same administrators' pages. Rules act as the system (actor
None), which no check refuses.
"""

from __future__ import annotations

RULE_ADD = "automation.add_automationrule"
RULE_CHANGE = "automation.change_automationrule"
RULE_DELETE = "automation.delete_automationrule"

