"""Lead routing: which rule takes a lead, and which agent on the rule's target gets it.

Rules are tried in order, the brand's fallback rule last. The first rule whose conditions hold
picks an available agent: a named agent, or one of a desk's agents by round robin, least loaded
(fewest open leads) or weights (smooth weighted round robin). Agents are skipped when inactive, on
leave (User.on_leave_until or AgentAvailability), absent, or off shift (their own shift if they
have one, else the desk's working hours). If nobody is available, the lead waits unassigned in
that desk's queue, unless the rule says to fall through to the next rules.

All web processes and workers share one fair rotation per rule. Round robin and least loaded take
a ticket from a Redis counter per rule (INCR: atomic, and no lock is held while the rest of the
intake's transaction runs, so simultaneous leads are routed in parallel); the ticket says where in
the rotation this lead starts. The last agent picked is also written to the rule's RoutingPointer
row for people to see. Weighted rules, and every rule while Redis cannot be reached, keep their
state in the RoutingPointer row, locked FOR UPDATE until the transaction commits. A `Router`
routes any number of leads of one brand in one transaction and writes the pointers back in `save()`.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any

import redis
from django.core.exceptions import ObjectDoesNotExist
from django.db import connection
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext
from psycopg.types.json import Jsonb

from crm.lib.payloads import desk_ref, user_ref
from crm.lib.redis import get_redis
from crm.models import Brand, Desk, Stage, User
from crm.permissions import AGENT_ROLES
from crm.selectors import client_counts_by_owner
from leads.models import AvailabilityStatus, RoutingPointer, RoutingRule, RoutingStrategy, RoutingTarget
from leads.scoring import LeadFacts

DEFAULT_SHIFT_DAYS: tuple[int, ...] = (1, 2, 3, 4, 5)


@dataclass
class RoutingDecision:
    rule: RoutingRule | None
    owner: User | None
    desk: Desk | None
    why: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)

    @property
    def queued(self) -> bool:
        """Nobody was available: the lead waits unassigned in the desk's queue."""
        return self.owner is None and self.desk is not None

    def as_event_data(self) -> dict[str, Any]:
        return {
            "rule": None if self.rule is None else {"code": str(self.rule.code), "name": self.rule.name},
            "strategy": "" if self.rule is None or self.rule.target_kind == RoutingTarget.AGENT else self.rule.strategy,
            "owner": user_ref(self.owner),
            "desk": desk_ref(self.desk),
            "queued": self.queued,
            "why": list(self.why),
            "skipped": list(self.skipped),
        }


# --- availability -----------------------------------------------------------------------------


def _in_window(local: datetime, start: time, end: time, days: Iterable[int]) -> bool:
    days = list(days) or list(DEFAULT_SHIFT_DAYS)
    now = local.time()
    if start <= end:
        return local.isoweekday() in days and start <= now < end
    # An overnight shift belongs to the day it started on.
    if now >= start:
        return local.isoweekday() in days
    yesterday = (local.isoweekday() - 2) % 7 + 1
    return now < end and yesterday in days


def _tz(name: str) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(name or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def availability_of(user: User) -> Any:
    try:
        return user.lead_availability
    except ObjectDoesNotExist:
        return None


def unavailable_reason(user: User, desk: Desk | None, now: datetime) -> str | None:
    """Why `user` cannot take a new lead at `now` (None: they can)."""
    if not user.is_active:
        return gettext("inactive")
    local = now.astimezone(_tz(user.timezone))
    if user.on_leave_until is not None and user.on_leave_until >= local.date():
        return gettext("on leave until %(date)s") % {"date": user.on_leave_until.isoformat()}
    availability = availability_of(user)
    if availability is not None:
        if availability.status == AvailabilityStatus.ON_LEAVE:
            return gettext("on leave")
        if availability.status == AvailabilityStatus.ABSENT:
            return gettext("absent")
        if availability.shift_start is not None and availability.shift_end is not None:
            if not _in_window(local, availability.shift_start, availability.shift_end, availability.shift_days):
                return gettext("off shift")
            return None
    if desk is not None and not desk.is_open_at(now):
        return gettext("off shift (desk closed)")
    return None


def desk_next_open(desk: Desk, now: datetime) -> datetime | None:
    """When `desk` next opens after `now` (aware, in the desk's time zone), or None if it has no
    working day."""
    tz = _tz(desk.timezone)
    local = now.astimezone(tz)
    days = desk.work_days or [1, 2, 3, 4, 5]
    for offset in range(8):
        day = local.date() + timedelta(days=offset)
        start = datetime.combine(day, desk.work_start, tzinfo=tz)
        if day.isoweekday() in days and start > local:
            return start
    return None


def desk_closed_text(desk: Desk, now: datetime) -> str | None:
    """Why a lead for `desk` waits at `now`, in words, when the desk is closed ("the Sales desk is
    closed until Mon 09:00 (Europe/London)"); None while it is open."""
    if desk.is_open_at(now):
        return None
    opens = desk_next_open(desk, now)
    if opens is None:
        return gettext("the %(desk)s desk is closed") % {"desk": desk.name}
    return gettext("the %(desk)s desk is closed until %(when)s (%(tz)s)") % {
        "desk": desk.name, "when": opens.strftime("%a %H:%M"), "tz": desk.timezone or "UTC"}


# --- conditions -------------------------------------------------------------------------------


def rule_matches(rule: RoutingRule, facts: LeadFacts) -> tuple[bool, list[str]]:
    """Whether the lead meets every condition of `rule`, and the conditions that held."""
    if rule.is_fallback:
        return True, [gettext("fallback rule")]
    why: list[str] = []
    if rule.countries:
        if facts.country not in rule.countries:
            return False, []
        why.append(gettext("country %(value)s") % {"value": facts.country})
    if rule.languages:
        base = facts.language.split("-", 1)[0]
        if not facts.language or (facts.language not in rule.languages and base not in rule.languages):
            return False, []
        why.append(gettext("language %(value)s") % {"value": facts.language})
    if rule.campaigns:
        if not _listed(facts.campaign, rule.campaigns):
            return False, []
        why.append(gettext("campaign %(value)s") % {"value": facts.campaign})
    if rule.sources:
        if not _listed(facts.source, rule.sources):
            return False, []
        why.append(gettext("source %(value)s") % {"value": facts.source})
    if rule.referrer_codes:
        if not _listed(facts.referrer_code, rule.referrer_codes):
            return False, []
        why.append(gettext("referrer %(value)s") % {"value": facts.referrer_code})
    if rule.score_min is not None or rule.score_max is not None:
        score = facts.score if facts.score is not None else 0
        if not _score_within(rule, score):
            return False, []
        why.append(gettext("score %(value)d") % {"value": score})
    if not why:
        why.append(gettext("no conditions"))
    return True, why


def _listed(value: str, allowed: Iterable[str]) -> bool:
    """`value` is one of `allowed`, whatever their case (an empty value never is)."""
    return bool(value) and value.lower() in {a.lower() for a in allowed}


def _score_within(rule: RoutingRule, score: int) -> bool:
    return not ((rule.score_min is not None and score < rule.score_min)
                or (rule.score_max is not None and score > rule.score_max))


# --- the router -------------------------------------------------------------------------------

class Router:
    """Routes leads of one brand within the caller's transaction (see the module docstring)."""

    def __init__(self, brand: Brand, *, now: datetime | None = None, config: Any = None, expected: int = 1) -> None:
        self.brand = brand
        # One lead: each pick is published to the shared rotation at once (compare-and-set). A
        # batch (`expected` > 1) continues the rotation locally and publishes its end in save().
        self._block = max(1, expected)
        self._shared: dict[int, tuple[str, int | None]] = {}  # rule id -> (Redis value, last agent)
        self._last: dict[int, int] = {}  # rule id -> agent picked last, for rules on the shared rotation
        self.now = now or timezone.now()
        # A leads.config.IntakeConfig spares the rule and agent queries (intake passes one).
        self._rules: list[RoutingRule] | None = config.routing_rules if config is not None else None
        self._pointers: dict[int, RoutingPointer] = {}
        self._dirty: set[int] = set()
        # (agent id, desk id) -> why they cannot take a lead: fixed for one router, whose `now` is.
        self._reasons: dict[tuple[int, int | None], str | None] = {}
        self._pools: dict[int, list[User]] = {}
        self._loads: dict[int, dict[int, int]] = {}
        if config is not None:
            self._pools.update(config.pools)

    # -- loading --
    def rules(self) -> list[RoutingRule]:
        if self._rules is None:
            self._rules = list(
                RoutingRule.objects.filter(brand_id=self.brand.pk, is_active=True)
                .select_related("target_desk", "target_desk__manager", "target_agent", "target_agent__desk",
                                "target_agent__lead_availability")
                .order_by("is_fallback", "order", "id")
            )
        return self._rules

    def _pointer(self, rule: RoutingRule) -> RoutingPointer:
        pointer = self._pointers.get(rule.pk)
        if pointer is None:
            pointer = RoutingPointer.objects.select_for_update().filter(rule_id=rule.pk).first()
            if pointer is None:
                RoutingPointer.objects.bulk_create([RoutingPointer(rule_id=rule.pk)], ignore_conflicts=True)
                pointer = RoutingPointer.objects.select_for_update().get(rule_id=rule.pk)
            self._pointers[rule.pk] = pointer
        return pointer

    def pool(self, desk: Desk) -> list[User]:
        """The desk's agents who work for the brand, in a stable order (by id)."""
        members = self._pools.get(desk.pk)
        if members is None:
            members = list(
                User.objects.filter(desk_id=desk.pk, is_active=True, role__code__in=AGENT_ROLES)
                .filter(Q(all_brands=True) | Q(brands=self.brand.pk))
                .select_related("lead_availability", "desk", "role")
                .distinct().order_by("id")
            )
            self._pools[desk.pk] = members
        return members

    def _load(self, desk: Desk, agents: list[User]) -> dict[int, int]:
        loads = self._loads.get(desk.pk)
        if loads is None:
            # Open leads per agent (asked for every lead a least-loaded rule takes: one plain statement).
            loads = {a.pk: 0 for a in agents}
            loads.update(client_counts_by_owner(owner_ids=[a.pk for a in agents], stage=Stage.LEAD))
            self._loads[desk.pk] = loads
        return loads

    def anyone_available(self) -> bool:
        """Whether any rule's agent could take a lead now: the queue's sweep skips a brand whose
        agents are all off shift without looking at its leads."""
        for rule in self.rules():
            if rule.target_kind == RoutingTarget.AGENT:
                agent = rule.target_agent
                if agent is None:
                    continue
                own_desk = agent.desk if agent.desk is not None and agent.desk.brand_id == self.brand.pk else None
                if self._reason(agent, own_desk) is None:
                    return True
            elif rule.target_desk is not None:
                if any(self._reason(a, rule.target_desk) is None for a in self.pool(rule.target_desk)):
                    return True
        return False

    def lock_pointers(self) -> None:
        """Lock the rotation rows of the weighted rules now (they always keep their state there),
        for a caller that locks clients next: intake takes the pointer first, then the client."""
        for rule in self.rules():
            if rule.target_kind == RoutingTarget.DESK and rule.strategy == RoutingStrategy.WEIGHTED:
                self._pointer(rule)

    # -- picking --
    def _reason(self, agent: User, desk: Desk | None) -> str | None:
        key = (agent.pk, desk.pk if desk is not None else None)
        if key not in self._reasons:
            self._reasons[key] = unavailable_reason(agent, desk, self.now)
        return self._reasons[key]

    def _available(self, agents: list[User], desk: Desk, exclude: set[int],
                   skipped: list[dict[str, str]]) -> list[User]:
        out = []
        for agent in agents:
            if agent.pk in exclude:
                continue
            reason = self._reason(agent, desk)
            if reason is None:
                out.append(agent)
            elif not any(s["agent"] == str(agent.code) for s in skipped):
                skipped.append({"agent": str(agent.code), "name": agent.full_name, "reason": reason})
        return out

    @staticmethod
    def _rotation(agents: list[User], last_id: int | None) -> list[User]:
        if last_id is None:
            return agents
        return [a for a in agents if a.pk > last_id] + [a for a in agents if a.pk <= last_id]

    def _shared_last(self, rule: RoutingRule) -> tuple[str, int | None] | None:
        """(the Redis value as read, the agent picked last) of `rule`'s shared rotation, or None
        when Redis cannot be reached. A rotation Redis has lost starts again from the pointer row."""
        known = self._shared.get(rule.pk)
        if known is not None:
            return known
        if self._block == 1 and rule.code in _last_seen:
            # One lead: start from what this process last saw; the compare-and-set in
            # _pick_shared corrects a stale guess with the current value in the same round trip.
            text = _last_seen[rule.code]
            known = self._shared[rule.pk] = (text, int(text) if text.isdigit() else None)
            return known
        try:
            raw = get_redis().get(_rotation_key(rule))
        except redis.RedisError:
            return None
        if raw is None:
            last = RoutingPointer.objects.filter(rule_id=rule.pk).values_list("last_agent_id", flat=True).first()
            known = ("", last)
        else:
            text = raw.decode() if isinstance(raw, bytes) else raw  # our client leaves replies undecoded
            known = (text, int(text) if text.isdigit() else None)
        self._shared[rule.pk] = known
        return known

    def _choose(self, rule: RoutingRule, desk: Desk, agents: list[User], last: int | None, exclude: set[int],
                skipped: list[dict[str, str]]) -> User | None:
        rotation = self._rotation(agents, last)
        if rule.strategy == RoutingStrategy.ROUND_ROBIN:
            # Only the agents up to the first available one, in rotation order, need checking.
            return next((a for a in rotation if self._available([a], desk, exclude, skipped)), None)
        available = self._available(rotation, desk, exclude, skipped)
        if not available:
            return None
        loads = self._load(desk, agents)
        order = {a.pk: i for i, a in enumerate(available)}
        return min(available, key=lambda a: (loads.get(a.pk, 0), order[a.pk]))

    def _pick_shared(self, rule: RoutingRule, desk: Desk, exclude: set[int],
                     skipped: list[dict[str, str]]) -> tuple[bool, User | None]:
        """(handled, agent) through the Redis rotation; not handled when Redis is unreachable."""
        agents = self.pool(desk)
        state = self._shared_last(rule)
        if state is None:
            return False, None
        seen, last = state
        for _attempt in range(50):
            chosen = self._choose(rule, desk, agents, last, exclude, skipped)
            if chosen is None:
                return True, None
            if self._block > 1:
                # A batch continues its own rotation and publishes where it ended in save().
                self._shared[rule.pk] = (seen, chosen.pk)
                break
            try:
                swapped = get_redis().eval(_CAS_SCRIPT, 1, _rotation_key(rule), seen, str(chosen.pk))
            except redis.RedisError:
                return False, None
            if swapped == 1:
                self._shared[rule.pk] = (str(chosen.pk), chosen.pk)
                _last_seen[rule.code] = str(chosen.pk)
                break
            # Another intake moved the rotation on meanwhile: continue from where it left it.
            seen = swapped.decode() if isinstance(swapped, bytes) else str(swapped)
            if not seen:
                # Redis has lost the rotation (restart, flush): start again from the pointer row.
                _last_seen.pop(rule.code, None)
                last = RoutingPointer.objects.filter(rule_id=rule.pk).values_list("last_agent_id", flat=True).first()
                continue
            last = int(seen) if seen.isdigit() else None
        else:
            return False, None
        if rule.strategy == RoutingStrategy.LEAST_LOADED:
            loads = self._load(desk, agents)
            loads[chosen.pk] = loads.get(chosen.pk, 0) + 1
        self._last[rule.pk] = chosen.pk
        self._dirty.add(rule.pk)
        return True, chosen

    def _pick(self, rule: RoutingRule, desk: Desk, exclude: set[int], skipped: list[dict[str, str]]) -> User | None:
        if rule.strategy != RoutingStrategy.WEIGHTED and rule.pk not in self._pointers:
            handled, chosen = self._pick_shared(rule, desk, exclude, skipped)
            if handled:
                return chosen
        agents = self.pool(desk)
        if rule.strategy == RoutingStrategy.ROUND_ROBIN:
            # Only the agents up to the first available one, in rotation order, need checking.
            pointer = self._pointer(rule)
            rotation = self._rotation(agents, pointer.last_agent_id)
            for agent in rotation:
                available = self._available([agent], desk, exclude, skipped)
                if available:
                    break
            else:
                return None
        else:
            available = self._available(agents, desk, exclude, skipped)
        if rule.strategy == RoutingStrategy.WEIGHTED:
            weights = {a.pk: _weight(rule, a) for a in available}
            available = [a for a in available if weights[a.pk] > 0]
        if not available:
            return None
        pointer = self._pointer(rule)
        if rule.strategy == RoutingStrategy.LEAST_LOADED:
            loads = self._load(desk, agents)
            order = {a.pk: i for i, a in enumerate(self._rotation(available, pointer.last_agent_id))}
            chosen = min(available, key=lambda a: (loads.get(a.pk, 0), order[a.pk]))
            loads[chosen.pk] = loads.get(chosen.pk, 0) + 1
        elif rule.strategy == RoutingStrategy.WEIGHTED:
            # Smooth weighted round robin: over any window, each agent's share follows the weights
            # without bursts (weights 3:1 give A A B A, not A A A B).
            state = {str(k): int(v) for k, v in (pointer.state or {}).items()}
            total = 0
            for agent in available:
                weight = _weight(rule, agent)
                state[str(agent.pk)] = state.get(str(agent.pk), 0) + weight
                total += weight
            chosen = max(available, key=lambda a: (state[str(a.pk)], -a.pk))
            state[str(chosen.pk)] -= total
            pointer.state = state
        else:
            chosen = available[0]
        pointer.last_agent_id = chosen.pk
        self._dirty.add(rule.pk)
        return chosen

    def route(self, facts: LeadFacts, *, exclude: Iterable[int] = ()) -> RoutingDecision:
        """The agent (or desk queue) for a lead with `facts`; `exclude`: user ids not to pick."""
        excluded = set(exclude)
        skipped: list[dict[str, str]] = []
        queue: RoutingDecision | None = None
        for rule in self.rules():
            matched, why = rule_matches(rule, facts)
            if not matched:
                continue
            if rule.target_kind == RoutingTarget.AGENT:
                agent = rule.target_agent
                assert agent is not None
                own_desk = agent.desk if agent.desk is not None and agent.desk.brand_id == self.brand.pk else None
                desk = rule.target_desk or own_desk
                reason = gettext("excluded") if agent.pk in excluded else self._reason(agent, own_desk)
                if reason is None:
                    return RoutingDecision(rule, agent, desk, why + [gettext("named agent")], skipped)
                skipped.append({"agent": str(agent.code), "name": agent.full_name, "reason": reason})
            else:
                desk = rule.target_desk
                assert desk is not None
                chosen = self._pick(rule, desk, excluded, skipped)
                if chosen is not None:
                    return RoutingDecision(rule, chosen, desk, why + [_strategy_label(rule.strategy)], skipped)
            if queue is None and desk is not None:
                closed = desk_closed_text(desk, self.now)  # the usual reason on a weekend or at night: say it
                queue = RoutingDecision(rule, None, desk, why + [gettext("nobody available: desk queue")]
                                        + ([closed] if closed else []), skipped)
            if not rule.fall_through:
                break
        if queue is not None:
            return queue
        return RoutingDecision(None, None, None, [gettext("no routing rule matched")], skipped)

    def save(self) -> None:
        """Write back the rotation state of every rule that picked an agent."""
        for sql, params in self.save_statements():
            with connection.cursor() as cursor:
                cursor.execute(sql, params)

    def save_statements(self) -> list[tuple[str, list[Any]]]:
        """The UPDATEs that save() would run, for a caller that sends them with other writes
        (crm.lib.bulk.write); the state counts as saved once they are handed over."""
        statements = []
        for rule_id in sorted(self._dirty):
            pointer = self._pointers.get(rule_id)
            if pointer is None and self._block > 1:
                rule = next(r for r in self.rules() if r.pk == rule_id)
                try:
                    get_redis().set(_rotation_key(rule), str(self._last[rule_id]))
                except redis.RedisError:
                    pass  # the rotation restarts from the pointer row written below
            if pointer is None:
                # Routed by ticket: only "who was picked last" is shown, so a row that another
                # intake is updating right now is left to it rather than waited for.
                statements.append((_POINTER_LAST_SAVE, [self._last[rule_id], self.now, rule_id]))
                continue
            statements.append((_POINTER_SAVE, [pointer.last_agent_id, Jsonb(pointer.state or {}), self.now,
                                               pointer.pk]))
        self._dirty.clear()
        return statements


# A rule's rotation state written back (RoutingPointer's table, leads' own).
_POINTER_SAVE = "UPDATE leads_routingpointer SET last_agent_id = %s, state = %s, updated_at = %s WHERE id = %s"
# Only who was picked last, unless another intake holds the row.
_POINTER_LAST_SAVE = ("UPDATE leads_routingpointer SET last_agent_id = %s, updated_at = %s "
                      "WHERE id = (SELECT id FROM leads_routingpointer WHERE rule_id = %s FOR UPDATE SKIP LOCKED)")


# Set KEYS[1] to ARGV[2] if it still holds ARGV[1] ("" standing for no key): 1, or what it holds.
_CAS_SCRIPT = """
local current = redis.call('GET', KEYS[1]) or ''
if current == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2])
  return 1
end
return current
"""


# rule code -> the rotation's value in Redis as this process last saw it (a guess, never trusted).
_last_seen: dict[Any, str] = {}


def _rotation_key(rule: RoutingRule) -> str:
    # By the rule's code, not its id: ids come back when a test database is created afresh.
    return f"crm:leads:rotation:{rule.code}"


def _weight(rule: RoutingRule, agent: User) -> int:
    value = (rule.weights or {}).get(str(agent.code), 1)
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 1


def _strategy_label(strategy: str) -> str:
    labels: dict[str, str] = {
        RoutingStrategy.ROUND_ROBIN: gettext("round robin"),
        RoutingStrategy.LEAST_LOADED: gettext("least loaded"),
        RoutingStrategy.WEIGHTED: gettext("weighted"),
    }
    return labels.get(strategy, strategy)
