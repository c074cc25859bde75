"""Fill the dashboards' read models from the demo data (idempotent: a rebuild replaces what it
computes), so that `make run` shows the management dashboard with numbers at once; and say which
book the demo platforms' live groups are (through trading's service, only where none is said yet):
the commission account type's group is A-book (hedged), the others B-book, so that the broker's P/L
shows its A-book / B-book split."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from reports.services import rebuild_all

# The demo servers' live groups (trading_demo_setup's account types) and their book.
DEMO_BOOKS = {"real\\pro": "a", "real\\standard": "b", "real\\cent": "b", "real\\jpy": "b"}


def demo_books_set() -> int:
    """Set the demo groups' books where none is said; returns how many were set."""
    from crm.models import Brand
    from trading.selectors import server_list_for_system, trading_groups_of_server
    from trading.services import trading_group_book_set

    n = 0
    for brand in Brand.objects.order_by("id"):
        for server in server_list_for_system(brand_id=brand.pk):
            stated = {g["name"] for g in trading_groups_of_server(server) if g["book"]}
            for group, book in DEMO_BOOKS.items():
                if group not in stated:
                    trading_group_book_set(actor=None, server=server, group=group, book=book)
                    n += 1
    return n


class Command(BaseCommand):
    help = ("Say the demo platforms' groups' books and rebuild the reporting hub's figures from every event, deal "
            "and open position (the demo's, or any database's).")

    def handle(self, *args: Any, **options: Any) -> None:
        books = demo_books_set()
        days = rebuild_all()
        self.stdout.write(f"reports: {books} group books set; daily figures rebuilt for {days} days")
