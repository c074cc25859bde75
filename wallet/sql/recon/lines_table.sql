-- The file's lines as they are read (COPY), numbered from the lines table's own sequence, each of
-- the import and its brand (NULL: a house-wide provider).
CREATE TEMP TABLE recon_lines (
    id bigint NOT NULL DEFAULT nextval(pg_get_serial_sequence('wallet_settlementfileline', 'id')),
    row integer, provider_ref text, merchant_ref text, kind text, amount numeric, fee numeric, currency text,
    value_date date, batch_id text, state text NOT NULL DEFAULT 'open',
    settlement_id bigint NOT NULL DEFAULT {settlement}, brand_id bigint DEFAULT {brand}
)
