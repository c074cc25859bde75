"""Automation rules on the domain-event stream: when an event happens to a client of a brand and
the rule's conditions hold, run its actions (automation.services; the actions: automation.actions)."""
