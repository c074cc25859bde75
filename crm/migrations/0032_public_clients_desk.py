"""crm_public_clients publishes the client's desk (appended: CREATE OR REPLACE VIEW keeps every
reader), for the read models that a desk manager's pages filter by desk (trading's retention
workspace)."""

from django.db import migrations

NEW_VIEW = """
CREATE OR REPLACE VIEW crm_public_clients AS
SELECT id, brand_id, country, email_hash, phone_hash, tags, created_at, desk_id
FROM crm_client;
"""

OLD_VIEW = """
DROP VIEW crm_public_clients;
CREATE VIEW crm_public_clients AS
SELECT id, brand_id, country, email_hash, phone_hash, tags, created_at
FROM crm_client;
"""


class Migration(migrations.Migration):
    dependencies = [("crm", "0031_audit_archive_anchor")]

    operations = [migrations.RunSQL(NEW_VIEW, OLD_VIEW)]
