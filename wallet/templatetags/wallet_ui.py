"""Template filters of the wallet's pages."""

from __future__ import annotations

from django import template

from wallet.selectors import kind_label

register = template.Library()


@register.filter
def ledger_kind(kind: str) -> str:
    """A ledger transaction's kind as the statements name it ("Deposit", "Transfer to trading")."""
    return kind_label(kind)
