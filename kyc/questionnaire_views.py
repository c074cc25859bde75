"""Staff pages of the appropriateness questionnaire (compliance): each brand's questionnaire and its
versions, a draft's JSON editor (checked on the server, problems listed by question), the preview
as clients see it (English or Arabic), publishing; and the client profile's Appropriateness tab.

Every page needs kyc.manage_questionnaire (a plain 404 without it) and a brand the user works with.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from crm.exceptions import DomainError, ValidationFailed
from crm.models import Brand, Client
from crm.permissions import AuthedRequest, page_permission_required, user_can, visible_brands
from crm.views.ui import render_page
from kyc import questionnaire as services
from kyc.models import Questionnaire, QuestionnaireVersion
from kyc.questionnaire_demo import demo_content
from kyc.questionnaire_forms import DraftForm, QuestionnaireForm

PREVIEW_LANGUAGES = ("en", "ar")




manage_required = page_permission_required(services.MANAGE_PERMISSION)


def _brand_or_404(request: AuthedRequest, code: str) -> Brand:
    brand = visible_brands(request.user).filter(code=code).first()
    if brand is None:
        raise Http404
    return brand


def _version_or_404(request: AuthedRequest, code: Any) -> QuestionnaireVersion:
    version = (QuestionnaireVersion.objects.select_related("questionnaire__brand", "created_by", "published_by")
               .filter(code=code, questionnaire__brand__in=visible_brands(request.user)).first())
    if version is None:
        raise Http404
    return version


def _problems(error: DomainError) -> list[tuple[str, list[str]]]:
    """The service's problems by what they are about (a question's code, "bands", "warnings"...)."""
    return sorted(error.fields.items(), key=lambda item: (item[0] in {"content", "languages", "sections", "bands",
                                                                      "warnings"}, item[0]))


# --- pages --------------------------------------------------------------------------------------------

@manage_required
@require_GET
def questionnaire_list(request: AuthedRequest) -> HttpResponse:
    """Each brand the user works with, its questionnaire's versions (newest first)."""
    brands = list(visible_brands(request.user).order_by("name"))
    questionnaires = {q.brand_id: q for q in Questionnaire.objects.filter(brand__in=brands)}
    versions: dict[int, list[QuestionnaireVersion]] = {}
    for version in (QuestionnaireVersion.objects.filter(questionnaire__brand__in=brands)
                    .select_related("questionnaire").order_by("-number")):
        versions.setdefault(version.questionnaire.brand_id, []).append(version)
    rows = [{"brand": b, "questionnaire": questionnaires.get(b.pk), "versions": versions.get(b.pk, []),
             "has_draft": any(v.is_draft for v in versions.get(b.pk, []))} for b in brands]
    return render_page(request, "kyc/questionnaire/list.html", {"rows": rows})


def _editor(request: AuthedRequest, *, brand: Brand, version: QuestionnaireVersion | None,
            initial: dict[str, Any]) -> HttpResponse:
    form = DraftForm(request.POST or None, initial={"content": json.dumps(initial, ensure_ascii=False, indent=2)})
    problems: list[tuple[str, list[str]]] = []
    if request.method == "POST" and form.is_valid():
        try:
            content = services.content_parse(form.cleaned_data["content"])
            saved = services.questionnaire_draft_save(actor=request.user, brand=brand, content=content,
                                                      version=version)
        except ValidationFailed as error:
            problems = _problems(error)
        except DomainError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, gettext("Draft version %(number)s saved.") % {"number": saved.number})
            return redirect("kyc_questionnaire_version", saved.code)
    return render_page(request, "kyc/questionnaire/editor.html", {
        "brand": brand, "version": version, "form": form, "problems": problems,
    }, status=400 if (problems or form.errors) else 200)


@manage_required
@require_http_methods(["GET", "POST"])
def draft_new(request: AuthedRequest, brand_code: str) -> HttpResponse:
    """A new draft of the brand's questionnaire, starting from the published version (or an example)."""
    brand = _brand_or_404(request, brand_code)
    draft = QuestionnaireVersion.objects.filter(questionnaire__brand=brand, status="draft").first()
    if draft is not None:
        return redirect("kyc_questionnaire_draft_edit", draft.code)
    published = QuestionnaireVersion.objects.filter(questionnaire__brand=brand, status="published").first()
    return _editor(request, brand=brand, version=None,
                   initial=published.content if published is not None else demo_content())


@manage_required
@require_http_methods(["GET", "POST"])
def draft_edit(request: AuthedRequest, code: Any) -> HttpResponse:
    version = _version_or_404(request, code)
    if not version.is_draft:
        raise Http404
    return _editor(request, brand=version.questionnaire.brand, version=version, initial=version.content)


@manage_required
@require_GET
def version_detail(request: AuthedRequest, code: Any) -> HttpResponse:
    """A version as the client would see it, in English or Arabic, with its bands and warnings."""
    version = _version_or_404(request, code)
    language = request.GET.get("lang", "en")
    if language not in PREVIEW_LANGUAGES:
        language = "en"
    content = version.content
    bands = [{**band, "warning_texts": [services.text_in(content["warnings"].get(k), language)
                                        for k in band["warnings"]]} for band in content.get("bands", [])]
    return render_page(request, "kyc/questionnaire/version.html", {
        "version": version, "brand": version.questionnaire.brand, "language": language,
        "languages": PREVIEW_LANGUAGES, "preview": QuestionnaireForm(version=version, language=language),
        "bands": bands, "max_score": services.content_max_score(content),
    })


@manage_required
@require_POST
def version_publish(request: AuthedRequest, code: Any) -> HttpResponse:
    version = _version_or_404(request, code)
    try:
        services.questionnaire_version_publish(actor=request.user, version=version)
    except DomainError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, gettext("Version %(number)s is published; clients answer it from now on.")
                         % {"number": version.number})
    return redirect("kyc_questionnaire_version", version.code)


# --- the client profile's tab ------------------------------------------------------------------------

def client_tab_context(request: HttpRequest, client: Client) -> dict[str, Any]:
    """The client's responses, newest first, each with its answers in words (the staff's language
    when the version has it, else English)."""
    language = getattr(request, "LANGUAGE_CODE", "en") or "en"
    rows = []
    for response in services.questionnaire_responses(client=client):
        content = response.version.content
        answered = []
        for section in content.get("sections", []):
            for question in section.get("questions", []):
                chosen = response.answers.get(question["code"], [])
                answered.append({
                    "question": services.text_in(question["text"], language),
                    "answers": [services.text_in(o["text"], language) for o in question["options"]
                                if o["code"] in chosen],
                    "score": sum(o["score"] for o in question["options"] if o["code"] in chosen),
                })
        rows.append({"response": response, "answered": answered,
                     "warnings": [services.text_in(content.get("warnings", {}).get(k), language)
                                  for k in response.warnings]})
    return {"appropriateness_rows": rows,
            "appropriateness_current": services.questionnaire_current_for(client=client),
            "appropriateness_retake_at": services.retake_available_at(client=client) if rows else None,
            "appropriateness_manage": user_can(request.user, services.MANAGE_PERMISSION),
            "appropriateness_list_url": reverse("kyc_questionnaire_list")}


# --- what the questionnaire adds to the core (called from KycConfig.ready) ---------------------------

def _summary(event: Any) -> str:
    data = event.data if isinstance(event.data, dict) else {}
    cap = data.get("max_leverage")
    return f"{data.get('level', '')} · {data.get('score', '')}" + (f" · 1:{cap}" if cap else "")


def questionnaire_contribute() -> None:
    """Permissions, navigation, the profile tab and the timeline label of the questionnaire, under
    their own registry name ("kyc.questionnaire": a role's permissions are the union over names).

    Compliance (and administrators) write and publish the questionnaire and may enter a client's
    answers on the client's behalf; everyone who works clients sees the results (they explain a
    client's leverage limit)."""
    from django.utils.translation import gettext_lazy as _

    from crm.models import RoleCode
    from crm.registry import ClientTab, NavItem, TimelineKind, contribute

    view = ["kyc.view_questionnaireresponse"]
    manage = [*view, services.MANAGE_PERMISSION, services.SUBMIT_PERMISSION]
    contribute(
        "kyc.questionnaire",
        permissions={RoleCode.ADMIN: manage, RoleCode.COMPLIANCE: manage, RoleCode.DEALER: view,
                     RoleCode.DESK_MANAGER: view, RoleCode.SALES_AGENT: view, RoleCode.RETENTION_AGENT: view},
        navigation=[NavItem("kyc_questionnaires", _("Questionnaires"), "kyc_questionnaire_list", "shield",
                            permission=services.MANAGE_PERMISSION, order=320)],
        tabs=[ClientTab(key="appropriateness", label=_("Appropriateness"),
                        template="kyc/questionnaire/client_tab.html", order=45,
                        permission="kyc.view_questionnaireresponse", context=client_tab_context)],
        timeline=[TimelineKind("kyc.assessed", _("Appropriateness assessed"), "shield", _summary)],
    )
