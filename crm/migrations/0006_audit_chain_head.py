"""One round trip for the audit writer's lock and read of the chain's head (crm.audit)."""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION crm_audit_chain_head(lock_key bigint, before_json text, after_json text, ip text)
RETURNS TABLE (prev text, before_db text, after_db text, ip_db inet)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- Held until commit: the next writer reads the head only after this transaction's row is visible.
    PERFORM pg_advisory_xact_lock(lock_key);
    -- A statement of its own in a VOLATILE function: its snapshot is taken after the lock was granted.
    RETURN QUERY SELECT (SELECT a.hash FROM crm_auditlog a ORDER BY a.id DESC LIMIT 1)::text,
        before_json::jsonb::text, after_json::jsonb::text, ip::inet;
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("crm", "0005_automation")]

    operations = [
        migrations.RunSQL(FUNCTION, "DROP FUNCTION IF EXISTS crm_audit_chain_head(bigint, text, text, text);"),
    ]
