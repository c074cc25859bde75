"""The engine: judges each event by the rules it triggers, runs their actions, fires delayed runs.

Once: the engine is one wildcard subscriber of the outbox (automation.subscriber), which gives
it each event once; a unique (rule, event) constraint makes a rule judge an event once even if
it were asked again. Scheduled runs are fired by a beat task that locks them FOR UPDATE SKIP
LOCKED and runs each one's actions in the same transaction as its status change, so
overlapping ticks fire a run once.

Loops: actions run with the acting context's request id set to the run's `chain` (the same for
every event caused, directly or not, by one original event), so the events they emit carry it.
A rule never runs twice for the same client within one chain, and a chain stops after
MAX_CHAIN_DEPTH generations.

Attribution: actions run as the system; audit rows name "automation:<rule name>"."""

from __future__ import annotations

import logging
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from celery import shared_task
from django.core.cache import cache
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext
from redis.exceptions import RedisError

from automation import actions as registry
from automation.conditions import conditions_evaluate
from automation.models import RUN_STATES, AutomationRule, AutomationRun, RunStatus
from crm.exceptions import DomainError
from crm.models import Client, Event
from plumbing import context as actor_context

logger = logging.getLogger(__name__)


CHAIN_PREFIX = "auto-"
MAX_CHAIN_DEPTH = 5


FIRE_BATCH = 100


def _why(reason: str, *, conditions: list[dict[str, Any]] | None = None,
         actions: list[dict[str, Any]] | None = None, **params: Any) -> dict[str, Any]:
    why: dict[str, Any] = {"reason": reason}
    if conditions is not None:
        why["conditions"] = conditions
    if actions is not None:
        why["actions"] = actions
    if params:
        why["params"] = params
    return why


def _chain_of(event: Event) -> tuple[str, int]:
    """The chain `event` belongs to and its depth in it (0: not caused by automation)."""
    request_id = event.request_id or ""
    if request_id.startswith(CHAIN_PREFIX):
        deepest = AutomationRun.objects.filter(chain=request_id).aggregate(d=Max("depth"))["d"]
        return request_id, (deepest if deepest is not None else 0) + 1
    return f"{CHAIN_PREFIX}{event.uuid.hex}", 0


def _client_for_actions(client_id: int | None) -> Client | None:
    if client_id is None:
        return None
    return Client.objects.select_related("brand", "owner", "desk", "desk__manager").filter(pk=client_id).first()


# Most events concern no rule. Each process keeps the (brand, event name) pairs that some rule
# triggers on or is cancelled by, so that those events cost no query. Saving a rule clears this
# process's copy at once and, on commit, bumps a version in the cache that every other process
# checks at most once per RULES_VERSION_CHECK_SECONDS.
RULES_VERSION_KEY = "automation:rules_version"
RULES_VERSION_CHECK_SECONDS = 1.0
_relevant: dict[str, Any] = {"pairs": None, "version": None, "checked": 0.0}


def _relevant_pairs() -> frozenset[tuple[int, str]]:
    now = time.monotonic()
    pairs: frozenset[tuple[int, str]] | None = _relevant["pairs"]
    if pairs is not None and now - _relevant["checked"] < RULES_VERSION_CHECK_SECONDS:
        return pairs
    try:
        version = cache.get(RULES_VERSION_KEY)
    except RedisError:
        version = None  # without the cache, reload from the database each interval
    _relevant["checked"] = now
    if pairs is None or version is None or version != _relevant["version"]:
        found: set[tuple[int, str]] = set()
        for brand_id, trigger, cancel_on, active in AutomationRule.objects.values_list(
                "brand_id", "trigger", "cancel_on", "is_active"):
            if active:
                found.add((brand_id, trigger))
            found.update((brand_id, name) for name in cancel_on)
        pairs = frozenset(found)
        _relevant["pairs"], _relevant["version"] = pairs, version
    return pairs


def _rules_changed() -> None:
    """Call after any change to rules: this process sees it at once, the others within a second."""
    _relevant["pairs"] = None

    def bump() -> None:
        try:
            cache.set(RULES_VERSION_KEY, uuid.uuid4().hex, None)
        except RedisError:
            logger.warning("could not publish the automation rules version", exc_info=True)

    transaction.on_commit(bump, robust=True)


def automation_handle_event(*, event: Event) -> list[AutomationRun]:
    """Judge `event` by every active rule of its brand triggered by it (in order); returns the runs.

    Called by the outbox, inside its transaction. Runs actions now or schedules the run; also
    cancels the client's waiting runs whose rule names this event in `cancel_on`.
    """
    if event.brand_id is None or (event.brand_id, event.name) not in _relevant_pairs():
        return []
    # One query for both jobs: the rules this event triggers, and whether any rule it cancels.
    candidates = list(
        AutomationRule.objects.filter(brand_id=event.brand_id)
        .filter(Q(trigger=event.name, is_active=True) | Q(cancel_on__contains=[event.name]))
        .order_by("order", "id")
    )
    if event.client_id is not None and any(event.name in r.cancel_on for r in candidates):
        _cancel_waiting(event, client_id=event.client_id)
    rules = [r for r in candidates if r.trigger == event.name and r.is_active]
    if not rules:
        return []
    judged = set(AutomationRun.objects.filter(event=event, rule__in=rules).values_list("rule_id", flat=True))
    rules = [r for r in rules if r.pk not in judged]
    if not rules:
        return []
    chain, depth = _chain_of(event)
    looped: set[int] = set()
    if depth:
        same_client = Q(client_id=event.client_id) if event.client_id is not None else Q(client_id__isnull=True)
        looped = set(AutomationRun.objects.filter(
            same_client, chain=chain,
            status__in=[RunStatus.FIRED, RunStatus.SCHEDULED, RunStatus.FAILED],
        ).values_list("rule_id", flat=True))
    client = _client_for_actions(event.client_id)
    runs: list[AutomationRun] = []
    stopped_by: AutomationRule | None = None
    for rule in rules:
        run = AutomationRun(rule=rule, brand_id=event.brand_id, event=event, client=client, chain=chain, depth=depth)
        if stopped_by is not None:
            run.status, run.why = RunStatus.SKIPPED, _why("stopped_by", rule=stopped_by.name)
        elif client is None:
            run.status, run.why = RunStatus.SKIPPED, _why("no_client")
        elif rule.pk in looped:
            run.status, run.why = RunStatus.SKIPPED, _why("loop_guard")
        elif depth > MAX_CHAIN_DEPTH:
            run.status, run.why = RunStatus.SKIPPED, _why("max_depth", depth=depth)
        else:
            ok, checks = conditions_evaluate(rule.conditions, event=event, client=client)
            if not ok:
                run.status, run.why = RunStatus.SKIPPED, _why("conditions_failed", conditions=checks)
            elif rule.delay_hours:
                run.status = RunStatus.SCHEDULED
                run.scheduled_for = event.occurred_at + timedelta(hours=rule.delay_hours)
                run.why = _why("scheduled", conditions=checks, delay_hours=rule.delay_hours)
            else:
                run.status, run.why = RunStatus.FIRED, _why("fired", conditions=checks)
            if ok and rule.stop_processing:
                stopped_by = rule
        run.save()
        if run.status == RunStatus.FIRED and client is not None:  # fired only with a client (above)
            _run_actions(run, rule=rule, event=event, client=client)
        runs.append(run)
    return runs


def _cancel_waiting(event: Event, *, client_id: int) -> int:
    """Cancel the client's scheduled runs that `event` cancels (rows the beat holds are left to it:
    it checks for cancelling events itself before firing)."""
    waiting = list(
        AutomationRun.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(client_id=client_id, status=RunStatus.SCHEDULED, rule__cancel_on__contains=[event.name])
        .select_related("event")
    )
    cancelled = 0
    for run in waiting:
        if (run.event.occurred_at, run.event_id) >= (event.occurred_at, event.pk):
            continue  # the cancelling event came before the trigger: it does not count
        RUN_STATES.move(run, RunStatus.CANCELLED, save=("updated_at",), also={"why": {
            **run.why, **_why("cancelled_by_event", event=event.name, event_id=event.pk,
                              at=event.occurred_at.isoformat())}})
        cancelled += 1
    return cancelled


def _run_actions(run: AutomationRun, *, rule: AutomationRule, event: Event, client: Client) -> None:
    """Run the rule's actions for `run` in one savepoint; record each result on the run.

    If one fails, the savepoint is rolled back (none of the actions' writes, events or on-commit
    work remain) and the run is FAILED, naming the action and its error.
    """
    now = timezone.now()
    results: list[dict[str, Any]] = []
    failed: dict[str, Any] | None = None
    ctx = registry.ActionContext(rule=rule, event=event, client=client, now=now)
    with actor_context.acting_as(None, source="automation", request_id=run.chain,
                                 label=f"automation:{rule.name}"[:200]):
        try:
            with transaction.atomic():
                for i, spec in enumerate(rule.actions):
                    kind = str(spec.get("type", ""))
                    action = registry.action_type(kind)
                    if action is None or action.run is None:
                        raise registry.ActionFailed(
                            gettext("The action “%(type)s” is not available.") % {"type": kind})
                    result = action.run(ctx, spec)
                    results.append({"index": i, "type": kind, "status": result.status, "detail": result.detail})
                    # Later actions see what earlier ones changed (a new owner, a new tag).
                    client.refresh_from_db()
        # An action's failure is recorded on the run, never lost nor allowed to stop other rules.
        except Exception as exc:  # noqa: BLE001
            logger.warning("automation action failed", exc_info=True,
                           extra={"rule": rule.pk, "run": run.pk, "event_id": event.pk})
            index = len(results)
            failed = {"index": index, "type": str(rule.actions[index].get("type", "")), "status": "failed",
                      "detail": _error_text(exc)[:1000]}
            for done in results:
                done["status"] = "rolled_back"
            results.append(failed)
            results.extend({"index": j, "type": str(spec.get("type", "")), "status": "not_run", "detail": ""}
                           for j, spec in enumerate(rule.actions) if j > index)
    run.fired_at = now
    if failed is not None:
        status = RunStatus.FAILED
        run.why = {**run.why, "reason": "action_failed", "actions": results,
                   "params": {"action": failed["index"] + 1, "type": failed["type"]}}
    else:
        status = RunStatus.FIRED
        run.why = {**run.why, "reason": "fired", "actions": results}
    if run.status != status:  # a run written as fired stays so: only its actions' results are added
        RUN_STATES.move(run, status)
    run.save(update_fields=["status", "why", "fired_at", "updated_at"])


def _error_text(exc: Exception) -> str:
    """A failure as the run log shows it: a service's message with its per-field messages."""
    if isinstance(exc, DomainError):
        parts = [exc.message, *(f"{name}: {m}" for name, msgs in exc.fields.items() for m in msgs)]
        return " — ".join(parts)
    return f"{type(exc).__name__}: {exc}"


def _cancelling_event(run: AutomationRun, rule: AutomationRule) -> Event | None:
    if not rule.cancel_on or run.client_id is None:
        return None
    trigger = run.event
    return (Event.objects.filter(client_id=run.client_id, name__in=rule.cancel_on)
            .filter(Q(occurred_at__gt=trigger.occurred_at) | Q(occurred_at=trigger.occurred_at, id__gt=trigger.pk))
            .order_by("occurred_at", "id").first())


def _fire_scheduled(run: AutomationRun) -> None:
    rule = run.rule
    if not rule.is_active:
        status, why = RunStatus.CANCELLED, _why("rule_inactive")
    elif (cancel := _cancelling_event(run, rule)) is not None:
        status, why = RunStatus.CANCELLED, _why("cancelled_by_event", event=cancel.name, event_id=cancel.pk,
                                                at=cancel.occurred_at.isoformat())
    else:
        client = _client_for_actions(run.client_id)
        if client is None:
            status, why = RunStatus.CANCELLED, _why("no_client")
        else:
            # The client may have changed while the run waited: its conditions must still hold.
            ok, checks = conditions_evaluate(rule.conditions, event=run.event, client=client)
            if not ok:
                status, why = RunStatus.SKIPPED, _why("conditions_failed_later", conditions=checks)
            else:
                RUN_STATES.check(run, RunStatus.FIRED)  # settled once: refused before any action runs
                run.why = {**run.why, "conditions": checks}
                _run_actions(run, rule=rule, event=run.event, client=client)
                return
    RUN_STATES.move(run, status, save=("updated_at",), also={"why": {**run.why, **why},
                                                             "fired_at": timezone.now()})


def automation_fire_due(*, now: datetime | None = None, batch_size: int = FIRE_BATCH) -> int:
    """Fire scheduled runs that are due; returns how many were settled (fired, failed, cancelled
    or skipped).

    Each batch is one transaction holding its runs' row locks (FOR UPDATE SKIP LOCKED): a tick that
    overlaps another skips the runs it holds, and a run's actions commit together with its new
    status, so a run fires exactly once.
    """
    now = now or timezone.now()
    settled = 0
    while True:
        with transaction.atomic():
            runs = list(
                AutomationRun.objects.select_for_update(skip_locked=True, of=("self",))
                .filter(status=RunStatus.SCHEDULED, scheduled_for__lte=now)
                .select_related("rule", "event", "event__client")
                .order_by("scheduled_for", "id")[:batch_size]
            )
            for run in runs:
                _fire_scheduled(run)
        settled += len(runs)
        if len(runs) < batch_size:
            return settled


@shared_task(name="crm.automation.automation_tick", ignore_result=True)
def automation_tick() -> int:
    """Beat, every minute: fire due scheduled runs, and queue again emails and SMS whose task was lost."""
    from emails.services import email_requeue_stale, sms_requeue_stale

    fired = automation_fire_due()
    email_requeue_stale()
    sms_requeue_stale()
    return fired
