"""Celery tasks of compliance: thin, ids in, a call into compliance.services."""

from __future__ import annotations

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
