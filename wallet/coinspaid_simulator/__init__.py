"""A stand-in for CoinsPaid: a separate process on loopback that the CRM reaches only through its
adapter (wallet.providers.coinspaid), speaking the protocol of CoinsPaid's API v2 as that adapter
does. It imports nothing of Django or the CRM (simkit for the server, the fault rules and the
callback sender).

Running it::

    python -m wallet.coinspaid_simulator --host 127.0.0.1 --port 8500 --state-dir var/coinspaidsim

prints ``{"event": "listening", "port": 8500, "api_key": ..., "config": ".../config.json"}``; the
API key, API secret and control token are in that file (or given with ``--api-key``,
``--api-secret``, ``--control-token``). The API lives under ``/api/v2``.

Merchant API (JSON; ``X-Processing-Key`` the API key, ``X-Processing-Signature`` the hex
HMAC-SHA512 of the raw body with the API secret; amounts are decimal strings)::

    POST /api/v2/addresses/take     currency, foreign_id[, convert_to, end_user_reference]
                                    -> {"data": {"id", "currency", "convert_to", "address", "tag", "foreign_id"}}
                                    (the same foreign_id and currency again: the same address)
    POST /api/v2/withdrawal/crypto  foreign_id, amount, currency, address[, tag, convert_to]
                                    -> {"data": {"id", "foreign_id", "type": "withdrawal", "status": "processing", ...}}
                                    (an address containing "fail" is cancelled by the network)
    GET  /api/v2/transactions/info  {"id"} or {"foreign_id"} -> the newest transaction (400: none)

Paying: a client sends crypto to an address from their own wallet. Here that is the test wallet
page (``/wallet``: pick an address, an amount and how the network behaves) or the control API's
``/_sim/pay``. Scenarios: ``confirm`` (confirmed at once: one callback), ``cancel`` (the network
drops it: one "cancelled" callback), ``slow`` (a "not_confirmed" callback, then confirmed or
cancelled by ``/_sim/confirm``), ``stuck`` (not confirmed until ``/_sim/confirm``). What arrives
is converted at the simulator's fixed rates (``RATES``) into the address's ``convert_to``.

Callbacks: a POST of the documented callback to the callback URL set in the merchant's settings
(``--callback-url`` or ``/_sim/settings``), signed like the requests; sent again with backoff
until a 2xx answer.

Control API (header ``X-Sim-Token``)::

    GET|POST /_sim/faults {"faults": [...]}   POST /_sim/faults/clear   (types in faults.py)
    POST /_sim/settings {"callback_url"}       the merchant's callback URL
    POST /_sim/pay {"address", "amount", "currency"?, "scenario"?, "riskscore"?}
    POST /_sim/confirm {"address", "approve": true}   a pending deposit to the address ends
    POST /_sim/notify_unknown {}               a signed callback for an address nobody asked for
    POST /_sim/webhooks/flush                  releases callbacks held for reordering
    GET  /_sim/webhooks                        every callback sent or pending
"""
