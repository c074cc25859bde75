"""The first clients of the demo, made through the core's services and then backdated."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from demo.plan import ClientPlan
from demo.rows import _align, _history_ids, _match_times, _model, _sync_history_copies, _update_rows
from demo.state import WriterState


class _ViaServices(WriterState):
    """The first `via_services` clients (part of demo.writer._Writer, whose state it uses)."""

    def _via_services(self, plans: list[ClientPlan]) -> None:
        from crm import services
        from crm.models import Client, Event, stages
        from plumbing import context

        made: list[tuple[ClientPlan, Any, list[Any], list[Any]]] = []
        for plan in plans:
            owner = self._staff(plan.owner)
            a = plan.attribution
            with context.acting_as(owner, source="system", request_id=self.request_id):
                client = services.client_create(
                    actor=owner, brand=self.brands[plan.brand], first_name=plan.first_name,
                    last_name=plan.last_name, email=plan.email, phone=plan.phone, country=plan.country,
                    language=plan.language, timezone=plan.timezone, date_of_birth=plan.date_of_birth,
                    owner=owner, desk=self.desks.get(plan.desk) if plan.desk else None,
                    source=a.source, campaign=a.campaign, utm_source=a.utm_source, utm_medium=a.utm_medium,
                    utm_campaign=a.utm_campaign, utm_term=a.utm_term, utm_content=a.utm_content,
                    referrer_code=a.referrer_code, tags=plan.tags,
                )
            notes: list[Any] = []
            tasks: dict[int, Any] = {}
            for _, _, kind, item in plan.actions():
                if kind == "stage":
                    stage, _, actor_email, reason = item
                    actor = self._staff(actor_email)
                    proof = stages.stage_proof_for(stage)
                    with context.acting_as(actor, source="system", request_id=self.request_id):
                        if proof is not None:
                            # Verified, funded and active stand for a KYC approval, a deposit and a trade
                            # (the approval's verified_at is written with the backdating below).
                            services.client_stage_prove(actor=actor, client=client, proof=proof)
                        else:
                            services.client_stage_change(actor=actor, client=client, stage=stage, reason=reason)
                elif kind == "note":
                    author = self._staff(item.author)
                    with context.acting_as(author, source="system", request_id=self.request_id):
                        notes.append(services.note_add(actor=author, client=client, body=item.body))
                elif kind == "task":
                    assignee = self._staff(item.assignee)
                    with context.acting_as(assignee, source="system", request_id=self.request_id):
                        tasks[id(item)] = services.task_create(
                            actor=assignee, title=item.title, assignee=assignee, client=client,
                            description=item.description, due_at=item.due_at, remind_at=item.remind_at,
                        )
                else:  # task_done
                    assignee = self._staff(item.assignee)
                    with context.acting_as(assignee, source="system", request_id=self.request_id):
                        services.task_complete(actor=assignee, task=tasks[id(item)])
            made.append((plan, client, notes, [tasks[id(t)] for t in plan.tasks]))

        # Backdate everything the services wrote to when it "happened".
        clients = [c for _, c, _, _ in made]
        events_by_client: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for event_id, client_id, name in (Event.objects.filter(client__in=clients).order_by("id")
                                          .values_list("id", "client_id", "name")):
            events_by_client[client_id].append((event_id, name))
        history_by_client = _history_ids(Client, [c.pk for c in clients])
        note_model_history = _history_ids(_model("Note"), [n.pk for _, _, ns, _ in made for n in ns])
        task_model_history = _history_ids(_model("Task"), [t.pk for _, _, _, ts in made for t in ts])

        client_rows, event_rows, hist_rows, note_rows, note_hist, task_rows, task_hist = [], [], [], [], [], [], []
        for plan, client, notes, client_tasks in made:
            client_rows.append((client.pk, plan.created_at, plan.stage_changed_at, plan.stage_changed_at,
                                plan.verified_at))
            expected = [(plan.created_at, "client.created")] + [
                (when, {"stage": "client.stage_changed", "note": "note.added", "task": "task.created",
                        "task_done": "task.completed"}[kind])
                for when, _, kind, _ in plan.actions()
            ]
            event_rows += _match_times(events_by_client[client.pk], expected)
            client_moments = [plan.created_at] + [step[1] for step in plan.steps]
            hist_rows += _align(history_by_client.get(client.pk, []), client_moments)
            for note, note_plan in zip(notes, plan.notes, strict=True):
                note_rows.append((note.pk, note_plan.at, note_plan.at))
                note_hist += _align(note_model_history.get(note.pk, []), [note_plan.at])
            for task, task_plan in zip(client_tasks, plan.tasks, strict=True):
                task_rows.append((task.pk, task_plan.created_at, task_plan.done_at))
                moments = [task_plan.created_at] + ([task_plan.done_at] if task_plan.done_at else [])
                task_hist += _align(task_model_history.get(task.pk, []), moments)
        _update_rows(Client, "id", ("created_at", "updated_at", "stage_changed_at", "verified_at"),
                     client_rows)
        _update_rows(Event, "id", ("occurred_at",), event_rows)
        _update_rows(Client.history.model, "history_id", ("history_date",), hist_rows)
        _update_rows(_model("Note"), "id", ("created_at", "updated_at"), note_rows)
        _update_rows(_model("Note").history.model, "history_id", ("history_date",), note_hist)
        _update_rows(_model("Task"), "id", ("created_at", "done_at"), task_rows)
        _update_rows(_model("Task").history.model, "history_id", ("history_date",), task_hist)
        # The history rows' copies of the dates too, so that each row shows the object as it stood then.
        _sync_history_copies(Client, [c.pk for c in clients], created="o.created_at",
                             updated_at="h.history_date", stage_changed_at="h.history_date")
        _sync_history_copies(_model("Note"), [n.pk for _, _, ns, _ in made for n in ns],
                             created="o.created_at", updated_at="o.updated_at")
        _sync_history_copies(_model("Task"), [t.pk for _, _, _, ts in made for t in ts], created="o.created_at",
                             done_at="CASE WHEN h.done_at IS NULL THEN NULL ELSE o.done_at END")
