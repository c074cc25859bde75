"""The view the core publishes for other apps' set-based SQL (declared in crm.selectors, under
"Published views"): clients, one row per client, with the columns other apps join on or match by
(the lookups by lower-cased email and reversed phone use the client table's indexes through it)."""

from django.db import migrations

VIEWS = """
CREATE VIEW crm_public_clients AS
SELECT id, brand_id, country, email, phone, tags, created_at
FROM crm_client;
"""


class Migration(migrations.Migration):
    dependencies = [("crm", "0016_audit_sealed_in_batches")]

    operations = [migrations.RunSQL(VIEWS, "DROP VIEW crm_public_clients;")]
