INSERT INTO wallet_reconciliationbreak (code, kind, status, provider_id, brand_id, settlement_id, line_id,
                                        transaction_id, currency, provider_currency, provider_amount,
                                        ledger_amount, difference, provider_fee, ledger_fee, occurred_on,
                                        created_at, resolution, note)
