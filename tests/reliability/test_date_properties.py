"""Hypothesis: FHIR date values as ranges (fhir_server/fhir/dates.py, issue 11.3).

A value stands for the whole interval of its precision, in Europe/Luxembourg when it has no
offset: ranges are ordered, contain every more precise value inside them, tile the calendar
without gap or overlap (23- and 25-hour days included), start at local midnight, move with an
explicit offset; anything else is a ValueError, never another exception.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st
from reliability_kit import SCALE, property_settings

from fhir_server.fhir.dates import parse_date_range

LUX = ZoneInfo("Europe/Luxembourg")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PRECISIONS = ("year", "month", "day", "minute", "second", "fraction")
"""Coarsest first: each one's range lies inside the one before."""

days = st.dates(min_value=date(1, 1, 1), max_value=date(9998, 12, 31))
offsets = st.tuples(st.sampled_from("+-"), st.integers(0, 14), st.integers(0, 59)).map(
    lambda o: f"{o[0]}{o[1]:02d}:{o[2]:02d}"
)


def write(moment: datetime, precision: str, digits: int = 3) -> str:
    """``moment`` (naive) written at a precision, without offset."""
    text = f"{moment.year:04d}"
    if precision == "year":
        return text
    text += f"-{moment.month:02d}"
    if precision == "month":
        return text
    text += f"-{moment.day:02d}"
    if precision == "day":
        return text
    text += f"T{moment.hour:02d}:{moment.minute:02d}"
    if precision == "minute":
        return text
    text += f":{moment.second:02d}"
    return text if precision == "second" else text + "." + f"{moment.microsecond:06d}"[:digits]


def local(us: int) -> datetime:
    return (EPOCH + timedelta(microseconds=us)).astimezone(LUX)


moments = st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9998, 12, 31))


@property_settings(SCALE.property_examples * 5)
@given(moment=moments, digits=st.integers(1, 6))
def test_finer_precisions_nest_inside_coarser_ones(moment: datetime, digits: int):
    ranges = [parse_date_range(write(moment, p, digits), LUX) for p in PRECISIONS]
    for (outer_low, outer_high), (inner_low, inner_high) in zip(ranges, ranges[1:], strict=False):
        assert outer_low <= inner_low <= inner_high <= outer_high
        assert inner_high - inner_low < outer_high - outer_low  # strictly finer
    assert all(low <= high for low, high in ranges)


@property_settings(SCALE.property_examples * 5)
@given(day=days)
def test_days_tile_the_calendar_from_local_midnight(day: date):
    low, high = parse_date_range(day.isoformat(), LUX)
    next_low, _ = parse_date_range((day + timedelta(days=1)).isoformat(), LUX)
    assert high + 1 == next_low  # no gap, no overlap
    start, end = local(low), local(high + 1)
    assert (start.date(), start.time()) == (day, datetime.min.time())
    assert (end.date(), end.time()) == (day + timedelta(days=1), datetime.min.time())
    assert (high + 1 - low) // 3_600_000_000 in (23, 24, 25)  # 23- and 25-hour days at DST changes


@property_settings(SCALE.property_examples * 2)
@given(year=st.integers(1, 9998), month=st.integers(1, 12))
def test_months_and_years_tile_the_calendar(year: int, month: int):
    _, month_high = parse_date_range(f"{year:04d}-{month:02d}", LUX)
    following = f"{year + 1:04d}-01" if month == 12 else f"{year:04d}-{month + 1:02d}"
    assert month_high + 1 == parse_date_range(following, LUX)[0]
    _, year_high = parse_date_range(f"{year:04d}", LUX)
    assert year_high + 1 == parse_date_range(f"{year + 1:04d}", LUX)[0]


@property_settings(SCALE.property_examples * 5)
@given(moment=moments, precision=st.sampled_from(PRECISIONS[3:]), offset=offsets)
def test_an_offset_shifts_the_range_and_no_offset_means_luxembourg(moment: datetime, precision: str, offset: str):
    written = write(moment, precision)
    utc_low, utc_high = parse_date_range(written + "Z", LUX)
    sign = -1 if offset[0] == "-" else 1
    shift = sign * (int(offset[1:3]) * 3600 + int(offset[4:6]) * 60) * 1_000_000
    assert parse_date_range(written + offset, LUX) == (utc_low - shift, utc_high - shift)
    local_low, local_high = parse_date_range(written, LUX)
    lux_shift = int(moment.replace(tzinfo=LUX, fold=0).utcoffset().total_seconds()) * 1_000_000  # as written: no fold
    assert (local_low, local_high) == (utc_low - lux_shift, utc_high - lux_shift)


@property_settings(SCALE.property_examples * 10)
@given(
    text=st.one_of(
        st.text(max_size=40),
        st.text(alphabet="0123456789-T:.Z+", max_size=40),
        st.builds(
            "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}".format,
            *(st.integers(0, n) for n in (9999, 99, 99, 99, 99, 99)),
            st.sampled_from(["", "Z", "+14:00", "-14:00", "+15:00", "+02:60", ".9999999Z", ".5-23:59"]),
        ),
    )
)
def test_anything_else_is_a_value_error(text: str):
    try:
        low, high = parse_date_range(text, LUX)
    except ValueError:
        return
    assert low <= high
