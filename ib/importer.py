"""The migration import of the partner programme (`manage.py ib_import FILE.json`): instruments and
their groups, FX rates, partners with parents, plans with versions, plan assignments and account
overrides, clients (registration, KYC approval, referring partner, trading accounts), dated
re-attributions, deposits, chargebacks and refunds, and what the old CRM paid per partner and month
(the backtest's reference), each with the time it was known; the brand and the platform server are
created when missing. The format is documented in README.md ("Partner commissions"), with a full
example in ib/examples/ and a year of history in tests/ib/test_migration_history.py.

Everything goes through the owning apps' services (crm: brand and client; trading: server and
accounts; KYC: approvals; ib: the rest), in one transaction: a bad entry names where it is
("plans[0].versions[1].rules[0].level_rates") and nothing is written. Rerunning the same file
changes nothing: the brand is found by code, the server by name, partners and clients by e-mail,
plans by name, versions by (effective_from, recorded_at), assignments by (target, effective_from),
re-attributions by (client, partner, effective_from), deposits and chargebacks by reference, the
old CRM's totals by (partner, period, currency), and a client approved already is not approved again.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter
from collections.abc import Mapping
from typing import Any

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.translation import gettext

from crm.exceptions import DomainError, NotFound, ValidationFailed
from crm.jobs import job_start
from crm.lib.fieldcrypt import keyed_hashes
from crm.lib.money import Money, money_parse
from crm.lib.validation import InvalidValue
from crm.models import Brand, Client
from crm.permissions import user_can, visible_brands
from ib import commissions as cs
from ib import services
from ib.models import (
    AttributionConflict,
    ClientAttribution,
    ClientChargeback,
    ClientDeposit,
    CommissionPlan,
    Partner,
    PlanAssignment,
    PlanVersion,
)
from trading.models import PlatformServer, TradingAccount


class ImportCounts(Counter[str]):
    """What an import added, by kind, and `notes`: the sentences that say what it created beyond
    the partner programme (a brand, a platform server), for the command to print."""

    def __init__(self) -> None:
        super().__init__()
        self.notes: list[str] = []


class ImportFailed(Exception):
    def __init__(self, where: str, message: str) -> None:
        self.where, self.message = where, message
        super().__init__(f"{where}: {message}")


def _req(entry: Mapping[str, Any], key: str, where: str) -> Any:
    value = entry.get(key)
    if value in (None, ""):
        raise ImportFailed(f"{where}.{key}", "required")
    return value


def _when(value: Any, where: str) -> dt.datetime:
    parsed = parse_datetime(str(value)) if value else None
    if parsed is None:
        raise ImportFailed(where, "a date and time such as 2024-03-01T00:00:00Z")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _day(value: Any, where: str) -> dt.date:
    parsed = parse_date(str(value)) if value else None
    if parsed is None:
        raise ImportFailed(where, "a date such as 2024-03-01")
    return parsed


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key) or []
    if not isinstance(value, list):
        raise ImportFailed(key, "a list")
    return value


class _Import:
    """One import, section by section (each a method, in the order of the file's dependencies):
    `where` names the entry being read, for the error."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.counts = ImportCounts()
        self.where = "brand"
        self.server: PlatformServer | None = None
        self.groups: dict[Any, Any] = {}
        self.partners: dict[str, Partner] = {}
        self.plans: dict[str, CommissionPlan] = {}
        self.clients: dict[str, Client] = {}
        # Imported history is known since its own time (a backtest as of a past moment sees what
        # the old system knew then), unless an entry says when it was recorded ("recorded_at").
        self.brand = self._brand()

    def run(self) -> ImportCounts:
        self._server()
        for section in (self._instrument_groups, self._instruments, self._fx_rates, self._partners, self._plans,
                        self._clients, self._assignments, self._reattributions, self._deposits, self._chargebacks,
                        self._legacy_totals):
            section()
        return self.counts

    def _each(self, key: str) -> list[tuple[str, Mapping[str, Any]]]:
        out = []
        for i, entry in enumerate(_list(self.data, key)):
            if not isinstance(entry, Mapping):
                raise ImportFailed(f"{key}[{i}]", "an object")
            out.append((f"{key}[{i}]", entry))
        return out

    def _brand(self) -> Brand:
        """The brand by its code: `"brand": "atlas"`, or `{"code", "name", "currency", "language"}`,
        which creates it when missing (and says so)."""
        raw = _req(self.data, "brand", "")
        spec: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {"code": raw}
        code = str(_req(spec, "code", "brand"))
        brand = Brand.objects.filter(code=code).first()
        if brand is not None:
            return brand
        if not spec.get("name"):
            raise ImportFailed("brand", f"no brand {code!r} (give {{\"code\", \"name\"}} to create it)")
        from crm.services import brand_create

        brand = brand_create(actor=None, code=code, name=str(spec["name"]),
                             default_currency=str(spec.get("currency") or "USD"),
                             default_language=str(spec.get("language") or "en"))
        self.counts["brands created"] += 1
        self.counts.notes.append(f"Created the brand {brand.code} ({brand.name}).")
        return brand

    def _server(self) -> None:
        """The platform server by name: `"server": "MT5 Live"`, or an object (`name`, `kind`, `host`,
        `manager_login`, `server_tz`, `account_types`) that creates it when missing: inactive and not
        synced until an administrator completes its connection (and the note says so)."""
        raw = self.data.get("server")
        if not raw:
            return
        self.where = "server"
        spec: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {"name": raw}
        name = str(_req(spec, "name", "server"))
        self.server = PlatformServer.objects.filter(brand=self.brand, name=name).first()
        if self.server is not None:
            return
        if not isinstance(raw, Mapping):
            raise ImportFailed("server", f"no server named {name!r} on this brand (give an object with its "
                                         "account_types to create it)")
        from trading.services import platform_server_import

        self.server = platform_server_import(
            actor=None, brand=self.brand, name=name, kind=str(spec.get("kind") or "mt5_web"),
            host=str(spec.get("host") or ""), manager_login=int(spec.get("manager_login") or 0),
            server_tz=str(spec.get("server_tz") or ""), account_types=spec.get("account_types"))
        self.counts["servers created"] += 1
        self.counts.notes.append(
            f"Created the platform server {self.server.name} of {self.brand.code}: inactive and not synced "
            "until an administrator enters its connection and manager password and activates it.")

    def _instrument_groups(self) -> None:
        for where, g in self._each("instrument_groups"):
            self.where = where
            self.groups[g.get("code")] = cs.instrument_group_save(
                actor=None, brand=self.brand, code=_req(g, "code", self.where), name=g.get("name", ""),
                units_per_lot=g.get("units_per_lot", "100000"))
            self.counts["instrument groups"] += 1

    def _instruments(self) -> None:
        for where, ins in self._each("instruments"):
            self.where = where
            group = self.groups.get(ins.get("group"))
            if group is None:
                raise ImportFailed(f"{self.where}.group", f"no instrument group {ins.get('group')!r} in this file")
            cs.instrument_save(actor=None, brand=self.brand, symbol=_req(ins, "symbol", self.where), group=group,
                               contract_size=_req(ins, "contract_size", self.where),
                               profit_currency=ins.get("profit_currency", "USD"),
                               units_per_lot=ins.get("units_per_lot"), markup_per_lot=ins.get("markup_per_lot"))
            self.counts["instruments"] += 1

    def _fx_rates(self) -> None:
        for where, fx in self._each("fx_rates"):
            self.where = where
            cs.fx_rate_set(actor=None, base=_req(fx, "base", self.where), quote=_req(fx, "quote", self.where),
                           day=_day(fx.get("day"), f"{self.where}.day"), rate=_req(fx, "rate", self.where),
                           source=fx.get("source", "import"))
            self.counts["fx rates"] += 1

    def _partners(self) -> None:
        for where, p in self._each("partners"):
            self.where = where
            ref, email = _req(p, "ref", self.where), _req(p, "email", self.where)
            parent = None
            if p.get("parent"):
                parent = self.partners.get(p["parent"])
                if parent is None:
                    raise ImportFailed(f"{self.where}.parent", f"no partner {p['parent']!r} before this one")
            partner = Partner.objects.filter(brand=self.brand,
                                             contact_email_hash__in=keyed_hashes(email, kind="email")).first()
            if partner is None:
                partner = services.partner_create(actor=None, brand=self.brand,
                                                  display_name=_req(p, "name", self.where), email=email,
                                                  parent=parent, country=p.get("country", ""))
                self.counts["partners"] += 1
            self.partners[ref] = partner

    def _plans(self) -> None:
        for where, pl in self._each("plans"):
            self.where = where
            at = self.where
            name = _req(pl, "name", at)
            plan = CommissionPlan.objects.filter(brand=self.brand, name=name).first()
            if plan is None:
                plan = cs.plan_create(actor=None, brand=self.brand, name=name, currency=pl.get("currency", "USD"))
                self.counts["plans"] += 1
            self.plans[name] = plan
            for j, v in enumerate(pl.get("versions") or []):
                self.where = f"{at}.versions[{j}]"
                self._version(plan, v)

    def _version(self, plan: CommissionPlan, v: Mapping[str, Any]) -> None:
        effective = _when(v.get("effective_from"), f"{self.where}.effective_from")
        recorded = _when(v.get("recorded_at") or v.get("effective_from"), f"{self.where}.recorded_at")
        if PlanVersion.objects.filter(plan=plan, effective_from=effective, recorded_at=recorded).exists():
            return
        cs.plan_version_record(
            actor=None, plan=plan, effective_from=effective, recorded_at=recorded, rules=v.get("rules") or [],
            min_hold_seconds=int(v.get("min_hold_seconds", 0)), split_mode=v.get("split_mode", "levels"),
            pass_up_percent=v.get("pass_up_percent", "0"), period_cap=v.get("period_cap"),
            period_minimum=v.get("period_minimum"), note=v.get("note", ""),
            pass_up_base=v.get("pass_up_base") or "out_of", hedge_mode=v.get("hedge_mode") or "later_unpaid",
            client_cap=v.get("client_cap"), pass_up_percents=v.get("pass_up_percents"))
        self.counts["plan versions"] += 1

    def _clients(self) -> None:
        from crm.services import client_create

        for where, c in self._each("clients"):
            self.where = where
            at = self.where
            ref, email = _req(c, "ref", at), _req(c, "email", at)
            client = Client.objects.filter(brand=self.brand,
                                           email_hash__in=keyed_hashes(email, kind="email")).first()
            if client is None:
                registered = (_when(c["registered_at"], f"{at}.registered_at") if c.get("registered_at")
                              else None)
                client = client_create(actor=None, brand=self.brand, first_name=_req(c, "first_name", at),
                                       last_name=c.get("last_name", ""), email=email, country=c.get("country", ""),
                                       registered_at=registered)
                self.counts["clients"] += 1
            self.clients[ref] = client
            if c.get("kyc_approved_at"):
                self._kyc_approval(client, _when(c["kyc_approved_at"], f"{at}.kyc_approved_at"))
            if c.get("partner"):
                self._attribution(client, c)
            for k, a in enumerate(c.get("accounts") or []):
                self.where = f"{at}.accounts[{k}]"
                self._account(client, a)

    def _attribution(self, client: Client, c: Mapping[str, Any]) -> None:
        partner = self.partners.get(c["partner"])
        if partner is None:
            raise ImportFailed(f"{self.where}.partner", f"no partner {c['partner']!r} in this file")
        since = _when(c.get("since"), f"{self.where}.since")
        recorded = _when(c["recorded_at"], f"{self.where}.recorded_at") if c.get("recorded_at") else None
        result = services.client_attribution_import(actor=None, client=client, partner=partner, touched_at=since,
                                                    reason="migration import", recorded_at=recorded)
        # A client already another partner's opens a conflict for the IB manager: not an attribution.
        if isinstance(result, AttributionConflict):
            self.counts["attribution conflicts"] += 1
        elif result is not None:
            self.counts["attributions"] += 1

    def _kyc_approval(self, client: Client, approved_at: dt.datetime) -> None:
        from kyc.services import kyc_approval_import

        self.counts["kyc approvals"] += kyc_approval_import(client=client, approved_at=approved_at)

    def _reattributions(self) -> None:
        """Dated moves of a client to another partner: from `effective_from`, known since
        `recorded_at` (default its effective_from); a rerun finds the move already made."""
        for where, move in self._each("reattributions"):
            self.where = where
            client = self._client_of(move)
            partner = self.partners.get(str(move.get("partner")))
            if partner is None:
                raise ImportFailed(f"{where}.partner", f"no partner {move.get('partner')!r} in this file")
            effective = _when(move.get("effective_from"), f"{where}.effective_from")
            recorded = _when(move["recorded_at"], f"{where}.recorded_at") if move.get("recorded_at") else None
            if ClientAttribution.objects.filter(client=client, partner=partner, effective_from=effective).exists():
                continue
            services.client_reattribute(actor=None, client=client, partner=partner, effective_from=effective,
                                        recorded_at=recorded, reason=str(move.get("reason") or "migration import"),
                                        source="import")
            self.counts["re-attributions"] += 1

    def _account(self, client: Client, a: Mapping[str, Any]) -> None:
        from trading.services import trading_account_register

        if self.server is None:
            raise ImportFailed("server", "required when clients have accounts")
        login = int(_req(a, "login", self.where))
        self.counts["accounts"] += not TradingAccount.objects.filter(server=self.server, login=login).exists()
        trading_account_register(actor=None, client=client, server=self.server, login=login,
                                 account_type=_req(a, "account_type", self.where), currency=a.get("currency", ""))

    def _assignments(self) -> None:
        for where, asg in self._each("assignments"):
            self.where = where
            plan = (self.plans.get(str(asg.get("plan")))
                    or CommissionPlan.objects.filter(brand=self.brand, name=asg.get("plan")).first())
            if plan is None:
                raise ImportFailed(f"{self.where}.plan", f"no plan {asg.get('plan')!r}")
            effective = _when(asg.get("effective_from"), f"{self.where}.effective_from")
            recorded = _when(asg.get("recorded_at") or asg.get("effective_from"), f"{self.where}.recorded_at")
            target = self._target(asg)
            if PlanAssignment.objects.filter(effective_from=effective, **target).exists():
                continue
            cs.plan_assign(actor=None, plan=plan, effective_from=effective, recorded_at=recorded, **target)
            self.counts["assignments"] += 1

    def _target(self, asg: Mapping[str, Any]) -> dict[str, Any]:
        if asg.get("partner"):
            if asg["partner"] not in self.partners:
                raise ImportFailed(f"{self.where}.partner", f"no partner {asg['partner']!r} in this file")
            return {"partner": self.partners[asg["partner"]]}
        if asg.get("account"):
            account = TradingAccount.objects.filter(server=self.server, login=asg["account"]).first()
            if account is None:
                raise ImportFailed(f"{self.where}.account", f"no account {asg['account']!r} on the server")
            return {"account": account}
        raise ImportFailed(self.where, "name a partner or an account")

    def _client_of(self, entry: Mapping[str, Any]) -> Client:
        client = self.clients.get(str(entry.get("client")))
        if client is None:
            raise ImportFailed(f"{self.where}.client", f"no client {entry.get('client')!r} in this file")
        return client

    def _money(self, entry: Mapping[str, Any]) -> Money:
        try:
            raw = _req(entry, "amount", self.where)
            # At most the currency's decimals; a JSON number as written.
            return money_parse(repr(raw) if isinstance(raw, float) else raw, _req(entry, "currency", self.where),
                               typed=False)
        except InvalidValue as error:
            raise ImportFailed(f"{self.where}.{error.field}", error.message) from None

    def _deposits(self) -> None:
        for where, dep in self._each("deposits"):
            self.where = where
            client = self._client_of(dep)
            self.counts["deposits"] += not ClientDeposit.objects.filter(reference=dep.get("reference")).exists()
            cs.deposit_record(client=client, amount=self._money(dep), at=_when(dep.get("at"), f"{self.where}.at"),
                              reference=_req(dep, "reference", self.where), source="import",
                              recorded_at=self._recorded(dep))

    def _chargebacks(self) -> None:
        for where, cb in self._each("chargebacks"):
            self.where = where
            client = self._client_of(cb)
            self.counts["chargebacks"] += not ClientChargeback.objects.filter(reference=cb.get("reference")).exists()
            cs.chargeback_record(client=client, amount=self._money(cb), at=_when(cb.get("at"), f"{self.where}.at"),
                                 reference=_req(cb, "reference", self.where), kind=cb.get("kind") or "chargeback",
                                 deposit_reference=str(cb.get("deposit") or ""), recorded_at=self._recorded(cb))

    def _recorded(self, entry: Mapping[str, Any]) -> dt.datetime | None:
        return _when(entry["recorded_at"], f"{self.where}.recorded_at") if entry.get("recorded_at") else None

    def _legacy_totals(self) -> None:
        """What the old CRM paid each partner per period (`partner`, `period` YYYY-MM, `amount`,
        `currency`, `note`): the backtest's other column (ib.selectors.backtest_report)."""
        for where, row in self._each("old_crm_totals"):
            self.where = where
            partner = self.partners.get(str(row.get("partner")))
            if partner is None:
                raise ImportFailed(f"{where}.partner", f"no partner {row.get('partner')!r} in this file")
            period = parse_date(f"{row.get('period')}-01") if row.get("period") else None
            if period is None:
                raise ImportFailed(f"{where}.period", "a month such as 2024-03")
            _row, changed = cs.legacy_total_record(partner=partner, period=period, amount=self._money(row),
                                                   note=str(row.get("note") or ""))
            self.counts["old CRM totals"] += changed


@transaction.atomic
def ib_import(data: Mapping[str, Any]) -> ImportCounts:
    """Import `data` (the format of README.md, "Partner commissions") in one transaction: the
    counts of what was new; ImportFailed naming the entry when one is wrong (nothing is written)."""
    job: _Import | None = None
    try:
        job = _Import(data)
        return job.run()
    except DomainError as error:
        detail = "; ".join(f"{k}: {', '.join(v)}" for k, v in error.fields.items()) or error.message
        raise ImportFailed(job.where if job is not None else "brand", detail) from None


IMPORT_JOB_KIND = "ib.import"
IMPORT_MAX_BYTES = 20 * 1024 * 1024


def ib_import_start(*, actor: Any, data: bytes, file_name: str) -> Any:
    """The IB manager's upload: the file is read (a JSON object naming a brand the manager works
    for, at most 20 MB: refused by name otherwise), kept in the storage, and imported by a
    django-rq job whose page shows what was imported or where the file is wrong."""
    if not user_can(actor, cs.MANAGE):
        raise NotFound()
    if len(data) > IMPORT_MAX_BYTES:
        raise ValidationFailed(fields={"file": gettext("The file is larger than 20 MB.")})
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise ValidationFailed(fields={"file": gettext("Not a JSON file: %(error)s.") % {"error": error}}) from None
    if not isinstance(parsed, dict):
        raise ValidationFailed(fields={"file": gettext("The file must hold one JSON object.")})
    named = parsed.get("brand")
    code = str((named.get("code") if isinstance(named, dict) else named) or "")
    # On the pages the brand must exist and be the manager's: only the command creates one.
    brand = visible_brands(actor).filter(code=code).first()
    if brand is None:
        raise ValidationFailed(fields={"file": gettext("The file's brand %(brand)r is not one you work for.")
                                       % {"brand": code}})
    name = (file_name or "import.json").rsplit("/", 1)[-1][:100]
    stored = default_storage.save(f"ib-imports/{uuid.uuid4()}-{name}", ContentFile(data))
    return job_start(kind=IMPORT_JOB_KIND, actor=actor, brand=brand, func="ib.importer.ib_import_job",
                     title=gettext("Partner programme import %(file)s") % {"file": name}, kwargs={"path": stored})


def ib_import_job(handle: Any, *, path: str) -> None:
    """The job: `ib_import` of the stored file, all or nothing; the counts of what was new."""
    with default_storage.open(path, "rb") as fh:
        data = json.loads(fh.read().decode("utf-8"))
    try:
        counts = ib_import(data)
    except ImportFailed as error:
        raise ValidationFailed(f"{error.where}: {error.message} (nothing was imported)") from None
    handle.progress(1, 1, force=True, **{name.replace(" ", "_"): n for name, n in counts.items()})
