"""A deal's market spread (issue 61, item 3): the spread (ask - bid, in price units) at the deal
when its source gives the spread rather than the bid and ask (a deal report's Spread column,
trading_import_deals), for the commission engine's spread basis. The published view of deals gains
it as its last column (CREATE OR REPLACE VIEW may only add columns at the end)."""

from django.db import migrations, models

VIEW = """
CREATE OR REPLACE VIEW trading_public_deals AS
SELECT id, server_id, account_id, position_id, time, kind, entry, side, symbol, volume,
       profit, commission, swap, fee, market_bid, market_ask, first_seen_at, updated_at, deleted_at,
       market_spread
FROM trading_deal;
"""

VIEW_BEFORE = """
DROP VIEW trading_public_deals;
CREATE VIEW trading_public_deals AS
SELECT id, server_id, account_id, position_id, time, kind, entry, side, symbol, volume,
       profit, commission, swap, fee, market_bid, market_ask, first_seen_at, updated_at, deleted_at
FROM trading_deal;
"""


class Migration(migrations.Migration):

    dependencies = [("trading", "0018_retention_desk")]

    operations = [
        migrations.AddField(
            model_name="deal",
            name="market_spread",
            field=models.DecimalField(blank=True, decimal_places=10, max_digits=24, null=True),
        ),
        migrations.RunSQL(VIEW, VIEW_BEFORE),
    ]
