"""``python -m trading.simulator --port N``: run the MT5 Web API simulator.

On start it prints one JSON line to stdout, e.g.
``{"event": "listening", "host": "127.0.0.1", "port": 8443, "ca_file": ".../cert.pem", ...}``,
so a supervisor (or a test) learns the port (use ``--port 0`` for a free one) and the certificate
to trust. Manager credentials and the control token are in ``<state-dir>/config.json``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from simkit.run import arguments, serve_until_stopped

from .config import CONFIG_NAME, load_or_create
from .face_table import FACES
from .server import App, serve
from .tls import ensure_certificate, server_context


def main(argv: list[str] | None = None) -> int:
    parser = arguments("python -m trading.simulator", __doc__, port=8443)
    parser.add_argument("--state-dir", default="var/mt5sim", help="certificate, config and persistent state")
    parser.add_argument(
        "--face", choices=sorted(FACES), default="mt5",
        help="the platform API to speak over the shared engine (cTrader and Match-Trader keep UTC server time)",
    )
    parser.add_argument("--seed", type=int, default=None, help="random seed of a fresh state")
    parser.add_argument(
        "--start-time", default=None, help="ISO UTC start of the simulated clock (fresh state)"
    )
    parser.add_argument(
        "--server-tz-offset", type=int, default=None, help="server time zone, minutes east of UTC"
    )
    parser.add_argument("--manager-login", type=int, default=None)
    parser.add_argument("--manager-password", default=None)
    parser.add_argument("--control-token", default=None)
    parser.add_argument(
        "--realtime",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="follow the wall clock, advancing every SECONDS (0: the clock moves only via /_sim/advance)",
    )
    parser.add_argument(
        "--session-idle-seconds", type=int, default=None, help="drop a session silent this long (default 180)"
    )
    parser.add_argument(
        "--challenge-seconds", type=float, default=None, help="drop an unanswered auth/start after this (default 10)"
    )
    parser.add_argument(
        "--max-sessions", type=int, default=None, help="sessions and pending challenges held at once (default 1024)"
    )
    args = parser.parse_args(argv)

    state_dir = Path(args.state_dir).resolve()
    config = load_or_create(
        state_dir,
        manager_login=args.manager_login,
        manager_password=args.manager_password,
        control_token=args.control_token,
        seed=args.seed,
        start_time=args.start_time,
        # cTrader and Match-Trader state UTC; MT5 servers run on the broker's wall clock.
        server_tz_offset_minutes=args.server_tz_offset if args.server_tz_offset is not None or args.face in ("mt5", "mt4bridge") else 0,
        session_idle_seconds=args.session_idle_seconds,
        challenge_seconds=args.challenge_seconds,
        max_sessions=args.max_sessions,
    )
    cert_path, key_path = ensure_certificate(state_dir)
    app = App(state_dir, config, verbose=args.verbose)
    httpd = serve(app, args.host, args.port, server_context(cert_path, key_path), FACES[args.face])
    if args.realtime > 0:
        app.start_realtime(args.realtime)

    def save() -> None:
        with app.lock:
            app.engine.commit()

    return serve_until_stopped(httpd, on_exit=save, announce={
        "ca_file": str(cert_path),
        "state_dir": str(state_dir),
        "config": str(state_dir / CONFIG_NAME),
        "manager_logins": [m.login for m in config.managers],
        "face": args.face,
    })


if __name__ == "__main__":
    sys.exit(main())
