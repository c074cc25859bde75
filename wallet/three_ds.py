"""A card payment's 3-D Secure as its provider reported it, kept on the deposit
(``instructions["three_ds"]``, by wallet.deposits from each notification) and read back in words for
the deposit's page and a dispute's generated evidence (wallet.disputes)."""

from __future__ import annotations

from django.utils.translation import gettext

from wallet.models import Deposit

# What a provider's notification says of a card payment's 3-D Secure, as its adapter words it in
# ``raw["data"]["three_ds"]``: "frictionless" (authenticated with no challenge), "challenge" (the
# cardholder was sent to the issuer's challenge) or "failed" (not authenticated). Kept on the deposit
# (``instructions["three_ds"]``), a stronger word over a weaker one whatever order they come in.
THREE_DS_FACTS = ("frictionless", "challenge", "failed")


def deposit_three_ds(deposit: Deposit) -> str:
    """The deposit's 3-D Secure result as its provider reported it: "frictionless" or "challenge"
    (authenticated so: the payment went through after it), "not_authenticated", "challenge_pending"
    (sent to a challenge, no outcome yet) or "" (the provider said nothing)."""
    fact = str(deposit.instructions.get("three_ds") or "")
    if fact == "failed":
        return "not_authenticated"
    if fact == "challenge" and deposit.succeeded_at is None:
        return "challenge_pending"
    return fact if fact in THREE_DS_FACTS else ""


def three_ds_text(deposit: Deposit) -> str:
    """deposit_three_ds in words, as the deposit page and a dispute's evidence show it."""
    return {"frictionless": gettext("authenticated (frictionless)"),
            "challenge": gettext("authenticated (challenge)"),
            "not_authenticated": gettext("not authenticated"),
            "challenge_pending": gettext("sent to a challenge, no result yet"),
            }.get(deposit_three_ds(deposit), gettext("not reported by the provider"))


__all__ = ["THREE_DS_FACTS", "deposit_three_ds", "three_ds_text"]
