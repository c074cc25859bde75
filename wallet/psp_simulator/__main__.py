"""``python -m wallet.psp_simulator --host 127.0.0.1 --port N``: run the PSP simulator.

On start it prints one JSON line, e.g. ``{"event": "listening", "host": "127.0.0.1", "port": 8460,
"config": "var/pspsim/config.json", "api_key": "pk_..."}``, so that a supervisor (or a test) learns
the port (``--port 0`` picks a free one). Secrets are in the config file, not on stdout.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from .config import CONFIG_NAME, load_or_create
from .server import App, serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m wallet.psp_simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8460, help="0 picks a free port (printed on start)")
    parser.add_argument("--state-dir", default="", help="config and persistent state (none: in memory only)")
    parser.add_argument("--public-url", default="", help="base URL of the checkout pages (default http://host:port)")
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--api-secret", default=None)
    parser.add_argument("--webhook-secret", default=None)
    parser.add_argument("--control-token", default=None)
    parser.add_argument("--business-date", default=None, help="YYYY-MM-DD of a fresh state (default: today UTC)")
    parser.add_argument("--webhook-attempts", type=int, default=8)
    parser.add_argument("--webhook-backoff", type=float, default=1.0, help="seconds before the first retry; doubles")
    parser.add_argument("--crypto-confirm-seconds", type=float, default=2.0)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)

    state_dir = Path(args.state_dir).resolve() if args.state_dir else None
    config = load_or_create(state_dir, api_key=args.api_key, api_secret=args.api_secret,
                            webhook_secret=args.webhook_secret, control_token=args.control_token)
    today = dt.date.fromisoformat(args.business_date) if args.business_date else dt.datetime.now(dt.UTC).date()
    app = App(config, state_dir=state_dir, today=today, verbose=args.verbose,
              webhook_attempts=args.webhook_attempts, webhook_backoff=args.webhook_backoff,
              crypto_confirm_seconds=args.crypto_confirm_seconds)
    httpd = serve(app, args.host, args.port)
    host, port = str(httpd.server_address[0]), int(httpd.server_address[1])
    app.engine.base_url = args.public_url.rstrip("/") or f"http://{host}:{port}"
    app.start_background()

    def stop(signum: int, frame: FrameType | None) -> None:
        app.stopping.set()
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print(json.dumps({"event": "listening", "host": host, "port": port, "api_key": config.api_key,
                      "state_dir": str(state_dir or ""),
                      "config": str(state_dir / CONFIG_NAME) if state_dir else ""}), flush=True)
    try:
        httpd.serve_forever(poll_interval=0.05)
    finally:
        with app.lock:
            app.engine.commit()
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
