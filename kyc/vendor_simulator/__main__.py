"""``python -m kyc.vendor_simulator --host 127.0.0.1 --port N``: run the KYC vendor simulator.

On start it prints one JSON line, e.g. ``{"event": "listening", "host": "127.0.0.1", "port": 8470}``,
so that a supervisor (or a test) learns the port (``--port 0`` picks a free one)."""

from __future__ import annotations

import secrets
import sys

from simkit.run import arguments, serve_until_stopped, webhook_arguments

from .server import App, Config, serve


def main(argv: list[str] | None = None) -> int:
    parser = arguments("python -m kyc.vendor_simulator", __doc__, port=8470)
    parser.add_argument("--api-key", default="")
    parser.add_argument("--api-secret", default="")
    parser.add_argument("--webhook-secret", default="")
    parser.add_argument("--control-token", default="")
    parser.add_argument("--decision-seconds", type=float, default=1.0)
    webhook_arguments(parser)
    args = parser.parse_args(argv)
    config = Config(api_key=args.api_key or "kyck_" + secrets.token_hex(8),
                    api_secret=args.api_secret or secrets.token_urlsafe(24),
                    webhook_secret=args.webhook_secret or secrets.token_urlsafe(24),
                    control_token=args.control_token or secrets.token_urlsafe(24))
    app = App(config, decision_seconds=args.decision_seconds, webhook_attempts=args.webhook_attempts,
              webhook_backoff=args.webhook_backoff, verbose=args.verbose)
    httpd = serve(app, args.host, args.port)
    app.start_background()
    return serve_until_stopped(httpd, announce={"api_key": config.api_key}, on_stop=app.stopping.set)


if __name__ == "__main__":
    sys.exit(main())
