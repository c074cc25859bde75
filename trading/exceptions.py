"""Errors of the trading services, with a stable code and a message staff can act on."""

from __future__ import annotations

from django.utils.translation import gettext

from crm.exceptions import Conflict, DomainError, ValidationFailed
from crm.lib.states import TransitionRefused


class PlatformFailed(DomainError):
    """The trading platform refused the request or could not be reached; nothing was changed."""

    default_code = "platform_failed"
    status_code = 502

    def default_message(self) -> str:
        return gettext("The trading platform did not accept the request.")


class PlatformOutcomeUnknown(PlatformFailed):
    """The request reached the platform but no answer came back: it may have been applied.
    Check on the platform before trying again."""

    default_code = "platform_outcome_unknown"

    def default_message(self) -> str:
        return gettext("The trading platform did not answer; check the account before trying again.")


class PlatformUnsupportedAction(DomainError):
    """This server's platform (or adapter) cannot do this at all."""

    default_code = "platform_unsupported"
    status_code = 400

    def default_message(self) -> str:
        return gettext("This trading platform does not support that action.")


class BalanceOperationOpen(Conflict):
    """A withdrawal must wait while an earlier operation on the account is pending or unknown."""

    default_code = "balance_operation_open"

    def default_message(self) -> str:
        return gettext("An earlier balance operation on this account is still being confirmed; "
                       "withdrawals wait until it is settled.")


class CredentialsUnreadable(DomainError):
    """Stored credentials cannot be decrypted with any configured key."""

    default_code = "credentials_unreadable"
    status_code = 500

    def default_message(self) -> str:
        return gettext("The platform credentials cannot be decrypted; enter them again.")


class AccountOpeningRefused(Conflict):
    """The brand's policy does not allow a live account for this client yet (its stage, or no
    verification); the message says which rule and where the client stands. Nothing was opened."""

    default_code = "account_opening_refused"

    def default_message(self) -> str:
        return gettext("The brand's policy does not allow a live account for this client.")


class LeverageAboveCap(ValidationFailed):
    """The leverage asked for is above the client's cap; the message names the cap and its rule."""

    default_code = "leverage_above_cap"


class PasswordLinkUnusable(DomainError):
    """A trading password link that shows nothing: `code` says why ("password_link_used",
    "password_link_expired", "password_link_replaced", "password_link_unknown")."""

    default_code = "password_link_unknown"
    status_code = 410

    def default_message(self) -> str:
        return gettext("This link cannot show a password.")


class AccountClosed(Conflict):
    """The account was closed (the client's relationship ended): it takes no more money."""

    default_code = "account_closed"

    def default_message(self) -> str:
        return gettext("This trading account is closed: it takes no more deposits.")


class BalanceOperationTransitionRefused(TransitionRefused):
    """A balance operation's state may not move this way (trading.models.BALANCE_STATES)."""

    default_code = "balance_operation_transition_refused"


class ChallengeTransitionRefused(TransitionRefused):
    """A prop challenge's state may not move this way (trading.prop_models.CHALLENGE_STATES)."""

    default_code = "challenge_transition_refused"
