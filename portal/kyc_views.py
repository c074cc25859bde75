"""The verification journey of the trader's room, /portal/verification/: the address of residence, the
appropriateness questionnaire (when the brand publishes one), the documents, and the status that
follows the automatic checks and the review live. Thin: parse a form, call a kyc service, render."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext

from crm.exceptions import DomainError, NotFound
from portal.auth import PortalRequest, client_login_required
from portal.forms import AddressForm, DocumentsForm
from portal.selectors import STEPS, Journey, kyc_journey, live_account_refusal

STATUS_PARTIAL = "portal/kyc.html#kyc-status"


def _ctx(request: PortalRequest, journey: Journey, **more: Any) -> dict[str, Any]:
    login = request.portal_login
    client = request.portal_client
    refusal = live_account_refusal(client=client) if journey.status == "approved" else None
    return {"brand": login.brand, "portal_login": login, "portal_client": client,
            "journey": journey, "steps": _steps(journey), "live_refusal": refusal, **more}


def _steps(journey: Journey) -> list[dict[str, Any]]:
    labels = {"address": gettext("Your address"), "questionnaire": gettext("About your experience"),
              "documents": gettext("Your documents"), "status": gettext("Verification")}
    done = {"address": journey.address_done, "questionnaire": journey.response is not None,
            "documents": journey.submission is not None and not journey.can_submit, "status": journey.status == "approved"}
    return [{"code": code, "label": labels[code], "done": done[code]} for code in STEPS
            if code != "questionnaire" or journey.questionnaire is not None]


def _address_form(request: PortalRequest, journey: Journey, data: Any = None) -> AddressForm:
    profile = journey.profile
    initial = {"address_line1": profile.address_line1, "address_line2": profile.address_line2, "city": profile.city,
               "postcode": profile.postcode, "country": profile.country or request.portal_client.country}
    return AddressForm(data, initial=initial, language=request.portal_language)


def _questionnaire_form(request: PortalRequest, journey: Journey, data: Any = None) -> Any:
    from kyc.questionnaire_forms import QuestionnaireForm

    return QuestionnaireForm(data, version=journey.questionnaire, language=request.portal_language)


def _result(request: PortalRequest, journey: Journey) -> dict[str, Any] | None:
    """The latest questionnaire result for the page: its level, leverage limit and warnings in words."""
    response = journey.response
    if response is None:
        return None
    from kyc.selectors import text_in

    texts = (response.version.content or {}).get("warnings", {})
    language = request.portal_language
    return {"level": response.level, "level_label": response.get_level_display(),
            "max_leverage": response.max_leverage,
            "warnings": [text_in(texts.get(key), language) for key in response.warnings if texts.get(key)]}


def _render(request: PortalRequest, journey: Journey, step: str, *, status: int = 200, **forms: Any) -> HttpResponse:
    if step == "address" and "address_form" not in forms:
        forms["address_form"] = _address_form(request, journey)
    if step == "questionnaire" and journey.questionnaire_due and "questionnaire_form" not in forms:
        forms["questionnaire_form"] = _questionnaire_form(request, journey)
    if (step == "documents" or journey.info_requested) and "documents_form" not in forms:
        forms["documents_form"] = DocumentsForm()
    from portal.account_views import account_choice_context

    if step == "status" and journey.status != "approved":
        forms.update(account_choice_context(request))
    return render(request, "portal/kyc.html", _ctx(
        request, journey, step=step, result=_result(request, journey) if journey.questionnaire else None,
        documents=_documents(request), **forms), status=status)


def _documents(request: PortalRequest) -> list[Any]:
    from kyc.selectors import documents_for_client

    return list(documents_for_client(client=request.portal_client)[:20])


@client_login_required
def journey(request: PortalRequest) -> HttpResponse:
    client = request.portal_client
    state = kyc_journey(client=client)
    if request.method != "POST":
        return _render(request, state, state.step(request.GET.get("step", "")))
    action = request.POST.get("action", "")
    if action == "address" and state.step("address") == "address":
        return _address_post(request, state)
    if action == "questionnaire" and state.questionnaire_due:
        return _questionnaire_post(request, state)
    if action == "documents" and state.can_submit:
        return _documents_post(request, state)
    messages.warning(request, gettext("This step is not open now."))
    return redirect("portal:kyc")


def _address_post(request: PortalRequest, state: Journey) -> HttpResponse:
    from kyc.services import kyc_profile_save

    form = _address_form(request, state, request.POST)
    if form.is_valid():
        try:
            kyc_profile_save(client=request.portal_client, actor=None, **form.cleaned_data)
        except DomainError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, gettext("Your address is saved."))
            return redirect("portal:kyc")
    return _render(request, state, "address", status=400, address_form=form)


def _questionnaire_post(request: PortalRequest, state: Journey) -> HttpResponse:
    from kyc.services import questionnaire_submit

    form = _questionnaire_form(request, state, request.POST)
    if form.is_valid():
        try:
            questionnaire_submit(actor=None, client=request.portal_client, version=state.questionnaire,
                                 answers=form.answers())
        except DomainError as exc:
            for name, problems in exc.fields.items():
                for problem in problems:
                    form.add_error(name if name in form.fields else None, problem)
            if not exc.fields:
                form.add_error(None, exc.message)
        else:
            return redirect(reverse("portal:kyc") + "?step=questionnaire")
    return _render(request, state, "questionnaire", status=400, questionnaire_form=form)


def _documents_post(request: PortalRequest, state: Journey) -> HttpResponse:
    from kyc.services import submission_create

    form = DocumentsForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            submission_create(client=request.portal_client, documents=form.documents())
        except DomainError as exc:
            form.add_service_errors(exc)
        else:
            return redirect(reverse("portal:kyc") + "?step=status")
    step = "status" if state.info_requested else "documents"
    return _render(request, state, step, status=400, documents_form=form)


@client_login_required
def status(request: PortalRequest) -> HttpResponse:
    """The status block alone (polled by htmx while the documents are checked or reviewed)."""
    state = kyc_journey(client=request.portal_client)
    return render(request, STATUS_PARTIAL, _ctx(request, state, documents_form=DocumentsForm()
                                                 if state.info_requested else None))


@client_login_required
def document(request: PortalRequest, code: str) -> HttpResponse:
    """One of the client's own uploaded files; anyone else's (or none) is a 404."""
    from kyc.selectors import document_content, document_for_client

    try:
        doc = document_for_client(client=request.portal_client, code=code)
    except NotFound:
        raise Http404 from None
    response = HttpResponse(document_content(doc), content_type=doc.content_type)
    response["Content-Disposition"] = "inline"
    response["Cache-Control"] = "private, no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response
