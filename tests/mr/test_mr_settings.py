"""The one settings object holding the rule book's interpretations."""

import dataclasses
from datetime import date
from decimal import Decimal
from pathlib import Path

import orjson
import pytest

from fhir_server.mr.settings import DEFAULT_SETTINGS, MrRuleSettings

NOMENCLATURE = Path(__file__).resolve().parents[2] / "terminology" / "CodeSystem-cns-nomenclature.json"


def test_defaults_are_the_rule_book():
    s = DEFAULT_SETTINGS
    assert s.timezone == "Europe/Luxembourg"
    assert (s.revocation_notice_months, s.mutual_only_months, s.resume_due_months) == (2, 12, 3)
    assert (s.mr03_first_after_months, s.mr03_spacing_months, s.mr03_window) == (6, 6, "rolling")
    assert (s.r11_per_24h, s.r11_per_7_days, s.r11_per_semester) == (1, 2, 12)
    assert (s.r11_day_window, s.r11_week_window, s.r11_semester_window) == ("rolling", "rolling", "calendar")
    assert s.prestations_summary_floor == date(2016, 7, 1)
    assert s.first_year_includes_anniversary is False
    assert s.revocation_notice_from == "signature"


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_SETTINGS.revocation_notice_months = 3  # type: ignore[misc]


def test_every_setting_is_documented_in_the_source():
    source = Path(__file__).resolve().parents[2].joinpath("fhir_server/mr/settings.py").read_text()
    for f in dataclasses.fields(MrRuleSettings):
        block = source.split(f"    {f.name}:", 1)[1].split("\n\n", 1)[0]
        assert '"""' in block, f"{f.name} has no docstring"


def test_from_mapping_overrides_and_rejects_unknown_keys():
    s = MrRuleSettings.from_mapping(
        {
            "r11_semester_window": "rolling",
            "prestations_summary_floor": "2017-01-01",
            "mr03_coefficient": 30,
            "mr_disciplines": ["general-practice"],
        }
    )
    assert s.r11_semester_window == "rolling"
    assert s.prestations_summary_floor == date(2017, 1, 1)
    assert s.mr03_coefficient == Decimal("30")
    assert s.mr_disciplines == frozenset({"general-practice"})
    with pytest.raises(ValueError, match="unknown"):
        MrRuleSettings.from_mapping({"notice": 2})
    with pytest.raises(ValueError):
        MrRuleSettings(r11_day_window="weekly")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        MrRuleSettings(revocation_notice_months=-1)


def test_mr03_coefficient_matches_the_nomenclature_code_system():
    cs = orjson.loads(NOMENCLATURE.read_bytes())

    def walk(concepts):
        for c in concepts:
            yield c
            yield from walk(c.get("concept", []))

    mr03 = next(c for c in walk(cs["concept"]) if c["code"] == "MR03")
    coefficient = next(p["valueDecimal"] for p in mr03["property"] if p["code"] == "coefficient")
    assert Decimal(str(coefficient)) == DEFAULT_SETTINGS.mr03_coefficient == Decimal("24.71")
