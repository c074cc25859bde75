"""The appropriateness questionnaire: what a version's content must be, drafting and publishing
versions, and a client's answers scored into an appropriateness level.

Content of a version (JSON, validated by `content_clean`; every problem names its question, option,
band or warning):

    {"languages": ["en", "ar"],                       # at least English and Arabic
     "sections": [                                    # exactly these three, in any order:
        {"code": "experience" | "knowledge" | "financial_situation",
         "title": {"en": ..., "ar": ...},
         "questions": [
            {"code": "cfd_experience", "text": {"en": ..., "ar": ...},
             "kind": "single" | "multiple", "required": true,
             "options": [{"code": "none", "text": {...}, "score": 0, "knockout": false}, ...]}]}],
     "bands": [                                        # cover 0..the highest score, no gap, no overlap
        {"level": "not_appropriate" | "appropriate_with_warning" | "appropriate",
         "min_score": 0, "max_score": 9, "max_leverage": 5 | null, "warnings": ["high_risk"]}],
     "warnings": {"high_risk": {"en": ..., "ar": ...}}}

Scores are whole numbers from 0. A client's score is the sum of the chosen options' scores (a
multiple-choice question adds every chosen option); the band holding it gives the level, the
leverage limit (null: the questionnaire adds no cap) and the warnings shown. A chosen knock-out
option ("I cannot afford to lose this money") makes the result the lowest not_appropriate band
whatever the score.

The retake rule (RETAKE_RULE): a client answers at most once per 24 hours and at most 3 times in
any 30 days, whoever enters the answers; the latest response counts.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.translation import gettext

from crm.audit import audit_record
from crm.events import emit
from crm.exceptions import FieldErrors, NotAllowed, ValidationFailed
from crm.models import Brand, Client, User
from crm.models.locks import client_lock
from crm.permissions import user_can
from kyc.exceptions import KycError, QuestionnaireRetakeRefused
from kyc.models import (
    VERSION_STATES,
    AppropriatenessLevel,
    Questionnaire,
    QuestionnaireResponse,
    QuestionnaireVersion,
    VersionStatus,
)

SECTIONS = ("experience", "knowledge", "financial_situation")
REQUIRED_LANGUAGES = ("en", "ar")
KINDS = ("single", "multiple")
MANAGE_PERMISSION = "kyc.manage_questionnaire"
SUBMIT_PERMISSION = "kyc.add_questionnaireresponse"
CODE_MAX = 40


@dataclass(frozen=True)
class RetakeRule:
    """How often a client may answer again (the latest response counts)."""

    min_interval: dt.timedelta
    per_window: int
    window: dt.timedelta


RETAKE_RULE = RetakeRule(min_interval=dt.timedelta(hours=24), per_window=3, window=dt.timedelta(days=30))


# --- content ------------------------------------------------------------------------------------------

def _is_code(value: Any) -> bool:
    return (isinstance(value, str) and 0 < len(value) <= CODE_MAX
            and all(c.isascii() and (c.isalnum() or c == "_") for c in value))


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


class _Checker:
    """Collects every problem of a content, each under the name of the thing at fault."""

    def __init__(self) -> None:
        self.errors = FieldErrors()

    def add(self, where: str, message: str) -> None:
        self.errors.add(where, message)

    def texts(self, value: Any, languages: list[str], *, where: str, what: str) -> dict[str, str]:
        if not isinstance(value, dict):
            self.add(where, gettext("%(what)s needs a text per language, like {\"en\": \"...\", \"ar\": \"...\"}.")
                     % {"what": what})
            return {}
        for language in languages:
            text = value.get(language)
            if not isinstance(text, str) or not text.strip():
                self.add(where, gettext("%(what)s has no text in %(language)s.") % {"what": what, "language": language})
        return {k: v.strip() for k, v in value.items() if isinstance(k, str) and isinstance(v, str)}


def content_parse(text: str) -> dict[str, Any]:
    """The JSON typed into the editor, or ValidationFailed naming the line and column at fault."""
    try:
        value = json.loads(text or "")
    except json.JSONDecodeError as error:
        raise ValidationFailed(fields={"content": gettext("This is not valid JSON: %(problem)s (line %(line)s, "
                                                          "column %(column)s).") % {
            "problem": error.msg, "line": error.lineno, "column": error.colno}}) from None
    if not isinstance(value, dict):
        raise ValidationFailed(fields={"content": gettext("The questionnaire must be a JSON object.")})
    return value


def _clean_option(check: _Checker, raw: Any, languages: list[str], *, question: str) -> dict[str, Any] | None:
    if not isinstance(raw, dict) or not _is_code(raw.get("code")):
        check.add(question, gettext("Question %(question)s: the option %(option)s needs a code (letters, digits "
                                    "and _).") % {"question": question, "option": json.dumps(
                                        raw.get("code") if isinstance(raw, dict) else raw, ensure_ascii=False)})
        return None
    code = raw["code"]
    what = gettext("Question %(question)s, option %(option)s") % {"question": question, "option": code}
    texts = check.texts(raw.get("text"), languages, where=question, what=what)
    score = raw.get("score")
    if not _is_int(score) or score < 0:
        check.add(question, gettext("%(what)s: the score must be a whole number from 0, not %(score)s.")
                  % {"what": what, "score": json.dumps(score)})
        score = 0
    knockout = raw.get("knockout", False)
    if not isinstance(knockout, bool):
        check.add(question, gettext("%(what)s: knockout must be true or false.") % {"what": what})
        knockout = False
    return {"code": code, "text": texts, "score": score, "knockout": knockout}


def _clean_question(check: _Checker, raw: Any, languages: list[str], *, section: str,
                    seen: set[str]) -> dict[str, Any] | None:
    if not isinstance(raw, dict) or not _is_code(raw.get("code")):
        check.add(section, gettext("Section %(section)s: every question needs a code (letters, digits and _).")
                  % {"section": section})
        return None
    code = raw["code"]
    if code in seen:
        check.add(code, gettext("Question %(question)s appears twice.") % {"question": code})
    seen.add(code)
    texts = check.texts(raw.get("text"), languages, where=code,
                        what=gettext("Question %(question)s") % {"question": code})
    kind = raw.get("kind", "single")
    if kind not in KINDS:
        check.add(code, gettext("Question %(question)s: the kind must be \"single\" or \"multiple\".")
                  % {"question": code})
        kind = "single"
    required = raw.get("required", True)
    if not isinstance(required, bool):
        check.add(code, gettext("Question %(question)s: required must be true or false.") % {"question": code})
        required = True
    raw_options = raw.get("options")
    if not isinstance(raw_options, list) or len(raw_options) < 2:
        check.add(code, gettext("Question %(question)s needs at least two options.") % {"question": code})
        raw_options = raw_options if isinstance(raw_options, list) else []
    options, codes = [], set()
    for raw_option in raw_options:
        option = _clean_option(check, raw_option, languages, question=code)
        if option is None:
            continue
        if option["code"] in codes:
            check.add(code, gettext("Question %(question)s: option %(option)s appears twice.")
                      % {"question": code, "option": option["code"]})
        codes.add(option["code"])
        options.append(option)
    return {"code": code, "text": texts, "kind": kind, "required": required, "options": options}


def _question_max(question: Mapping[str, Any]) -> int:
    scores = [o["score"] for o in question["options"]]
    if not scores:
        return 0
    return sum(scores) if question["kind"] == "multiple" else max(scores)


def _clean_bands(check: _Checker, raw: Any, *, top: int, warning_keys: set[str]) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw:
        check.add("bands", gettext("Give at least one scoring band."))
        return []
    bands: list[dict[str, Any]] = []
    for n, band in enumerate(raw, start=1):
        name = gettext("Band %(n)s") % {"n": n}
        if not isinstance(band, dict):
            check.add("bands", gettext("%(band)s must be an object.") % {"band": name})
            continue
        level = band.get("level")
        if level not in AppropriatenessLevel.values:
            check.add("bands", gettext("%(band)s: the level must be one of %(levels)s.")
                      % {"band": name, "levels": ", ".join(AppropriatenessLevel.values)})
        low, high = band.get("min_score"), band.get("max_score")
        if not _is_int(low) or not _is_int(high) or low < 0 or high < low:
            check.add("bands", gettext("%(band)s: min_score and max_score must be whole numbers from 0, "
                                       "min_score not above max_score.") % {"band": name})
            continue
        leverage = band.get("max_leverage")
        if leverage is not None and (not _is_int(leverage) or leverage < 1):
            check.add("bands", gettext("%(band)s: max_leverage must be a whole number from 1 (1:1), or null for "
                                       "no limit.") % {"band": name})
            leverage = None
        warnings = band.get("warnings", [])
        if not isinstance(warnings, list) or not all(isinstance(w, str) for w in warnings):
            check.add("bands", gettext("%(band)s: warnings must be a list of warning keys.") % {"band": name})
            warnings = []
        for key in warnings:
            if key not in warning_keys:
                check.add("bands", gettext("%(band)s: there is no warning %(key)s.") % {"band": name, "key": key})
        bands.append({"level": level, "min_score": low, "max_score": high, "max_leverage": leverage,
                      "warnings": list(warnings)})
    bands.sort(key=lambda b: (b["min_score"], b["max_score"]))
    expected = 0
    for band in bands:
        span = {"min": band["min_score"], "max": band["max_score"]}
        if band["min_score"] < expected:
            check.add("bands", gettext("The band %(min)s–%(max)s overlaps the band before it.") % span)
        elif band["min_score"] > expected:
            check.add("bands", gettext("No band holds the scores %(from)s–%(to)s.")
                      % {"from": expected, "to": band["min_score"] - 1})
        expected = max(expected, band["max_score"] + 1)
    if bands and expected <= top:
        check.add("bands", gettext("No band holds the scores %(from)s–%(to)s (the highest possible score is "
                                   "%(top)s).") % {"from": expected, "to": top, "top": top})
    return bands


def content_clean(raw: Any) -> dict[str, Any]:
    """The content normalised (defaults filled in), or ValidationFailed naming every problem: the
    question (its code is the field), the option, the band or the warning at fault."""
    check = _Checker()
    if not isinstance(raw, dict):
        raise ValidationFailed(fields={"content": gettext("The questionnaire must be a JSON object.")})
    languages = _clean_languages(check, raw.get("languages", list(REQUIRED_LANGUAGES)))
    warnings = _clean_warnings(check, raw.get("warnings", {}), languages)
    sections = _clean_sections(check, raw.get("sections"), languages)
    top = sum(_question_max(q) for s in sections for q in s["questions"])
    bands = _clean_bands(check, raw.get("bands"), top=top, warning_keys=set(warnings))
    has_knockout = any(o["knockout"] for s in sections for q in s["questions"] for o in q["options"])
    if has_knockout and not any(b["level"] == AppropriatenessLevel.NOT_APPROPRIATE for b in bands):
        check.add("bands", gettext("There are knock-out options, so a band must have the level not_appropriate "
                                   "(its leverage limit and warnings apply to a knock-out)."))
    check.errors.raise_if_any()
    return {"languages": languages, "sections": sections, "bands": bands, "warnings": warnings}


def _clean_languages(check: _Checker, languages: Any) -> list[str]:
    """The questionnaire's languages: the required ones first, then the others it is written in."""
    if not isinstance(languages, list) or not all(isinstance(x, str) and x for x in languages):
        check.add("languages", gettext("languages must be a list of language codes."))
        languages = list(REQUIRED_LANGUAGES)
    for language in REQUIRED_LANGUAGES:
        if language not in languages:
            check.add("languages", gettext("The questionnaire must be written in %(language)s too.")
                      % {"language": language})
    return list(dict.fromkeys([*REQUIRED_LANGUAGES, *languages]))


def _clean_warnings(check: _Checker, raw_warnings: Any, languages: list[str]) -> dict[str, dict[str, str]]:
    """Warning key -> its text in each language."""
    warnings: dict[str, dict[str, str]] = {}
    if not isinstance(raw_warnings, dict):
        check.add("warnings", gettext("warnings must be an object of warning key → texts."))
        raw_warnings = {}
    for key, texts in raw_warnings.items():
        if not _is_code(key):
            check.add("warnings", gettext("The warning key %(key)s is not a code (letters, digits and _).")
                      % {"key": json.dumps(key)})
            continue
        warnings[key] = check.texts(texts, languages, where="warnings",
                                    what=gettext("Warning %(key)s") % {"key": key})
    return warnings


def _clean_sections(check: _Checker, raw_sections: Any, languages: list[str]) -> list[dict[str, Any]]:
    """Every section once, in the order of SECTIONS, each with its questions."""
    sections: list[dict[str, Any]] = []
    seen_questions: set[str] = set()
    if not isinstance(raw_sections, list):
        check.add("sections", gettext("sections must be a list: experience, knowledge, financial_situation."))
        raw_sections = []
    seen_sections: set[str] = set()
    for raw_section in raw_sections:
        code = raw_section.get("code") if isinstance(raw_section, dict) else None
        if code not in SECTIONS:
            check.add("sections", gettext("A section's code must be one of %(codes)s, not %(code)s.")
                      % {"codes": ", ".join(SECTIONS), "code": json.dumps(code)})
            continue
        if code in seen_sections:
            check.add("sections", gettext("Section %(section)s appears twice.") % {"section": code})
        seen_sections.add(code)
        title = check.texts(raw_section.get("title"), languages, where="sections",
                            what=gettext("Section %(section)s") % {"section": code})
        questions = []
        raw_questions = raw_section.get("questions")
        if not isinstance(raw_questions, list) or not raw_questions:
            check.add("sections", gettext("Section %(section)s has no questions.") % {"section": code})
            raw_questions = []
        for raw_question in raw_questions:
            question = _clean_question(check, raw_question, languages, section=code, seen=seen_questions)
            if question is not None:
                questions.append(question)
        sections.append({"code": code, "title": title, "questions": questions})
    for code in SECTIONS:
        if code not in seen_sections:
            check.add("sections", gettext("Section %(section)s is missing.") % {"section": code})
    sections.sort(key=lambda s: SECTIONS.index(s["code"]))
    return sections


def content_questions(content: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Every question of a (clean) content by its code, in order."""
    return {q["code"]: q for s in content.get("sections", []) for q in s.get("questions", [])}


def content_max_score(content: Mapping[str, Any]) -> int:
    return sum(_question_max(q) for q in content_questions(content).values())


def text_in(texts: Mapping[str, str] | None, language: str) -> str:
    """A text of the content in `language` (English, then any, when it has none)."""
    texts = texts or {}
    return texts.get(language) or texts.get("en") or next(iter(texts.values()), "")


# --- scoring ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Assessment:
    answers: dict[str, list[str]]
    score: int
    level: str
    max_leverage: int | None
    warnings: list[str]
    knocked_out_by: list[str]


def answers_clean(content: Mapping[str, Any], answers: Any) -> dict[str, list[str]]:
    """{question code: [option codes]} checked against the content: ValidationFailed naming every
    unknown question, unknown option, missing answer or extra choice by the question's code."""
    questions = content_questions(content)
    errors = FieldErrors()
    if not isinstance(answers, Mapping):
        raise ValidationFailed(fields={"answers": gettext("Answers must be given per question.")})
    out: dict[str, list[str]] = {}
    for code, given in answers.items():
        question = questions.get(code)
        if question is None:
            errors.add(str(code), gettext("There is no question %(question)s in this questionnaire.")
                       % {"question": code})
            continue
        chosen = [given] if isinstance(given, str) else given
        if not isinstance(chosen, list | tuple) or not all(isinstance(x, str) for x in chosen):
            errors.add(code, gettext("Choose from the options."))
            continue
        chosen = [x for x in dict.fromkeys(chosen) if x != ""]
        known = {o["code"] for o in question["options"]}
        unknown = [x for x in chosen if x not in known]
        if unknown:
            errors.add(code, gettext("Question %(question)s has no option %(option)s.")
                       % {"question": code, "option": ", ".join(unknown)})
            continue
        if question["kind"] == "single" and len(chosen) > 1:
            errors.add(code, gettext("Choose one option."))
            continue
        if chosen:
            out[code] = chosen
    for code, question in questions.items():
        if question["required"] and code not in out and code not in errors:
            errors.add(code, gettext("Answer this question."))
    errors.raise_if_any()
    return out


def assess(content: Mapping[str, Any], answers: Any) -> Assessment:
    """The answers checked and scored into a band (or the knock-out)."""
    clean = answers_clean(content, answers)
    questions = content_questions(content)
    score, knocked = 0, []
    for code, chosen in clean.items():
        for option in questions[code]["options"]:
            if option["code"] in chosen:
                score += option["score"]
                if option["knockout"]:
                    knocked.append(f"{code}.{option['code']}")
    bands = content["bands"]
    if knocked:
        band = min((b for b in bands if b["level"] == AppropriatenessLevel.NOT_APPROPRIATE),
                   key=lambda b: b["min_score"])
    else:
        band = next(b for b in bands if b["min_score"] <= score <= b["max_score"])
    return Assessment(answers=clean, score=score, level=band["level"], max_leverage=band["max_leverage"],
                      warnings=list(band["warnings"]), knocked_out_by=knocked)


# --- versions -----------------------------------------------------------------------------------------

def _require(actor: User | None, perm: str) -> None:
    if actor is not None and not user_can(actor, perm):
        raise NotAllowed()


def _version_snapshot(version: QuestionnaireVersion) -> dict[str, Any]:
    return {"number": version.number, "status": version.status, "content": version.content}


@transaction.atomic
def questionnaire_draft_save(*, actor: User | None, brand: Brand, content: Any,
                             version: QuestionnaireVersion | None = None, name: str = "") -> QuestionnaireVersion:
    """Save `content` (validated: content_clean) as the brand's draft: into `version` (a draft of the
    brand's questionnaire) or into a new draft numbered after the last version. A published or
    retired version never changes (KycError); there is one draft at a time. Audited."""
    _require(actor, MANAGE_PERMISSION)
    clean = content_clean(content)
    questionnaire, _created = Questionnaire.objects.get_or_create(
        brand=brand, defaults={"name": name or gettext("Appropriateness questionnaire")})
    questionnaire = Questionnaire.objects.select_for_update().get(pk=questionnaire.pk)
    if version is not None:
        version = QuestionnaireVersion.objects.select_for_update().get(pk=version.pk)
        if version.questionnaire_id != questionnaire.pk:
            raise ValidationFailed(fields={"version": gettext("This version belongs to another brand.")})
        if not version.is_draft:
            raise KycError(gettext("Version %(number)s is %(status)s and cannot be changed; save your changes as a "
                                   "new draft.") % {"number": version.number,
                                                    "status": version.get_status_display().lower()},
                           code="version_not_draft")
        before = _version_snapshot(version)
        version.content = clean
        version.save(update_fields=["content", "updated_at"])
        audit_record(action="kyc.questionnaire_draft_change", obj=version, before=before,
                     after=_version_snapshot(version), actor=actor)
        return version
    if questionnaire.versions.filter(status=VersionStatus.DRAFT).exists():
        raise KycError(gettext("This questionnaire already has a draft; edit it or publish it first."),
                       code="draft_exists")
    number = (questionnaire.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = QuestionnaireVersion.objects.create(questionnaire=questionnaire, number=number, content=clean,
                                                  created_by=actor)
    audit_record(action="kyc.questionnaire_draft_create", obj=version, after=_version_snapshot(version), actor=actor)
    return version


@transaction.atomic
def questionnaire_version_publish(*, actor: User | None, version: QuestionnaireVersion) -> QuestionnaireVersion:
    """Publish a draft: clients answer it from now on; the version published before is retired (its
    responses keep pointing at it). Audited."""
    _require(actor, MANAGE_PERMISSION)
    Questionnaire.objects.select_for_update().get(pk=version.questionnaire_id)
    version = QuestionnaireVersion.objects.select_for_update().get(pk=version.pk)
    VERSION_STATES.check(version, VersionStatus.PUBLISHED)
    content_clean(version.content)  # drafts are saved clean; this guards rows written any other way
    now = timezone.now()
    for old in QuestionnaireVersion.objects.filter(questionnaire_id=version.questionnaire_id,
                                                   status=VersionStatus.PUBLISHED):
        VERSION_STATES.move(old, VersionStatus.RETIRED, also={"retired_at": now}, save=("updated_at",))
        audit_record(action="kyc.questionnaire_retire", obj=old, before={"status": VersionStatus.PUBLISHED},
                     after={"status": VersionStatus.RETIRED}, actor=actor)
    VERSION_STATES.move(version, VersionStatus.PUBLISHED, also={"published_at": now, "published_by": actor},
                        save=("updated_at",))
    audit_record(action="kyc.questionnaire_publish", obj=version, before={"status": VersionStatus.DRAFT},
                 after={"status": VersionStatus.PUBLISHED, "number": version.number}, actor=actor)
    return version


# --- responses ----------------------------------------------------------------------------------------

def questionnaire_current_for(*, client: Client) -> QuestionnaireVersion | None:
    """The published version of the client's brand (the one the client answers now), or None."""
    return (QuestionnaireVersion.objects.select_related("questionnaire")
            .filter(questionnaire__brand_id=client.brand_id, status=VersionStatus.PUBLISHED).first())


def questionnaire_latest_response(*, client: Client) -> QuestionnaireResponse | None:
    """The client's latest response: the one that counts."""
    return (QuestionnaireResponse.objects.select_related("version", "submitted_by")
            .filter(client=client).order_by("-submitted_at", "-pk").first())


def questionnaire_responses(*, client: Client) -> list[QuestionnaireResponse]:
    return list(QuestionnaireResponse.objects.select_related("version", "submitted_by")
                .filter(client=client).order_by("-submitted_at", "-pk"))


def retake_available_at(*, client: Client, now: dt.datetime | None = None) -> dt.datetime | None:
    """When the client may answer again under RETAKE_RULE (None: now)."""
    now = now or timezone.now()
    recent = list(QuestionnaireResponse.objects.filter(client=client, submitted_at__gt=now - RETAKE_RULE.window)
                  .order_by("-submitted_at").values_list("submitted_at", flat=True))
    waits = []
    if recent and recent[0] > now - RETAKE_RULE.min_interval:
        waits.append(recent[0] + RETAKE_RULE.min_interval)
    if len(recent) >= RETAKE_RULE.per_window:
        waits.append(recent[RETAKE_RULE.per_window - 1] + RETAKE_RULE.window)
    return max(waits) if waits else None


@transaction.atomic
def questionnaire_submit(*, actor: User | None, client: Client, version: QuestionnaireVersion,
                         answers: Mapping[str, Any]) -> QuestionnaireResponse:
    """Record the client's answers to `version` (the published version of the client's brand),
    scored into a level with its leverage limit and warnings. `actor` None: the client, in the client
    area; a member of staff enters them on the client's behalf. Every answer is checked
    (ValidationFailed naming the question); RETAKE_RULE applies (QuestionnaireRetakeRefused saying
    when). Event "kyc.assessed" (trading applies the leverage limit from it)."""
    _require(actor, SUBMIT_PERMISSION)
    client_lock(client)  # one submission of a client at a time (crm.models.locks)
    current = questionnaire_current_for(client=client)
    if current is None or current.pk != version.pk:
        raise ValidationFailed(fields={"version": gettext(
            "This is not the questionnaire the client's brand asks now; reload it and answer again.")})
    result = assess(version.content, answers)
    now = timezone.now()
    available = retake_available_at(client=client, now=now)
    if available is not None:
        raise QuestionnaireRetakeRefused(gettext(
            "The questionnaire can be answered at most once a day and %(count)s times in %(days)s days; the next "
            "answer is possible from %(when)s.") % {
                "count": RETAKE_RULE.per_window, "days": RETAKE_RULE.window.days,
                "when": timezone.localtime(available).strftime("%Y-%m-%d %H:%M %Z")})
    response = QuestionnaireResponse.objects.create(
        client=client, version=version, answers=result.answers, score=result.score, level=result.level,
        knocked_out_by=result.knocked_out_by, max_leverage=result.max_leverage, warnings=result.warnings,
        submitted_at=now, submitted_by=actor)
    after = {"version": version.number, "score": result.score, "level": result.level,
             "max_leverage": result.max_leverage, "warnings": result.warnings, "answers": result.answers,
             "knocked_out_by": result.knocked_out_by, "on_behalf": actor is not None}
    audit_record(action="kyc.questionnaire_submit", obj=response, after=after, actor=actor)
    emit("kyc.assessed", client=client, actor=actor, occurred_at=now, data={
        "response": str(response.code), "version": version.number, "score": result.score, "level": result.level,
        "max_leverage": result.max_leverage, "warnings": result.warnings,
        "knocked_out": bool(result.knocked_out_by)})
    return response
