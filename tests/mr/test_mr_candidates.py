"""Candidates (French 2023 campaign): ALD patients without MR seen >= 3 times in the 12 months before."""

from datetime import date

import pytest
from mr_facts import patient

from fhir_server.mr.candidates import candidate_window, mr_candidates
from fhir_server.mr.prestations import Prestation
from fhir_server.mr.relationship import MrRelationship

D = date
DAY = D(2025, 3, 15)


def visit(day, pid="p1", doctor="dr-a", category="consultation"):
    return Prestation(day, doctor, "general-practice", category, patient_id=pid)


def test_window_is_the_twelve_months_before():
    assert candidate_window(DAY) == (D(2024, 3, 15), D(2025, 3, 14))
    assert candidate_window(D(2025, 2, 28)) == (D(2024, 2, 28), D(2025, 2, 27))
    assert candidate_window(D(2024, 2, 29)) == (D(2023, 2, 28), D(2024, 2, 28))


@pytest.mark.parametrize(
    "days, expected",
    [
        ([D(2024, 6, 1), D(2024, 9, 1), D(2025, 1, 1)], True),  # exactly three
        ([D(2024, 6, 1), D(2024, 9, 1)], False),
        ([D(2024, 3, 15), D(2024, 9, 1), D(2025, 1, 1)], True),  # exactly twelve months before: counted
        ([D(2024, 3, 14), D(2024, 9, 1), D(2025, 1, 1)], False),  # one day earlier: not
        ([D(2024, 6, 1), D(2024, 9, 1), D(2025, 3, 15)], False),  # on the date itself: not "before"
        ([D(2024, 6, 1), D(2024, 6, 1), D(2025, 1, 1)], False),  # two on one day count once
    ],
)
def test_three_contacts_in_twelve_months(days, expected):
    found = mr_candidates("dr-a", DAY, [patient()], [visit(d) for d in days])
    assert bool(found) is expected
    if expected:
        assert found[0].patient_id == "p1" and found[0].contacts == 3 and found[0].ald == ("25",)


def _three(pid="p1", doctor="dr-a", category="consultation"):
    return [visit(d, pid, doctor, category) for d in (D(2024, 6, 1), D(2024, 9, 1), D(2025, 1, 1))]


def test_only_ald_patients_without_mr_and_only_this_doctors_consultations():
    patients = [patient("p1"), patient("p2", ald=()), patient("p3"), patient("p4"), patient("p5"), patient("p6")]
    prestations = [
        *_three("p1"),
        *_three("p2"),
        *_three("p3"),
        *_three("p4", "dr-b"),
        *_three("p5", category="renewal"),
        *_three("p6"),
    ]
    relationships = [
        MrRelationship("p3", "dr-z", D(2023, 1, 1)),  # has an MR
        MrRelationship("p6", "dr-z", D(2023, 1, 1), D(2025, 3, 14)),  # had one, ended the day before
    ]
    assert [c.patient_id for c in mr_candidates("dr-a", DAY, patients, prestations, relationships)] == ["p1", "p6"]


def test_a_patient_whose_mr_is_in_its_notice_period_is_not_a_candidate():
    rel = MrRelationship("p1", "dr-z", D(2023, 1, 1), D(2025, 4, 30))
    assert mr_candidates("dr-a", DAY, [patient()], _three(), [rel]) == []
