"""The plan: every demo client decided from the seed before anything is written (no database access)."""

from __future__ import annotations

import random
import unicodedata
import zoneinfo
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

import phonenumbers

from demo.funnel import (
    AFFILIATES,
    CAMPAIGNS,
    CLOSE_REASONS,
    CREATIVES,
    MIN_AGE_DAYS,
    SEARCH_TERMS,
    SOURCES,
    STAGE_PATH,
    STAGE_WEIGHTS,
    STEP_HOURS,
    TAGS,
    Attribution,
)
from demo.markets import ARABIC_SCRIPT, BRAND_SHARE, EMAIL_DOMAINS, MARKETS, NAMES, Market
from demo.notes_and_tasks import NOTES, TASKS
from demo.organisation import DESKS, STAFF

SEED = 20_240_611


HISTORY_DAYS = 180


@dataclass
class NotePlan:
    author: str  # staff email
    body: str
    at: datetime


@dataclass
class TaskPlan:
    assignee: str  # staff email
    title: str
    description: str
    created_at: datetime
    due_at: datetime
    remind_at: datetime | None
    done_at: datetime | None


@dataclass
class ClientPlan:
    index: int
    brand: str
    desk: str | None
    owner: str | None  # staff email
    first_name: str
    last_name: str
    email: str
    phone: str
    country: str
    language: str
    timezone: str
    date_of_birth: date
    attribution: Attribution
    tags: list[str]
    created_at: datetime
    # Moves after creation, in order: (stage, when, actor email or None for the system, reason).
    steps: list[tuple[str, datetime, str | None, str]] = field(default_factory=list)
    notes: list[NotePlan] = field(default_factory=list)
    tasks: list[TaskPlan] = field(default_factory=list)

    @property
    def stage(self) -> str:
        return self.steps[-1][0] if self.steps else "lead"

    @property
    def stage_changed_at(self) -> datetime:
        return self.steps[-1][1] if self.steps else self.created_at

    @property
    def verified_at(self) -> datetime | None:
        """When the client's verification was approved (its move to verified), or None."""
        return next((at for stage, at, _actor, _reason in self.steps if stage == "verified"), None)

    def actions(self) -> list[tuple[datetime, int, str, Any]]:
        """Everything that happens to the client after creation, in time order (ties keep kind order)."""
        items: list[tuple[datetime, int, str, Any]] = []
        for step in self.steps:
            items.append((step[1], 0, "stage", step))
        for note in self.notes:
            items.append((note.at, 1, "note", note))
        for task in self.tasks:
            items.append((task.created_at, 2, "task", task))
            if task.done_at is not None:
                items.append((task.done_at, 3, "task_done", task))
        items.sort(key=lambda item: (item[0], item[1]))
        return items


def _weighted[T](rng: random.Random, options: Sequence[tuple[T, float]]) -> T:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options], k=1)[0]


def _ascii(text: str) -> str:
    text = text.replace("ß", "ss").replace("ł", "l").replace("Ł", "L").replace("ø", "o")
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum())


def _phone(rng: random.Random, country: str, used: set[str]) -> str:
    example = phonenumbers.example_number_for_type(country, phonenumbers.PhoneNumberType.MOBILE)
    if example is None:
        raise ValueError(f"phonenumbers knows no mobile number of {country!r}: not a demo country")
    national = str(example.national_number)
    keep = max(len(national) - 6, 1)
    for _ in range(50):
        digits = national[:keep] + "".join(str(rng.randrange(10)) for _ in range(len(national) - keep))
        number = phonenumbers.PhoneNumber(country_code=example.country_code, national_number=int(digits))
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        if e164 not in used and phonenumbers.is_valid_number(number):
            used.add(e164)
            return e164
    return ""  # no valid free number found: the client simply has no phone on file


def _local_day_end(moment: datetime, tz_name: str) -> datetime:
    tz = zoneinfo.ZoneInfo(tz_name)
    local = moment.astimezone(tz)
    return datetime.combine(local.date(), time(23, 59), tzinfo=tz).astimezone(moment.tzinfo)


class Planner:
    """Decides the whole demo data set from the seed. Pure: no database access."""

    def __init__(self, *, clients: int, now: datetime, seed: int = SEED) -> None:
        self.count = clients
        self.now = now
        self.seed = seed
        self.rng = random.Random(seed)
        self.emails: set[str] = set()
        self.phones: set[str] = set()
        self.staff = {s.email: s for s in STAFF}
        self.desk_by_key = {d.key: d for d in DESKS}
        self.agents: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for spec in STAFF:
            if spec.role in ("sales_agent", "retention_agent") and spec.desk:
                # Books differ in size: seniority, hours, languages.
                self.agents[spec.desk].append((spec.email, 1.0 + 0.25 * len(self.agents[spec.desk])))
        self.managers = {s.manages: s.email for s in STAFF if s.manages}
        self.compliance = next(s.email for s in STAFF if s.role == "compliance")

    def plan(self) -> list[ClientPlan]:
        plans = [self._client(i) for i in range(self.count)]
        self._guarantee_task_mix(plans)
        return plans

    # one client

    def _client(self, index: int) -> ClientPlan:
        # A stream of its own per client, and who the client is drawn before anything that depends
        # on the time of day of the run: the same clients every run, only their dates move.
        rng = self.rng = random.Random(f"{self.seed}:{index}")
        # The first few cover every stage, so that even a small demo shows the whole funnel.
        final = STAGE_WEIGHTS[index][0] if index < len(STAGE_WEIGHTS) else _weighted(rng, STAGE_WEIGHTS)
        brand = _weighted(rng, BRAND_SHARE)
        market = _weighted(rng, [(m, m.weight) for m in MARKETS if m.brand == brand])
        language = _weighted(rng, market.languages)
        first, last = self._name(market, language)
        desk = self._desk(brand, market.country, language)
        email = self._email(first, last, index)
        phone = _phone(rng, market.country, self.phones)
        attribution = self._attribution(brand, desk, market.country)
        tags = self._tags(language, market.country)
        age_days = self._age_days(final)
        owner = self._owner(desk, final, age_days)
        plan = ClientPlan(
            index=index, brand=brand, desk=desk, owner=owner, first_name=first, last_name=last,
            email=email, phone=phone, country=market.country, language=language, timezone=market.timezone,
            date_of_birth=self._birth_date(), attribution=attribution, tags=tags,
            created_at=self._created_at(age_days),
        )
        self._display_name(plan)
        self._steps(plan, final)
        self._notes(plan)
        self._tasks(plan)
        return plan

    def _name(self, market: Market, language: str) -> tuple[str, str]:
        # Names follow the country, whatever language the client prefers to be served in.
        firsts, lasts = NAMES[market.names]
        return self.rng.choice(firsts), self.rng.choice(lasts)

    def _display_name(self, plan: ClientPlan) -> None:
        if plan.language == "ar" and self.rng.random() < 0.3:
            plan.first_name = ARABIC_SCRIPT.get(plan.first_name, plan.first_name)
            plan.last_name = ARABIC_SCRIPT.get(plan.last_name, plan.last_name)

    def _email(self, first: str, last: str, index: int) -> str:
        rng = self.rng
        f, surname = _ascii(first), _ascii(last)
        pattern = rng.randrange(5)
        local = (f"{f}.{surname}", f"{f}{surname}{rng.randrange(1, 99)}", f"{f[0]}{surname}",
                 f"{f}_{surname}", f"{surname}.{f}{rng.randrange(70, 100)}")[pattern]
        domain = _weighted(rng, EMAIL_DOMAINS)
        email = f"{local}@{domain}"
        n = 2
        while email in self.emails:
            email = f"{local}{n}@{domain}"
            n += 1
        self.emails.add(email)
        return email

    def _desk(self, brand: str, country: str, language: str) -> str:
        if brand == "nova":
            return "nova-ret"
        arabic = self.desk_by_key["atlas-ar"]
        return "atlas-ar" if country in arabic.countries and language == "ar" else "atlas-en"

    def _owner(self, desk: str, final: str, age_days: float) -> str | None:
        # Both draws always happen, so that the stream does not depend on the branch taken.
        coin, agent = self.rng.random(), _weighted(self.rng, self.agents[desk])
        # Fresh leads wait on the desk for routing; Nova's retention desk only takes on clients
        # once they have moved past a first contact.
        if final == "lead" and age_days < 2 and coin < 0.5:
            return None
        if desk == "nova-ret" and final == "lead" and age_days < 7:
            return None
        return agent

    def _age_days(self, final: str) -> float:
        # More recent clients than old ones: marketing spend grew over the period.
        low = MIN_AGE_DAYS[final]
        return float(low + (HISTORY_DAYS - low) * (self.rng.random() ** 1.35))

    def _created_at(self, days: float) -> datetime:
        moment = self.now - timedelta(days=days)
        # Leads arrive mostly in the daytime of the brokerage (06:00-22:00 UTC).
        hour = 6 + self.rng.random() * 16
        moment = moment.replace(hour=int(hour), minute=int((hour % 1) * 60), second=self.rng.randrange(60),
                                microsecond=0)
        return min(moment, self.now - timedelta(minutes=5 + self.rng.randrange(120)))

    def _birth_date(self) -> date:
        age_days = int(self.rng.triangular(21, 70, 34) * 365.25)
        return (self.now - timedelta(days=age_days)).date()

    def _attribution(self, brand: str, desk: str | None, country: str) -> Attribution:
        rng = self.rng
        source = _weighted(rng, SOURCES)
        campaign = rng.choice(CAMPAIGNS["nova" if brand == "nova" else (desk or "atlas-en")])
        if source == "google":
            return Attribution(source, campaign, "google", "cpc", campaign, rng.choice(SEARCH_TERMS),
                               f"ad-{rng.randrange(1, 40):02d}")
        if source in ("facebook", "instagram", "tiktok"):
            return Attribution(source, campaign, source, "paid_social", campaign, "", rng.choice(CREATIVES))
        if source == "affiliate":
            partner = rng.choice(AFFILIATES)
            return Attribution(source, campaign, partner, "affiliate", campaign, "", "",
                               f"AFF-{rng.randrange(1000, 1100)}")
        if source == "ib":
            return Attribution(source, "", "", "", "", "", "", f"IB-{rng.randrange(2000, 2060)}")
        if source == "referral":
            return Attribution(source, "", "", "referral", "", "", "", f"REF-{rng.randrange(10000, 99999)}")
        if source == "webinar":
            name = "webinar-" + rng.choice(("gold-outlook", "central-banks", "trading-psychology"))
            return Attribution(source, name, "webinar", "email", name)
        return Attribution("organic")

    def _tags(self, language: str, country: str) -> list[str]:
        tags = [tag for tag, pct in TAGS if self.rng.random() * 100 < pct]
        if language == "ar" and self.rng.random() < 0.3:
            tags.append("islamic-account")
        return tags

    def _steps(self, plan: ClientPlan, final: str) -> None:
        rng = self.rng
        if final == "closed":
            path = list(STAGE_PATH[1:1 + rng.choice((0, 0, 0, 1, 1, 2, 4))]) + ["closed"]
        else:
            path = list(STAGE_PATH[1:STAGE_PATH.index(final) + 1])
        moments: list[datetime] = []
        at = plan.created_at
        for stage in path:
            low, high = STEP_HOURS[stage]
            at = at + timedelta(hours=low + (high - low) * rng.random() ** 2)
            moments.append(at)
        latest = self.now - timedelta(minutes=2)
        if moments and moments[-1] > latest:
            # Squeeze the whole path into the time the client has existed.
            total = (moments[-1] - plan.created_at).total_seconds()
            room = (latest - plan.created_at).total_seconds()
            moments = [plan.created_at + timedelta(seconds=(m - plan.created_at).total_seconds() * room / total)
                       for m in moments]
        for stage, moment in zip(path, moments, strict=True):
            actor: str | None = None
            reason = ""
            if stage == "verified":
                actor = self.compliance
            elif stage == "closed":
                actor = plan.owner or self.managers.get(plan.desk or "")
                reason = rng.choice(CLOSE_REASONS)
            plan.steps.append((stage, moment, actor, reason))

    def _stage_at(self, plan: ClientPlan, moment: datetime) -> str:
        stage = "lead"
        for step_stage, at, _, _ in plan.steps:
            if at <= moment:
                stage = step_stage
        return stage

    def _random_moment(self, plan: ClientPlan, *, after: datetime | None = None) -> datetime:
        start = after or plan.created_at
        span = max((self.now - timedelta(minutes=1) - start).total_seconds(), 1)
        return start + timedelta(seconds=span * self.rng.random())

    def _notes(self, plan: ClientPlan) -> None:
        rng = self.rng
        count = _weighted(rng, ((0, 25), (1, 40), (2, 22), (3, 13)))
        author = plan.owner or self.managers.get(plan.desk or "")
        if author is None:
            return
        used: set[str] = set()
        for _ in range(count):
            at = self._random_moment(plan)
            stage = self._stage_at(plan, at)
            writer = author if rng.random() < 0.85 else self.managers.get(plan.desk or "", author)
            choices = [b for b in NOTES[stage] if b not in used] or list(NOTES[stage])
            template = rng.choice(choices)
            used.add(template)
            body = template.format(country=plan.country, first=plan.first_name)
            plan.notes.append(NotePlan(author=writer, body=body, at=at))
        plan.notes.sort(key=lambda n: n.at)

    def _tasks(self, plan: ClientPlan) -> None:
        rng = self.rng
        assignee = plan.owner or self.managers.get(plan.desk or "")
        if assignee is None or plan.stage == "closed":
            return
        count = _weighted(rng, ((0, 45), (1, 38), (2, 17)))
        tz = self.staff[assignee].timezone
        for n in range(count):
            created = self._random_moment(plan)
            stage = self._stage_at(plan, created)
            title, description = rng.choice(TASKS.get(stage, TASKS["active"]))
            title = title.format(first=plan.first_name)
            open_task = n == count - 1 and rng.random() < 0.6
            if open_task:
                kind = _weighted(rng, (("overdue", 30), ("today", 20), ("future", 50)))
                due = self._due(kind, created, tz)
                done = None
            else:
                due = created + timedelta(hours=rng.uniform(2, 96))
                done_at = min(due + timedelta(hours=rng.uniform(-24, 24)), self.now - timedelta(minutes=1))
                done = max(done_at, created + timedelta(minutes=5))
                if done >= self.now:
                    done = None
            remind = due - timedelta(minutes=15) if done is None and due > self.now else None
            plan.tasks.append(TaskPlan(assignee=assignee, title=title, description=description,
                                       created_at=created, due_at=due, remind_at=remind, done_at=done))
        plan.tasks.sort(key=lambda t: t.created_at)

    def _due(self, kind: str, created: datetime, tz: str) -> datetime:
        rng = self.rng
        if kind == "overdue":
            earliest = max(created + timedelta(hours=1), self.now - timedelta(days=10))
            if earliest >= self.now - timedelta(minutes=30):
                return self.now - timedelta(minutes=10)
            return earliest + (self.now - timedelta(minutes=30) - earliest) * rng.random()
        if kind == "today":
            end = _local_day_end(self.now, tz)
            room = (end - self.now).total_seconds()
            share = rng.random()
            if room < 1800:
                return self.now + timedelta(minutes=20)
            return self.now + timedelta(seconds=900 + (room - 900) * share)
        return self.now + timedelta(hours=rng.uniform(26, 14 * 24))

    def _guarantee_task_mix(self, plans: list[ClientPlan]) -> None:
        """Every agent and desk manager with a book sees overdue tasks and tasks due today."""
        self.rng = random.Random(f"{self.seed}:tasks")
        open_by_assignee: dict[str, list[TaskPlan]] = defaultdict(list)
        for plan in plans:
            for task in plan.tasks:
                if task.done_at is None:
                    open_by_assignee[task.assignee].append(task)
        for assignee in sorted(open_by_assignee):
            tasks = open_by_assignee[assignee]
            tz = self.staff[assignee].timezone
            overdue = sum(1 for t in tasks if t.due_at < self.now)
            today = sum(1 for t in tasks if self.now <= t.due_at <= _local_day_end(self.now, tz))
            future = [t for t in tasks if t.due_at > _local_day_end(self.now, tz)]
            for task in future:
                if overdue >= 2 and today >= 2:
                    break
                kind = "overdue" if overdue < 2 else "today"
                task.due_at = self._due(kind, task.created_at, tz)
                task.remind_at = task.due_at - timedelta(minutes=15) if task.due_at > self.now else None
                if kind == "overdue":
                    overdue += 1
                else:
                    today += 1
