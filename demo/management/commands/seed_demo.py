"""`manage.py seed_demo`: load the demo brokerage once (see demo/__init__.py for what it contains).

Prints one line per demo login, `LOGIN <role_code> <email> <password>` (`make run` picks these
lines out of stdout), after a summary and a NOTE about two-factor login for the demo.
Running it again on a database that has the demo changes nothing and prints the logins again.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from demo.writer import DEFAULT_CLIENTS, DEFAULT_VIA_SERVICES, seed


class Command(BaseCommand):
    help = "Load demo brands, desks, staff and clients (once); print the demo logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--clients", type=int, default=DEFAULT_CLIENTS,
                            help=f"how many clients (default {DEFAULT_CLIENTS})")
        parser.add_argument("--via-services", type=int, default=DEFAULT_VIA_SERVICES,
                            help="how many of them go through the services one by one; the rest are "
                                 f"written in bulk (default {DEFAULT_VIA_SERVICES})")

    def handle(self, *args: Any, clients: int, via_services: int, verbosity: int = 1, **options: Any) -> None:
        if clients < 0 or via_services < 0:
            self.stderr.write("--clients and --via-services must not be negative.")
            raise SystemExit(2)

        def progress(message: str) -> None:
            if verbosity >= 2:
                self.stderr.write(f"seed_demo: {message}")

        result = seed(clients=clients, via_services=via_services, progress=progress)
        if result.created:
            counts = ", ".join(f"{value} {name}" for name, value in result.counts.items())
            self.stdout.write(f"Demo data loaded in {result.seconds:.1f} s: {counts} "
                              f"({result.via_services} clients through the services, the rest in bulk).")
            for note in result.notes:
                self.stdout.write(f"NOTE: {note}")
        else:
            self.stdout.write("Demo data is already present; nothing changed. The demo logins are:")
        for login in result.logins:
            self.stdout.write(f"LOGIN {login.role} {login.email} {login.password}")
