"""A compliance case in progress for the demo (`manage.py compliance_seed_demo_cases`): the first
officer confirms one of the demo screening hits (a second officer approves, as its score requires),
the confirmed hit opens the client's case as the event handler would, and Karim Haddad, the second
compliance officer, has it in review with a note and a first narrative. AML alerts raised later by the
rules join the same case through the event "compliance.alert_raised".

Everything goes through the services: the case's steps, its audit rows and events are the product's."""

from __future__ import annotations

from django.db import transaction

from compliance.selectors import cases_exist, screening_queue
from compliance.services import (
    case_item_attach,
    case_narrative_set,
    case_note_add,
    case_review_start,
    screening_hit_approve,
    screening_hit_decide,
)
from crm.models import Brand, User
from demo.compliance import SECOND_OFFICER

NARRATIVE = ("The client registered with a name and date of birth matching a sanctions list entry; the match was "
             "confirmed by two officers. Deposits and withdrawals are frozen while the source of funds is reviewed.")


def compliance_seed_demo_cases(*, brand: Brand, officer: User | None) -> dict[str, int]:
    """One case in review for the second officer; nothing when a case already exists."""
    if cases_exist():
        return {}
    karim = User.objects.filter(email__iexact=SECOND_OFFICER[1]).first()
    if karim is None or officer is None or officer.pk == karim.pk:
        return {}
    hit = screening_queue(user=officer, status="open").filter(client__brand=brand).first()
    if hit is None:
        return {}
    with transaction.atomic():
        hit = screening_hit_decide(hit=hit, actor=officer, action="confirm",
                                   reason="Name, date of birth and country agree with the entry")
        if hit.status == "pending":  # at or above the high score: the second officer approves
            hit = screening_hit_approve(hit=hit, actor=karim)
        # What compliance.handlers.case_for_confirmed_hit does when the worker delivers the event (the
        # delivery later finds the item attached and changes nothing).
        item = case_item_attach(client=hit.client_id, kind="screening_hit", ref_id=str(hit.code),
                                summary=f"{hit.watchlist.name} {hit.ent_num}: {hit.matched_name}",
                                score=round(float(hit.score) * 100),
                                priority="critical" if hit.watchlist.kind == "sanctions" else "high")
        case = case_review_start(case=item.case, actor=karim)
        case_note_add(case=case, actor=karim, body="Asked the client for proof of address and source of funds.")
        case_narrative_set(case=case, actor=karim, narrative=NARRATIVE)
    return {"cases": 1}
