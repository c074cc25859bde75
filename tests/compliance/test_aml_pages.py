"""AML pages and staff API: officers work the alert queue and the rules; nobody else sees either."""

from __future__ import annotations

import pytest
from django.urls import reverse

from compliance.aml import aml_alert_mark_in_case
from compliance.models import AmlAlert, AmlRuleKind
from crm.models import AuditLog, Event, RoleCode
from tests.compliance.aml_support import deposit, rule, run, world
from tests.factories import make_brand, make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def fired():
    w = world()
    w.rule = rule(w, AmlRuleKind.LARGE_TRANSACTION, amounts={"USD": "10000"}, direction="both")
    w.tx = deposit(w.client, "25000.00")
    [w.alert] = run(w)
    w.agent = make_user(role_code=RoleCode.SALES_AGENT, brand=w.brand)
    w.manager = make_user(role_code=RoleCode.DESK_MANAGER, brand=w.brand)
    w.outsider = make_user(role_code=RoleCode.COMPLIANCE, brand=make_brand())
    return w


def test_the_queue_and_the_alert_show_the_rule_version_and_the_linked_transactions(fired, client, login_verified):
    login_verified(client, fired.officer)
    queue = client.get(reverse("compliance_aml_alerts")).content.decode()
    assert f'data-alert="{fired.alert.code}"' in queue
    other_rule = client.get(reverse("compliance_aml_alerts"), {"rule": "structuring"}).content.decode()
    assert str(fired.alert.code) not in other_rule
    page = client.get(reverse("compliance_aml_alert", args=[fired.alert.code])).content.decode()
    assert f'data-transaction="{fired.tx.pk}"' in page and 'data-version="1"' in page and "25,000.00\u00a0USD" in page


def test_the_queue_shows_alerts_still_to_decide_by_default_those_in_a_case_included(fired, client, login_verified):
    login_verified(client, fired.officer)
    aml_alert_mark_in_case(alert_id=fired.alert.pk, case_ref="case 1")
    default = client.get(reverse("compliance_aml_alerts")).content.decode()
    assert f'data-alert="{fired.alert.code}"' in default
    assert f'data-alert="{fired.alert.code}"' not in client.get(reverse("compliance_aml_alerts"),
                                                              {"status": "open"}).content.decode()
    assert f'data-alert="{fired.alert.code}"' in client.get(reverse("compliance_aml_alerts"),
                                                          {"status": "in_case"}).content.decode()


def test_an_alert_taken_into_a_case_links_to_the_case_not_its_code_as_a_reason(fired, client, login_verified):
    from compliance.models import Case
    from crm.events import dispatch_pending

    dispatch_pending()  # the alert's event: the alert joins the client's case
    fired.alert.refresh_from_db()
    case = Case.objects.get(client=fired.client)
    assert fired.alert.status == "in_case"
    login_verified(client, fired.officer)
    page = client.get(reverse("compliance_aml_alert", args=[fired.alert.code])).content.decode()
    assert f'href="{reverse("compliance_case_detail", args=[case.code])}" data-case' in page
    assert f"<dd>{case.code}" not in page  # the case's code shown as the reason, as the walk found it


def test_an_officer_dismisses_with_a_reason_only(fired, client, login_verified):
    login_verified(client, fired.officer)
    url = reverse("compliance_aml_alert_dismiss", args=[fired.alert.code])
    assert client.post(url, {"reason": ""}).status_code == 400
    assert client.post(url, {"reason": "Salary, documented"}).status_code == 302
    fired.alert.refresh_from_db()
    assert (fired.alert.status, fired.alert.status_reason, fired.alert.status_by) == (
        "dismissed", "Salary, documented", fired.officer)
    assert AuditLog.objects.filter(action="compliance.alert_dismissed", object_id=str(fired.alert.code)).exists()
    dismissed = client.get(reverse("compliance_aml_alerts"), {"status": "dismissed"}).content.decode()
    assert str(fired.alert.code) in dismissed


def test_nobody_but_compliance_sees_alerts_or_rules(fired, client, login_verified):
    for user in (fired.agent, fired.manager):
        login_verified(client, user)
        for url in (reverse("compliance_aml_alerts"), reverse("compliance_aml_alert", args=[fired.alert.code]),
                    reverse("compliance_aml_rules"), reverse("compliance_aml_rule", args=[fired.rule.code])):
            assert client.get(url).status_code == 404, (user.role_code, url)
        assert client.post(reverse("compliance_aml_alert_dismiss", args=[fired.alert.code]),
                           {"reason": "x"}).status_code == 404
        assert client.get("/api/v1/compliance/aml/alerts").status_code == 404
        profile = client.get(reverse("client_detail", args=[fired.client.code]), {"tab": "compliance"})
        assert str(fired.alert.code) not in profile.content.decode()
    login_verified(client, fired.outsider)  # an officer of another brand
    assert client.get(reverse("compliance_aml_alert", args=[fired.alert.code])).status_code == 404
    assert client.get(reverse("compliance_aml_rule", args=[fired.rule.code])).status_code == 404
    fired.alert.refresh_from_db()
    assert fired.alert.status == "open"


def test_an_edit_with_bad_parameters_names_them_and_a_good_one_is_a_new_version(fired, client, login_verified):
    login_verified(client, fired.officer)
    url = reverse("compliance_aml_rule", args=[fired.rule.code])
    bad = client.post(url, {"amounts": "USD ten", "direction": "both"})
    assert bad.status_code == 400 and "USD: " in bad.content.decode()
    assert fired.rule.versions.count() == 1
    good = client.post(url, {"amounts": "USD 5000, EUR 4000", "direction": "deposit", "note": "lower"})
    assert good.status_code == 302
    page = client.get(url).content.decode()
    assert 'data-version="2"' in page and 'data-current="2"' in page
    assert fired.rule.versions.get(number=2).parameters == {"amounts": {"USD": "5000", "EUR": "4000"},
                                                            "direction": "deposit"}
    fired.alert.refresh_from_db()
    assert fired.alert.rule_version.number == 1


def test_the_dry_run_page_shows_what_would_fire_and_writes_nothing(fired, client, login_verified):
    deposit(fired.client, "12000.00")
    login_verified(client, fired.officer)
    before = (AmlAlert.objects.count(), Event.objects.count())
    page = client.get(reverse("compliance_aml_rule_dry_run", args=[fired.rule.code, 1])).content.decode()
    assert 'data-dry-run-count="2"' in page
    assert (AmlAlert.objects.count(), Event.objects.count()) == before


def test_the_api_lists_dismisses_edits_and_dry_runs(fired, client, login_verified):
    login_verified(client, fired.officer)
    listed = client.get("/api/v1/compliance/aml/alerts").json()
    assert [(i["code"], i["rule"], i["rule_version"], i["transaction_ids"]) for i in listed["items"]] == [
        (str(fired.alert.code), "large_transaction", 1, [fired.tx.pk])]
    detail = client.get(f"/api/v1/compliance/aml/alerts/{fired.alert.code}").json()
    assert detail["transactions"][0]["transaction_id"] == fired.tx.pk
    bad = client.post(f"/api/v1/compliance/aml/rules/{fired.rule.code}/versions",
                      {"parameters": {"amounts": {"USD": "0"}, "direction": "sideways"}}, content_type="application/json")
    assert bad.status_code == 422, bad.content  # the API answers bad input with 422, naming each field
    assert set(bad.json()["fields"]) == {"parameters.amounts", "parameters.direction"}
    made = client.post(f"/api/v1/compliance/aml/rules/{fired.rule.code}/versions",
                       {"parameters": {"amounts": {"USD": "20000"}, "direction": "both"}},
                       content_type="application/json")
    assert made.status_code == 201 and made.json()["version_in_force"] == 2
    dry = client.get(f"/api/v1/compliance/aml/rules/{fired.rule.code}/versions/2/dry-run").json()
    assert [(r["transaction_ids"], r["already_alerted"]) for r in dry["rows"]] == [([fired.tx.pk], True)]
    gone = client.post(f"/api/v1/compliance/aml/alerts/{fired.alert.code}/dismissal", {"reason": "known"},
                       content_type="application/json")
    assert gone.status_code == 200 and gone.json()["status"] == "dismissed"


def test_the_alert_queue_reads_right_to_left_in_arabic(fired, client, login_verified):
    fired.officer.language = "ar"
    fired.officer.save(update_fields=["language"])
    login_verified(client, fired.officer)
    page = client.get(reverse("compliance_aml_alerts"), HTTP_ACCEPT_LANGUAGE="ar").content.decode()
    assert 'dir="rtl"' in page and "تنبيهات مكافحة غسل الأموال" in page and "إيداع أو سحب منفرد كبير" in page
