"""The audit log, for administrators and compliance: filter it, read each change's before and
after, and check the hash chain. Everyone else gets 404.

The list is keyset-paginated (newest first): the log grows without bound, and a page deep in it
costs the same as the first.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from crm.audit import PROBLEM_CONTENT, PROBLEM_LINK, ChainReport, audit_log_rows, verify_chain
from crm.filters import AuditFilter
from crm.lib.pagination import Key
from crm.permissions import AuthedRequest, client_queryset_for_user, user_can
from crm.tables import AuditTable
from crm.views.ui import render_page, wants_partial

PAGE_SIZE = 50
TEMPLATE = "crm/audit/audit_list.html"
ID_DESC = (Key("id", True, "int"),)


def _may_read_audit(user: Any) -> bool:
    return bool(user.is_administrator or user_can(user, "crm.view_auditlog"))


def client_audit_links(viewer: Any, clients: list[Any]) -> dict[str, str]:
    """Links to the profiles of the audited clients the viewer may open."""
    from django.urls import reverse

    visible = set(client_queryset_for_user(viewer).filter(pk__in=[c.pk for c in clients])
                  .values_list("code", flat=True))
    return {str(c.code): reverse("client_detail", args=[c.code]) for c in clients if c.code in visible}


@login_required
@require_GET
def audit_list(request: AuthedRequest) -> HttpResponse:
    if not _may_read_audit(request.user):
        raise Http404
    filters = AuditFilter(request.GET, queryset=audit_log_rows(user=request.user), request=request)
    table = AuditTable(filters.qs, viewer=request.user)
    table.paginate_keyset(request, keys=ID_DESC, per_page=PAGE_SIZE)
    context = {"filters": filters, "table": table, "filtered": bool(filters.values or filters.problems)}
    return render_page(request, TEMPLATE, context, partial="audit-table")


@login_required
@require_POST
def audit_verify(request: AuthedRequest) -> HttpResponse:
    """Walk the whole chain now and say whether it holds (and where it breaks if not)."""
    if not _may_read_audit(request.user):
        raise Http404
    report = verify_chain()
    if wants_partial(request):
        return render_page(request, TEMPLATE, {
            "report": report, "problem": _problem_text(report), "verified_at": timezone.now(),
        }, partial="chain-status")
    if report.ok:
        messages.success(request, _("The audit chain is intact: %(count)d rows checked.") % {"count": report.checked})
        if report.archived_months:
            messages.info(request, _("It goes on from the anchors of the archived months %(months)s.") % {
                "months": ", ".join(report.archived_months)})
    elif report.checkpoint is not None or report.anchor is not None:
        messages.error(request, _("The audit chain is BROKEN: %(problem)s") % {"problem": _problem_text(report)})
    else:
        messages.error(request, _("The audit chain is BROKEN at row %(id)s: %(problem)s") % {
            "id": report.first_bad_id, "problem": _problem_text(report)})
    return redirect("audit_list")


def _problem_text(report: ChainReport) -> str:
    return {
        PROBLEM_LINK: _("it does not point at the row before it (a row was removed or inserted)"),
        PROBLEM_CONTENT: _("its content was changed after it was written"),
    }.get(report.problem) or report.describe()
