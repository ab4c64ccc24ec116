"""R11: 1 per 24 h (except emergency), 2 per 7 days, 12 per semester (except long stay /
hospital), renewals and series not counted, > 2 doctors of one discipline in 6 months flagged."""

from datetime import UTC, date, datetime, timedelta

import pytest

from fhir_server.mr.consultation_limits import adjudicate_consultations, check_consultation_limits
from fhir_server.mr.prestations import Prestation
from fhir_server.mr.settings import MrRuleSettings

D = date
UTC = UTC


def c(day, doctor="dr-a", discipline="general-practice", category="consultation", **kw):
    return Prestation(day, doctor, discipline, category, patient_id="p1", **kw)


def at(y, m, d, h=10, mi=0):
    return datetime(y, m, d, h, mi, tzinfo=UTC)


def codes(new, history, **kw):
    return [v.code for v in check_consultation_limits(new, history, **kw)]


@pytest.mark.parametrize(
    "history, new, expected",
    [
        # 24 h with times: exactly 24 h later is allowed, one minute earlier is not
        ([c(D(2025, 3, 3), at=at(2025, 3, 3, 10))], c(D(2025, 3, 4), at=at(2025, 3, 4, 10)), []),
        ([c(D(2025, 3, 3), at=at(2025, 3, 3, 10))], c(D(2025, 3, 4), at=at(2025, 3, 4, 9, 59)), ["r11-24h"]),
        # dates only: one per calendar day
        ([c(D(2025, 3, 3))], c(D(2025, 3, 3)), ["r11-24h"]),
        ([c(D(2025, 3, 3))], c(D(2025, 3, 4)), []),
        # same discipline, another doctor: counted; another discipline: not
        ([c(D(2025, 3, 3), "dr-b")], c(D(2025, 3, 3)), ["r11-24h"]),
        ([c(D(2025, 3, 3), "dr-c", "cardiology")], c(D(2025, 3, 3)), []),
        # visits count like consultations
        ([c(D(2025, 3, 3), category="visit")], c(D(2025, 3, 3)), ["r11-24h"]),
        # emergency (SAMU): not limited by 24 h, and does not use up the day
        ([c(D(2025, 3, 3))], c(D(2025, 3, 3), emergency=True), []),
        ([c(D(2025, 3, 3), emergency=True)], c(D(2025, 3, 3)), []),
        # not counted: renewals, injection and dressing series
        ([c(D(2025, 3, 3), category="renewal")], c(D(2025, 3, 3)), []),
        ([c(D(2025, 3, 3), category="injection-series")], c(D(2025, 3, 3)), []),
        ([c(D(2025, 3, 3), category="dressing-series")], c(D(2025, 3, 3)), []),
        ([c(D(2025, 3, 3))], c(D(2025, 3, 3), category="renewal"), []),
        # another patient's services are not counted
        (
            [Prestation(D(2025, 3, 3), "dr-a", "general-practice", "consultation", patient_id="p2")],
            c(D(2025, 3, 3)),
            [],
        ),
    ],
)
def test_r11_24_hours(history, new, expected):
    assert codes(new, history) == expected


@pytest.mark.parametrize(
    "days, new, expected",
    [
        ([D(2025, 3, 3), D(2025, 3, 5)], D(2025, 3, 9), ["r11-7d"]),  # 3rd within 7 days (3..9)
        ([D(2025, 3, 3), D(2025, 3, 5)], D(2025, 3, 10), []),  # exactly 7 days after the first
        ([D(2025, 3, 3), D(2025, 3, 9)], D(2025, 3, 6), ["r11-7d"]),  # a late claim between two
        ([D(2025, 3, 9), D(2025, 3, 12)], D(2025, 3, 6), ["r11-7d"]),  # judged against later ones too
        ([D(2025, 3, 10), D(2025, 3, 12)], D(2025, 3, 3), []),
        ([D(2024, 2, 27), D(2024, 2, 29)], D(2024, 3, 4), ["r11-7d"]),  # across 29 Feb (27 Feb..4 Mar = 7 days)
        ([D(2024, 2, 27), D(2024, 2, 29)], D(2024, 3, 5), []),
        ([D(2025, 2, 26), D(2025, 2, 28)], D(2025, 3, 4), ["r11-7d"]),
        ([D(2025, 2, 26), D(2025, 2, 28)], D(2025, 3, 5), []),
    ],
)
def test_r11_seven_days(days, new, expected):
    assert codes(c(new), [c(d) for d in days]) == expected


def test_r11_seven_days_with_times_exact_boundary():
    history = [c(D(2025, 3, 3), at=at(2025, 3, 3, 10)), c(D(2025, 3, 5), at=at(2025, 3, 5, 10))]
    assert codes(c(D(2025, 3, 10), at=at(2025, 3, 10, 10)), history) == []
    assert codes(c(D(2025, 3, 10), at=at(2025, 3, 10, 9, 59)), history) == ["r11-7d"]


def test_r11_emergency_still_counts_in_seven_days():
    history = [c(D(2025, 3, 3)), c(D(2025, 3, 3), emergency=True)]
    assert codes(c(D(2025, 3, 5)), history) == ["r11-7d"]


def _weekly(start, n):
    return [c(start + timedelta(weeks=i)) for i in range(n)]


@pytest.mark.parametrize(
    "history, new, expected",
    [
        (_weekly(D(2025, 1, 6), 12), c(D(2025, 6, 30)), ["r11-semester"]),  # 13th on 30 Jun
        (_weekly(D(2025, 1, 6), 12), c(D(2025, 7, 1)), []),  # new semester on 1 Jul
        (_weekly(D(2025, 1, 6), 11), c(D(2025, 6, 30)), []),  # 12th is allowed
        (_weekly(D(2025, 1, 6), 12), c(D(2025, 6, 30), long_stay_geriatric=True), []),
        (_weekly(D(2025, 1, 6), 12), c(D(2025, 6, 30), hospital_stay=True), []),
        ([*_weekly(D(2025, 1, 6), 11), c(D(2025, 3, 30), hospital_stay=True)], c(D(2025, 6, 30)), []),
        (_weekly(D(2025, 7, 7), 12), c(D(2025, 12, 31)), ["r11-semester"]),
        (_weekly(D(2025, 7, 7), 12), c(D(2026, 1, 1)), []),
    ],
)
def test_r11_semester(history, new, expected):
    assert codes(new, history) == expected


def test_r11_rolling_semester_by_setting():
    settings = MrRuleSettings(r11_semester_window="rolling")
    history = _weekly(D(2025, 4, 7), 12)  # 7 Apr .. 23 Jun
    assert codes(c(D(2025, 7, 1)), history, settings=settings) == ["r11-semester"]
    assert codes(c(D(2025, 10, 7)), history, settings=settings) == []  # 7 Apr + 6 months: window moved on
    assert codes(c(D(2025, 7, 1)), history) == []  # default: calendar semester


@pytest.mark.parametrize(
    "history, new, flagged",
    [
        ([c(D(2025, 1, 10), "dr-b"), c(D(2025, 3, 10), "dr-c")], c(D(2025, 5, 10)), True),  # 3 doctors in 4 months
        ([c(D(2025, 1, 10), "dr-b"), c(D(2025, 3, 10), "dr-c")], c(D(2025, 7, 9)), True),  # 10 Jan .. 9 Jul: six months
        ([c(D(2025, 1, 10), "dr-b"), c(D(2025, 3, 10), "dr-c")], c(D(2025, 7, 10)), False),  # 10 Jan + 6 months: out
        ([c(D(2025, 1, 10), "dr-b"), c(D(2025, 3, 10), "dr-b")], c(D(2025, 5, 10)), False),  # two doctors only
        ([c(D(2025, 1, 10), "dr-b"), c(D(2025, 3, 10), "dr-c", "cardiology")], c(D(2025, 5, 10)), False),
        ([c(D(2025, 1, 10), "dr-b"), c(D(2025, 3, 10), "dr-c")], c(D(2025, 5, 10), justified=True), False),
    ],
)
def test_r11_multi_doctor_pattern_is_flagged_not_refused(history, new, flagged):
    found = check_consultation_limits(new, history)
    warnings = [v for v in found if v.code == "r11-multi-doctor"]
    assert bool(warnings) is flagged
    assert all(v.severity == "warning" and v.rule == "R11" for v in warnings)
    assert not [v for v in found if v.severity == "error"]


def test_adjudicate_one_claim_in_date_order():
    items = [
        c(D(2025, 3, 5), id="2"),
        c(D(2025, 3, 3), id="1"),
        c(D(2025, 3, 3), id="1b"),
        c(D(2025, 3, 4), id="3"),
        c(D(2025, 3, 6), id="4"),
    ]
    decisions = adjudicate_consultations(items)
    assert [d.prestation.id for d in decisions] == ["2", "1", "1b", "3", "4"]  # given order
    # judged in date order: 3 Mar accepted, 3 Mar again refused (24 h), 4 Mar accepted,
    # 5 Mar and 6 Mar refused (already 2 in 7 days)
    assert [d.accepted for d in decisions] == [False, True, False, True, False]
    assert [v.code for v in decisions[2].refusals] == ["r11-24h"]
    assert [v.code for v in decisions[0].refusals] == ["r11-7d"]
    assert all(v.message.startswith("R11: ") for d in decisions for v in d.violations)
