"""FHIR date values as inclusive UTC microsecond ranges (https://hl7.org/fhir/R4/search.html#date)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from fhir_server.fhir.dates import DEFAULT_TZ, MAX_US, MIN_US, parse_date_range, period_range

LUX = ZoneInfo("Europe/Luxembourg")
HOUR_US = 3_600_000_000


def utc_us(iso: str) -> int:
    """Microseconds since the epoch of an ISO instant written in UTC (…Z)."""
    instant = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return (instant - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("value", "low", "high"),
    [
        # whole year, Luxembourg is UTC+1 in winter
        ("2024", "2023-12-31T23:00:00Z", "2024-12-31T22:59:59.999999Z"),
        # leap February
        ("2024-02", "2024-01-31T23:00:00Z", "2024-02-29T22:59:59.999999Z"),
        ("2023-02", "2023-01-31T23:00:00Z", "2023-02-28T22:59:59.999999Z"),
        ("2024-02-29", "2024-02-28T23:00:00Z", "2024-02-29T22:59:59.999999Z"),
        # month ends: 30 days in summer time, 31 days across the October change
        ("2024-04", "2024-03-31T22:00:00Z", "2024-04-30T21:59:59.999999Z"),
        ("2024-10", "2024-09-30T22:00:00Z", "2024-10-31T22:59:59.999999Z"),
        ("2024-12", "2024-11-30T23:00:00Z", "2024-12-31T22:59:59.999999Z"),
        ("2024-12-31", "2024-12-30T23:00:00Z", "2024-12-31T22:59:59.999999Z"),
        # DST: 23-hour and 25-hour days
        ("2024-03-31", "2024-03-30T23:00:00Z", "2024-03-31T21:59:59.999999Z"),
        ("2024-10-27", "2024-10-26T22:00:00Z", "2024-10-27T22:59:59.999999Z"),
        # dateTime / instant with offsets: one second, or the precision of the fraction
        ("2024-01-15T10:30:00Z", "2024-01-15T10:30:00Z", "2024-01-15T10:30:00.999999Z"),
        ("2024-01-15T10:30:00+02:00", "2024-01-15T08:30:00Z", "2024-01-15T08:30:00.999999Z"),
        ("2024-01-15T10:30:00-05:30", "2024-01-15T16:00:00Z", "2024-01-15T16:00:00.999999Z"),
        ("2024-01-15T10:30:00.123Z", "2024-01-15T10:30:00.123Z", "2024-01-15T10:30:00.123999Z"),
        ("2024-01-15T10:30:00.123456+01:00", "2024-01-15T09:30:00.123456Z", "2024-01-15T09:30:00.123456Z"),
        ("2024-12-31T23:59:59.5Z", "2024-12-31T23:59:59.5Z", "2024-12-31T23:59:59.599999Z"),
        # no offset: local time in the default zone (summer and winter)
        ("2024-07-01T12:00:00", "2024-07-01T10:00:00Z", "2024-07-01T10:00:00.999999Z"),
        ("2024-01-01T00:00:00", "2023-12-31T23:00:00Z", "2023-12-31T23:00:00.999999Z"),
        # minute precision
        ("2024-01-15T10:30Z", "2024-01-15T10:30:00Z", "2024-01-15T10:30:59.999999Z"),
    ],
)
def test_parse_date_range(value: str, low: str, high: str) -> None:
    assert parse_date_range(value, LUX) == (utc_us(low), utc_us(high))


def test_default_zone_is_luxembourg() -> None:
    assert DEFAULT_TZ == LUX
    assert parse_date_range("2024-03-31") == parse_date_range("2024-03-31", LUX)


@pytest.mark.parametrize(
    ("value", "hours"),
    [("2024-03-31", 23), ("2024-10-27", 25), ("2024-03-30", 24), ("2024-10-28", 24)],
)
def test_dst_day_lengths(value: str, hours: int) -> None:
    low, high = parse_date_range(value, LUX)
    assert high - low + 1 == hours * HOUR_US


def test_other_zone() -> None:
    assert parse_date_range("2024", UTC) == (utc_us("2024-01-01T00:00:00Z"), utc_us("2024-12-31T23:59:59.999999Z"))


def test_offset_wins_over_zone() -> None:
    assert parse_date_range("2024-07-01T12:00:00Z", LUX) == parse_date_range("2024-07-01T12:00:00Z", UTC)


def test_last_year_does_not_overflow() -> None:
    low, high = parse_date_range("9999-12", UTC)
    assert (low, high) == (utc_us("9999-12-01T00:00:00Z"), utc_us("9999-12-31T23:59:59.999999Z"))


@pytest.mark.parametrize(
    "value",
    [
        "",
        "24",
        "abc",
        "2024-1",
        "2024-13",
        "2023-02-29",
        "2024-04-31",
        "2024/01/01",
        "2024-01-01Z",
        "2024-01-01T10",
        "2024-01-01T25:00:00Z",
        "2024-01-01T10:60:00Z",
        "2024-01-01T10:00:00+15:00",
        "2024-01-01T10:00:00.Z",
        "2024-01-01 10:00:00",
    ],
)
def test_malformed_values_raise(value: str) -> None:
    with pytest.raises(ValueError, match=r"date|offset|range|must be"):
        parse_date_range(value, LUX)


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        ("2024-01-01", "2024-01-31", (utc_us("2023-12-31T23:00:00Z"), utc_us("2024-01-31T22:59:59.999999Z"))),
        ("2024-01-01", None, (utc_us("2023-12-31T23:00:00Z"), MAX_US)),
        (None, "2024-01-31T12:00:00Z", (MIN_US, utc_us("2024-01-31T12:00:00.999999Z"))),
    ],
)
def test_period_range(start: str | None, end: str | None, expected: tuple[int, int]) -> None:
    assert period_range(start, end, LUX) == expected


@pytest.mark.parametrize(("start", "end"), [(None, None), ("2024-02-01", "2024-01-01")])
def test_period_range_rejects(start: str | None, end: str | None) -> None:
    with pytest.raises(ValueError, match="Period"):
        period_range(start, end, LUX)
