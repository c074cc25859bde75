"""The sequences' demo for `make run` (called by manage.py marketing_seed_demo after the campaigns):
for each demo brand, a running "Verify your account" sequence (starts on registering, ends on
verification: reminders after one, three and seven days) with some of the brand's registered,
unverified clients enrolled at different moments in the past, and the steps that fell due since sent
as the minute's task sends them, so that its page shows clients at each step. Loaded once per brand."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from crm.models import Brand, Client, User
from marketing.demo import DEMO_BRANDS
from marketing.sequence_models import Sequence, SequenceGoal, SequenceTrigger
from marketing.sequences import StepText, sequence_enroll, sequence_save, sequences_send_due

NAME = "Verify your account"
STEPS = (
    StepText(
        24,
        "{{ client.first_name }}, one step left to trade at {{ brand.name }}",
        "Hello {{ client.first_name }},\n\nVerify your account to open a live account: a photo of your ID and a "
        "recent bill is all it takes.\n\nYour account manager, {{ owner.name }}\n\n"
        "No more of these: {{ unsubscribe_url }}",
    ),
    StepText(
        72,
        "Your {{ brand.name }} account is waiting",
        "Hi {{ client.first_name }},\n\nTwo documents and you are done. Most verifications take minutes.\n\n"
        "No more of these: {{ unsubscribe_url }}",
    ),
    StepText(
        168,
        "Last reminder: verify your account",
        "Hi {{ client.first_name }},\n\nThis is our last reminder. Verify whenever you are ready.\n\n"
        "No more of these: {{ unsubscribe_url }}",
    ),
)
# How long ago the demo's clients registered, in turn: waiting for the first step, past the first,
# past the second, and through all three.
AGES_HOURS = (6, 30, 90, 200)
ENROLLED = 16


def sequences_seed_demo(*, marketer: User, now: dt.datetime | None = None) -> list[Sequence]:
    """The demo sequences (see the module docstring); the ones created now."""
    now = now or timezone.now()
    created: list[Sequence] = []
    for brand in Brand.objects.filter(code__in=DEMO_BRANDS).order_by("code"):
        if Sequence.objects.filter(brand=brand, name=NAME).exists():
            continue
        sequence = sequence_save(
            actor=marketer,
            brand=brand,
            name=NAME,
            trigger=SequenceTrigger.REGISTERED,
            goal=SequenceGoal.KYC_VERIFIED,
            steps=STEPS,
        )
        ids = Client.objects.filter(brand=brand, stage="registered").order_by("id")
        for index, client_id in enumerate(ids.values_list("id", flat=True)[:ENROLLED]):
            started = now - dt.timedelta(hours=AGES_HOURS[index % len(AGES_HOURS)])
            sequence_enroll(sequence=sequence, client_id=client_id, at=started)
        created.append(sequence)
    if created:
        # A step per enrolment per run, as every minute: three runs catch up with the oldest.
        for _ in STEPS:
            sequences_send_due(now=now)
    return created
