"""The view the core publishes of where clients and partners acted from (declared in crm.selectors,
"Published views"): the audited actions nobody on the staff took (a client's sign-in and registration,
a partner's own actions) that carry an IP, with the browser. Monitoring's multi-accounting and partner
detectors read it; nobody else names the audit log."""

from django.db import migrations

VIEW = """
CREATE VIEW crm_public_origins AS
SELECT a.id, a.at, a.action, a.object_type, a.object_id, c.id AS client_id, a.brand_id,
       host(a.ip) AS ip, a.user_agent
FROM crm_auditlog a
LEFT JOIN crm_client c ON a.object_type = 'crm.client' AND c.code::text = a.object_id
WHERE a.actor_id IS NULL AND a.ip IS NOT NULL;
"""


class Migration(migrations.Migration):
    dependencies = [("crm", "0021_staff_restriction")]

    operations = [migrations.RunSQL(VIEW, "DROP VIEW crm_public_origins;")]
