"""Access helpers of KYC: fetch and authorise in one call; missing and forbidden look the same.

A submission is visible to whoever can see its client (crm.permissions scope) and holds
"kyc.view_submission"; its documents to those who also hold "kyc.view_documents". For the staff who
see every client of their brands (compliance, administrators) the scope is a filter on the
submission's own brand column, so the queue is one index range however many clients there are.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from crm.exceptions import NotFound
from crm.models import User
from crm.permissions import client_queryset_for_user, code_or_404, user_can
from kyc.models import Document, Submission

VIEW = "kyc.view_submission"
REVIEW = "kyc.review_submission"
VIEW_DOCUMENTS = "kyc.view_documents"
APPROVE_HIGH_RISK = "kyc.approve_high_risk"
MANAGE_POLICY = "kyc.manage_policy"
VIEW_PROFILE = "kyc.view_kycprofile"
CHANGE_PROFILE = "kyc.change_kycprofile"


def _active(user: Any) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False) and user.is_active)


def submission_queryset_for_user(user: Any, *, perm: str = VIEW) -> QuerySet[Submission]:
    """Submissions of the clients `user` may see, if they hold `perm` (scoped in SQL)."""
    if not _active(user) or not user_can(user, perm):
        return Submission.objects.none()
    qs = Submission.objects.all()
    if user.is_administrator:
        return qs
    if user_can(user, "crm.view_all_clients"):
        if user.all_brands:
            return qs
        return qs.filter(brand_id__in=User.brands.through.objects.filter(user_id=user.pk).order_by()
                         .values("brand_id"))
    return qs.filter(client_id__in=client_queryset_for_user(user).order_by().values("pk"))


def submission_get_for_user(user: Any, code: Any, *, perm: str = VIEW, for_update: bool = False) -> Submission:
    qs = submission_queryset_for_user(user, perm=perm).select_related("client", "client__brand", "client__owner",
                                                                       "brand")
    if for_update:
        qs = qs.select_for_update(of=("self",))
    try:
        return qs.get(code=code_or_404(code))
    except Submission.DoesNotExist:
        raise NotFound() from None


def document_get_for_user(user: Any, code: Any) -> Document:
    """The document with `code` if `user` holds "kyc.view_documents" and sees its client."""
    if not user_can(user, VIEW_DOCUMENTS):
        raise NotFound()
    submissions = submission_queryset_for_user(user).order_by().values("pk")
    document = (Document.objects.select_related("client", "submission")
                .filter(code=code_or_404(code), submission_id__in=submissions).first())
    if document is None:
        raise NotFound()
    return document
