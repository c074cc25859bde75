"""The accounts' published view gains each account's balance and equity as the state sync last read
them, and whether the account is archived (appended: CREATE OR REPLACE VIEW keeps every reader), for
marketing's segments ("balance at least 500 USD on live accounts")."""

from django.db import migrations

VIEW = """
CREATE OR REPLACE VIEW trading_public_accounts AS
SELECT a.id, a.server_id, a.client_id, a.account_type, a.currency, a.is_demo, COALESCE(g.book, '') AS book,
       a.balance, a.equity, a.is_archived
FROM trading_tradingaccount a
LEFT JOIN trading_tradinggroup g ON g.server_id = a.server_id AND g.name = a."group";
"""

VIEW_BEFORE = """
DROP VIEW trading_public_accounts;
CREATE VIEW trading_public_accounts AS
SELECT a.id, a.server_id, a.client_id, a.account_type, a.currency, a.is_demo, COALESCE(g.book, '') AS book
FROM trading_tradingaccount a
LEFT JOIN trading_tradinggroup g ON g.server_id = a.server_id AND g.name = a."group";
"""


class Migration(migrations.Migration):

    dependencies = [("trading", "0019_deal_market_spread")]

    operations = [migrations.RunSQL(VIEW, VIEW_BEFORE)]
