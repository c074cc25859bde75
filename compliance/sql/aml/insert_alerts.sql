-- Raising a rule's alerts: the rows its query found, one alert each, unless the rule has one for
-- the client with the same fingerprint (the same facts found again raise nothing). The fingerprint is what
-- compliance.aml.fingerprint_of computes: md5 of the sorted transaction ids joined by commas, then "|" and
-- the facts' fingerprint when the rule gives one.
WITH found AS ({found})
INSERT INTO compliance_amlalert (code, client_id, brand_id, rule_id, rule_version_id, score, fingerprint,
                                 transaction_ids, facts, summary, status, status_reason, created_at)
SELECT gen_random_uuid(), f.client_id, %(brand)s, %(rule)s, %(version)s, f.score,
       md5(array_to_string(f.transaction_ids, ',') || coalesce('|' || (f.facts ->> 'fingerprint'), '')),
       f.transaction_ids, f.facts, left(f.summary, 500),
       'open', '', now()
FROM found f
ON CONFLICT (rule_id, client_id, fingerprint) DO NOTHING
RETURNING id
