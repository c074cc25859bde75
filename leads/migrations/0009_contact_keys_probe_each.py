"""The dedupe lookup probes the indexes once per key, whatever the planner thinks of the tables.

0007's lookup matched each table against the whole array of keys (`value = ANY(keys)`). For a
batch of a thousand leads, the planner priced a thousand index probes above one pass over the
table up to some hundred thousand contact keys, so a brand of mid size had every key and every
client read four times per batch (tens of milliseconds at thirty thousand clients, growing with
the brand), while the probes take a few milliseconds at any size. Each key now drives its own
probe (a LATERAL subquery the planner cannot flatten into a hash join): the cost is per key and
does not grow with the brand.

Same function, same arguments and rows; leads_contact_keys_lock_and_find calls it by name."""

from importlib import import_module

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION leads_contact_keys_find(
    brand bigint, emails text[], phones text[], phones_reversed text[])
RETURNS TABLE (source integer, kind text, value text, client_id bigint, created timestamptz)
LANGUAGE sql STABLE AS $$
    -- Source 0: contact keys. Source 1: clients created without keys (by staff, by the API's
    -- client endpoint), through the lower(email) and reverse(phone) indexes of crm_client;
    -- clients merged away are never matched. Each key is one index probe: OFFSET 0 keeps every
    -- subquery a per-key probe (no hash join over a scan of the table).
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
    SELECT 1, 'email', lower(k.email)::text, k.id::bigint, k.created_at
    FROM unnest(emails) AS e(v) CROSS JOIN LATERAL (
        SELECT cl.email, cl.id, cl.created_at FROM crm_client cl
        WHERE lower(cl.email) = e.v AND cl.brand_id = brand AND NOT cl.tags @> ARRAY['merged']::varchar[]
        OFFSET 0) k
    UNION ALL
    SELECT 1, 'phone', k.phone::text, k.id::bigint, k.created_at
    FROM unnest(phones_reversed) AS p(v) CROSS JOIN LATERAL (
        SELECT cl.phone, cl.id, cl.created_at FROM crm_client cl
        WHERE reverse(cl.phone) = p.v AND cl.brand_id = brand AND NOT cl.tags @> ARRAY['merged']::varchar[]
        OFFSET 0) k
$$;
"""

# 0007's definitions (the lock-and-find function is created again too; it is unchanged).
PREVIOUS = import_module("leads.migrations.0007_contact_keys_by_kind").FUNCTIONS


class Migration(migrations.Migration):
    dependencies = [("leads", "0008_drop_redundant_indexes")]

    operations = [migrations.RunSQL(FUNCTION, PREVIOUS)]
