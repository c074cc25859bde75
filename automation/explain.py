"""Conditions, checks and runs as sentences for the run log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext

from automation.conditions import OPERATORS
from automation.models import AutomationRun


def _op_label(operator: str) -> str:
    return str(OPERATORS.get(operator, operator))


def _value_text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def condition_text(check: Mapping[str, Any]) -> str:
    """One condition as a sentence: "client.country is one of GB, FR"."""
    if check.get("operator") == "is_empty":
        text = gettext("is empty") if check.get("value", True) else gettext("is not empty")
        return f"{check.get('field')} {text}"
    return f"{check.get('field')} {_op_label(str(check.get('operator')))} {_value_text(check.get('value'))}"


def check_text(check: Mapping[str, Any]) -> str:
    """A failed or passed check with what was seen."""
    seen = gettext("missing") if check.get("missing") else repr(check.get("actual"))
    return gettext("%(condition)s — was %(seen)s") % {"condition": condition_text(check), "seen": seen}


def run_explanation(run: AutomationRun) -> str:
    """Why the run ended as it did, in one sentence in the reader's language."""
    why = run.why or {}
    reason = why.get("reason", "")
    params = why.get("params") or {}
    failed = [c for c in why.get("conditions", []) if not c.get("ok")]
    if reason == "conditions_failed" and failed:
        first = failed[0]
        return gettext("Condition %(n)d failed: %(check)s.") % {"n": first["index"] + 1, "check": check_text(first)}
    if reason == "conditions_failed_later" and failed:
        first = failed[0]
        return gettext("When due, condition %(n)d no longer held: %(check)s.") % {
            "n": first["index"] + 1, "check": check_text(first)}
    actions = why.get("actions") or []
    if reason == "fired":
        done = sum(1 for a in actions if a.get("status") == "done")
        skipped = sum(1 for a in actions if a.get("status") == "skipped")
        if skipped:
            first = next(a for a in actions if a.get("status") == "skipped")
            return gettext("All conditions held; %(done)d action(s) done, %(skipped)d skipped (%(why)s)") % {
                "done": done, "skipped": skipped, "why": first.get("detail") or first.get("type")}
        return gettext("All conditions held; %(done)d action(s) done.") % {"done": done}
    messages = {
        "scheduled": gettext("All conditions held; waiting %(hours)s hour(s).") % {
            "hours": params.get("delay_hours", "?")},
        "action_failed": gettext("Action %(n)s (%(type)s) failed; the other actions were rolled back.") % {
            "n": params.get("action", "?"), "type": params.get("type", "")},
        "cancelled_by_event": gettext("Cancelled: %(event)s happened first.") % {"event": params.get("event", "")},
        "rule_inactive": gettext("Cancelled: the rule was switched off before it was due."),
        "no_client": gettext("Skipped: the event has no client."),
        "loop_guard": gettext("Skipped: this rule already ran for this client in the same automation chain."),
        "max_depth": gettext("Skipped: the automation chain is too deep (%(depth)s).") % {
            "depth": params.get("depth", "?")},
        "stopped_by": gettext("Skipped: rule “%(rule)s” stops processing.") % {"rule": params.get("rule", "")},
    }
    return str(messages.get(reason, reason))


def action_status_label(status: str) -> str:
    return {
        "done": gettext("done"), "skipped": gettext("skipped"), "failed": gettext("failed"),
        "rolled_back": gettext("rolled back"), "not_run": gettext("not run"),
    }.get(status, status)
