"""Who may do what in the trader's room.

The room is the client's own: every page needs the client's portal session
(`client_login_required`), most also a verified email address (`verified_email_required`), and
reads only that client's rows, found through the client the session belongs to, never through a
code in the URL alone: another client's account is missing (`own_account`: None, the page a 404).
Staff sessions are not room sessions. What a client may do beyond seeing their own (open an
account, deposit, withdraw, transfer) is decided by the domain services the room calls (kyc,
trading, wallet, compliance's restrictions), not here.
"""

from __future__ import annotations

from portal.auth import client_login_required, verified_email_required
from portal.selectors import own_account

__all__ = ["client_login_required", "own_account", "verified_email_required"]
