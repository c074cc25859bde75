"""A payment service provider (PSP) stand-in: a separate process on loopback that the CRM reaches
only through its adapter (wallet.providers.simulator), as it would a real PSP.

It imports nothing from Django or the CRM. State lives in memory and, with ``--state-dir``, in a
JSON snapshot replaced atomically after every change. Modules:

* config.py   the merchant's credentials (API key and secret, webhook secret), control token, fees
* engine.py   payments, refunds, payouts and their batches, chargebacks, the outgoing webhooks, the
              daily settlement file
* faults.py   the fault rules the control API installs
* server.py   HTTP: the merchant REST API under ``/v1/``, the hosted checkout pages under
              ``/checkout/``, the control API under ``/_sim/``; a thread that delivers webhooks

The HTTP server, the fault rules and the webhook sender's loop are the simulators' common ones
(simkit).

Running it::

    python -m wallet.psp_simulator --host 127.0.0.1 --port 8460 --state-dir var/pspsim

prints ``{"event": "listening", "port": 8460, "config": "var/pspsim/config.json", ...}``; the
merchant credentials and the control token are in that file.

Merchant API (headers ``X-Api-Key``, ``X-Timestamp`` (Unix seconds) and ``X-Signature``: hex
HMAC-SHA256 with the API secret over ``"<timestamp>.<METHOD>.<path with query>.<body>"``)::

    POST /v1/payments   {"merchant_ref", "amount": "100.00", "currency", "method": "card|ewallet|crypto",
                         "return_url", "webhook_url", "customer": {...}}
                        -> {"id": "pay_...", "status": "created", "checkout_url": ".../checkout/pay_..."}
                        (the same merchant_ref again answers the same payment: an idempotency reference)
    GET  /v1/payments/<id>          GET /v1/payments?merchant_ref=...
    POST /v1/refunds    {"payment_id", "amount", "merchant_ref", "webhook_url"}
    POST /v1/payouts    {"merchant_ref", "amount", "currency", "method", "destination": {...}, "webhook_url"}
    GET  /v1/payouts/<id>           GET /v1/payouts?merchant_ref=...     GET /v1/refunds?merchant_ref=...
    GET  /v1/settlements/<YYYY-MM-DD>.csv

Test cards: 4242424242424242 succeeds, 4000000000000002 is declined, 4000000000003220 asks for a
3-D Secure step (approve or fail on the next page). E-wallet: an e-mail containing "decline" is
declined. Crypto: the payment waits for confirmations (``--crypto-confirm-seconds``), an address
containing "fail" fails. Payout destinations containing "fail" fail when the batch is processed.

Webhooks: POST to the payment's ``webhook_url`` with headers ``X-Psp-Event-Id``,
``X-Psp-Timestamp`` and ``X-Psp-Signature`` (hex HMAC-SHA256 with the webhook secret over
``"<timestamp>.<body>"``); retried with exponential backoff until a 2xx answer (at most
``--webhook-attempts``).

Control API (header ``X-Sim-Token``)::

    GET  /_sim/status                          counts, business date, pending webhooks
    GET|POST /_sim/faults  {"faults": [...]}   POST /_sim/faults/clear    (see faults.py)
    POST /_sim/chargeback  {"payment_id", "reason"}
    POST /_sim/payouts/process                 pending payouts succeed or fail, their batch closes
    POST /_sim/advance_day {"days": 1}         moves the business date (processes payouts first)
    POST /_sim/webhooks/flush                  releases webhooks held for reordering
    GET  /_sim/webhooks                        every webhook sent or pending, with its attempts
"""
