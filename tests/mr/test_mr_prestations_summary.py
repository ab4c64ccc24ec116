"""R9 the résumé des prestations: three previous years at the effective date, then each
anniversary the year just ended, never before 1 Jul 2016."""

from datetime import date

import pytest

from fhir_server.mr.calendar import Span
from fhir_server.mr.prestations import Prestation
from fhir_server.mr.prestations_summary import prestations_in, summary_due_on, summary_periods

D = date


@pytest.mark.parametrize(
    "effective, covers",
    [
        (D(2024, 12, 1), Span(D(2021, 12, 1), D(2024, 11, 30))),
        (D(2019, 7, 1), Span(D(2016, 7, 1), D(2019, 6, 30))),  # exactly at the floor
        (D(2019, 6, 1), Span(D(2016, 7, 1), D(2019, 5, 31))),  # clipped to 1 Jul 2016
        (D(2016, 7, 1), None),  # everything before the floor
        (D(2016, 8, 1), Span(D(2016, 7, 1), D(2016, 7, 31))),
        (D(2024, 3, 1), Span(D(2021, 3, 1), D(2024, 2, 29))),
    ],
)
def test_r9_first_summary(effective, covers):
    [first] = summary_periods(effective, effective)
    assert first.issued_on == effective and first.anniversary == 0 and first.covers == covers


def test_r9_each_anniversary_the_year_just_ended():
    periods = summary_periods(D(2024, 12, 1), D(2026, 12, 1))
    assert [(p.issued_on, p.covers) for p in periods] == [
        (D(2024, 12, 1), Span(D(2021, 12, 1), D(2024, 11, 30))),
        (D(2025, 12, 1), Span(D(2024, 12, 1), D(2025, 11, 30))),
        (D(2026, 12, 1), Span(D(2025, 12, 1), D(2026, 11, 30))),
    ]


@pytest.mark.parametrize(
    "day, anniversary",
    [(D(2024, 11, 30), None), (D(2024, 12, 1), 0), (D(2025, 11, 30), 0), (D(2025, 12, 1), 1), (D(2027, 6, 1), 2)],
)
def test_r9_summary_due_on(day, anniversary):
    found = summary_due_on(D(2024, 12, 1), day)
    assert (found.anniversary if found else None) == anniversary


def test_r9_no_summary_after_the_relationship_ended():
    assert [p.anniversary for p in summary_periods(D(2024, 12, 1), D(2030, 1, 1), last_day=D(2026, 11, 30))] == [0, 1]


def test_r9_prestations_in_a_period():
    first = summary_due_on(D(2019, 6, 1), D(2019, 6, 1))
    ps = [
        Prestation(d, "dr", "general-practice", "consultation")
        for d in (D(2016, 6, 30), D(2019, 5, 31), D(2016, 7, 1), D(2019, 6, 1))
    ]
    assert [p.day for p in prestations_in(first, ps)] == [D(2016, 7, 1), D(2019, 5, 31)]
