"""A stand-in for Praxis Cashier: a separate process on loopback that the CRM reaches only through
its adapter (wallet.providers.praxis), speaking the protocol of Praxis's API 1.3 as that adapter
does. It imports nothing of Django or the CRM (simkit for the server, the fault rules and the
webhook sender).

Running it::

    python -m wallet.praxis_simulator --host 127.0.0.1 --port 8480 --state-dir var/praxissim

prints ``{"event": "listening", "port": 8480, "merchant_id": ..., "config": ".../config.json"}``;
the merchant id, application key, merchant secret and control token are in that file (or given
with ``--merchant-id``, ``--application-key``, ``--merchant-secret``, ``--control-token``).

Merchant API (JSON; the ``GT-Authentication`` header: SHA-384 hex of the method's signed fields in
order, a null one skipped, followed by the merchant secret; amounts in minor units)::

    POST /cashier/cashier       intent "payment" or "withdrawal", order_id, cid, currency, amount ...
                                -> {"status": 0, "redirect_url": ".../hpp/<auth_token>", "session": {...}}
                                (the same order_id again answers the same session)
    POST /direct/refund         reference_id (the approved sale's tid), order_id, amount, currency
    POST /direct/card-token     transaction_type "payout", card_token, order_id, amount, currency
    POST /direct/wallet-token   the same with wallet_token
    POST /agent/find-order      order_id -> {"status": 0, "transactions": [...]} (status 1: no such order)

The hosted payment page (``/hpp/<auth_token>``) takes a card; the test cards are listed on it:
4111 1111 1111 1111 is approved, 4000 0000 0000 0002 rejected, 4000 0000 0000 3220 asks for a
3-D Secure step (approve or fail it on the next page), 4000 0000 0000 0259 stays pending (the
processor never answers: a time-out, which only a look-up or ``/_sim/complete`` ends). A
withdrawal session asks for the amount's destination card and is approved (a card token
containing "fail" is rejected).

The 3-D Secure card's sale is notified as Praxis documents it: ``pending_async`` (the status of a
card's client sent to 3-D Secure verification), then ``approved`` or ``rejected`` with
``status_details`` "3D Secure authentication failed". API 1.3 documents no field with the
authentication's result (no authenticated flag, ECI or liability shift), so none is sent.

Notifications: a POST of the documented notification to the session's ``notification_url``
with ``GT-Authentication`` over merchant_id, application_key, timestamp,
customer.customer_token, session.order_id, transaction.tid, transaction.currency,
transaction.amount, transaction.conversion_rate, transaction.processed_currency,
transaction.processed_amount; sent again with backoff until a 2xx answer.

Control API (header ``X-Sim-Token``)::

    GET|POST /_sim/faults {"faults": [...]}   POST /_sim/faults/clear   (types in faults.py)
    POST /_sim/chargeback {"order_id"}         the approved sale is charged back
    POST /_sim/complete {"order_id", "approve": true}   a pending (timed-out) sale ends
    POST /_sim/notify_unknown {"url"}          a signed notification for an order nobody asked for
    POST /_sim/webhooks/flush                  releases notifications held for reordering
    GET  /_sim/webhooks                        every notification sent or pending
"""
