"""``python -m emails.twilio_simulator --host 127.0.0.1 --port N``: run the Twilio simulator.

Prints one JSON line, ``{"event": "listening", "host": ..., "port": ..., "account_sid": ...,
"from_number": ..., "config": ".../config.json"}``; the auth token and control token are in the
config file (written on first start with ``--state-dir``), not on stdout.
"""

from __future__ import annotations

import secrets
import sys
from pathlib import Path
from typing import Any

from simkit import run

from .engine import Account
from .server import App, serve


def fresh_credentials() -> dict[str, Any]:
    """The credentials of a first start."""
    return {"account_sid": "AC" + secrets.token_hex(16), "auth_token": secrets.token_hex(16),
            "from_number": "+15005550006", "control_token": secrets.token_urlsafe(24)}


def account_config(state_dir: Path | None, **given: str | None) -> Account:
    data = run.state_credentials(state_dir, fresh_credentials, **given)
    return Account(account_sid=str(data["account_sid"]), auth_token=str(data["auth_token"]),
                   from_number=str(data["from_number"]), control_token=str(data["control_token"]))


def main(argv: list[str] | None = None) -> int:
    parser = run.arguments("python -m emails.twilio_simulator", __doc__, port=8510)
    parser.add_argument("--state-dir", default="", help="where config.json is kept (none: credentials in memory)")
    parser.add_argument("--inbound-url", default="", help="where inbound messages go (also POST /_sim/config)")
    parser.add_argument("--step-seconds", type=float, default=1.0, help="between queued, sent and delivered")
    parser.add_argument("--account-sid", default=None)
    parser.add_argument("--auth-token", default=None)
    parser.add_argument("--from-number", default=None)
    parser.add_argument("--control-token", default=None)
    run.webhook_arguments(parser)
    args = parser.parse_args(argv)
    state_dir = run.state_dir_of(args.state_dir)
    account = account_config(state_dir, account_sid=args.account_sid, auth_token=args.auth_token,
                             from_number=args.from_number, control_token=args.control_token)
    app = App(account, verbose=args.verbose, webhook_attempts=args.webhook_attempts,
              webhook_backoff=args.webhook_backoff, step_seconds=args.step_seconds, inbound_url=args.inbound_url)
    httpd = serve(app, args.host, args.port)
    app.start_background()
    return run.serve_until_stopped(httpd, on_stop=app.stopping.set, announce={
        "account_sid": account.account_sid, "from_number": account.from_number, "config": run.config_file(state_dir)})


if __name__ == "__main__":
    sys.exit(main())
