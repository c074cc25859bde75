"""Watchlists (sanctions and PEP lists), their versions as loaded, and each version's entries.

A version is a whole snapshot of a list as published: its entries are stored under it, never edited,
and its diff against the previous version (added, removed and changed entry numbers) is kept on it,
so that re-screening after a load can look at the changed entries only."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


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
