"""The appropriateness questionnaire of a brand (MiFID II art. 25(3) style): versions of questions
on experience, knowledge and financial situation, and the clients' scored responses.

A version's `content` is JSON validated by kyc.questionnaire.content_clean (sections, questions,
options with scores, knock-out options, scoring bands, warnings). A published version never
changes: editing makes a new draft, publishing retires the version published before. A response
keeps the answers, the score and what they led to (level, leverage limit, warnings) as they were
when it was given, so a later version does not rewrite an earlier assessment.
"""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from crm.lib.states import StateMachine
from kyc.exceptions import QuestionnaireVersionTransitionRefused
from plumbing.context import history_user


class VersionStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    PUBLISHED = "published", _("Published")
    RETIRED = "retired", _("Retired")


class AppropriatenessLevel(models.TextChoices):
    APPROPRIATE = "appropriate", _("Appropriate")
    WITH_WARNING = "appropriate_with_warning", _("Appropriate with a warning")
    NOT_APPROPRIATE = "not_appropriate", _("Not appropriate")


class Questionnaire(models.Model):
    """A brand's appropriateness questionnaire (one per brand); its questions live in versions."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    brand = models.OneToOneField("crm.Brand", on_delete=models.PROTECT, related_name="questionnaire")
    name = models.CharField(_("name"), max_length=120)
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["brand__name"]
        permissions: ClassVar = [
            ("manage_questionnaire", "Can write and publish appropriateness questionnaires"),
        ]

    def __str__(self) -> str:
        return f"{self.brand}: {self.name}"


class QuestionnaireVersion(models.Model):
    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    questionnaire = models.ForeignKey(Questionnaire, on_delete=models.PROTECT, related_name="versions",
                                      db_index=False)
    number = models.PositiveIntegerField()
    status = models.CharField(max_length=12, choices=VersionStatus.choices, default=VersionStatus.DRAFT)
    content = models.JSONField()
    created_by = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True,
                                   related_name="+", db_index=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+", db_index=False)
    retired_at = models.DateTimeField(null=True, blank=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        ordering = ["questionnaire", "-number"]
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["questionnaire", "number"], name="questionnaireversion_unique_number"),
            # Clients answer one version at a time: two published versions would leave "current" ambiguous.
            models.UniqueConstraint(fields=["questionnaire"], condition=Q(status="published"),
                                    name="questionnaireversion_one_published"),
            # One draft at a time: a second would fork the questionnaire's next version.
            models.UniqueConstraint(fields=["questionnaire"], condition=Q(status="draft"),
                                    name="questionnaireversion_one_draft"),
            models.CheckConstraint(condition=Q(status="draft") | Q(published_at__isnull=False),
                                   name="questionnaireversion_published_has_date"),
        ]

    def __str__(self) -> str:
        return f"{self.questionnaire} v{self.number} ({self.status})"

    @property
    def is_draft(self) -> bool:
        return self.status == VersionStatus.DRAFT


class QuestionnaireResponse(models.Model):
    """One completed questionnaire of a client: the latest one counts."""

    code = models.UUIDField(unique=True, editable=False, default=uuid.uuid4)
    client = models.ForeignKey("crm.Client", on_delete=models.CASCADE, related_name="questionnaire_responses",
                               db_index=False)
    version = models.ForeignKey(QuestionnaireVersion, on_delete=models.PROTECT, related_name="responses")
    # {question code: [option codes]} as given (a single choice is a list of one).
    answers = models.JSONField()
    score = models.IntegerField()
    level = models.CharField(max_length=32, choices=AppropriatenessLevel.choices)
    knocked_out_by = models.JSONField(default=list, blank=True)  # ["question.option", ...]
    max_leverage = models.PositiveIntegerField(null=True, blank=True)  # None: no cap from the questionnaire
    warnings = models.JSONField(default=list, blank=True)  # warning keys of the version's content
    submitted_at = models.DateTimeField()
    # None: the client, in the client area. A member of staff: on the client's behalf.
    submitted_by = models.ForeignKey("crm.User", on_delete=models.SET_NULL, null=True, blank=True,
                                     related_name="+", db_index=False)

    class Meta:
        ordering = ["client", "-submitted_at"]
        indexes: ClassVar = [
            # The latest response of a client, and the retake rule's count, read by this index.
            models.Index(fields=["client", "-submitted_at"], name="questresp_client_latest"),
        ]

    def __str__(self) -> str:
        return f"{self.client_id}: {self.level} ({self.score})"


def _version_refused(old: str, new: str) -> str:
    return gettext("A questionnaire version that is %(from)s cannot become %(to)s.") % {
        "from": str(VersionStatus(old).label).lower(), "to": str(VersionStatus(new).label).lower()}


# A draft is edited until it is published; publishing the next one retires it. Never back.
VERSION_STATES = StateMachine(
    name="questionnaire version", model="kyc.QuestionnaireVersion", states=VersionStatus,
    transitions={VersionStatus.DRAFT: frozenset({VersionStatus.PUBLISHED}),
                 VersionStatus.PUBLISHED: frozenset({VersionStatus.RETIRED}), VersionStatus.RETIRED: frozenset()},
    terminal=frozenset({VersionStatus.RETIRED}), error=QuestionnaireVersionTransitionRefused,
    message=_version_refused,
)
