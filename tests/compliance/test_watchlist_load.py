"""Loading lists from the publishers' layouts: every format, versions with their diff, and a
malformed file that loads nothing."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from compliance.exceptions import WatchlistRefused
from compliance.models import Watchlist, WatchlistEntry, WatchlistVersion
from compliance.services import watchlist_load
from compliance.watchlists.parsers import SourceFile

FIXTURES = Path(__file__).resolve().parent / "fixtures"
pytestmark = pytest.mark.django_db


def files(*names: str) -> list[SourceFile]:
    return [SourceFile(n, (FIXTURES / n).read_bytes()) for n in names]


def entry(version: WatchlistVersion, ent_num: str) -> WatchlistEntry:
    return version.entries.get(ent_num=ent_num)


def test_it_loads_ofac_headerless_files_with_aliases_dobs_and_countries() -> None:
    version = watchlist_load(name="OFAC SDN", fmt="ofac-csv", files=files("sdn.csv", "alt.csv", "add.csv"))
    assert version.number == 1
    assert version.entry_count == 6
    assert len(version.checksum) == 64
    kim = entry(version, "2674")
    assert kim.entry_type == "person"
    assert [d["year"] for d in kim.dobs] == [1984, 1983, 1982]
    assert kim.dobs[0] == {"year": 1984, "month": 1, "day": 8, "circa": False, "year_to": None}
    assert kim.countries == ["KP"]  # "Korea, North" as OFAC writes it
    assert {"text": "KIM, Jong-un", "kind": "aka", "weak": False} in kim.names
    rashid = entry(version, "7652")
    assert rashid.dobs == [{"year": 1961, "month": None, "day": None, "circa": True, "year_to": None}]
    assert {"text": "ABU AHMAD", "kind": "aka", "weak": True} in rashid.names
    assert {"text": "ABU HAMZA", "kind": "aka", "weak": True} in rashid.names  # quoted a.k.a. in the remarks
    petrov = entry(version, "9012")
    assert [(d["year"], d["month"], d["day"]) for d in petrov.dobs] == [(1960, 1, 12), (1961, None, None)]
    assert {"text": "PETROFF, Serge", "kind": "fka", "weak": False} in petrov.names
    assert entry(version, "36").entry_type == "company"
    assert entry(version, "15001").entry_type == "vessel"
    assert entry(version, "15001").countries == ["PA"]
    assert entry(version, "15002").countries == ["RU"]  # from add.csv


def test_it_loads_ofac_files_with_a_header_row() -> None:
    version = watchlist_load(name="OFAC SDN", fmt="ofac-csv", files=files("sdn_with_header.csv"))
    assert sorted(version.entries.values_list("ent_num", flat=True)) == ["2674", "36", "7652", "9012"]


def test_a_second_version_keeps_its_diff() -> None:
    first = watchlist_load(name="OFAC SDN", fmt="ofac-csv", files=files("sdn.csv", "alt.csv", "add.csv"))
    second = watchlist_load(name="OFAC SDN", fmt="ofac-csv", files=files("sdn_v2.csv", "alt.csv", "add.csv"))
    assert (first.number, second.number) == (1, 2)
    assert second.added == ["16000"]
    assert second.removed == ["36"]
    assert second.changed == ["9012"]  # its DOB moved; the others are as they were
    assert first.entries.count() == 6  # the old snapshot stays as it was


def test_a_malformed_file_loads_nothing_and_names_line_and_field() -> None:
    watchlist_load(name="OFAC SDN", fmt="ofac-csv", files=files("sdn.csv"))
    with pytest.raises(WatchlistRefused) as caught:
        watchlist_load(name="OFAC SDN", fmt="ofac-csv", files=files("sdn_bad_dob.csv"))
    assert caught.value.line == 2
    assert caught.value.field == "Remarks"
    assert "31 Feb 1961" in caught.value.message
    with pytest.raises(WatchlistRefused) as short:
        watchlist_load(name="OFAC SDN", fmt="ofac-csv", files=files("sdn_short_row.csv"))
    assert short.value.line == 2
    assert WatchlistVersion.objects.count() == 1
    assert WatchlistEntry.objects.count() == 6


def test_an_alias_of_an_unknown_entry_refuses_the_whole_load() -> None:
    bad = SourceFile("alt.csv", b'99999,1,"aka","NOBODY, Known",-0- \r\n')
    with pytest.raises(WatchlistRefused, match="alt.csv, line 1, field ent_num"):
        watchlist_load(name="OFAC SDN", fmt="ofac-csv", files=[*files("sdn.csv"), bad])
    assert not Watchlist.objects.exists()


def test_it_loads_the_eu_consolidated_list() -> None:
    version = watchlist_load(name="EU", fmt="eu-xml", files=files("eu.xml"))
    saddam = entry(version, "13")
    assert saddam.primary_name == "Saddam Hussein Al-Tikriti"
    assert {"text": "Abu Ali", "kind": "aka", "weak": True} in saddam.names
    assert saddam.dobs[0] == {"year": 1937, "month": 4, "day": 28, "circa": False, "year_to": None}
    assert saddam.countries == ["IQ"]
    deripaska = entry(version, "140")
    assert deripaska.dobs[0]["year"] == 1968 and deripaska.dobs[0]["month"] is None
    assert deripaska.countries == ["CY", "RU"]
    assert entry(version, "300").entry_type == "company"


def test_it_loads_the_un_consolidated_list() -> None:
    version = watchlist_load(name="UN", fmt="un-xml", files=files("un.xml"))
    ri = entry(version, "KPi.033")
    assert ri.primary_name == "RI WON HO"
    assert {"text": "Won Ho", "kind": "aka", "weak": True} in ri.names
    assert {"text": "리원호", "kind": "aka", "weak": False} in ri.names
    assert ri.countries == ["KP"]
    yasin = entry(version, "QDi.082")
    assert yasin.dobs == [{"year": 1960, "month": None, "day": None, "circa": True, "year_to": None},
                          {"year": 1962, "month": None, "day": None, "circa": False, "year_to": 1964}]
    assert entry(version, "KPe.001").entry_type == "company"


def test_it_loads_the_uk_sanctions_list() -> None:
    version = watchlist_load(name="UK", fmt="uk-csv", files=files("uk.csv"))
    assert version.entry_count == 3
    rotenberg = entry(version, "14123")
    assert rotenberg.primary_name == "ROTENBERG, Arkady Romanovich"
    assert [n["text"] for n in rotenberg.names] == ["ROTENBERG, Arkady Romanovich", "Аркадий Романович Ротенберг",
                                                    "ROTENBERG, Arkadiy"]
    assert rotenberg.dobs == [{"year": 1951, "month": 12, "day": 15, "circa": False, "year_to": None}]
    hassan = entry(version, "12500")
    assert hassan.dobs[0]["year"] == 1970 and hassan.dobs[0]["month"] is None
    assert {"text": "HASSAN, Abu", "kind": "aka", "weak": True} in hassan.names
    assert entry(version, "14200").entry_type == "company"


def test_it_loads_a_pep_list() -> None:
    version = watchlist_load(name="PEP", fmt="pep-csv", files=files("pep.csv"))
    assert version.watchlist.kind == "pep"
    mbemba = entry(version, "PEP-2")
    assert [d["year"] for d in mbemba.dobs] == [1958, 1959]
    assert mbemba.countries == ["CD"]
    assert entry(version, "PEP-3").dobs[0]["month"] == 11


def test_the_load_command_prints_the_diff_and_refuses_bad_files() -> None:
    out = StringIO()
    call_command("sanctions_load", "--format", "ofac-csv", "--list", "OFAC SDN",
                 *(str(FIXTURES / n) for n in ("sdn.csv", "alt.csv", "add.csv")), stdout=out)
    assert "version 1: 6 entries" in out.getvalue()
    with pytest.raises(CommandError, match=r"sdn_bad_dob.csv, line 2, field Remarks.*nothing was loaded"):
        call_command("sanctions_load", "--format", "ofac-csv", "--list", "OFAC SDN", str(FIXTURES / "sdn_bad_dob.csv"))


EU_HEAD = b'<?xml version="1.0"?>'
HOSTILE_FILES = {
    "nul": ("ofac-csv", b'36,"AERO\x00CARIBBEAN","-0- ","CUBA","-0- ","-0- ","-0- ","-0- ","-0- ","-0- ","-0- ","-0- "\r\n'),
    "undefined_byte": ("ofac-csv", b'36,"AERO\x81CARIBBEAN","-0- ","CUBA","-0- ","-0- ","-0- ","-0- ","-0- ","-0- ",'
                                   b'"-0- ","-0- "\r\n'),
    "binary": ("uk-csv", bytes(range(256)) * 8),
    "huge_field": ("pep-csv", b'id,full_name\r\n1,"' + b"A" * 140_000 + b'"\r\n'),
    "dtd": ("eu-xml", EU_HEAD + b'<!DOCTYPE export [<!ENTITY % p SYSTEM "http://127.0.0.1:9/p"> %p;]><export/>'),
    "entities": ("un-xml", EU_HEAD + b'<!DOCTYPE x [<!ENTITY e "boom">]><CONSOLIDATED_LIST>&e;</CONSOLIDATED_LIST>'),
}


@pytest.mark.parametrize("hostile", sorted(HOSTILE_FILES))
def test_a_hostile_file_is_refused_by_name_and_nothing_is_loaded(hostile: str) -> None:
    fmt, data = HOSTILE_FILES[hostile]
    with pytest.raises(WatchlistRefused) as refused:
        watchlist_load(name="Probe", fmt=fmt, files=[SourceFile("probe.dat", data)])
    assert refused.value.message.startswith("probe.dat") and refused.value.message.count("\n") == 0
    assert not Watchlist.objects.exists()
