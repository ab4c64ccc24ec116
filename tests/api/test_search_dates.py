"""Date search at the edges: precision ranges, prefixes, time zones (Europe/Luxembourg is the
zone of values written without an offset), month ends, leap days, DST and 31 December.
The onsets and the care team periods, only read by the tests that search them, are stored once
per backend for the module (``shared_client``)."""

from __future__ import annotations

import pytest
from support import TestClient

ONSETS = {
    "nye-utc": "2024-12-31T23:30:00Z",  # already 1 January in Luxembourg (UTC+1)
    "nye-local": "2024-12-31T23:30:00+01:00",
    "leap": "2024-02-29",
    "mar-first": "2024-03-01T00:00:00+01:00",
    "dst-gap": "2024-03-31T01:59:59+01:00",  # the last second before summer time
    "dst-after": "2024-03-31T03:00:00+02:00",
    "month": "2024-06",
    "year": "2023",
    "autumn": "2024-10-27T02:30:00+01:00",  # the second 02:30 of the autumn DST night
}


@pytest.fixture(scope="module")
def onsets(shared_client: TestClient) -> TestClient:
    client = shared_client
    for cid, onset in ONSETS.items():
        condition = {
            "resourceType": "Condition",
            "id": cid,
            "subject": {"reference": "Patient/p"},
            "onsetDateTime": onset,
        }
        assert client.put(f"/Condition/{cid}", json=condition).status_code == 201
    return client


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("onset-date=2024-12-31", ["nye-local"]),
        ("onset-date=2025-01-01", ["nye-utc"]),
        ("onset-date=2024-12", ["nye-local"]),
        ("onset-date=2024-02", ["leap"]),
        ("onset-date=2024-02-29", ["leap"]),
        ("onset-date=2024-03-01", ["mar-first"]),
        ("onset-date=lt2024-03-01", ["leap", "year"]),
        ("onset-date=le2024-02-29", ["leap", "year"]),
        ("onset-date=2024-03-31", ["dst-after", "dst-gap"]),
        ("onset-date=2024-03-31T00:59:59Z", ["dst-gap"]),
        ("onset-date=gt2024-03-31T01:00:00Z", ["autumn", "month", "nye-local", "nye-utc"]),  # dst-after is 01:00Z
        ("onset-date=2024-06-15", []),  # a whole month is not within one day
        ("onset-date=sa2024-06-30", ["autumn", "nye-local", "nye-utc"]),
        ("onset-date=eb2024-01-01", ["year"]),
        ("onset-date=2023", ["year"]),
        ("onset-date=ge2023-12-31&onset-date=le2024-01-01", ["year"]),  # 2023 reaches 31 Dec
        ("onset-date=2024-10-27", ["autumn"]),
        ("onset-date=2024-10-27T01:30:00Z", ["autumn"]),  # same instant
        ("onset-date=lt2024-03-31T02:00:00", ["dst-gap", "leap", "mar-first", "year"]),  # local, no offset
        ("onset-date=2024-12-31T22:30:00Z", ["nye-local"]),
        ("onset-date=ne2024", ["nye-utc", "year"]),
    ],
)
def test_onset_date_edges(onsets, query, expected):
    bundle = onsets.get(f"/Condition?{query}&_count=100").json()
    assert sorted(e["resource"]["id"] for e in bundle.get("entry", [])) == expected


@pytest.mark.parametrize("value", ["2024-13", "2024-02-30", "2024-12-31T25:00:00Z", "20241231", "2024-1-1", "tomorrow"])
def test_malformed_dates_are_400(onsets, value):
    r = onsets.get(f"/Condition?onset-date={value}")
    assert r.status_code == 400 and "onset-date" in r.json()["issue"][0]["diagnostics"]


def test_approximate_dates_are_relative_to_now(client):
    from datetime import date, timedelta

    today = date.today()
    for cid, onset in (("recent", today - timedelta(days=1)), ("old", today - timedelta(days=3650))):
        condition = {"resourceType": "Condition", "id": cid, "subject": {"reference": "Patient/p"}}
        client.put(f"/Condition/{cid}", json={**condition, "onsetDateTime": onset.isoformat()})
    found = client.get(f"/Condition?onset-date=ap{today.isoformat()}").json().get("entry", [])
    assert [e["resource"]["id"] for e in found] == ["recent"]
    ten_years = client.get(f"/Condition?onset-date=ap{(today - timedelta(days=3600)).isoformat()}").json()
    assert [e["resource"]["id"] for e in ten_years["entry"]] == ["old"]  # ±10% of ~10 years: a year


@pytest.fixture(scope="module")
def periods(shared_client: TestClient) -> TestClient:
    periods = {
        "short": {"start": "2024-01-10", "end": "2024-01-12"},
        "year-long": {"start": "2023-06-01", "end": "2025-03-31"},
        "open": {"start": "2020-01-01"},
    }
    for cid, period in periods.items():
        team = {"resourceType": "CareTeam", "id": cid, "status": "active", "period": period}
        assert shared_client.put(f"/CareTeam/{cid}", json=team).status_code == 201
    return shared_client


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("date=ge2024-01-01&date=le2024-01-31", ["open", "short", "year-long"]),
        ("date=ge2024-03-01&date=lt2024-04-01", ["open", "year-long"]),
        ("date=gt2025-06-30&date=lt2025-08-01", ["open"]),
        ("date=ge2019-01-01&date=le2019-12-31", []),
    ],
)
def test_two_sided_ranges_over_periods_of_every_length(periods, query, expected):
    bundle = periods.get(f"/CareTeam?{query}").json()
    assert sorted(e["resource"]["id"] for e in bundle.get("entry", [])) == expected
