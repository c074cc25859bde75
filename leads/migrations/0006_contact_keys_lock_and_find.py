"""One round trip for the intake's dedupe: lock the contact keys, then look them up (leads.dedupe)."""

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION leads_contact_keys_lock_and_find(
    lock_ids bigint[], brand bigint, key_values text[], emails text[], phones_reversed text[])
RETURNS TABLE (source integer, kind text, value text, client_id bigint, created timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- One lock per key, lowest id first (unnest keeps the array's order), held until commit.
    PERFORM count(pg_advisory_xact_lock(k)) FROM unnest(lock_ids) AS k;
    -- Statements of their own in a VOLATILE function: their snapshot is taken after the locks, so
    -- a submission that waited sees the client and keys the one before it committed.
    RETURN QUERY
        SELECT 0, c.kind::text, c.value::text, c.client_id::bigint, NULL::timestamptz
        FROM leads_contactkey c WHERE c.brand_id = brand AND c.value = ANY(key_values)
        UNION ALL
        SELECT 1, 'email', lower(cl.email)::text, cl.id::bigint, cl.created_at FROM crm_client cl
        WHERE cl.brand_id = brand AND lower(cl.email) = ANY(emails)
          AND NOT cl.tags @> ARRAY['merged']::varchar[]
        UNION ALL
        SELECT 1, 'phone', cl.phone::text, cl.id::bigint, cl.created_at FROM crm_client cl
        WHERE cl.brand_id = brand AND reverse(cl.phone) = ANY(phones_reversed)
          AND NOT cl.tags @> ARRAY['merged']::varchar[];
END
$$;
"""


class Migration(migrations.Migration):
    dependencies = [("leads", "0005_telephony_secret_encrypted"), ("crm", "0006_audit_chain_head")]

    operations = [
        migrations.RunSQL(FUNCTION, "DROP FUNCTION IF EXISTS leads_contact_keys_lock_and_find("
                                    "bigint[], bigint, text[], text[], text[]);"),
    ]
