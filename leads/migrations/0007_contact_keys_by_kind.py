"""The dedupe lookup names each key's kind, so that every probe of leads_contactkey is an equality
on all three columns of its unique (brand, kind, value) index. Matching on the value alone left
the planner a choice between walking the brand's keys and its index; with a young table's
statistics it walked every key of the brand, several milliseconds per lead.

The lookup is one SQL function, leads_contact_keys_find, used by the batch lookup (leads.dedupe.
keys_find) and, after the locks, by leads_contact_keys_lock_and_find for a single lead."""

from importlib import import_module

from django.db import migrations

FUNCTIONS = """
CREATE OR REPLACE FUNCTION leads_contact_keys_find(
    brand bigint, emails text[], phones text[], phones_reversed text[])
RETURNS TABLE (source integer, kind text, value text, client_id bigint, created timestamptz)
LANGUAGE sql STABLE AS $$
    -- Source 0: contact keys (an index probe each). Source 1: clients created without keys (by
    -- staff, by the API's client endpoint), found through the lower(email) and reverse(phone)
    -- indexes of crm_client; clients merged away are never matched.
    SELECT 0, c.kind::text, c.value::text, c.client_id::bigint, NULL::timestamptz
    FROM leads_contactkey c WHERE c.brand_id = brand AND c.kind = 'email' AND c.value = ANY(emails)
    UNION ALL
    SELECT 0, c.kind::text, c.value::text, c.client_id::bigint, NULL::timestamptz
    FROM leads_contactkey c WHERE c.brand_id = brand AND c.kind = 'phone' AND c.value = ANY(phones)
    UNION ALL
    SELECT 1, 'email', lower(cl.email)::text, cl.id::bigint, cl.created_at FROM crm_client cl
    WHERE cl.brand_id = brand AND lower(cl.email) = ANY(emails) AND NOT cl.tags @> ARRAY['merged']::varchar[]
    UNION ALL
    SELECT 1, 'phone', cl.phone::text, cl.id::bigint, cl.created_at FROM crm_client cl
    WHERE cl.brand_id = brand AND reverse(cl.phone) = ANY(phones_reversed)
      AND NOT cl.tags @> ARRAY['merged']::varchar[]
$$;

DROP FUNCTION IF EXISTS leads_contact_keys_lock_and_find(bigint[], bigint, text[], text[], text[]);
CREATE FUNCTION leads_contact_keys_lock_and_find(
    lock_ids bigint[], brand bigint, emails text[], phones text[], phones_reversed text[])
RETURNS TABLE (source integer, kind text, value text, client_id bigint, created timestamptz)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- One lock per key, lowest id first (unnest keeps the array's order), held until commit.
    PERFORM count(pg_advisory_xact_lock(k)) FROM unnest(lock_ids) AS k;
    -- A statement of its own in a VOLATILE function: its snapshot is taken after the locks, so a
    -- submission that waited sees the client and keys the one before it committed.
    RETURN QUERY SELECT * FROM leads_contact_keys_find(brand, emails, phones, phones_reversed);
END
$$;
"""

# Back to 0006's definition (its parameters have other names: drop, then create).
PREVIOUS = """
DROP FUNCTION IF EXISTS leads_contact_keys_lock_and_find(bigint[], bigint, text[], text[], text[]);
DROP FUNCTION IF EXISTS leads_contact_keys_find(bigint, text[], text[], text[]);
""" + import_module("leads.migrations.0006_contact_keys_lock_and_find").FUNCTION


class Migration(migrations.Migration):
    dependencies = [("leads", "0006_contact_keys_lock_and_find")]

    operations = [migrations.RunSQL(FUNCTIONS, PREVIOUS)]
