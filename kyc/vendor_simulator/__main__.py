"""``python -m kyc.vendor_simulator --host 127.0.0.1 --port N``: run the KYC vendor simulator.

On start it prints one JSON line, e.g. ``{"event": "listening", "host": "127.0.0.1", "port": 8470}``,
so that a supervisor (or a test) learns the port (``--port 0`` picks a free one)."""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import sys
import threading
from types import FrameType

from .server import App, Config, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kyc.vendor_simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8470, help="0 picks a free port (printed on start)")
    parser.add_argument("--api-key", default="")
    parser.add_argument("--api-secret", default="")
    parser.add_argument("--webhook-secret", default="")
    parser.add_argument("--control-token", default="")
    parser.add_argument("--decision-seconds", type=float, default=1.0)
    parser.add_argument("--webhook-attempts", type=int, default=8)
    parser.add_argument("--webhook-backoff", type=float, default=1.0, help="seconds before the first retry; doubles")
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    config = Config(api_key=args.api_key or "kyck_" + secrets.token_hex(8),
                    api_secret=args.api_secret or secrets.token_urlsafe(24),
                    webhook_secret=args.webhook_secret or secrets.token_urlsafe(24),
                    control_token=args.control_token or secrets.token_urlsafe(24))
    app = App(config, decision_seconds=args.decision_seconds, webhook_attempts=args.webhook_attempts,
              webhook_backoff=args.webhook_backoff, verbose=args.verbose)
    httpd = serve(app, args.host, args.port)
    host, port = str(httpd.server_address[0]), int(httpd.server_address[1])
    app.start_background()

    def stop(signum: int, frame: FrameType | None) -> None:
        app.stopping.set()
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(json.dumps({"event": "listening", "host": host, "port": port, "api_key": config.api_key}), flush=True)
    try:
        httpd.serve_forever(poll_interval=0.05)
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
