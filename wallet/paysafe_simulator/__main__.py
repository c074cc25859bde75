"""``python -m wallet.paysafe_simulator --host 127.0.0.1 --port N``: run the Paysafe simulator.

Prints one JSON line, ``{"event": "listening", "host": ..., "port": ..., "api_user": ...,
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
    return {"api_user": "demo-merchant-" + secrets.token_hex(3), "api_password": "B-" + secrets.token_urlsafe(24),
            "hmac_key": secrets.token_urlsafe(24), "control_token": secrets.token_urlsafe(24)}


def merchant_config(state_dir: Path | None, **given: str | None) -> Merchant:
    """The merchant's credentials: ``config.json`` in ``state_dir`` (made on first start), the
    options given winning for this run."""
    data = run.state_credentials(state_dir, fresh_credentials, **given)
    return Merchant(api_user=str(data["api_user"]), api_password=str(data["api_password"]),
                    hmac_key=str(data["hmac_key"]), control_token=str(data["control_token"]))


def main(argv: list[str] | None = None) -> int:
    parser = run.arguments("python -m wallet.paysafe_simulator", __doc__, port=8490)
    parser.add_argument("--state-dir", default="", help="where config.json is kept (none: credentials in memory)")
    parser.add_argument("--public-url", default="", help="base URL of the wallet pages (default http://host:port)")
    parser.add_argument("--webhook-url", default="", help="where webhooks go (also POST /_sim/config)")
    parser.add_argument("--api-user", default=None)
    parser.add_argument("--api-password", default=None)
    parser.add_argument("--hmac-key", default=None)
    parser.add_argument("--control-token", default=None)
    run.webhook_arguments(parser)
    args = parser.parse_args(argv)
    state_dir = run.state_dir_of(args.state_dir)
    merchant = merchant_config(state_dir, api_user=args.api_user, api_password=args.api_password,
                               hmac_key=args.hmac_key, control_token=args.control_token)
    app = App(merchant, verbose=args.verbose, webhook_attempts=args.webhook_attempts,
              webhook_backoff=args.webhook_backoff, webhook_url=args.webhook_url)
    httpd = serve(app, args.host, args.port)
    app.engine.base_url = run.public_url(httpd, args.public_url)
    app.start_background()
    return run.serve_until_stopped(httpd, on_stop=app.stopping.set, announce={
        "api_user": merchant.api_user, "config": run.config_file(state_dir)})


if __name__ == "__main__":
    sys.exit(main())
