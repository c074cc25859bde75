"""compliance.permissions and the selectors that keep their own promise: each read of cases and AML
alerts and rules gives nothing to a user who holds every compliance permission but the one it
needs, though the client is in their scope (the pages re-check, so only a test of the selector
itself catches a selector that checks the wrong permission); who may be given a case is one rule,
asked alike by the service, the case page and the API."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from compliance import case_selectors, permissions, selectors
from compliance.cases import case_assign, case_item_attach
from compliance.models import AmlRuleKind
from crm.exceptions import NotFound, ValidationFailed
from crm.models import RoleCode, User
from tests.compliance.aml_support import deposit, rule, run, world
from tests.factories import make_brand, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def fired() -> SimpleNamespace:
    w = world()
    w.rule = rule(w, AmlRuleKind.LARGE_TRANSACTION, amounts={"USD": "10000"}, direction="both")
    deposit(w.client, "25000.00")
    [w.alert] = run(w)
    # the alert's case, as the handler opens it once the alert's transaction commits
    w.case = case_item_attach(client=w.client, kind="aml_alert", ref_id=w.alert.pk, summary="large", score=80).case
    return w


def _holding_all_but(brand: Any, missing: str) -> User:
    """A member of staff of `brand` who sees all its clients and holds every compliance permission
    except `missing`."""
    user = make_user(role_code=RoleCode.SALES_AGENT, brand=brand)
    held = Permission.objects.filter(content_type__app_label="compliance").exclude(
        codename=missing.split(".", 1)[1])
    user.user_permissions.add(*held, Permission.objects.get(codename="view_all_clients",
                                                            content_type__app_label="crm"))
    return User.objects.get(pk=user.pk)


def _granted(user: User, perm: str) -> User:
    user.user_permissions.add(Permission.objects.get(codename=perm.split(".", 1)[1],
                                                     content_type__app_label=perm.split(".", 1)[0]))
    return User.objects.get(pk=user.pk)


READS: dict[str, tuple[str, Any]] = {
    "cases_for_user": (permissions.CASE_VIEW, lambda w, u: list(case_selectors.cases_for_user(u))),
    "case_queue": (permissions.CASE_VIEW, lambda w, u: list(case_selectors.case_queue(user=u, status=""))),
    "cases_for_client": (permissions.CASE_VIEW,
                         lambda w, u: list(case_selectors.cases_for_client(user=u, client=w.client))),
    "case_get_for_user": (permissions.CASE_VIEW, lambda w, u: [case_selectors.case_get_for_user(u, w.case.code)]),
    "aml_alerts_for_user": (permissions.AML_ALERT_VIEW, lambda w, u: list(selectors.aml_alerts_for_user(u))),
    "aml_alert_queue": (permissions.AML_ALERT_VIEW, lambda w, u: list(selectors.aml_alert_queue(user=u, status=""))),
    "aml_alert_get_for_user": (permissions.AML_ALERT_VIEW,
                               lambda w, u: [selectors.aml_alert_get_for_user(u, w.alert.code)]),
    "aml_rules_for_user": (permissions.AML_RULE_VIEW, lambda w, u: list(selectors.aml_rules_for_user(u))),
    "aml_rule_get_for_user": (permissions.AML_RULE_VIEW, lambda w, u: [selectors.aml_rule_get_for_user(u, w.rule.code)]),
}


def _read(fired: SimpleNamespace, name: str, user: User) -> list[Any]:
    try:
        found: list[Any] = READS[name][1](fired, user)
    except NotFound:
        return []
    return found


@pytest.mark.parametrize("name", sorted(READS))
def test_a_selector_gives_nothing_to_a_user_without_its_permission_and_the_row_with_it(
    fired: SimpleNamespace, name: str,
) -> None:
    perm = READS[name][0]
    user = _holding_all_but(fired.brand, perm)
    assert _read(fired, name, user) == []
    assert len(_read(fired, name, _granted(user, perm))) == 1


@pytest.mark.parametrize("name", sorted(READS))
def test_a_selector_gives_nothing_of_another_brand(fired: SimpleNamespace, name: str) -> None:
    outsider = make_user(role_code=RoleCode.COMPLIANCE, brand=make_brand())
    assert _read(fired, name, outsider) == []
    assert len(_read(fired, name, fired.officer)) == 1


def test_who_may_be_given_a_case_is_one_rule_for_the_service_the_page_and_the_api(
    fired: SimpleNamespace, client: Any, login_verified: Any,
) -> None:
    second = make_user(role_code=RoleCode.COMPLIANCE, brand=fired.brand, full_name="Second Officer")
    other_brand = make_user(role_code=RoleCode.COMPLIANCE, brand=make_brand(), full_name="Other Brand")
    agent = make_user(role_code=RoleCode.SALES_AGENT, brand=fired.brand, full_name="Sales Agent")
    # may work cases but not this client's (a brand-limited user of no brand of the client's)
    viewer = _holding_all_but(make_brand(), "compliance.view_case")
    people = [fired.officer, second, other_brand, agent, viewer]

    officers = permissions.case_officers_for(fired.case)
    assert {u.pk for u in officers} == {fired.officer.pk, second.pk}
    assert [u.pk for u in people if permissions.case_assignable(case=fired.case, user=u)] == [
        fired.officer.pk, second.pk]

    login_verified(client, fired.officer)
    page = client.get(reverse("compliance_case_detail", args=[fired.case.code])).content.decode()
    for u in people:
        assert (str(u.code) in page) == (u in officers), u
    for u in people:
        by_api = client.post(f"/api/v1/compliance/cases/{fired.case.code}/assignment",
                             {"assignee": str(u.code)}, content_type="application/json")
        assert (by_api.status_code == 200) == (u in officers), (u, by_api.content)
        if u not in officers:
            with pytest.raises(ValidationFailed):
                case_assign(case=fired.case, assignee=u, actor=fired.officer)
