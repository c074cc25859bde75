COPY recon_lines (row, provider_ref, merchant_ref, kind, amount, fee, currency, value_date, batch_id) FROM STDIN
