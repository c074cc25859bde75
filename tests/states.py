"""Checks of a state machine's table (crm.lib.states.StateMachine) against its model's choices.

`table_problems(machine)` lists what is wrong with a table, one sentence each; `assert_table_complete`
fails with them. A table is complete when every state of the choices has its row, no row or route
names a state the choices do not have, and the terminal states are declared: each declared one
leaves for nowhere (by the table or any route), and each state that leaves for nowhere is declared.
"""

from __future__ import annotations

from crm.lib.states import StateMachine


def table_problems(machine: StateMachine) -> list[str]:
    states = set(machine.states.values)
    name = machine.name
    problems = [f"{name}: {state!r} has no row in the table" for state in sorted(states - set(machine.transitions))]
    tables = {"the table": machine.transitions, **{f"route {via!r}": table for via, table in machine.routes.items()}}
    for where, table in tables.items():
        for source, targets in table.items():
            if source not in states:
                problems.append(f"{name}: {where} has a row for unknown state {source!r}")
            problems.extend(f"{name}: {where} moves {source!r} to unknown state {target!r}"
                            for target in sorted(set(targets) - states))
    problems.extend(f"{name}: terminal state {state!r} is not one of the choices"
                    for state in sorted(set(machine.terminal) - states))
    for state in sorted(states):
        leaves = any(table.get(state) for table in tables.values())
        if state in machine.terminal and leaves:
            problems.append(f"{name}: terminal state {state!r} has moves")
        if state not in machine.terminal and not leaves:
            problems.append(f"{name}: {state!r} leads nowhere but is not declared terminal")
    return problems


def assert_table_complete(machine: StateMachine) -> None:
    problems = table_problems(machine)
    assert not problems, "\n".join(problems)
