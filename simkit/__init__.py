"""What the simulators of outside systems share: the MT5 trade server (trading.simulator), the
payment providers (wallet.psp_simulator, wallet.praxis_simulator, wallet.paysafe_simulator,
wallet.coinspaid_simulator) and the KYC vendor (kyc.vendor_simulator).

Each simulator is its own process, started beside the CRM and reached only over a socket, as the
real system would be. So this package is standard library only and imports nothing of Django or
the CRM (an import-linter contract in pyproject.toml holds it and the simulators to that):

* http.py    the threaded HTTP server, the request handler's plumbing (body, JSON answers, the
             injected latency and HTTP errors) and the one POST of a signed webhook
* faults.py  fault rules: parsed from the control API's JSON, matched by path, counted as they fire
* app.py     the state a simulator's handlers share (lock, wake-up, stop) and the thread that
             delivers its webhooks with retries
* run.py     the command line's common options and the ``__main__`` loop: print one "listening"
             JSON line, serve until SIGTERM or SIGINT, then close; the credentials a simulator
             keeps in its state directory (``state_credentials``); and how a set-up command
             waits for a simulator to answer (``wait_for_health``)
* provider.py the skeleton of a payment provider's simulator (the PSP's, Praxis's, Paysafe's,
             CoinsPaid's): an app around an engine that keeps its notifications (and the
             outbox that keeps them: queued as the fault plan says, retried with backoff), a
             handler that answers the health check
             and the control API and leaves the provider's own paths to the simulator, the
             hosted pages' HTML
"""
