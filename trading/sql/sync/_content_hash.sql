-- trading.adapters.base.deal_content_hash, computed by the database (on its own core, while the
-- worker parses the next chunk): SHA-256 of the same fields joined by U+001F, each decimal in its
-- shortest plain form (trim_scale(x)::text is Decimal.normalize() formatted "f"; zero is "0").
-- tests/trading/test_sync_deals.py checks that both give the same digest.
encode(sha256(convert_to(concat_ws(chr(31), u.deal_id, u.login, u.platform_time_msc, u.action, u.entry,
    u.position_id, u.order_id, u.symbol, trim_scale(u.volume), trim_scale(u.price), trim_scale(u.profit),
    trim_scale(u.commission), trim_scale(u.swap), trim_scale(u.fee), u.comment, u.reason), 'UTF8')), 'hex')
