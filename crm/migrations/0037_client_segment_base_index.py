"""An index for segment counts (issue 63): every segment, the sales desk's and marketing's, starts from
a brand's clients less the merged ones (plumbing.segments), and at a million clients reading their
rows' pages (wide: names, encrypted contacts) was most of a count. This index holds exactly those
clients, in id order, with the columns the client's own facts compare (language, stage, country,
registration, desk, owner), so a count reads the index alone (an index-only scan: the clients'
pages are all-visible once vacuumed) and joins other facts by id. Made concurrently: building it
must not stop clients being written."""

from django.db import migrations

FORWARD = """
CREATE INDEX CONCURRENTLY IF NOT EXISTS client_segment_base_idx ON crm_client (brand_id, id)
    INCLUDE (language, stage, country, created_at, desk_id, owner_id)
    WHERE NOT (tags @> ARRAY['merged']::varchar[]);
"""

BACKWARD = "DROP INDEX CONCURRENTLY IF EXISTS client_segment_base_idx;"


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY runs outside a transaction

    dependencies = [("crm", "0036_role_marketing_and_client_facts")]

    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
