"""``python -m wallet.coinspaid_simulator --host 127.0.0.1 --port N``: run the CoinsPaid simulator.

Prints one JSON line, ``{"event": "listening", "host": ..., "port": ..., "api_key": ...,
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
    return {"api_key": "demo-" + secrets.token_hex(8), "api_secret": secrets.token_urlsafe(32),
            "control_token": secrets.token_urlsafe(24)}


def merchant_config(state_dir: Path | None, **given: str | None) -> Merchant:
    """The merchant's credentials: ``config.json`` in ``state_dir`` (made on first start), the
    options given winning for this run."""
    data = run.state_credentials(state_dir, fresh_credentials, **given)
    return Merchant(api_key=str(data["api_key"]), api_secret=str(data["api_secret"]),
                    control_token=str(data["control_token"]))


def main(argv: list[str] | None = None) -> int:
    parser = run.arguments("python -m wallet.coinspaid_simulator", __doc__, port=8500)
    parser.add_argument("--state-dir", default="", help="where config.json is kept (none: credentials in memory)")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--api-secret", default=None)
    parser.add_argument("--control-token", default=None)
    parser.add_argument("--callback-url", default="", help="the merchant's callback URL (also set by /_sim/settings)")
    run.webhook_arguments(parser)
    args = parser.parse_args(argv)
    state_dir = run.state_dir_of(args.state_dir)
    merchant = merchant_config(state_dir, api_key=args.api_key, api_secret=args.api_secret,
                               control_token=args.control_token)
    app = App(merchant, verbose=args.verbose, webhook_attempts=args.webhook_attempts,
              webhook_backoff=args.webhook_backoff, callback_url=args.callback_url)
    httpd = serve(app, args.host, args.port)
    app.start_background()
    return run.serve_until_stopped(httpd, on_stop=app.stopping.set, announce={
        "api_key": merchant.api_key, "config": run.config_file(state_dir)})


if __name__ == "__main__":
    sys.exit(main())
