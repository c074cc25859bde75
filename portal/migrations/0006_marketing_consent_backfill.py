"""The room's marketing consents given before marketing kept its own (marketing.consent): each client's
latest marketing decision in the room becomes their marketing email decision, at the same moment, so
that campaigns reach those who accepted and no one who withdrew. From now on portal.services writes
both. A client who already has a marketing email decision is left as they are."""

from django.db import migrations


def backfill(apps, schema_editor):
    ConsentRecord = apps.get_model("portal", "ConsentRecord")
    ConsentDecision = apps.get_model("marketing", "ConsentDecision")
    decided = set(ConsentDecision.objects.filter(channel="email").values_list("client_id", flat=True))
    latest = (ConsentRecord.objects.filter(kind="marketing").order_by("client_id", "-at", "-id")
              .distinct("client_id").values_list("client_id", "accepted", "at", "ip"))
    rows = [ConsentDecision(client_id=client_id, channel="email", given=accepted, source="portal", at=at, ip=ip)
            for client_id, accepted, at, ip in latest.iterator(chunk_size=2000) if client_id not in decided]
    ConsentDecision.objects.bulk_create(rows, batch_size=2000)


class Migration(migrations.Migration):

    dependencies = [
        ('portal', '0005_login_email_encrypted'),
        ('marketing', '0002_consent_suppression'),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
