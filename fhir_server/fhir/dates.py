"""FHIR date, dateTime and instant values as inclusive ranges of UTC epoch microseconds.

A value stands for the whole interval implied by its precision: "2024" is the year,
"2024-02" the month, and so on (https://hl7.org/fhir/R4/search.html#date). Values without
a UTC offset are read as wall-clock time in the given zone, so day and month boundaries
follow that zone's daylight-saving changes.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

DEFAULT_TZ = ZoneInfo("Europe/Luxembourg")
MIN_US = -(2**63)  # open start of a Period
MAX_US = 2**63 - 1  # open end of a Period

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_PATTERN = re.compile(
    r"(?P<year>\d{4})"
    r"(?:-(?P<month>\d{2})"
    r"(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})"
    r"(?::(?P<second>\d{2})(?:\.(?P<fraction>\d+))?)?"
    r"(?P<offset>Z|[+-]\d{2}:\d{2})?"
    r")?)?)?"
)


def _zone(offset: str | None, tz: tzinfo) -> tzinfo:
    if offset is None:
        return tz
    if offset == "Z":
        return UTC
    sign = -1 if offset[0] == "-" else 1
    hours, minutes = int(offset[1:3]), int(offset[4:6])
    if hours > 14 or minutes > 59:
        raise ValueError(f"UTC offset out of range: {offset!r}")
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _to_us(local: datetime, zone: tzinfo) -> int:
    return (local.replace(tzinfo=zone) - _EPOCH) // _ONE_US


def _bounds(m: re.Match[str]) -> tuple[datetime, datetime | None]:
    """Naive start of the interval and of the next one (None when that is past year 9999)."""
    year = int(m["year"])
    if m["month"] is None:
        return datetime(year, 1, 1), datetime(year + 1, 1, 1) if year < 9999 else None
    month = int(m["month"])
    if m["day"] is None:
        start = datetime(year, month, 1)
        if month == 12:
            return start, datetime(year + 1, 1, 1) if year < 9999 else None
        return start, datetime(year, month + 1, 1)
    day = date(year, month, int(m["day"]))
    if m["hour"] is None:
        start = datetime(day.year, day.month, day.day)
        step = timedelta(days=1)
    else:
        fraction = m["fraction"] or ""
        digits = min(len(fraction), 6)
        start = datetime(
            day.year,
            day.month,
            day.day,
            int(m["hour"]),
            int(m["minute"]),
            int(m["second"] or 0),
            int(fraction[:6].ljust(6, "0")),
        )
        if m["second"] is None:
            step = timedelta(minutes=1)
        else:
            step = timedelta(microseconds=10 ** (6 - digits))
    try:
        return start, start + step
    except OverflowError:
        return start, None


def parse_date_range(value: str, tz: tzinfo = DEFAULT_TZ) -> tuple[int, int]:
    """Inclusive (low, high) UTC epoch microseconds covered by a FHIR date/dateTime/instant.

    Raises ValueError for anything that is not such a value.
    """
    m = _PATTERN.fullmatch(value.strip()) if isinstance(value, str) else None
    if m is None:
        raise ValueError(f"not a FHIR date, dateTime or instant: {value!r}")
    try:
        start, after = _bounds(m)
    except ValueError as exc:
        raise ValueError(f"invalid date {value!r}: {exc}") from None
    zone = _zone(m["offset"], tz)
    low = _to_us(start, zone)
    high = _to_us(datetime.max, zone) if after is None else _to_us(after, zone) - 1
    return low, high


def period_range(start: str | None, end: str | None, tz: tzinfo = DEFAULT_TZ) -> tuple[int, int]:
    """Inclusive range of a Period; a missing start or end is open (MIN_US / MAX_US)."""
    if start is None and end is None:
        raise ValueError("Period has neither start nor end")
    low = parse_date_range(start, tz)[0] if start is not None else MIN_US
    high = parse_date_range(end, tz)[1] if end is not None else MAX_US
    if low > high:
        raise ValueError(f"Period end {end!r} is before its start {start!r}")
    return low, high
