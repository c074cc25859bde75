"""Every write of lead acquisition, one module per entity:

    intake.py                lead_intake, lead_intake_batch: the form, the API and imports
    intake_rows.py           the bulk rows of the new people an intake brings (IntakeResult)
    intake_notifications.py  who hears of the leads one intake brought
    assignment.py            lead_reassign, lead_reassign_bulk
    first_contact.py         lead_mark_contacted, lead_sla_sweep (the first-contact SLA)
    queue.py                 lead_queue_route (queued leads to the agents who come on shift)
    merge.py                 client_merge
    campaigns.py             campaign_save
    scoring_rules.py         scoring_rule_save, scoring_rule_delete
    routing_rules.py         routing_rule_save, _delete, _move, routing_rules_reorder
    desk_slas.py             desk_sla_save
    availability.py          agent_availability_set
    common.py                what they share (text_field, references and links in events)

Other modules import from the package (`from leads.services import lead_intake`), which
re-exports each service. Spreadsheet imports are leads.imports; calls leads.calls; the pipeline
leads.pipeline; segments leads.segments.

Conventions as in crm.services: keyword-only, actor first, `actor=None` is the system (the form,
the API, tasks), ValidationFailed names each bad field, each change is audited.
"""

from leads.dedupe import contact_keys, contact_keys_sync, keys_lock_and_find
from leads.intake import IntakeMeta, lead_clean
from leads.models import Channel
from leads.services.assignment import lead_reassign, lead_reassign_bulk
from leads.services.availability import agent_availability_set
from leads.services.campaigns import campaign_save
from leads.services.common import text_field
from leads.services.desk_slas import desk_sla_save
from leads.services.erasure import calls_anonymise, lead_touches_anonymise
from leads.services.first_contact import lead_mark_contacted, lead_sla_sweep
from leads.services.intake import (
    MAX_BATCH,
    intake_refusal,
    lead_intake,
    lead_intake_batch,
    register_intake_check,
    unregister_intake_check,
)
from leads.services.intake_rows import IntakeResult
from leads.services.merge import client_merge
from leads.services.queue import lead_queue_route
from leads.services.routing_rules import (
    routing_rule_delete,
    routing_rule_move,
    routing_rule_save,
    routing_rules_reorder,
)
from leads.services.scoring_rules import scoring_rule_delete, scoring_rule_save

__all__ = [
    # another front door taking people in as leads (the trader's room's registration): the cleaning
    # and the contact keys the intake itself uses, and the channels
    "Channel", "IntakeMeta", "contact_keys", "contact_keys_sync", "keys_lock_and_find", "lead_clean",
    "MAX_BATCH", "IntakeResult", "agent_availability_set", "campaign_save", "client_merge", "desk_sla_save",
    "lead_intake", "lead_intake_batch", "lead_mark_contacted", "lead_queue_route", "lead_reassign", "lead_reassign_bulk",
    "lead_sla_sweep", "routing_rule_delete", "routing_rule_move", "routing_rule_save", "routing_rules_reorder",
    "scoring_rule_delete", "scoring_rule_save", "text_field",
    # how a higher app (compliance) refuses new people of a country outright
    "intake_refusal", "register_intake_check", "unregister_intake_check",
    # erasure of a person's data (compliance.erasure)
    "calls_anonymise", "lead_touches_anonymise",
]
