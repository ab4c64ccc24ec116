"""R10 MR03: first no earlier than six months after the effective date, then one per six months."""

from datetime import date
from decimal import Decimal

import pytest
from mr_facts import gp, patient

from fhir_server.mr.mr03 import check_mr03, mr03_status, next_mr03_date
from fhir_server.mr.relationship import MrRelationship
from fhir_server.mr.settings import DEFAULT_SETTINGS, MrRuleSettings

D = date
REL = MrRelationship("p1", "dr-a", D(2024, 12, 1))


def test_coefficient_is_data():
    assert DEFAULT_SETTINGS.mr03_coefficient == Decimal("24.71")


@pytest.mark.parametrize(
    "effective, previous, expected",
    [
        (D(2024, 12, 1), [], D(2025, 6, 1)),
        (D(2024, 12, 1), [D(2025, 6, 15)], D(2025, 12, 15)),
        (D(2024, 9, 1), [], D(2025, 3, 1)),
        (D(2024, 12, 1), [D(2025, 8, 31)], D(2026, 2, 28)),  # 31 Aug + 6 months clamps
        (
            D(2027, 12, 1),
            [D(2027, 8, 31)],
            D(2028, 6, 1),
        ),  # old MR03 (previous MR) spaced before the new effective date
        (D(2024, 12, 1), [D(2023, 8, 31), D(2025, 6, 1)], D(2025, 12, 1)),
    ],
)
def test_next_mr03_date(effective, previous, expected):
    assert next_mr03_date(effective, previous) == expected


def test_next_mr03_date_calendar_half_years_by_setting():
    settings = MrRuleSettings(mr03_window="calendar")
    assert next_mr03_date(D(2024, 12, 1), [D(2025, 6, 15)], settings=settings) == D(2025, 7, 1)
    assert next_mr03_date(D(2024, 12, 1), [D(2025, 7, 1)], settings=settings) == D(2026, 1, 1)


@pytest.mark.parametrize(
    "billed, previous, codes",
    [
        (D(2025, 5, 31), [], ["r10-too-early"]),  # the day before six months
        (D(2025, 6, 1), [], []),  # exactly six months after the effective date
        (D(2025, 12, 14), [D(2025, 6, 15)], ["r10-spacing"]),
        (D(2025, 12, 15), [D(2025, 6, 15)], []),  # exactly six months after the previous
        (D(2026, 2, 27), [D(2025, 8, 31)], ["r10-spacing"]),
        (D(2026, 2, 28), [D(2025, 8, 31)], []),
        (D(2025, 9, 1), [D(2025, 10, 1)], []),  # a later MR03 does not block an earlier date
    ],
)
def test_r10_dates(billed, previous, codes):
    found = check_mr03(billed, gp("dr-a"), patient(), [REL], previous, resume_in_dsp=True)
    assert [v.code for v in found] == codes
    assert all(v.rule == "R10" for v in found)


@pytest.mark.parametrize(
    "doctor, facts, attested, in_dsp, codes",
    [
        (gp("dr-a"), patient(), True, False, []),  # attestation suffices
        (gp("dr-a"), patient(), False, True, []),  # résumé in the DSP suffices
        (gp("dr-a"), patient(), False, False, ["r10-resume"]),
        (gp("dr-b"), patient(), True, True, ["r10-not-mr"]),  # a GP, but not the MR
        (gp("dr-a", disciplines={"cardiology"}), patient(), True, True, ["r10-discipline"]),
        (gp("dr-a"), patient(ald=()), True, True, ["r10-no-ald"]),
        (gp("dr-a", disciplines={"paediatrics"}), patient(), True, True, []),
    ],
)
def test_r10_other_conditions(doctor, facts, attested, in_dsp, codes):
    found = check_mr03(D(2025, 7, 1), doctor, facts, [REL], resume_attested=attested, resume_in_dsp=in_dsp)
    assert [v.code for v in found] == codes


def test_r10_after_the_relationship_ended():
    ended = MrRelationship("p1", "dr-a", D(2024, 12, 1), D(2025, 9, 30))
    assert [v.code for v in check_mr03(D(2025, 10, 1), gp("dr-a"), patient(), [ended], resume_in_dsp=True)] == [
        "r10-not-mr"
    ]


@pytest.mark.parametrize(
    "day, previous, eligible, nxt",
    [
        (D(2025, 3, 1), [], False, D(2025, 6, 1)),
        (D(2025, 6, 1), [], True, D(2025, 6, 1)),
        (D(2025, 7, 1), [D(2025, 6, 15)], False, D(2025, 12, 15)),
        (D(2026, 1, 1), [D(2025, 6, 15)], True, D(2026, 1, 1)),
    ],
)
def test_mr03_status(day, previous, eligible, nxt):
    status = mr03_status(day, gp("dr-a"), patient(), [REL], previous, resume_in_dsp=True)
    assert (status.eligible, status.next_billable) == (eligible, nxt)


def test_mr03_status_without_mr_or_after_the_end():
    assert mr03_status(D(2025, 3, 1), gp("dr-a"), patient(), []).next_billable is None
    ending = MrRelationship("p1", "dr-a", D(2024, 12, 1), D(2025, 5, 31))
    assert mr03_status(D(2025, 3, 1), gp("dr-a"), patient(), [ending], resume_in_dsp=True).next_billable is None
