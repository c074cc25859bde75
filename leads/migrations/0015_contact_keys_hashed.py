"""Contact keys are stored as keyed hashes (crm.lib.fieldcrypt.keyed_hash under the key ring's search
key), never in clear, and the lookup of clients created without keys matches the clients' keyed hashes
through the core's published view (crm 0026: the email and phone are encrypted in the client table).
The functions take the hashes of every wanted key under every search key.

Backward: the hashes cannot be opened; the keys are deleted (the lookup through the clients' own
contact details writes them again as leads arrive)."""

from importlib import import_module

from django.db import migrations

from crm.lib.fieldcrypt import keyed_hash

FUNCTIONS = """
DROP FUNCTION IF EXISTS leads_contact_keys_lock_and_find(bigint[], bigint, text[], text[], text[]);
DROP FUNCTION IF EXISTS leads_contact_keys_find(bigint, text[], text[], text[]);
CREATE FUNCTION leads_contact_keys_find(brand bigint, emails text[], phones text[])
RETURNS TABLE (source integer, kind text, value text, client_id bigint, created timestamptz)
LANGUAGE sql STABLE AS $$
    -- Source 0: contact keys. Source 1: clients created without keys (by staff, by the API's
    -- client endpoint), through the (email_hash, brand) and (phone_hash, brand) indexes behind the
    -- core's published clients; clients merged away (leads.services.merge's tag) are never matched.
    -- Every value is a keyed hash. Each one is an index probe: OFFSET 0 keeps every subquery a
    -- per-hash probe (no hash join over a scan of the table).
    SELECT 0, k.kind::text, k.value::text, k.client_id::bigint, NULL::timestamptz
    FROM unnest(emails) AS e(v) CROSS JOIN LATERAL (
        SELECT c.kind, c.value, c.client_id FROM leads_contactkey c
        WHERE c.brand_id = brand AND c.kind = 'email' AND c.value = e.v OFFSET 0) k
    UNION ALL
    SELECT 0, k.kind::text, k.value::text, k.client_id::bigint, NULL::timestamptz
    FROM unnest(phones) AS p(v) CROSS JOIN LATERAL (
        SELECT c.kind, c.value, c.client_id FROM leads_contactkey c
        WHERE c.brand_id = brand AND c.kind = 'phone' AND c.value = p.v OFFSET 0) k
    UNION ALL
    SELECT 1, 'email', k.email_hash::text, k.id::bigint, k.created_at
    FROM unnest(emails) AS e(v) CROSS JOIN LATERAL (
        SELECT cl.email_hash, cl.id, cl.created_at FROM crm_public_clients cl
        WHERE cl.email_hash = e.v AND cl.email_hash <> '' AND cl.brand_id = brand
          AND NOT cl.tags @> ARRAY['merged']::varchar[]
        OFFSET 0) k
    UNION ALL
    SELECT 1, 'phone', k.phone_hash::text, k.id::bigint, k.created_at
    FROM unnest(phones) AS p(v) CROSS JOIN LATERAL (
        SELECT cl.phone_hash, cl.id, cl.created_at FROM crm_public_clients cl
        WHERE cl.phone_hash = p.v AND cl.phone_hash <> '' AND cl.brand_id = brand
          AND NOT cl.tags @> ARRAY['merged']::varchar[]
        OFFSET 0) k
$$;
CREATE FUNCTION leads_contact_keys_lock_and_find(lock_ids bigint[], brand bigint, emails text[], phones text[])
RETURNS TABLE (source integer, kind text, value text, client_id bigint, created timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- One lock per key, lowest id first (unnest keeps the array's order), held until commit.
    PERFORM count(pg_advisory_xact_lock(k)) FROM unnest(lock_ids) AS k;
    -- A statement of its own in a VOLATILE function: its snapshot is taken after the locks, so a
    -- submission that waited sees the client and keys the one before it committed.
    RETURN QUERY SELECT * FROM leads_contact_keys_find(brand, emails, phones);
END
$$;
"""

# 0007's functions with 0013's lookup; their bodies name the view's old columns, which crm 0026's
# reversal (after this one's) brings back: not checked until then.
PREVIOUS = """
SET LOCAL check_function_bodies = off;
DROP FUNCTION IF EXISTS leads_contact_keys_lock_and_find(bigint[], bigint, text[], text[]);
DROP FUNCTION IF EXISTS leads_contact_keys_find(bigint, text[], text[]);
""" + import_module("leads.migrations.0007_contact_keys_by_kind").FUNCTIONS + \
    import_module("leads.migrations.0013_contact_keys_through_published_clients").FUNCTION


def hash_existing(apps, schema_editor):
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with schema_editor.connection.cursor() as cursor:
        last = 0
        while True:
            cursor.execute("SELECT id, kind, value FROM leads_contactkey WHERE id > %s ORDER BY id LIMIT 5000", [last])
            rows = cursor.fetchall()
            if not rows:
                return
            # A value already 64 hex digits is a hash (a run stopped half-way and started again).
            changed = [(pk, keyed_hash(value, kind=kind)) for pk, kind, value in rows
                       if not (len(value) == 64 and all(c in "0123456789abcdef" for c in value))]
            if changed:
                cursor.execute("UPDATE leads_contactkey c SET value = v.value FROM unnest(%s::bigint[], %s::text[]) "
                               "AS v(id, value) WHERE c.id = v.id", [[r[0] for r in changed], [r[1] for r in changed]])
            last = rows[-1][0]


def forget_hashed(apps, schema_editor):
    schema_editor.execute("DELETE FROM leads_contactkey")


class Migration(migrations.Migration):
    dependencies = [("leads", "0014_campaign_cost_money_columns"), ("crm", "0029_client_contact_encrypted")]

    operations = [
        migrations.RunPython(hash_existing, forget_hashed),
        migrations.RunSQL(FUNCTIONS, PREVIOUS),
    ]
