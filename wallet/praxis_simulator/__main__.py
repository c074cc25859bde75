"""``python -m wallet.praxis_simulator --host 127.0.0.1 --port N``: run the Praxis Cashier simulator.

Prints one JSON line, ``{"event": "listening", "host": ..., "port": ..., "merchant_id": ...,
"config": ".../config.json"}``; the secrets are in the config file (written on first start with
``--state-dir``), not on stdout.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Any

from simkit import run

from .engine import Merchant
from .server import App, serve


def fresh_credentials() -> dict[str, Any]:
    """The credentials of a first start."""
    return {"merchant_id": "API-Demo-Merchant", "application_key": "demo-app-" + secrets.token_hex(4),
            "merchant_secret": secrets.token_urlsafe(24), "control_token": secrets.token_urlsafe(24)}


def merchant_config(state_dir: Path | None, **given: str | None) -> Merchant:
    """The merchant's credentials: ``config.json`` in ``state_dir`` (made on first start), the
    options given winning for this run."""
    data = run.state_credentials(state_dir, fresh_credentials, **given)
    return Merchant(merchant_id=str(data["merchant_id"]), application_key=str(data["application_key"]),
                    merchant_secret=str(data["merchant_secret"]), control_token=str(data["control_token"]))


def main(argv: list[str] | None = None) -> int:
    parser = run.arguments("python -m wallet.praxis_simulator", __doc__, port=8480)
    parser.add_argument("--state-dir", default="", help="where config.json is kept (none: credentials in memory)")
    parser.add_argument("--public-url", default="", help="base URL of the hosted pages (default http://host:port)")
    parser.add_argument("--merchant-id", default=None)
    parser.add_argument("--application-key", default=None)
    parser.add_argument("--merchant-secret", default=None)
    parser.add_argument("--control-token", default=None)
    run.webhook_arguments(parser)
    args = parser.parse_args(argv)
    state_dir = run.state_dir_of(args.state_dir)
    merchant = merchant_config(state_dir, merchant_id=args.merchant_id, application_key=args.application_key,
                               merchant_secret=args.merchant_secret, control_token=args.control_token)
    app = App(merchant, verbose=args.verbose, webhook_attempts=args.webhook_attempts,
              webhook_backoff=args.webhook_backoff)
    httpd = serve(app, args.host, args.port)
    app.engine.base_url = run.public_url(httpd, args.public_url)
    app.start_background()
    return run.serve_until_stopped(httpd, on_stop=app.stopping.set, announce={
        "merchant_id": merchant.merchant_id, "config": run.config_file(state_dir)})


if __name__ == "__main__":
    sys.exit(main())
