"""Active traders of every desk of a brand as rows of their own (desk_id -1, reports.models.ALL_DESKS):
the dashboard of all desks ORs those instead of every desk's. Filled here from the existing desk rows;
the refresh and the rebuild write them from now on."""

from django.db import migrations

ALL_DESKS = -1  # reports.models.ALL_DESKS, as it was when this migration was written

FILL = f"""
INSERT INTO reports_traderbitmap (day, brand_id, desk_id, chunk, bits)
SELECT day, brand_id, {ALL_DESKS}, chunk, bit_or(bits)
FROM reports_traderbitmap WHERE desk_id <> {ALL_DESKS}
GROUP BY day, brand_id, chunk
ON CONFLICT DO NOTHING
"""

EMPTY = f"DELETE FROM reports_traderbitmap WHERE desk_id = {ALL_DESKS}"


class Migration(migrations.Migration):

    dependencies = [
        ('reports', '0003_trader_bitmaps'),
    ]

    operations = [
        migrations.RunSQL(FILL, EMPTY),
    ]
