"""Automation: rules administrators configure on the domain-event stream, and the engine.

A rule says: when event `trigger` happens to a client of the rule's brand (or `delay_hours`
after it, unless one of `cancel_on` happened to that client in between), and every condition
holds, run the actions in order (automation.actions). Every verdict is an AutomationRun row
saying what happened and why: fired (with each action's result), skipped (which condition
failed, or which guard stopped it), failed (which action, with the error; the run's other
actions are rolled back), scheduled, or cancelled (by which event).

    conditions.py  what a condition may read and how it holds (conditions_clean, conditions_evaluate)
    rules.py       rule_validate and the services: automation_rule_save, _set_active, _reorder, _move, _delete
    runner.py      the engine: automation_handle_event, automation_fire_due, the beat's automation_tick
    selectors.py   automation_rules, automation_run_list, known_event_names
    explain.py     conditions and runs as sentences (run_explanation)
    playbook.py    automation_seed_playbook: the brokers' usual rules and templates

The actions themselves are automation.actions; the subscription to the event stream is
automation.subscriber.
"""

from automation.conditions import CLIENT_FIELDS, OPERATORS, conditions_clean, conditions_evaluate
from automation.explain import action_status_label, check_text, condition_text, run_explanation
from automation.playbook import PlaybookReport, automation_seed_playbook
from automation.rules import (
    RuleValues,
    actions_clean,
    automation_rule_delete,
    automation_rule_move,
    automation_rule_reorder,
    automation_rule_save,
    automation_rule_set_active,
    rule_validate,
)
from automation.runner import automation_fire_due, automation_handle_event, automation_tick
from automation.selectors import automation_rules, automation_run_list, known_event_names

__all__ = [
    "CLIENT_FIELDS", "OPERATORS", "PlaybookReport", "RuleValues", "action_status_label", "actions_clean",
    "automation_fire_due", "automation_handle_event", "automation_rule_delete", "automation_rule_move",
    "automation_rule_reorder", "automation_rule_save", "automation_rule_set_active", "automation_rules",
    "automation_run_list", "automation_seed_playbook", "automation_tick", "check_text", "condition_text",
    "conditions_clean", "conditions_evaluate", "known_event_names", "rule_validate", "run_explanation",
]
