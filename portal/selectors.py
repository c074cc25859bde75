"""Reads of the trader's room: the current consent documents, what a client has accepted, their accounts."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from django.conf import settings
from django.utils import timezone

from crm.lib.fieldcrypt import keyed_hashes
from crm.models import Brand, Client
from marketing.selectors import marketing_email_consent
from portal.models import AccountChoice, ClientLogin, ConsentDocument, ConsentKind, ConsentRecord


def login_find(*, brand: Brand, email: str) -> ClientLogin | None:
    """The brand's login of `email`, whatever its case or surrounding spaces (by its keyed hash, under
    every search key), or None."""
    hashes = keyed_hashes(email, kind="email")
    if not hashes:
        return None
    return (ClientLogin.objects.select_related("client", "brand")
            .filter(brand=brand, email_hash__in=hashes).first())


def documents_current(*, brand: Brand, language: str) -> dict[str, ConsentDocument]:
    """The latest published version of each kind, in `language` when it has one, else in the brand's
    language, else in English, else in any language."""
    now = timezone.now()
    preferred = [language, brand.default_language, settings.LANGUAGE_CODE]
    out: dict[str, ConsentDocument] = {}
    docs = list(ConsentDocument.objects.filter(brand=brand, published_at__lte=now).order_by("-published_at", "-id"))
    for kind in ConsentKind.values:
        of_kind = [d for d in docs if d.kind == kind]
        if not of_kind:
            continue
        version = of_kind[0].version
        same = [d for d in of_kind if d.version == version]
        out[kind] = next((d for lang in preferred for d in same if d.language == lang), same[0])
    return out


def consent_state(*, client: Client) -> dict[str, ConsentRecord]:
    """The client's latest decision per kind."""
    state: dict[str, ConsentRecord] = {}
    for record in ConsentRecord.objects.filter(client=client).order_by("-at", "-id"):
        state.setdefault(record.kind, record)
    return state


def consents_due(*, client: Client, language: str) -> list[ConsentDocument]:
    """Required documents (terms, privacy) whose current version the client has not accepted."""
    current = documents_current(brand=client.brand, language=language)
    state = consent_state(client=client)
    due = []
    for kind in (ConsentKind.TERMS, ConsentKind.PRIVACY):
        doc = current.get(kind)
        record = state.get(kind)
        if doc is not None and (record is None or not record.accepted or record.version != doc.version):
            due.append(doc)
    return due


def marketing_accepted(*, client: Client) -> bool:
    """Whether the client receives marketing email: marketing's own record of it (marketing.consent),
    which an unsubscribe link or the preference page changes as well as the room's profile."""
    return marketing_email_consent(client=client)


def trading_accounts(*, client: Client) -> list[Any]:
    """The client's open trading accounts (trading's own selector), for the dashboard."""
    from trading.selectors import accounts_for_client

    return [s.account for s in accounts_for_client(client=client, days=1) if not s.account.is_archived]


# --- the verification journey ------------------------------------------------------------------------

STEPS = ("address", "questionnaire", "documents", "status")


@dataclass(frozen=True)
class ExpiryWarning:
    kind: str  # DocumentKind value
    label: str
    expires_on: date


@dataclass
class Journey:
    """Where the client stands in the verification: what is done, what may be done now, and the step
    to show. `submission`: the latest one (None before the first)."""

    profile: Any
    submission: Any
    policy: Any
    questionnaire: Any  # the brand's published version, or None (no questionnaire step)
    response: Any  # the client's latest questionnaire response, or None
    warnings: list[ExpiryWarning] = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.profile.status)

    @property
    def address_done(self) -> bool:
        return bool(self.profile.address_line1 and self.profile.city and self.profile.country)

    @property
    def questionnaire_due(self) -> bool:
        return self.questionnaire is not None and self.response is None

    @property
    def info_requested(self) -> bool:
        return self.status == "pending" and self.submission is not None and self.submission.status == "info_requested"

    @property
    def checking(self) -> bool:
        return self.submission is not None and self.submission.status == "checking"

    @property
    def in_review(self) -> bool:
        return self.submission is not None and self.submission.status == "review"

    @property
    def open(self) -> bool:
        """The verification is not decided yet (the status partial keeps polling)."""
        return self.status == "pending" and (self.checking or self.in_review)

    @property
    def can_submit(self) -> bool:
        """Documents may be sent now (what kyc.services.submission_create allows)."""
        if self.status in ("unverified", "expired"):
            return True
        if self.status == "rejected":
            return bool(self.profile.can_resubmit)
        return self.info_requested

    @property
    def retryable(self) -> bool:
        return self.status == "rejected" and bool(self.profile.can_resubmit)

    @property
    def final(self) -> bool:
        return self.status == "rejected" and not self.profile.can_resubmit

    def step(self, asked: str = "") -> str:
        """The step to show: `asked` when it may be shown now, else the first one not done."""
        allowed = {"status"}
        if self.can_submit or self.submission is None:
            allowed.add("address")
        if self.questionnaire is not None:
            allowed.add("questionnaire")
        if self.can_submit and self.address_done:
            allowed.add("documents")
        if asked in allowed:
            return asked
        if not self.address_done and "address" in allowed:
            return "address"
        if self.questionnaire_due:
            return "questionnaire"
        if self.can_submit and self.status in ("unverified", "expired"):
            return "documents"
        return "status"


def _questionnaire(client: Client) -> tuple[Any, Any]:
    try:
        from kyc.selectors import questionnaire_current_for, questionnaire_latest_response
    except ImportError:  # the questionnaire is not installed
        return None, None
    return questionnaire_current_for(client=client), questionnaire_latest_response(client=client)


def expiry_warnings(*, client: Client, profile: Any, policy: Any, today: date | None = None) -> list[ExpiryWarning]:
    """The verified client's documents that run out within the brand's warning period (or have)."""
    from kyc.selectors import documents_expiring

    docs = documents_expiring(client=client, profile=profile, policy=policy, today=today or timezone.localdate())
    return [ExpiryWarning(kind=d.kind, label=str(d.get_kind_display()), expires_on=d.expires_on)
            for d in docs if d.expires_on is not None]


def kyc_journey(*, client: Client) -> Journey:
    """The client's verification journey, read in a handful of queries."""
    from kyc.selectors import kyc_policy_for, kyc_profile_for, submissions_for_client

    profile = kyc_profile_for(client=client)
    policy = kyc_policy_for(brand=client.brand)
    version, response = _questionnaire(client)
    journey = Journey(profile=profile, submission=submissions_for_client(client=client).first(), policy=policy,
                      questionnaire=version, response=response)
    journey.warnings = expiry_warnings(client=client, profile=profile, policy=policy)
    return journey


# --- accounts, sessions, notifications -------------------------------------------------------------------

SETTING_UP = "setting_up"
RETRYING = "retrying"
REFUSED = "refused"
WAITING = "waiting"


def live_account_setup(*, client: Client) -> str | None:
    """Whether the client's first live account is on its way: SETTING_UP (verified, the account not
    there yet), RETRYING (the platform failed it; the event delivery tries again), WAITING (the brand
    has no live trading server yet; it opens when one is added), REFUSED (the brand's policy refused
    it after the latest approval: live_account_refusal says why), or None (they have a live account,
    or are not verified)."""
    from crm.models import DeliveryStatus, EventDelivery
    from crm.selectors import client_verified
    from trading.selectors import has_live_account

    if not client_verified(client=client) or has_live_account(client=client):
        return None
    if live_account_refusal(client=client) is not None:
        return REFUSED
    from trading.selectors import account_offers

    if not account_offers(brand_id=client.brand_id, demo=False):
        return WAITING
    failed = EventDelivery.objects.filter(event__client=client, event__name="kyc.approved",
                                          handler="portal.handlers.first_live_account",
                                          status=DeliveryStatus.FAILED).exists()
    return RETRYING if failed else SETTING_UP


def live_account_refusal(*, client: Client) -> str | None:
    """Why the client's first live account was refused after their latest approval (the reason in
    their language), or None: not refused, or approved again since."""
    from crm.models import Event

    latest = (Event.objects.filter(client_id=client.pk, name__in=("kyc.approved", LIVE_ACCOUNT_REFUSED))
              .order_by("-occurred_at", "-id").values_list("name", "data").first())
    if latest is None or latest[0] != LIVE_ACCOUNT_REFUSED:
        return None
    return str((latest[1] or {}).get("reason") or "")


def live_offers(*, client: Client) -> list[Any]:
    """The live account types the client can open (offers_for)."""
    return offers_for(client=client, demo=False)


def demo_offers(*, client: Client) -> list[Any]:
    return offers_for(client=client, demo=True)


def account_choice(*, client: Client) -> Any:
    return chosen_offer(client=client)


def own_account(*, client: Client, code: str) -> Any:
    """One of the client's open trading accounts, or None (another client's, unknown, archived)."""
    from trading.permissions import trading_account_for_client

    return trading_account_for_client(client=client, code=code)


def sessions_for(*, login: ClientLogin) -> list[Any]:
    """The login's signed-in sessions not idle past SESSION_IDLE_TIMEOUT, most recently seen first."""
    from portal.models import PortalSession

    since = timezone.now() - settings.SESSION_IDLE_TIMEOUT
    return list(PortalSession.objects.filter(login=login, last_seen_at__gte=since))


def notifications_for(*, client: Client, limit: int = 100) -> list[Any]:
    from portal.models import Notification

    return list(Notification.objects.filter(client=client)[:limit])


def sign_ins_for_client(*, client: Client, limit: int = 50) -> list[Any]:
    """The client's trader's-room sessions (each a sign-in: when, from which IP, with which
    browser), newest first, for a compliance case. Sessions ended are gone (PortalSession)."""
    from portal.models import PortalSession

    return list(PortalSession.objects.filter(login__client=client).order_by("-signed_in_at", "-id")[:limit])


def clients_sharing_network(*, client: Client, limit: int = 20) -> list[tuple[int, str, str]]:
    """Other clients who signed in from an IP address or with a browser (user agent) this client
    used too: [(client id, "ip" or "device", the value)], in one query per kind."""
    from portal.models import PortalSession

    own = PortalSession.objects.filter(login__client=client)
    out: list[tuple[int, str, str]] = []
    for via, column in (("ip", "ip"), ("device", "user_agent")):
        values = own.exclude(**{f"{column}__isnull": True})
        if column == "user_agent":
            values = values.exclude(user_agent="")
        values = values.values(column)
        rows = (PortalSession.objects.filter(**{f"{column}__in": values}).exclude(login__client=client)
                .values_list("login__client_id", column).distinct().order_by("login__client_id")[:limit])
        out += [(client_id, via, str(value)) for client_id, value in rows]
    return out


# --- the account types a client may open (the trader's room, and the writes that check them) ------

LIVE_ACCOUNT_REFUSED = "portal.live_account_refused"


def questionnaire_cap(client: Client) -> int | None:
    """The leverage limit of the client's latest appropriateness result, or None (no questionnaire,
    no answer, or no cap from it). Trading holds the client to it too (its own copy, written when the
    result's event is delivered); reading it here as well keeps a late delivery from opening above it."""
    try:
        from kyc.selectors import questionnaire_latest_response
    except ImportError:  # the questionnaire is not installed
        return None
    response = questionnaire_latest_response(client=client)
    return response.max_leverage if response is not None else None


def offers_for(*, client: Client, demo: bool) -> list[Any]:
    """The account types (live, or demo with `demo`) the client may open: the brand's offers with at
    least one leverage within all the client's caps (leverages_for). The trader's room offers only
    these, so nobody chooses a type that cannot be opened for them."""
    from trading.selectors import account_offers

    return [o for o in account_offers(brand_id=client.brand_id, demo=demo, client=client)
            if leverages_for(client=client, offer=o)]


def chosen_offer(*, client: Client) -> Any:
    """The live offer the client chose (portal_account_choose), while the brand still offers it and
    the client can open it (offers_for)."""
    choice = AccountChoice.objects.filter(client=client).first()
    if choice is None:
        return None
    return next((o for o in offers_for(client=client, demo=False)
                 if o.server.pk == choice.server_id and o.account_type == choice.account_type), None)


def leverages_for(*, client: Client, offer: Any) -> list[int]:
    """The leverages the client may pick for `offer`: the type's, within the brand's ceiling, the cap
    rules and (live accounts) the questionnaire's limit."""
    from trading.services import allowed_leverages

    allowed = allowed_leverages(offer.server, offer.account_type, client=client)
    cap = None if offer.spec.get("demo") else questionnaire_cap(client)
    return [x for x in allowed if cap is None or x <= cap]
