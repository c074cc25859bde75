"""Who may do what with the wallet's rows: the permission names, and helpers that fetch a row and
check the caller may see it in one call. "Missing" and "not allowed" look the same (NotFound).

The helpers live beside their rows (wallet.deposits, wallet.withdrawals, wallet.transfers,
wallet.reconciliation); this module is the door other apps and the wallet's pages use.
"""

from __future__ import annotations

from wallet.close import CLOSE_PERMISSION
from wallet.close import VIEW_PERMISSION as CLOSE_VIEW_PERMISSION
from wallet.deposits import DECIDE_HELD as DECIDE_HELD_PERMISSION
from wallet.deposits import deposit_for_client, deposit_get_for_user
from wallet.disputes import MANAGE_PERMISSION as DISPUTE_PERMISSION
from wallet.disputes import dispute_get_for_user
from wallet.reconciliation import (
    RECONCILE_PERMISSION,
    brand_scope,
    break_get_for_user,
    import_get_for_user,
    provider_get_for_user,
)
from wallet.transfers import transfer_get_for_client
from wallet.withdrawals import APPROVE_PERMISSION, withdrawal_get_for_client, withdrawal_get_for_user

__all__ = [
    # permission names (crm.permissions.user_can)
    "APPROVE_PERMISSION", "CLOSE_PERMISSION", "CLOSE_VIEW_PERMISSION", "DECIDE_HELD_PERMISSION",
    "DISPUTE_PERMISSION",
    "RECONCILE_PERMISSION",
    # a client's own rows (the trader's room)
    "deposit_for_client", "transfer_get_for_client", "withdrawal_get_for_client",
    # rows within a member of staff's scope
    "brand_scope", "break_get_for_user", "deposit_get_for_user", "dispute_get_for_user",
    "import_get_for_user", "provider_get_for_user",
    "withdrawal_get_for_user",
]
