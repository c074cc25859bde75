"""A KYC verification vendor stand-in: a separate process on loopback that the CRM reaches only
through its adapter (kyc.vendors.simulator), as it would a real vendor.

It imports nothing from Django or the CRM (its HTTP server, fault rules and webhook sender are the
simulators' common ones, simkit); state lives in memory. Running it::

    python -m kyc.vendor_simulator --host 127.0.0.1 --port 8470 --api-key K --api-secret S \\
        --webhook-secret W --control-token T

prints ``{"event": "listening", "host": "127.0.0.1", "port": 8470}`` (``--port 0`` picks a free port).

Vendor API (headers ``X-Api-Key``, ``X-Timestamp`` (Unix seconds) and ``X-Signature``: hex
HMAC-SHA256 with the API secret over ``"<timestamp>.<METHOD>.<path>.<body>"``)::

    POST /v1/applicants  {"external_id", "first_name", "last_name", "date_of_birth", "country", "address",
                          "email", "webhook_url", "documents": [{"kind", "side", "filename", "content_type",
                          "sha256", "data": base64}]}
                         -> {"id": "apl_...", "external_id", "status": "pending", "result": null}
                         (the same external_id again answers the same applicant: an idempotency reference)
    GET  /v1/applicants/<id>   -> the applicant; once decided "status": "completed" and "result":
                         {"answer": "approved|declined|manual_review", "reason", "sequence",
                          "checks": [{"type", "result": "clear|consider|unreadable", "details"}],
                          "document": {"document_number", "expiry_date", "document_type"}}

The decision comes ``--decision-seconds`` after the applicant is created: a first or last name
containing "DECLINE" is declined (a tampered document), "REVIEW" goes to manual review, anything else
is approved. Results are numbered per applicant (``sequence``): a changed result has a higher one.

Webhooks: POST to the applicant's ``webhook_url`` with headers ``X-Kyc-Event-Id``,
``X-Kyc-Timestamp`` and ``X-Kyc-Signature: sha256=<hex>`` (HMAC-SHA256 with the webhook secret over
``"<timestamp>.<body>"``); body ``{"id": "evt_...", "type": "applicant.reviewed" |
"applicant.result_changed", "created", "data": <the applicant>}``. Retried with exponential backoff
until a 2xx answer (at most ``--webhook-attempts``).

Control API (header ``X-Sim-Token``)::

    GET  /_sim/status                          counts
    GET|POST /_sim/faults  {"faults": [...]}   POST /_sim/faults/clear
    POST /_sim/applicants/<id>/result {"answer", "reason"}   a changed result (ongoing monitoring)
    GET  /_sim/webhooks                        every webhook sent or pending, with its body and attempts
    POST /_sim/webhooks/flush                  releases webhooks held for reordering

Faults (``type``, optional ``path`` prefix or ``"*"``, ``count``, ``skip``): ``http_error``
(``status``: the API answers it, nothing applied: downtime), ``latency`` (``seconds``),
``drop_webhooks``, ``duplicate_webhooks`` (``copies``), ``delay_webhooks`` (``seconds``),
``reorder_webhooks`` (held, then sent newest first once ``count`` are held or on flush),
``webhook_bad_signature``.
"""
