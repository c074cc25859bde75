"""``python -m wallet.paysafe_simulator --host 127.0.0.1 --port N``: run the Paysafe simulator.

Prints one JSON line, ``{"event": "listening", "host": ..., "port": ..., "api_user": ...,
"config": ".../config.json"}``; the secrets are in the config file (written on first start with
``--state-dir``), not on stdout.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from simkit.run import address, arguments, serve_until_stopped, webhook_arguments

from .engine import Merchant
from .server import App, serve

CONFIG_NAME = "config.json"


def merchant_config(state_dir: Path | None, **given: str | None) -> Merchant:
    """The merchant's credentials: ``config.json`` in ``state_dir`` (made on first start), the
    options given winning for this run."""
    path = state_dir / CONFIG_NAME if state_dir is not None else None
    data: dict[str, Any] = {}
    if path is not None and path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
    if not data:
        data = {"api_user": "demo-merchant-" + secrets.token_hex(3), "api_password": "B-" + secrets.token_urlsafe(24),
                "hmac_key": secrets.token_urlsafe(24), "control_token": secrets.token_urlsafe(24)}
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path.with_suffix(".tmp"), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2)
            os.replace(path.with_suffix(".tmp"), path)
    data.update({k: v for k, v in given.items() if v})
    return Merchant(api_user=str(data["api_user"]), api_password=str(data["api_password"]),
                    hmac_key=str(data["hmac_key"]), control_token=str(data["control_token"]))


def main(argv: list[str] | None = None) -> int:
    parser = arguments("python -m wallet.paysafe_simulator", __doc__, port=8490)
    parser.add_argument("--state-dir", default="", help="where config.json is kept (none: credentials in memory)")
    parser.add_argument("--public-url", default="", help="base URL of the wallet pages (default http://host:port)")
    parser.add_argument("--webhook-url", default="", help="where webhooks go (also POST /_sim/config)")
    parser.add_argument("--api-user", default=None)
    parser.add_argument("--api-password", default=None)
    parser.add_argument("--hmac-key", default=None)
    parser.add_argument("--control-token", default=None)
    webhook_arguments(parser)
    args = parser.parse_args(argv)
    state_dir = Path(args.state_dir).resolve() if args.state_dir else None
    merchant = merchant_config(state_dir, api_user=args.api_user, api_password=args.api_password,
                               hmac_key=args.hmac_key, control_token=args.control_token)
    app = App(merchant, verbose=args.verbose, webhook_attempts=args.webhook_attempts,
              webhook_backoff=args.webhook_backoff, webhook_url=args.webhook_url)
    httpd = serve(app, args.host, args.port)
    host, port = address(httpd)
    app.engine.base_url = args.public_url.rstrip("/") or f"http://{host}:{port}"
    app.start_background()
    return serve_until_stopped(httpd, on_stop=app.stopping.set, announce={
        "api_user": merchant.api_user, "config": str(state_dir / CONFIG_NAME) if state_dir else ""})


if __name__ == "__main__":
    sys.exit(main())
