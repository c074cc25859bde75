"""The rest of the demo's clients, written in bulk as the services would write them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crm.lib.payloads import desk_ref, user_ref
from demo.plan import SEED, ClientPlan, NotePlan, TaskPlan
from demo.rows import _history_row, _update_rows
from demo.state import WriterState


class _InBulk(WriterState):
    """The rest of the clients (part of demo.writer._Writer, whose state it uses)."""

    def _in_bulk(self, plans: list[ClientPlan]) -> None:
        from crm.audit import audit_record
        from crm.events import events_ready
        from crm.models import Client, Event, Note, Task
        from crm.models.stages import proof_reason, stage_proof_for
        from crm.services.common import _excerpt

        if not plans:
            return
        batch = 500
        totals = {"clients": 0, "notes": 0, "tasks": 0, "events": 0}
        for start in range(0, len(plans), batch):
            chunk = plans[start:start + batch]
            objs = [self._client_obj(p) for p in chunk]
            Client.objects.bulk_create(objs, batch_size=batch)
            # bulk_create stamps auto_now(_add) fields with the present; put the planned past back.
            for client, plan in zip(objs, chunk, strict=True):
                client.created_at, client.updated_at = plan.created_at, plan.stage_changed_at
            _update_rows(Client, "id", ("created_at", "updated_at", "stage_changed_at"),
                         [(c.pk, c.created_at, c.updated_at, c.stage_changed_at) for c in objs])

            history = []
            events = []
            notes: list[tuple[Any, NotePlan]] = []
            tasks: list[tuple[Any, TaskPlan]] = []
            for plan, client in zip(chunk, objs, strict=True):
                owner = self._staff(plan.owner)
                desk = self.desks.get(plan.desk) if plan.desk else None
                history.append(_history_row(Client, client, plan.created_at, "+", owner,
                                            stage="lead", stage_changed_at=plan.created_at,
                                            updated_at=plan.created_at))
                events.append(self._event("client.created", client, owner, plan.created_at, {
                    "name": client.full_name, "stage": "lead", "country": client.country,
                    "source": client.source, "campaign": client.campaign, "owner": user_ref(owner),
                    "desk": desk_ref(desk),
                }))
                previous = "lead"
                for stage, when, actor_email, reason in plan.steps:
                    actor = self._staff(actor_email)
                    history.append(_history_row(Client, client, when, "~", actor, stage=stage,
                                                stage_changed_at=when, updated_at=when))
                    move = {"from": previous, "to": stage, "reason": reason, "via": "move"}
                    proof = stage_proof_for(stage)
                    if proof is not None:  # as client_stage_prove records it
                        move.update(reason=proof_reason(proof), via=str(proof.value))
                    events.append(self._event("client.stage_changed", client, actor, when, move))
                    previous = stage
                for note_plan in plan.notes:
                    note = Note(client=client, author=self._staff(note_plan.author), body=note_plan.body,
                                created_at=note_plan.at, updated_at=note_plan.at)
                    notes.append((note, note_plan))
                for task_plan in plan.tasks:
                    assignee = self._staff(task_plan.assignee)
                    task = Task(client=client, title=task_plan.title, description=task_plan.description,
                                assignee=assignee, created_by=assignee, due_at=task_plan.due_at,
                                remind_at=task_plan.remind_at, done_at=task_plan.done_at,
                                done_by=assignee if task_plan.done_at else None, created_at=task_plan.created_at)
                    tasks.append((task, task_plan))
            Client.history.model.objects.bulk_create(history, batch_size=1000)

            Note.objects.bulk_create([n for n, _ in notes], batch_size=1000)
            _update_rows(Note, "id", ("created_at", "updated_at"),
                         [(n.pk, p.at, p.at) for n, p in notes])
            Task.objects.bulk_create([t for t, _ in tasks], batch_size=1000)
            _update_rows(Task, "id", ("created_at",), [(t.pk, p.created_at) for t, p in tasks])

            side_history = []
            for note, note_plan in notes:
                note.created_at = note.updated_at = note_plan.at
                side_history.append(_history_row(Note, note, note_plan.at, "+", note.author))
                events.append(self._event("note.added", note.client, note.author, note_plan.at, {
                    "note": str(note.code), "excerpt": _excerpt(note.body), "author": user_ref(note.author),
                }))
            for task, task_plan in tasks:
                task.created_at = task_plan.created_at
                assignee = task.assignee
                side_history.append(_history_row(Task, task, task_plan.created_at, "+", assignee,
                                                 done_at=None, done_by_id=None))
                # As task_create saw it: due in the future of the moment it was written.
                events.append(self._event("task.created", task.client, assignee, task_plan.created_at, {
                    "task": str(task.code), "title": task.title, "assignee": user_ref(assignee),
                    "due_at": task_plan.due_at.isoformat(),
                }))
                if task_plan.done_at is not None:
                    side_history.append(_history_row(Task, task, task_plan.done_at, "~", assignee))
                    events.append(self._event("task.completed", task.client, assignee, task_plan.done_at,
                                              {"task": str(task.code), "title": task.title}))
            Note.history.model.objects.bulk_create([h for h in side_history if isinstance(h, Note.history.model)],
                                                   batch_size=1000)
            Task.history.model.objects.bulk_create([h for h in side_history if isinstance(h, Task.history.model)],
                                                   batch_size=1000)
            events_ready(e.occurred_at for e in events)
            Event.objects.bulk_create(events, batch_size=1000)
            totals["clients"] += len(objs)
            totals["notes"] += len(notes)
            totals["tasks"] += len(tasks)
            totals["events"] += len(events)
        audit_record(action="demo.seed", object_type="crm.client", after={
            **totals, "method": "bulk", "seed": SEED,
        }, reason="Demo data (manage.py seed_demo)")

    def _client_obj(self, plan: ClientPlan) -> Any:
        from crm.models import Client

        a = plan.attribution
        return Client(
            brand=self.brands[plan.brand], stage=plan.stage, first_name=plan.first_name, last_name=plan.last_name,
            email=plan.email, phone=plan.phone, country=plan.country, language=plan.language,
            timezone=plan.timezone, date_of_birth=plan.date_of_birth, owner=self._staff(plan.owner),
            desk=self.desks.get(plan.desk) if plan.desk else None, source=a.source, campaign=a.campaign,
            utm_source=a.utm_source, utm_medium=a.utm_medium, utm_campaign=a.utm_campaign, utm_term=a.utm_term,
            utm_content=a.utm_content, referrer_code=a.referrer_code, tags=list(plan.tags),
            created_at=plan.created_at, updated_at=plan.stage_changed_at, stage_changed_at=plan.stage_changed_at,
            verified_at=plan.verified_at,  # as the KYC approval behind the move to verified sets it
        )

    def _event(self, name: str, client: Any, actor: Any, at: datetime, data: dict[str, Any]) -> Any:
        from crm.events import _json_safe, contract_check
        from crm.models import Event

        data = _json_safe(data)
        contract_check(name, data)  # demo history is held to the same contracts as live events
        return Event(name=name, client=client, brand_id=client.brand_id, actor=actor, data=data,
                     occurred_at=at, request_id=self.request_id, dispatched_at=self.now)
