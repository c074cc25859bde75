"""``python -m wallet.psp_simulator --host 127.0.0.1 --port N``: run the PSP simulator.

On start it prints one JSON line, e.g. ``{"event": "listening", "host": "127.0.0.1", "port": 8460,
"config": "var/pspsim/config.json", "api_key": "pk_..."}``, so that a supervisor (or a test) learns
the port (``--port 0`` picks a free one). Secrets are in the config file, not on stdout.
"""

from __future__ import annotations

import datetime as dt
import sys

from simkit import run

from .config import load_or_create
from .server import App, serve


def main(argv: list[str] | None = None) -> int:
    parser = run.arguments("python -m wallet.psp_simulator", __doc__, port=8460)
    parser.add_argument("--state-dir", default="", help="config and persistent state (none: in memory only)")
    parser.add_argument("--public-url", default="", help="base URL of the checkout pages (default http://host:port)")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--api-secret", default=None)
    parser.add_argument("--webhook-secret", default=None)
    parser.add_argument("--control-token", default=None)
    parser.add_argument("--business-date", default=None, help="YYYY-MM-DD of a fresh state (default: today UTC)")
    run.webhook_arguments(parser)
    parser.add_argument("--crypto-confirm-seconds", type=float, default=2.0)
    args = parser.parse_args(argv)

    state_dir = run.state_dir_of(args.state_dir)
    config = load_or_create(state_dir, api_key=args.api_key, api_secret=args.api_secret,
                            webhook_secret=args.webhook_secret, control_token=args.control_token)
    today = dt.date.fromisoformat(args.business_date) if args.business_date else dt.datetime.now(dt.UTC).date()
    app = App(config, state_dir=state_dir, today=today, verbose=args.verbose,
              webhook_attempts=args.webhook_attempts, webhook_backoff=args.webhook_backoff,
              crypto_confirm_seconds=args.crypto_confirm_seconds)
    httpd = serve(app, args.host, args.port)
    app.engine.base_url = run.public_url(httpd, args.public_url)
    app.start_background()

    def save() -> None:
        with app.lock:
            app.engine.commit()

    return run.serve_until_stopped(httpd, on_stop=app.stopping.set, on_exit=save, announce={
        "api_key": config.api_key, "state_dir": str(state_dir or ""),
        "config": run.config_file(state_dir)})


if __name__ == "__main__":
    sys.exit(main())
