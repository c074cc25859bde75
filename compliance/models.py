"""Watchlists (sanctions and PEP lists), their versions as loaded, and each version's entries.

A version is a whole snapshot of a list as published: its entries are stored under it, never edited,
and its diff against the previous version (added, removed and changed entry numbers) is kept on it,
so that re-screening after a load can look at the changed entries only."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from crm.lib.context import history_user


class ListFormat(models.TextChoices):
    OFAC_CSV = "ofac-csv", _("OFAC SDN CSV (sdn.csv, alt.csv, add.csv)")
    EU_XML = "eu-xml", _("EU consolidated financial sanctions list (XML)")
    UN_XML = "un-xml", _("UN Security Council consolidated list (XML)")
    UK_CSV = "uk-csv", _("UK sanctions list (CSV)")
    PEP_CSV = "pep-csv", _("PEP list (CSV)")


class ListKind(models.TextChoices):
    SANCTIONS = "sanctions", _("Sanctions")
    PEP = "pep", _("Politically exposed persons")


class EntryType(models.TextChoices):
    PERSON = "person", _("Person")
    COMPANY = "company", _("Company")
    VESSEL = "vessel", _("Vessel")
    AIRCRAFT = "aircraft", _("Aircraft")


class Watchlist(models.Model):
    name = models.CharField(max_length=80, unique=True)
    source_format = models.CharField(max_length=10, choices=ListFormat.choices)
    kind = models.CharField(max_length=10, choices=ListKind.choices, default=ListKind.SANCTIONS)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.name


class WatchlistVersion(models.Model):
    watchlist = models.ForeignKey(Watchlist, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    source = models.CharField(max_length=500, help_text=_("The file names loaded"))
    published_on = models.DateField(null=True, blank=True)
    checksum = models.CharField(max_length=64, help_text=_("SHA-256 of the files, in the order given"))
    entry_count = models.PositiveIntegerField()
    name_count = models.PositiveIntegerField()
    added = models.JSONField(default=list)  # entry numbers new in this version
    removed = models.JSONField(default=list)
    changed = models.JSONField(default=list)
    loaded_at = models.DateTimeField(auto_now_add=True)
    loaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+")

    class Meta:
        constraints: ClassVar = [
            # Versions count up per list; two loads racing for the same number: one fails, nothing half-stored.
            models.UniqueConstraint(fields=["watchlist", "number"], name="compliance_version_number_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.watchlist} v{self.number}"


class WatchlistEntry(models.Model):
    version = models.ForeignKey(WatchlistVersion, on_delete=models.CASCADE, related_name="entries")
    ent_num = models.CharField(max_length=40, help_text=_("The list's own entry number (OFAC ent_num)"))
    entry_type = models.CharField(max_length=10, choices=EntryType.choices)
    primary_name = models.CharField(max_length=500)
    # [{"text", "kind": primary|aka|fka|nka, "weak": bool}]
    names = models.JSONField(default=list)
    # [{"year", "month", "day", "circa", "year_to"}] at the precision the list gives
    dobs = models.JSONField(default=list)
    places_of_birth = models.JSONField(default=list)
    countries = models.JSONField(default=list)  # ISO 3166 alpha-2: nationalities, citizenships, registration
    programs = models.CharField(max_length=500, blank=True)
    remarks = models.TextField(blank=True)
    fingerprint = models.CharField(max_length=64, help_text=_("Hash of the details screening compares"))

    class Meta:
        constraints: ClassVar = [
            models.UniqueConstraint(fields=["version", "ent_num"], name="compliance_entry_per_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.ent_num} {self.primary_name}"

    def as_dict(self) -> dict[str, Any]:
        return {"ent_num": self.ent_num, "type": self.entry_type, "names": self.names, "dobs": self.dobs,
                "countries": self.countries}


# --- jurisdictions and restrictions ------------------------------------------------------------------
# A brand's jurisdictions (country, or a region of one) with their status over time, and the
# restrictions on clients (what a client may not do, who decided it, why and until when). Lifting
# a restriction keeps the row: who lifted it, when and why stay beside who imposed it.

class JurisdictionStatus(models.TextChoices):
    SANCTIONED = "sanctioned", _("Sanctioned")
    HIGH_RISK = "high_risk", _("High risk")
    ALLOWED = "allowed", _("Allowed")


class Jurisdiction(models.Model):
    brand = models.ForeignKey("crm.Brand", on_delete=models.PROTECT, related_name="+")
    country = models.CharField(max_length=2, help_text=_("ISO 3166-1 alpha-2"))
    region = models.CharField(max_length=10, blank=True, help_text=_("ISO 3166-2 subdivision code; empty: the whole country"))
    status = models.CharField(max_length=12, choices=JurisdictionStatus.choices)
    effective_from = models.DateField()
    effective_to = models.DateField(null=True, blank=True, help_text=_("Empty: until changed"))
    source = models.CharField(max_length=200, blank=True, help_text=_("The list or file it came from"))
    note = models.CharField(max_length=300, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        constraints: ClassVar = [
            # One status per place and brand: a new list changes the row (its history keeps the old one).
            models.UniqueConstraint(fields=["brand", "country", "region"], name="compliance_jurisdiction_unique"),
            models.CheckConstraint(condition=models.Q(country__regex=r"^[A-Z]{2}$"),
                                   name="compliance_jurisdiction_country_iso2"),
            models.CheckConstraint(condition=models.Q(effective_to__isnull=True)
                                   | models.Q(effective_to__gt=models.F("effective_from")),
                                   name="compliance_jurisdiction_dates_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.country}{'-' + self.region if self.region else ''}: {self.status}"

    def in_effect(self, day: dt.date) -> bool:
        return self.effective_from <= day and (self.effective_to is None or day < self.effective_to)


class RestrictionKind(models.TextChoices):
    DEPOSIT = "no_deposit", _("No deposits")
    WITHDRAWAL = "no_withdrawal", _("No withdrawals")
    TRADING = "no_trading", _("No trading")
    LOGIN = "no_login", _("No trader's room login")


class RestrictionSource(models.TextChoices):
    MANUAL = "manual", _("Set by an officer")
    JURISDICTION = "jurisdiction", _("Sanctioned jurisdiction")
    SCREENING = "screening", _("Confirmed screening hit")


class Restriction(models.Model):
    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    client = models.ForeignKey("crm.Client", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=16, choices=RestrictionKind.choices)
    source = models.CharField(max_length=16, choices=RestrictionSource.choices, default=RestrictionSource.MANUAL)
    reason = models.TextField()
    imposed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                   related_name="+")
    imposed_at = models.DateTimeField()
    until = models.DateTimeField(null=True, blank=True, help_text=_("Empty: until lifted"))
    lifted_at = models.DateTimeField(null=True, blank=True)
    lifted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True,
                                  related_name="+")
    lift_reason = models.TextField(blank=True)
    # No trading: each account's access before it was set read-only, by account code, restored on lifting.
    trading_before = models.JSONField(default=dict, blank=True)
    history = HistoricalRecords(get_user=history_user)

    class Meta:
        constraints: ClassVar = [
            # At most one open restriction of a kind per client: imposing again keeps the open one.
            models.UniqueConstraint(fields=["client", "kind"], condition=models.Q(lifted_at__isnull=True),
                                    name="compliance_restriction_open_unique"),
            models.CheckConstraint(condition=models.Q(lifted_at__isnull=True) | ~models.Q(lift_reason=""),
                                   name="compliance_restriction_lift_has_reason"),
        ]
        indexes: ClassVar = [
            # The checks at deposits, withdrawals and logins read a client's open restrictions.
            models.Index(fields=["client"], condition=models.Q(lifted_at__isnull=True),
                         name="compliance_restriction_open"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.client_id}"

    def active_at(self, when: dt.datetime) -> bool:
        return self.lifted_at is None and (self.until is None or when < self.until)
