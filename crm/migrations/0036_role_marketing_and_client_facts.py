"""The marketing role, and crm_public_clients publishes what marketing's segments filter clients on:
stage, language, owner, source and campaign (appended: CREATE OR REPLACE VIEW keeps every reader)."""

from django.db import migrations, models

ROLES = [('admin', 'Administrator'), ('desk_manager', 'Desk manager'), ('sales_agent', 'Sales agent'),
         ('retention_agent', 'Retention agent'), ('compliance', 'Compliance officer'), ('finance', 'Finance officer'),
         ('ib_manager', 'IB manager'), ('dealer', 'Dealer / risk'), ('support_agent', 'Support agent'),
         ('marketing', 'Marketing')]

NEW_VIEW = """
CREATE OR REPLACE VIEW crm_public_clients AS
SELECT id, brand_id, country, email_hash, phone_hash, tags, created_at, desk_id,
       stage, language, owner_id, source, campaign
FROM crm_client;
"""

OLD_VIEW = """
DROP VIEW crm_public_clients;
CREATE VIEW crm_public_clients AS
SELECT id, brand_id, country, email_hash, phone_hash, tags, created_at, desk_id
FROM crm_client;
"""


class Migration(migrations.Migration):
    dependencies = [("crm", "0035_role_support_agent")]

    operations = [
        migrations.AlterField(
            model_name="historicalrole",
            name="code",
            field=models.CharField(choices=ROLES, db_index=True, max_length=32),
        ),
        migrations.AlterField(
            model_name="role",
            name="code",
            field=models.CharField(choices=ROLES, max_length=32, unique=True),
        ),
        migrations.RunSQL(NEW_VIEW, OLD_VIEW),
    ]
