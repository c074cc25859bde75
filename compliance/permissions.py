"""Who may do what in compliance: the permission each operation needs, and who may be given a case.

The permissions are Django model permissions held through the staff role's group (crm.permissions.user_can):

- Cases: CASE_VIEW to see the queue and a case (none of a case reaches the sales floor: tipping
  off); CASE_WORK to review, assign, write the narrative, decide, approve or send back, reopen, and
  to return an offboarded client's balance.
- Screening hits: HIT_VIEW to see them, HIT_DECIDE to confirm or clear (four-eyes for a confirmation).
- AML: AML_ALERT_VIEW and AML_ALERT_DECIDE for alerts; AML_RULE_VIEW and AML_RULE_EDIT for the rules.
- Restrictions: RESTRICTION_VIEW, RESTRICTION_IMPOSE, RESTRICTION_LIFT.
- Risk: RISK_VIEW a client's score, RISK_RECOMPUTE it, RISK_CONFIGURE the model.
- Jurisdictions: JURISDICTION_MANAGE the country rules.
- The audit trail: TRAIL_EXPORT.
- Data-subject requests (compliance.data_requests): DATA_REQUEST_VIEW to see them, DATA_REQUEST_RECORD to
  record one on a client's behalf, DATA_REQUEST_WORK to export, approve an erasure or refuse.
- The retention schedule (compliance.retention): RETENTION_VIEW to see the rules, the next run and the
  runs (those who see data-subject requests); RETENTION_MANAGE to change a rule or start a run (those who
  work them; a rule for every brand also needs an all-brands officer or an administrator).

Who may be given a case is defined once, here (`case_assignable`, `case_officers_for`): the
service that assigns, the case page's list of officers and the API all ask it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crm.permissions import client_visible_to, staff_of_brand, user_can

if TYPE_CHECKING:
    from compliance.models import Case
    from crm.models import User

CASE_VIEW = "compliance.view_case"
CASE_WORK = "compliance.change_case"
HIT_VIEW = "compliance.view_screeninghit"
HIT_DECIDE = "compliance.change_screeninghit"
AML_ALERT_VIEW = "compliance.view_amlalert"
AML_ALERT_DECIDE = "compliance.change_amlalert"
AML_RULE_VIEW = "compliance.view_amlrule"
AML_RULE_EDIT = "compliance.change_amlrule"
RESTRICTION_VIEW = "compliance.view_restriction"
RESTRICTION_IMPOSE = "compliance.add_restriction"
RESTRICTION_LIFT = "compliance.change_restriction"
RISK_VIEW = "compliance.view_riskscore"
RISK_RECOMPUTE = "compliance.change_riskscore"
RISK_CONFIGURE = "compliance.change_riskmodel"
JURISDICTION_MANAGE = "compliance.change_jurisdiction"
TRAIL_EXPORT = "compliance.add_trailexport"
DATA_REQUEST_VIEW = "compliance.view_datasubjectrequest"
DATA_REQUEST_RECORD = "compliance.add_datasubjectrequest"
DATA_REQUEST_WORK = "compliance.change_datasubjectrequest"
# The retention schedule is kept by the officers who answer data-subject requests: the same duty.
RETENTION_VIEW = DATA_REQUEST_VIEW
RETENTION_MANAGE = DATA_REQUEST_WORK


def case_assignable(*, case: Case, user: Any) -> bool:
    """Whether `user` may be given `case`: an active member of staff who may work cases (CASE_WORK)
    and whose scope includes the case's client (an officer of another brand may not)."""
    return user_can(user, CASE_WORK) and client_visible_to(user, case.client)


def case_officers_for(case: Case) -> list[User]:
    """Everyone who may be given `case` (case_assignable), by name."""
    candidates = staff_of_brand(case.client.brand_id, permission=CASE_WORK)
    found = [u for u in candidates if case_assignable(case=case, user=u)]
    return sorted(found, key=lambda u: (u.full_name, u.email, u.pk))
