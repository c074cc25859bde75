"""What the demo set-up commands of the payment simulators share (``wallet_demo_setup`` for the
PSP's, ``wallet_praxis_demo_setup``, ``wallet_paysafe_demo_setup``, ``wallet_coinspaid_demo_setup``):
the options ``--port``, ``--state-dir`` and ``--wait``, the wait for the simulator to answer, its
credentials as it wrote them in ``<state-dir>/config.json``, and a setting posted to its control
API (where its notifications go)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from simkit.run import CONFIG_NAME, wait_for_health


def simulator_credentials(state_dir: Path) -> dict[str, Any]:
    """The simulator's credentials and control token, as it wrote them in ``<state_dir>/config.json``."""
    data: dict[str, Any] = json.loads((state_dir / CONFIG_NAME).read_text(encoding="utf-8"))
    return data


def simulator_control(sim_url: str, path: str, doc: dict[str, Any], *, control_token: str) -> None:
    """POST ``doc`` to the simulator's control API at ``path`` (``/_sim/...``); URLError or OSError
    when it refuses or cannot be reached."""
    request = urllib.request.Request(  # noqa: S310 - our loopback simulator
        sim_url.rstrip("/") + path, data=json.dumps(doc).encode(), method="POST",
        headers={"X-Sim-Token": control_token, "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:  # noqa: S310 - our loopback simulator
        answer.read()


class SimulatorSetupCommand(BaseCommand):
    """A set-up command of a payment simulator: ``simulator`` is its name in messages ("Paysafe"),
    ``default_port`` where ``make run`` starts it, ``state_name`` its state directory under the var
    directory."""

    simulator = ""
    default_port = 0
    state_name = ""

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--port", type=int, default=self.default_port)
        parser.add_argument("--state-dir", default="",
                            help=f"the simulator's state directory (default var/{self.state_name})")
        parser.add_argument("--wait", type=float, default=0, help="seconds to wait for the simulator to answer")

    def simulator_ready(self, options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The simulator's base URL and credentials, once it answers (within ``--wait`` seconds);
        CommandError when it does not, or its config cannot be read."""
        sim_url = f"http://127.0.0.1:{int(options['port'])}"
        state_dir = Path(options["state_dir"] or Path(settings.VAR_DIR) / self.state_name)
        if not wait_for_health(sim_url, timeout=float(options["wait"])):
            raise CommandError(f"The {self.simulator} simulator does not answer at {sim_url}.")
        try:
            config = simulator_credentials(state_dir)
        except (OSError, ValueError) as exc:
            raise CommandError(f"Cannot read the {self.simulator} simulator's config in {state_dir}: {exc}") from None
        return sim_url, config
