"""Every *interpretation* of the rule book, in one place.

The rule book (``shared/domain/medecin-referent-rules.md``) leaves some things open:
whether a window is rolling or calendar, whether "the first twelve months" include the
anniversary, from which date a notice runs.  Each such choice is one field of
:class:`MrRuleSettings`, with its default and the rule it interprets.  The rule
functions take ``settings=`` (default :data:`DEFAULT_SETTINGS`); a deployment builds its
own with :meth:`MrRuleSettings.from_mapping` or :func:`dataclasses.replace`.

Numbers the texts *do* fix (two months' notice, three months for the résumé, six months
for MR03, 1/2/12 consultations) are also here, so that a change of regulation is a change
of data, not of code.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

__all__ = [
    "DISCIPLINE_GENERAL_PRACTICE",
    "DISCIPLINE_PAEDIATRICS",
    "MrRuleSettings",
    "DEFAULT_SETTINGS",
]

#: Discipline codes used by the rules (part B maps PractitionerRole.specialty onto them).
DISCIPLINE_GENERAL_PRACTICE = "general-practice"
DISCIPLINE_PAEDIATRICS = "paediatrics"

Window = Literal["rolling", "calendar"]
NoticeFrom = Literal["signature", "receipt"]


@dataclass(frozen=True, slots=True)
class MrRuleSettings:
    """The rule book's numbers and interpretations (defaults = the rule book as written)."""

    timezone: str = "Europe/Luxembourg"
    """All rule dates are calendar dates in this zone (issue 6 §8); instants are converted
    with :func:`fhir_server.mr.calendar.local_date`."""

    # --- R2 ---------------------------------------------------------------------------
    mr_disciplines: frozenset[str] = frozenset({DISCIPLINE_GENERAL_PRACTICE, DISCIPLINE_PAEDIATRICS})
    """R2 / R10.1: disciplines that may be an MR and bill MR03."""

    # --- R4 / R7 ----------------------------------------------------------------------
    # (no setting: "first day of the month following" is the text of RGD 15.11.2011 art. 1)

    # --- R6 ---------------------------------------------------------------------------
    mutual_only_months: int = 12
    """R6: length of the period after the effective date in which only a mutual revocation
    is allowed ("les premiers douze mois")."""

    first_year_includes_anniversary: bool = False
    """R6, *interpretation*: the first twelve months run from the effective date to the day
    before its first anniversary (effective 1 Apr 2024 → 1 Apr 2024 … 31 Mar 2025).  A
    revocation signed ON the anniversary (1 Apr 2025) is in the second year, so either side
    may revoke alone.  Set True to count the anniversary day in the first year."""

    revocation_notice_months: int = 2
    """R6: notice ("préavis de deux mois")."""

    revocation_notice_from: NoticeFrom = "signature"
    """R6, *interpretation*: the notice runs from the signature date of the form (the CNS
    example: signed 3 May, received 5 May → effective 3 Jul).  "receipt" makes it run from
    the date the CNS received the form (falls back to the signature date if unknown).
    The same date decides whether the revocation falls in the first twelve months."""

    # --- R8 ---------------------------------------------------------------------------
    resume_due_months: int = 3
    """R8: the résumé patient is due within three months of the effective date; the last
    day allowed is effective + 3 months − 1 day (*interpretation*)."""

    # --- R9 ---------------------------------------------------------------------------
    first_summary_years: int = 3
    """R9: the first résumé des prestations covers the three years before the effective
    date (*interpretation*: effective − 3 years … effective − 1 day)."""

    prestations_summary_floor: date = date(2016, 7, 1)
    """R9: never for services before 1 July 2016."""

    # --- R10 --------------------------------------------------------------------------
    mr03_first_after_months: int = 6
    """R10.3: first MR03 no earlier than six months after the effective date (the date
    exactly six months later is allowed: effective 1 Dec 2024 → 1 Jun 2025)."""

    mr03_spacing_months: int = 6
    """R10.4: at most one MR03 per six months."""

    mr03_window: Window = "rolling"
    """R10.4, *interpretation*: "rolling" = the next MR03 no earlier than six months after
    the previous one (15 Jun → 15 Dec); "calendar" = one per calendar half-year."""

    mr03_spacing_any_declaration: bool = True
    """R10.4, *interpretation*: the six-month spacing counts the patient's previous MR03
    whoever billed it (also under an earlier declaration); False counts only MR03 billed
    since the current relationship took effect."""

    mr03_coefficient: Decimal = Decimal("24.71")
    """R10: coefficient of MR03 (tariff = coefficient × letter-key value, which changes
    over time and is NOT kept here).  Also recorded in terminology/CodeSystem-cns-nomenclature.json."""

    # --- R11 --------------------------------------------------------------------------
    r11_per_24h: int = 1
    """R11: consultations/visits per 24 hours (same doctor or same discipline)."""

    r11_per_7_days: int = 2
    """R11: consultations/visits per 7 days."""

    r11_per_semester: int = 12
    """R11: consultations/visits per semester."""

    r11_day_window: Window = "rolling"
    """R11, *interpretation*: "rolling" = when both services carry a time, 24 hours from
    the earlier one (exactly 24 h later is allowed); a service with a date only is compared
    by calendar day (one per day).  "calendar" = always one per calendar day."""

    r11_week_window: Window = "rolling"
    """R11, *interpretation*: "rolling" = any 7 consecutive days (with times: any 7×24 h);
    "calendar" = the ISO week Monday–Sunday."""

    r11_semester_window: Window = "calendar"
    """R11, *interpretation*: "calendar" = the calendar half-year (1 Jan–30 Jun,
    1 Jul–31 Dec); "rolling" = any six consecutive months."""

    r11_multi_doctor_limit: int = 2
    """R11: more than this many different doctors of one discipline ... is flagged."""

    r11_multi_doctor_months: int = 6
    """R11: ... within this many consecutive months (a rolling window)."""

    # --- candidates (French 2023 campaign) ----------------------------------------------
    candidate_min_visits: int = 3
    """Campaign: at least three contacts with the same doctor ..."""

    candidate_window_months: int = 12
    """... in the twelve months before the date (*interpretation*: from the date − 12
    months inclusive to the day before the date; contacts on one day count once)."""

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, int) and not isinstance(value, bool) and value < 0:
                raise ValueError(f"{f.name} must not be negative, got {value}")
        for name in ("mr03_window", "r11_day_window", "r11_week_window", "r11_semester_window"):
            if getattr(self, name) not in ("rolling", "calendar"):
                raise ValueError(f"{name} must be 'rolling' or 'calendar'")
        if self.revocation_notice_from not in ("signature", "receipt"):
            raise ValueError("revocation_notice_from must be 'signature' or 'receipt'")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> MrRuleSettings:
        """Build settings from plain values (e.g. a deployment's JSON/env); unknown keys
        are an error, dates may be ISO strings, ``mr_disciplines`` any iterable."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown MR rule settings: {', '.join(sorted(unknown))}")
        kwargs = dict(values)
        if isinstance(kwargs.get("prestations_summary_floor"), str):
            kwargs["prestations_summary_floor"] = date.fromisoformat(kwargs["prestations_summary_floor"])
        if "mr_disciplines" in kwargs:
            kwargs["mr_disciplines"] = frozenset(kwargs["mr_disciplines"])
        if "mr03_coefficient" in kwargs:
            kwargs["mr03_coefficient"] = Decimal(str(kwargs["mr03_coefficient"]))
        return cls(**kwargs)


#: The rule book as written, with the interpretations documented above.
DEFAULT_SETTINGS = MrRuleSettings()
