"""Errors of the compliance services, with a code and a message for staff."""

from __future__ import annotations

from django.utils.translation import gettext

from crm.exceptions import NotAllowed
from crm.lib.errors import DomainError
from crm.lib.states import TransitionRefused


class WatchlistRefused(DomainError):
    """A list file that does not follow its layout: nothing of it was loaded."""

    default_code = "watchlist_refused"

    def __init__(self, message: str, *, source: str = "", line: int | None = None, field: str = "") -> None:
        super().__init__(message)
        self.source, self.line, self.field = source, line, field


class WatchlistGlobal(NotAllowed):
    """A load of a watchlist by someone who works for some brands only: a list is global (its load
    re-screens the clients of every brand), so it is an administrator's (or an all-brands officer's)."""

    default_code = "watchlist_global"

    def default_message(self) -> str:
        return gettext("Watchlists apply to the clients of every brand: only an administrator, or an officer who "
                       "works for every brand, can load one. Ask an administrator to load this version.")


class WatchlistUnknown(DomainError):
    default_code = "watchlist_unknown"
    status_code = 404


class HitDecisionRefused(DomainError):
    """A decision on a screening hit that its state does not allow (already decided, waiting for a
    second officer, or the same officer approving their own decision)."""

    default_code = "hit_decision_refused"
    status_code = 409


class HitTransitionRefused(HitDecisionRefused, TransitionRefused):
    """A screening hit's status may not move this way (compliance.models.HIT_STATES)."""

    default_code = "hit_decision_refused"


class JurisdictionFileRefused(DomainError):
    """A jurisdictions file that does not follow its layout: nothing of it was loaded."""

    default_code = "jurisdiction_file_refused"

    def __init__(self, message: str, *, line: int | None = None, field: str = "") -> None:
        super().__init__(message, fields={"file": [message]})
        self.line, self.field = line, field


class CaseRefused(DomainError):
    """A move of a compliance case that its state does not allow (a decision on a case not in review,
    the same officer approving their own proposal, a reopening too late or beside another open case)."""

    default_code = "case_refused"
    status_code = 409


class CaseTransitionRefused(CaseRefused, TransitionRefused):
    """A case's status may not move this way (compliance.models.CASE_STATES)."""

    default_code = "case_refused"


class AmlAlertTransitionRefused(TransitionRefused):
    """An AML alert's status may not move this way (compliance.models.AML_ALERT_STATES)."""

    default_code = "aml_alert_refused"


class DataRequestRefused(DomainError):
    """A step of a data-subject request that its state does not allow (an export of a refused request,
    a second open request of the same kind, a download of an archive not built yet)."""

    default_code = "data_request_refused"
    status_code = 409


class DataRequestTransitionRefused(DataRequestRefused, TransitionRefused):
    """A data-subject request's status may not move this way (compliance.data_request_models)."""

    default_code = "data_request_refused"


class ErasureRefused(DomainError):
    """An erasure that cannot proceed at all (an open case or alert, money still in the wallet, an open
    dispute or withdrawal): the message lists the reasons; nothing was changed."""

    default_code = "erasure_refused"
    status_code = 409
