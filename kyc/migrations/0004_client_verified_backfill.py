"""The core's one verification state (crm.Client.verified_at) from what was there before it: for a
client with a KYC profile, its status (approved: verified since the approval; anything else: not
verified); for a client without one, what the core used to derive from the timeline (an approval or a
move to verified, not expired since)."""

from django.db import migrations

FROM_TIMELINE = """
UPDATE crm_client AS c SET verified_at = proof.at
FROM (
    SELECT DISTINCT ON (e.client_id) e.client_id, e.occurred_at AS at, e.id
    FROM crm_event AS e
    WHERE e.client_id IS NOT NULL
      AND (e.name = 'kyc.approved' OR (e.name = 'client.stage_changed' AND e.data->>'to' = 'verified'))
    ORDER BY e.client_id, e.occurred_at DESC, e.id DESC
) AS proof
WHERE c.id = proof.client_id
  AND NOT EXISTS (
    SELECT 1 FROM crm_event AS x
    WHERE x.client_id = proof.client_id AND x.name = 'kyc.expired'
      AND (x.occurred_at > proof.at OR (x.occurred_at = proof.at AND x.id > proof.id)))
"""

FROM_PROFILES = """
UPDATE crm_client AS c
SET verified_at = CASE WHEN p.status = 'approved'
                       THEN COALESCE(p.verified_at, p.status_changed_at, p.updated_at) END
FROM kyc_kycprofile AS p
WHERE p.client_id = c.id
"""


def backfill(apps, schema_editor):
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(FROM_TIMELINE)
        cursor.execute(FROM_PROFILES)


class Migration(migrations.Migration):

    dependencies = [
        ("crm", "0015_client_verified_at"),
        ("kyc", "0003_vendors"),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
