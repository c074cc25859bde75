"""A MetaTrader 5 trade server stand-in that speaks the MT5 Web API (REST) over HTTPS.

It runs as its own process (``python -m trading.simulator --port N``), keeps its own state in a
directory (JSON snapshot plus an append-only deal log; no database) and imports nothing from
Django or the CRM: the CRM reaches it only through the same adapter it would use against a real
MT5 access server (trading.adapters.mt5_web). Modules:

* protocol.py  the wire facts (auth challenge, password hash, retcodes, string-typed numbers)
* server.py    HTTPS, sessions, the Web API routes, fault injection and the ``/_sim/`` control API
* engine.py    accounts, groups, positions, deals, margin, stop-out and the trader personas
* market.py    twenty symbols moving by a seeded random walk
* faults.py    the fault rules the control API installs
* store.py     atomic persistence
* config.py    managers, groups, server time zone, control token
* tls.py       the self-signed certificate made at first start

The HTTP server's plumbing, the fault rules' matching and the ``__main__`` loop are the simulators'
common ones (simkit).

Running it::

    python -m trading.simulator --port 8443 --state-dir var/mt5sim --realtime 1 \
        --manager-login 1000 --manager-password "$MT5SIM_PASSWORD" --control-token "$MT5SIM_TOKEN"

prints ``{"event": "listening", "port": 8443, "ca_file": "var/mt5sim/cert.pem", ...}``. Point an
``MT5WebAdapter`` at 127.0.0.1:8443 with ``ca_file`` set to that certificate and
``server_tz_offset_minutes`` to the simulator's (120 unless ``--server-tz-offset`` says otherwise).
Without ``--realtime`` the simulated clock only moves through the control API, which makes runs
reproducible for a seed. Control API examples (header ``X-Sim-Token``)::

    POST /_sim/seed     {"accounts": [{"persona": "scalper", "balance": "20000"},
                                      {"persona": "hedger", "pair_with": 2}, {"persona": "hedger"}]}
    POST /_sim/advance  {"ticks": 60}            (a tick is 60 simulated seconds) or {"seconds": 900}
    POST /_sim/faults   {"faults": [{"type": "timeout_after_apply", "path": "/api/trade/balance",
                                     "count": 1, "mode": "drop"}]}
    GET  /_sim/ground_truth                       every account, position and deal as the API shows them
    POST /_sim/restart                            drop sessions and connections, reload state from disk

Personas: ``dormant`` (never trades), ``scalper`` (many short trades), ``swing`` (few trades held for
hours to days), ``latency_arb`` (fills at the previous tick's price after a jump: deal price differs
from the market bid/ask recorded on the deal), ``hedger`` (paired with a partner account: opposite
legs of the same size at the same moment).
"""
