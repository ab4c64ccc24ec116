"""Date helpers: month arithmetic with end-of-month clamping, leap years, Luxembourg dates."""

from datetime import UTC, date, datetime

import pytest

from fhir_server.mr.calendar import (
    Span,
    add_months,
    add_years,
    first_of_next_month,
    last_day_of_month,
    local_date,
    next_semester_start,
    semester_start,
)

D = date


@pytest.mark.parametrize(
    "start, months, expected",
    [
        (D(2025, 1, 31), 1, D(2025, 2, 28)),  # month end, non-leap
        (D(2024, 1, 31), 1, D(2024, 2, 29)),  # month end, leap 2024
        (D(2028, 1, 31), 1, D(2028, 2, 29)),  # leap 2028
        (D(2024, 2, 29), 12, D(2025, 2, 28)),  # 29 Feb + 1 year → 28 Feb
        (D(2024, 2, 29), 48, D(2028, 2, 29)),
        (D(2024, 3, 31), -1, D(2024, 2, 29)),
        (D(2024, 12, 1), 3, D(2025, 3, 1)),
        (D(2024, 11, 30), 3, D(2025, 2, 28)),
        (D(2024, 5, 3), 2, D(2024, 7, 3)),
        (D(2024, 12, 31), 0, D(2024, 12, 31)),
        (D(2025, 1, 15), -13, D(2023, 12, 15)),
    ],
)
def test_add_months(start, months, expected):
    assert add_months(start, months) == expected


def test_add_years_clamps_29_february():
    assert add_years(D(2024, 2, 29), 1) == D(2025, 2, 28)
    assert add_years(D(2024, 2, 29), -3) == D(2021, 2, 28)


@pytest.mark.parametrize(
    "day, expected",
    [
        (D(2024, 11, 10), D(2024, 12, 1)),
        (D(2024, 12, 31), D(2025, 1, 1)),
        (D(2025, 3, 1), D(2025, 4, 1)),
        (D(2024, 2, 29), D(2024, 3, 1)),
        (D(2025, 2, 28), D(2025, 3, 1)),
        (D(2025, 1, 31), D(2025, 2, 1)),
    ],
)
def test_first_of_next_month(day, expected):
    assert first_of_next_month(day) == expected


@pytest.mark.parametrize(
    "day, expected",
    [
        (D(2024, 2, 10), D(2024, 2, 29)),
        (D(2025, 2, 1), D(2025, 2, 28)),
        (D(2100, 2, 1), D(2100, 2, 28)),
        (D(2025, 4, 30), D(2025, 4, 30)),
    ],
)
def test_last_day_of_month(day, expected):
    assert last_day_of_month(day) == expected


@pytest.mark.parametrize(
    "day, start, nxt",
    [
        (D(2025, 6, 30), D(2025, 1, 1), D(2025, 7, 1)),
        (D(2025, 7, 1), D(2025, 7, 1), D(2026, 1, 1)),
        (D(2025, 12, 31), D(2025, 7, 1), D(2026, 1, 1)),
        (D(2025, 1, 1), D(2025, 1, 1), D(2025, 7, 1)),
    ],
)
def test_semesters(day, start, nxt):
    assert semester_start(day) == start
    assert next_semester_start(day) == nxt


@pytest.mark.parametrize(
    "instant, expected",
    [
        (datetime(2024, 12, 31, 23, 30, tzinfo=UTC), D(2025, 1, 1)),  # CET +1
        (datetime(2024, 12, 31, 22, 59, tzinfo=UTC), D(2024, 12, 31)),
        (datetime(2024, 6, 30, 22, 0, tzinfo=UTC), D(2024, 7, 1)),  # CEST +2
        (datetime(2024, 6, 30, 21, 59, tzinfo=UTC), D(2024, 6, 30)),
        (datetime(2024, 2, 28, 23, 0, tzinfo=UTC), D(2024, 2, 29)),
    ],
)
def test_local_date_is_the_luxembourg_calendar_date(instant, expected):
    assert local_date(instant) == expected


def test_local_date_refuses_naive_instants():
    with pytest.raises(ValueError):
        local_date(datetime(2024, 12, 31, 23, 30))


def test_span_is_inclusive_and_refuses_reversed_bounds():
    span = Span(D(2024, 4, 1), D(2024, 7, 2))
    assert span.covers(D(2024, 4, 1)) and span.covers(D(2024, 7, 2))
    assert not span.covers(D(2024, 7, 3)) and not span.covers(D(2024, 3, 31))
    assert Span().covers(D(1900, 1, 1))
    with pytest.raises(ValueError):
        Span(D(2024, 7, 2), D(2024, 4, 1))
