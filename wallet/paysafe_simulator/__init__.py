"""A stand-in for Paysafe's Payments API (Skrill and Neteller): a separate process on loopback that
the CRM reaches only through its adapter (wallet.providers.paysafe), speaking the ``/paymenthub/v1``
protocol as that adapter does. It imports nothing of Django or the CRM (simkit for the server, the
fault rules and the webhook sender).

Running it::

    python -m wallet.paysafe_simulator --host 127.0.0.1 --port 8490 --state-dir var/paysafesim

prints ``{"event": "listening", "port": 8490, "api_user": ..., "config": ".../config.json"}``; the
API key's user name and password, the webhook HMAC key and the control token are in that file (or
given with ``--api-user``, ``--api-password``, ``--hmac-key``, ``--control-token``). Webhooks go to
``--webhook-url`` (Paysafe's is set in its Business Portal; here also ``POST /_sim/config``).

Payments API (HTTP Basic with the API key; JSON; amounts in minor units)::

    POST /paymenthub/v1/paymenthandles     transactionType PAYMENT (-> INITIATED with a redirect_payment
                                           link) or STANDALONE_CREDIT (-> PAYABLE); the same
                                           merchantRefNum again answers the same handle
    POST /paymenthub/v1/payments           paymentHandleToken of a PAYABLE handle -> COMPLETED (or PENDING)
    POST /paymenthub/v1/settlements/<payment id>/refunds    merchantRefNum, amount
    POST /paymenthub/v1/standalonecredits  paymentHandleToken of a standalone credit handle
    GET  /paymenthub/v1/<paymenthandles|payments|refunds|standalonecredits>?merchantRefNum=...

The wallet's page (``/wallet/<paymentHandleToken>``) takes the wallet's e-mail: approve@wallet.test
(or any other) makes the handle PAYABLE, decline@wallet.test FAILED, verify@wallet.test asks for a
second step first (PROCESSING; approve or fail it on the next page), pending@wallet.test pays but
the payment stays PENDING until ``/_sim/complete``. A credit to an address containing "fail" fails.

Webhooks: a POST of ``{"id", "type", "eventType", "resourceId", "mode", "eventDate",
"attemptNumber", "payload"}`` with ``Signature``: base64 of HMAC-SHA256 of the raw body with the
HMAC key; sent again with backoff until a 2xx answer. Events: PAYMENT_HANDLE_PROCESSING, _PAYABLE,
_FAILED; PAYMENT_COMPLETED/_FAILED (a pending payment ending); REFUND_COMPLETED;
STANDALONE_CREDIT_COMPLETED/_FAILED.

Control API (header ``X-Sim-Token``)::

    GET|POST /_sim/faults {"faults": [...]}   POST /_sim/faults/clear   (types in faults.py)
    GET|POST /_sim/config {"webhook_url"}      where webhooks go
    POST /_sim/complete {"merchantRefNum", "approve": true}   a pending payment ends
    POST /_sim/notify_unknown {"url"}          a signed PAYMENT_COMPLETED nobody asked for
    POST /_sim/webhooks/flush                  releases webhooks held for reordering
    GET  /_sim/webhooks                        every webhook sent or pending
"""
