"""Celery tasks of compliance: thin, ids in, a call into compliance.services."""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="compliance.tasks.screening_client", ignore_result=True, acks_late=True)
def screening_client(client_id: int, trigger: str) -> int:
    """Screen one client against the current lists (registration, KYC submission, a change of details)."""
    from compliance.services import client_screen

    return len(client_screen(client_id=client_id, trigger=trigger))


@shared_task(name="compliance.tasks.screening_rescreen_version", ignore_result=True, acks_late=True)
def screening_rescreen_version(version_id: int) -> dict[str, int]:
    """Every client against the entries a list version added or changed."""
    from compliance.services import clients_rescreen_version

    report = clients_rescreen_version(version_id=version_id)
    return {"clients": report.clients, "alerts": report.alerts, "raised": report.raised}


@shared_task(name="compliance.tasks.screening_rescreen_daily", ignore_result=True)
def screening_rescreen_daily() -> dict[str, int]:
    """Beat, daily: every client against the current version of every list."""
    from compliance.services import clients_rescreen_all

    report = clients_rescreen_all()
    return {"clients": report.clients, "alerts": report.alerts, "raised": report.raised}


@shared_task(name="compliance.tasks.restriction_trading_sync", bind=True, ignore_result=True, acks_late=True,
             max_retries=8)
def restriction_trading_sync(self: Any, restriction_id: int) -> dict[str, int]:
    """Set the client's live accounts read-only (or give them back) as the restriction now says; an
    account the platform did not change is tried again later."""
    from compliance.services import restriction_trading_sync as sync

    counts = sync(restriction_id=restriction_id)
    if counts["failed"]:
        raise self.retry(countdown=min(3600, 60 * 2 ** self.request.retries))
    return counts


@shared_task(name="compliance.tasks.offboarding_accounts_close", ignore_result=True, acks_late=True)
def offboarding_accounts_close(case_id: int) -> dict[str, int]:
    """Close the offboarded client's trading accounts on the platform; one the platform does not confirm
    is retried by trading's own task (trading.tasks.account_close_attempt)."""
    from compliance.services import offboarding_accounts_close as close

    return close(case_id=case_id)


@shared_task(name="compliance.tasks.jurisdictions_enforce", ignore_result=True)
def jurisdictions_enforce(brand_id: int | None = None) -> dict[str, int]:
    """Beat (hourly), and after a jurisdiction becomes sanctioned: restrict its clients, tell the officers."""
    from compliance.services import jurisdictions_enforce as enforce

    return enforce(brand_id=brand_id)


@shared_task(name="compliance.tasks.restrictions_expire", ignore_result=True)
def restrictions_expire() -> int:
    """Beat: close the restrictions whose end date has passed (no trading: accounts given back)."""
    from compliance.services import restrictions_expire as expire

    return expire()


@shared_task(name="compliance.tasks.risk_score_client", ignore_result=True, acks_late=True)
def risk_score_client(client_id: int, trigger: str) -> str | None:
    """Recompute one client's risk score (a factor changed)."""
    from compliance.risk import risk_score_compute

    row = risk_score_compute(client_id=client_id, trigger=trigger)
    return None if row is None else row.band


@shared_task(name="compliance.tasks.risk_rescore_country", ignore_result=True, acks_late=True)
def risk_rescore_country(brand_id: int, country: str, trigger: str) -> int:
    """Recompute the scores of a brand's clients of one country (its jurisdiction changed)."""
    from compliance.risk import risk_rescore_country as rescore

    return rescore(brand_id=brand_id, country=country, trigger=trigger)


@shared_task(name="compliance.tasks.risk_reviews_raise", ignore_result=True)
def risk_reviews_raise() -> int:
    """Beat, daily: a review task for each client whose periodic risk review has come."""
    from compliance.risk import risk_reviews_raise as raise_due

    return raise_due()


@shared_task(name="compliance.tasks.aml_client", ignore_result=True, acks_late=True)
def aml_client(client_id: int) -> int:
    """The AML rules over one client's last days (after its deposit or paid withdrawal); new alerts' count."""
    from compliance.services import aml_evaluate_client

    return len(aml_evaluate_client(client_id=client_id).raised)


@shared_task(name="compliance.tasks.aml_pass", ignore_result=True)
def aml_pass() -> int:
    """Beat (every 5 minutes): the AML rules over everything recorded since the previous pass."""
    from compliance.services import aml_periodic_pass

    return aml_periodic_pass().raised


@shared_task(name="compliance.tasks.retention_run_daily", ignore_result=True)
def retention_run_daily() -> dict[str, int]:
    """Beat, daily: the retention schedule's run (compliance.retention); its report is kept as a RetentionRun."""
    from compliance.retention import retention_run

    run = retention_run()
    return {"removed": run.removed}
