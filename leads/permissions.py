"""Who may do what with leads. Leads are clients at their first stages, so the rights are the core's
client permissions (crm.permissions: scope by book, desk and brand; "missing" and "forbidden" alike):

- CREATE a lead (the form, the lead API with a staff session, an import): "crm.add_client".
- WORK a lead (log a call, move it along the pipeline): "crm.change_client".
- ASSIGN leads (routing by hand, bulk assignment, segments' bulk actions, imports, merging
  duplicates): "crm.assign_client".
- REVEAL a lead's contact details: "crm.reveal_contact" (each reveal is logged).
"""

from __future__ import annotations

from typing import Any

from crm.permissions import user_can

CREATE = "crm.add_client"
WORK = "crm.change_client"
ASSIGN = "crm.assign_client"
REVEAL = "crm.reveal_contact"


def may_create_leads(user: Any) -> bool:
    return user_can(user, CREATE)


def may_work_leads(user: Any) -> bool:
    return user_can(user, WORK)


def may_assign_leads(user: Any) -> bool:
    """Whether `user` may give leads to agents (by hand, in bulk, by segment, by import) and merge them."""
    return user_can(user, ASSIGN)
