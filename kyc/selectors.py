"""Reads of KYC that views, the portal and other apps use; and the view KYC publishes for other
apps' set-based SQL (``PUBLISHED_VIEWS``, at the end)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.core.cache import cache
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Extract
from django.utils import timezone
from django.utils.translation import gettext

from crm.exceptions import NotFound
from crm.lib.aggregates import PercentileCont
from crm.lib.fieldcrypt import keyed_hashes
from crm.models import Brand, Client
from crm.permissions import code_or_404
from kyc.models import (
    Document,
    ExpiryHold,
    KycPolicy,
    KycProfile,
    KycStatus,
    Submission,
    SubmissionStatus,
)
from kyc.questionnaire import questionnaire_current_for as questionnaire_current_for  # re-exported
from kyc.questionnaire import questionnaire_latest_response as questionnaire_latest_response  # re-exported
from kyc.questionnaire import text_in as text_in  # re-exported: a questionnaire text in the reader's language
from plumbing.sqlviews import Column, PublishedView

QUEUE_PAGE_SIZE = 50
FIGURE_PERIODS = (7, 30, 90)


def kyc_policy_for(*, brand: Brand) -> KycPolicy:
    """The brand's policy, or an unsaved one with the defaults when it has none."""
    policy = KycPolicy.objects.filter(brand=brand).first()
    return policy if policy is not None else KycPolicy(brand=brand)


def kyc_profile_for(*, client: Client) -> KycProfile:
    """The client's KYC profile, or an unsaved unverified one."""
    profile = KycProfile.objects.filter(client=client).first()
    return profile if profile is not None else KycProfile(client=client)


def kyc_status(*, client: Client) -> str:
    return kyc_profile_for(client=client).status


def withdrawal_block(*, client: Client) -> str | None:
    """Why the client's withdrawals are held by KYC, or None: an expired verification holds them when
    the brand's policy says so (until the client is verified again)."""
    return _hold(client, ExpiryHold.WITHDRAWALS)


def deposit_block(*, client: Client) -> str | None:
    return _hold(client, ExpiryHold.DEPOSITS)


def _hold(client: Client, hold: str) -> str | None:
    profile = KycProfile.objects.filter(client=client).only("status").first()
    if profile is None or profile.status != KycStatus.EXPIRED:
        return None
    if hold not in kyc_policy_for(brand=client.brand).expiry_holds:
        return None
    return gettext("The client's verification has expired: %(what)s are held until the client is verified "
                   "again.") % {"what": str(ExpiryHold(hold).label).lower()}


def submissions_for_client(*, client: Client) -> QuerySet[Submission]:
    return (Submission.objects.filter(client=client).select_related("reviewer", "first_approval_by", "claimed_by")
            .order_by("-submitted_at", "-id"))


def document_for_client(*, client: Client, code: Any) -> Document:
    """The client's own document with `code` (for the trader's room); NotFound for anyone else's."""
    document = Document.objects.filter(client=client, code=code_or_404(code)).first()
    if document is None:
        raise NotFound()
    return document


def documents_for_client(*, client: Client) -> QuerySet[Document]:
    return Document.objects.filter(client=client).select_related("submission").order_by("-created_at", "-id")


def document_content(document: Document) -> bytes:
    """The stored bytes of one uploaded file (fetch it with document_for_client first)."""
    from kyc import storage

    return storage.file_read(document.storage_name)


def documents_expiring(*, client: Client, profile: KycProfile, policy: KycPolicy, today: date) -> list[Document]:
    """The verified (or expired) client's documents of their latest approved submission that run out
    within the brand's warning period from `today` (or have), soonest first; none for a client not
    verified."""
    if profile.status not in (KycStatus.APPROVED, KycStatus.EXPIRED):
        return []
    horizon = today + timedelta(days=policy.expiry_warning_days)
    docs = (Document.objects.filter(client=client, submission__status=SubmissionStatus.APPROVED,
                                    expires_on__isnull=False, expires_on__lte=horizon)
            .order_by("-submission__decided_at", "expires_on"))
    latest = docs.values_list("submission_id", flat=True).first()
    return [d for d in docs if d.submission_id == latest and d.expires_on is not None]


def questionnaire_answers(*, client: Client) -> dict[str, list[str]]:
    """The answers of the client's latest questionnaire response, {question code: [option codes]}
    (a single choice is a list of one); empty when the client has not answered. Compliance's risk score
    reads occupation, source of funds, income and wealth from here."""
    response = questionnaire_latest_response(client=client)
    if response is None or not isinstance(response.answers, dict):
        return {}
    return {str(k): [str(v) for v in (vs if isinstance(vs, list) else [vs])] for k, vs in response.answers.items()}


def documents_in_period(*, brand_id: int, client_id: int | None = None, start: Any = None,
                        end: Any = None) -> QuerySet[Document]:
    """The documents uploaded for the brand's clients (or one client's) from `start` (inclusive) to
    `end` (exclusive), oldest first, with their submission's status (the compliance trail export
    lists them and copies their files)."""
    qs = Document.objects.filter(client__brand_id=brand_id)
    if client_id is not None:
        qs = qs.filter(client_id=client_id)
    if start is not None:
        qs = qs.filter(created_at__gte=start)
    if end is not None:
        qs = qs.filter(created_at__lt=end)
    return qs.select_related("submission", "client").order_by("created_at", "id")


def open_submission(*, client: Client) -> Submission | None:
    return Submission.objects.filter(client=client, status__in=(SubmissionStatus.CHECKING,
                                                                 SubmissionStatus.REVIEW)).first()


# --- the review queue ----------------------------------------------------------------------------

def queue(*, submissions: QuerySet[Submission], claimed: str = "", user: Any = None) -> QuerySet[Submission]:
    """Submissions waiting for review among `submissions` (already scoped), by SLA: the one due
    soonest first. `claimed`: "mine", "unclaimed" or "" (all)."""
    qs = submissions.filter(_claimed_filter(claimed, user), status=SubmissionStatus.REVIEW)
    return (qs.select_related("client", "claimed_by", "first_approval_by")
            .only("code", "status", "submitted_at", "due_at", "high_risk", "problems", "first_approval_by",
                  "claimed_by", "resubmission_of_id", "brand_id",
                  "vendor", "vendor_reason", "client__code", "client__first_name", "client__last_name", "client__country",
                  "claimed_by__full_name", "claimed_by__email", "first_approval_by__full_name",
                  "first_approval_by__email")
            .order_by("due_at", "id"))


@dataclass(frozen=True)
class QueueFigures:
    days: int
    decided: int
    straight_through: int
    resubmissions: int
    waiting: int
    overdue: int
    median_hours: float | None
    p90_hours: float | None

    @property
    def straight_through_rate(self) -> float | None:
        return round(100.0 * self.straight_through / self.decided, 1) if self.decided else None


@dataclass(frozen=True)
class QueueCounts:
    """What waits now among the scoped submissions: all of it, how much is overdue, and how much the
    chosen `claimed` filter shows (the paginator's count)."""

    waiting: int
    overdue: int
    shown: int


# The period figures (decisions, percentiles, resubmissions) read every decision of the period: they
# are cached per scope and period for FIGURES_CACHE_SECONDS, and any decision or new arrival in the
# queue drops them all (queue_figures_changed bumps the version the keys carry).
FIGURES_CACHE_SECONDS = 60
_FIGURES_VERSION_KEY = "kyc:queue_figures:version"


def _claimed_filter(claimed: str, user: Any) -> Q:
    if claimed == "mine" and user is not None:
        return Q(claimed_by=user)
    if claimed == "unclaimed":
        return Q(claimed_by__isnull=True)
    return Q()


def queue_counts(*, submissions: QuerySet[Submission], claimed: str = "", user: Any = None) -> QueueCounts:
    """One read of the queue's partial index: waiting, overdue and the count the `claimed` filter shows."""
    now = timezone.now()
    shown = _claimed_filter(claimed, user)
    counts = submissions.filter(status=SubmissionStatus.REVIEW).order_by().aggregate(
        waiting=Count("id"), overdue=Count("id", filter=Q(due_at__lt=now)),
        shown=Count("id", filter=shown) if shown else Count("id"),
    )
    return QueueCounts(waiting=counts["waiting"], overdue=counts["overdue"], shown=counts["shown"])


def queue_figures_changed() -> None:
    """Drop every cached period figure (a submission was decided or joined the queue)."""
    try:
        cache.incr(_FIGURES_VERSION_KEY)
    except ValueError:
        cache.set(_FIGURES_VERSION_KEY, 1, timeout=None)


def _period_figures(submissions: QuerySet[Submission], days: int) -> dict[str, Any]:
    since = timezone.now() - timedelta(days=days)
    hours = Extract(F("decided_at") - F("submitted_at"), "epoch") / 3600.0
    in_period = Q(decided_at__gte=since)
    return submissions.filter(Q(decided_at__gte=since) | Q(submitted_at__gte=since)).order_by().aggregate(
        n=Count("id", filter=in_period),
        auto=Count("id", filter=in_period & Q(reviewer__isnull=True, status=SubmissionStatus.APPROVED)),
        median=PercentileCont(hours, 0.5, filter=in_period), p90=PercentileCont(hours, 0.9, filter=in_period),
        resubmitted=Count("id", filter=Q(submitted_at__gte=since, resubmission_of__isnull=False)),
    )


def _cached_period_figures(submissions: QuerySet[Submission], days: int) -> dict[str, Any]:
    # The scope is the scoped queryset's own SQL: the same for every all-brand user, per user otherwise.
    sql, params = submissions.order_by().values("id").query.sql_with_params()
    scope = hashlib.sha256(f"{sql}|{params!r}".encode()).hexdigest()[:24]
    version = cache.get(_FIGURES_VERSION_KEY, 0)
    key = f"kyc:queue_figures:{version}:{scope}:{days}"
    figures: dict[str, Any] | None = cache.get(key)
    if figures is None:
        figures = _period_figures(submissions, days)
        cache.set(key, figures, timeout=FIGURES_CACHE_SECONDS)
    return figures


def queue_figures(*, submissions: QuerySet[Submission], days: int, counts: QueueCounts | None = None,
                  cached: bool = False) -> QueueFigures:
    """Over the last `days`: how many were decided, how many of them by the automatic checks alone
    (straight through), the median and 90th percentile of the time from submission to decision,
    and how many submissions were resubmissions; with what waits now and how much of it is overdue
    (`counts` when the caller has read them already). `cached`: the period figures may be up to
    FIGURES_CACHE_SECONDS old (a decision drops them at once)."""
    period = _cached_period_figures(submissions, days) if cached else _period_figures(submissions, days)
    if counts is None:
        counts = queue_counts(submissions=submissions)
    return QueueFigures(days=days, decided=period["n"], straight_through=period["auto"],
                        resubmissions=period["resubmitted"], waiting=counts.waiting, overdue=counts.overdue,
                        median_hours=None if period["median"] is None else round(period["median"], 1),
                        p90_hours=None if period["p90"] is None else round(period["p90"], 1))


# --- published views --------------------------------------------------------------------------------
# What other apps' SQL may read of KYC (plumbing.sqlviews): created by kyc's migration 0005, checked
# by tests/kyc/test_published_views.py. Nobody else names KYC's tables.

APPROVALS_VIEW = PublishedView(
    name="kyc_public_approvals",
    purpose="Every moment a client's verification was approved (a client re-verified after an expiry "
            "has several; a later rejection or expiry does not remove one): what a CPA's "
            "\"KYC approved\" condition reads, as of a moment. One row per approval.",
    columns=(
        Column("client_id", "bigint", "the client (crm_public_clients.id)"),
        Column("approved_at", "timestamp with time zone", "when the approval was recorded"),
    ),
)

ADDRESSES_VIEW = PublishedView(
    name="kyc_public_addresses",
    purpose="Clients' addresses of residence as KYC holds them, as comparison keys (lower case; spaces, "
            "commas, dots and hyphens removed): two clients at one address have equal (line_key, "
            "postcode_key, country), as clients_sharing_address compares them. The first line is "
            "encrypted in its column: its key is a keyed hash, never the text. One row per client with a "
            "first address line and a postcode (kyc's migrations 0006, 0009).",
    columns=(
        Column("client_id", "bigint", "the client (crm_public_clients.id)"),
        Column("country", "character varying(2)", "ISO 3166-1 alpha-2; empty when unknown"),
        Column("line_key", "character varying(64)", "the keyed hash (HMAC-SHA256, hex) of the first address "
               "line, squeezed (plumbing.search_keys.address_line_key)"),
        Column("postcode_key", "text", "the postcode, squeezed"),
        Column("postcode", "character varying(20)", "the postcode as given (not personal enough to mask)"),
    ),
)

QUESTIONNAIRE_ANSWERS_VIEW = PublishedView(
    name="kyc_public_questionnaire_answers",
    purpose="What each client declared in the latest questionnaire response (the one that counts, as "
            "questionnaire_answers reads it): one row per question and chosen option (a multiple choice gives "
            "a row per option), so that compliance's AML rules compare deposits with the declared income and "
            "savings in one join. Option codes are the brand's questionnaire's (annual_income: 15k_50k, ...). "
            "A client who has not answered has no row (kyc's migration 0007).",
    columns=(
        Column("client_id", "bigint", "the client (crm_public_clients.id)"),
        Column("question", "text", "the question's code"),
        Column("option", "text", "a chosen option's code"),
        Column("submitted_at", "timestamp with time zone", "when the response was given"),
    ),
)

PUBLISHED_VIEWS = (APPROVALS_VIEW, ADDRESSES_VIEW, QUESTIONNAIRE_ANSWERS_VIEW)


def clients_sharing_address(*, client: Client, limit: int = 20) -> list[tuple[int, str]]:
    """Other clients whose address of residence is this client's: the first line, postcode and
    country, compared without case, spaces or punctuation (the first line by its keyed hash, under
    every search key: rows not yet hashed again after a key change are still found). [(client id,
    "postcode, country")], in one query (a compliance case shows them as related clients). Nothing
    for a client with no address."""
    from django.db.models import Value
    from django.db.models.functions import Lower, Replace

    def squeezed(field: str) -> Any:
        # Lower-case, then drop spaces, commas, dots and hyphens: "SW1A 1AA" == "sw1a-1aa"
        expression: Any = Lower(field)
        for mark in (" ", ",", ".", "-"):
            expression = Replace(expression, Value(mark), Value(""))
        return expression

    qs = KycProfile.objects.annotate(postcode_key=squeezed("postcode"))
    own = qs.filter(client=client).exclude(address_hash="").exclude(postcode="").first()
    if own is None:
        return []
    rows = (qs.filter(address_hash__in=keyed_hashes(own.address_line1, kind="address"),
                      postcode_key=own.postcode_key, country=own.country)
            .exclude(client=client).values_list("client_id", "postcode", "country").order_by("client_id")[:limit])
    return [(client_id, f"{postcode}, {country}") for client_id, postcode, country in rows]


def rejected_applicants_with_documents(*, brand_id: int, rejected_before: Any) -> list[int]:
    """Ids of the brand's clients whose verification stands rejected since before `rejected_before` and who
    still have documents on file: what the retention schedule removes (compliance.retention)."""
    return list(KycProfile.objects.filter(
        client__brand_id=brand_id, status=KycStatus.REJECTED, status_changed_at__lt=rejected_before,
        client_id__in=Document.objects.values("client_id")).values_list("client_id", flat=True))
