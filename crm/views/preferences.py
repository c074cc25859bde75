"""The user's own settings: interface language and time zone; a link to two-factor setup."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from crm import services
from crm.exceptions import ValidationFailed
from crm.lib.middleware import activate_user_language
from crm.permissions import AuthedRequest
from crm.views.ui.forms import UserSettingsForm, apply_domain_errors


@login_required
@require_http_methods(["GET", "POST"])
def user_settings(request: AuthedRequest) -> HttpResponse:
    if request.method == "POST":
        form = UserSettingsForm(request.POST, user=request.user)
        if form.is_valid():
            try:
                user = services.user_update_preferences(
                    user=request.user, language=form.cleaned_data["language"], timezone=form.cleaned_data["timezone"]
                )
            except ValidationFailed as error:
                apply_domain_errors(form, error)
            else:
                # Switch at once: the confirmation below is already in the new language.
                activate_user_language(request, user.language)
                messages.success(request, _("Your settings have been saved."))
                return redirect("user_settings")
    else:
        form = UserSettingsForm(user=request.user)
    return render(request, "crm/settings.html", {"form": form})
