"""The views partners publish for other apps' set-based SQL (declared in ib.selectors, "Published
views"): partners (with their own client record, if any) and client attributions over time, one row
per row of their table. Monitoring's partner detectors read them."""

from django.db import migrations

VIEWS = """
CREATE VIEW ib_public_partners AS
SELECT id, code, brand_id, status, client_id, contact_email, created_at
FROM ib_partner;

CREATE VIEW ib_public_attributions AS
SELECT id, client_id, partner_id, effective_from, effective_to
FROM ib_clientattribution;
"""

DROP = """
DROP VIEW ib_public_attributions;
DROP VIEW ib_public_partners;
"""


class Migration(migrations.Migration):
    dependencies = [("ib", "0017_migration_knowledge_times")]

    operations = [migrations.RunSQL(VIEWS, DROP)]
