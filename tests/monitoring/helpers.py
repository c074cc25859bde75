"""Shared set-ups of the monitoring tests, built through the services and the recording's bulk path."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db import connection
from psycopg import sql

from crm.models import Brand, Desk, User
from monitoring import scenarios
from monitoring.demo import scenario_context_record, scenario_rows
from monitoring.recording import activity_buffered, activity_flush, activity_write_many
from tests.factories import make_brand, make_desk, make_user


@dataclass
class History:
    brand: Brand
    desk: Desk
    manager: User
    agents: list[User]
    scenario: scenarios.Scenario


def desk_with_history(*, agents: int = 6, days: int = 90, end: date, seed: int = 5) -> History:
    """A desk of `agents` whose generated history (no injected anomalies) ends on `end`."""
    brand = make_brand()
    manager = make_user(role_code="desk_manager", brand=brand)
    desk = make_desk(brand=brand, manager=manager)
    scenario = scenarios.generate(agents=agents, days=days, seed=seed, injections_per_kind=0,
                                  start=end - timedelta(days=days - 1), shift_history=True)
    users = [make_user(role_code="retention_agent" if spec["role"] == "retention" else "sales_agent", desk=desk)
             for spec in scenario.context["agents"]]
    by_id = {spec["id"]: u for spec, u in zip(scenario.context["agents"], users, strict=True)}
    scenario_context_record(scenario=scenario, by_id=by_id, manager=manager, desk=desk, brand=brand,
                            start=end - timedelta(days=days - 1))
    activity_write_many(scenario_rows(scenario, by_id, brand))
    return History(brand=brand, desk=desk, manager=manager, agents=users, scenario=scenario)


def activity_rows(**where: Any) -> list[dict[str, Any]]:
    """The activity table's rows matching `where` (column = value), oldest first."""
    activity_flush()
    clauses = sql.SQL(" AND ").join([sql.SQL("{} = %s").format(sql.Identifier(k)) for k in where] or [sql.SQL("TRUE")])
    statement = sql.SQL("SELECT * FROM monitoring_activity WHERE {clauses} ORDER BY time, id").format(clauses=clauses)
    with connection.cursor() as cur:
        cur.execute(statement.as_string(None), list(where.values()))
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def buffer_empty() -> bool:
    return activity_buffered() == 0
