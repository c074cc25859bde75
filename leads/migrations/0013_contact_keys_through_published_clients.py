"""The dedupe lookup reads clients through the core's published view (crm_public_clients, declared
in crm.selectors), not the core's table: the same function, arguments, rows and plan (the view is
inlined, so each key is still one probe of the lower(email) or reverse(phone) index)."""

from importlib import import_module

from django.db import migrations

FUNCTION = """
CREATE OR REPLACE FUNCTION leads_contact_keys_find(
    brand bigint, emails text[], phones text[], phones_reversed text[])
RETURNS TABLE (source integer, kind text, value text, client_id bigint, created timestamptz)
LANGUAGE sql STABLE AS $$
    -- Source 0: contact keys. Source 1: clients created without keys (by staff, by the API's
    -- client endpoint), through the lower(email) and reverse(phone) indexes behind the core's
    -- published clients; clients merged away (leads.services.merge's tag) are never matched. Each
    -- key is one index probe: OFFSET 0 keeps every subquery a per-key probe (no hash join over a
    -- scan of the table).
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
        SELECT cl.email, cl.id, cl.created_at FROM crm_public_clients cl
        WHERE lower(cl.email) = e.v AND cl.brand_id = brand AND NOT cl.tags @> ARRAY['merged']::varchar[]
        OFFSET 0) k
    UNION ALL
    SELECT 1, 'phone', k.phone::text, k.id::bigint, k.created_at
    FROM unnest(phones_reversed) AS p(v) CROSS JOIN LATERAL (
        SELECT cl.phone, cl.id, cl.created_at FROM crm_public_clients cl
        WHERE reverse(cl.phone) = p.v AND cl.brand_id = brand AND NOT cl.tags @> ARRAY['merged']::varchar[]
        OFFSET 0) k
$$;
"""

# 0009's definition.
PREVIOUS = import_module("leads.migrations.0009_contact_keys_probe_each").FUNCTION


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0017_published_views"),
        ("leads", "0012_lead_import_job"),
    ]

    operations = [migrations.RunSQL(FUNCTION, PREVIOUS)]
