"""The views trading publishes for other apps' set-based SQL (declared in trading.selectors, under
"Published views"): deals, trading accounts and platform servers, one row per row of their table,
so that a reader's plan over a view is its plan over the table (PostgreSQL inlines them)."""

from django.db import migrations

VIEWS = """
CREATE VIEW trading_public_deals AS
SELECT id, server_id, account_id, position_id, time, kind, entry, side, symbol, volume,
       profit, commission, swap, fee, market_bid, market_ask, first_seen_at, updated_at, deleted_at
FROM trading_deal;

CREATE VIEW trading_public_accounts AS
SELECT id, server_id, client_id, account_type, currency, is_demo
FROM trading_tradingaccount;

CREATE VIEW trading_public_servers AS
SELECT id, brand_id
FROM trading_platformserver;
"""

DROP = """
DROP VIEW trading_public_servers;
DROP VIEW trading_public_accounts;
DROP VIEW trading_public_deals;
"""


class Migration(migrations.Migration):
    dependencies = [("trading", "0007_deal_money_columns")]

    operations = [migrations.RunSQL(VIEWS, DROP)]
